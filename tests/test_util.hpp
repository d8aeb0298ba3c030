// Helpers shared by the tests: random tensors, host comparisons, and the gradient-check assertion.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ibq/autodiff/grad_check.hpp"
#include "ibq/core/random.hpp"
#include "ibq/core/tensor.hpp"

namespace ibq::test {

using Space = DefaultSpace;
using TensorD = Tensor<double, Space>;
using TensorF = Tensor<float, Space>;
using VarD = Var<double, Space>;
using TapeD = Tape<double, Space>;
using VarsD = std::vector<VarD>;

// A file's bytes, and a file made of given bytes (the damage tests cut and flip them).
inline std::vector<char> bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
inline void write_bytes(const std::string& path, const std::vector<char>& b) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(b.data(), std::streamsize(b.size()));
}

// Uniform in [lo, hi), deterministic per (seed, shape).
template <class T = double>
Tensor<T, Space> random_tensor(const Shape& s, std::uint64_t seed, double lo = -1, double hi = 1) {
  std::vector<T> v(s.numel());
  const Rng rng{seed, 1};
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = T(lo + (hi - lo) * rng.uniform(i));
  return Tensor<T, Space>::from_host(s, v);
}
// Values in [lo, hi) kept at least `gap` away from zero: for functions with a kink at 0.
inline TensorD random_away_from_zero(const Shape& s, std::uint64_t seed, double gap = 0.05) {
  auto v = random_tensor(s, seed).to_host();
  for (auto& x : v) x = x < 0 ? x - gap : x + gap;
  return TensorD::from_host(s, v);
}

template <class T>
void require_close(const std::vector<T>& got, const std::vector<T>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << " want " << want[i]);
    REQUIRE(std::fabs(double(got[i]) - double(want[i])) <= tol * (1 + std::fabs(double(want[i]))));
  }
}

using GradFn = std::function<VarD(TapeD&, const VarsD&)>;

inline void require_grad_ok(const GradFn& fn, const std::vector<TensorD>& inputs,
                            std::vector<std::string> names = {}, GradCheckOptions opt = {}) {
  const auto r = grad_check<Space>(fn, inputs, names, opt);
  INFO(r.report);
  REQUIRE(r.checked > 0);
  REQUIRE(r.ok);
}

// Finite differences on every parameter of a model (sampled), against the store's gradients.
template <class Store>
void require_params_grad_ok(Store& store, const std::function<VarD(TapeD&)>& fn, GradCheckOptions opt = {}) {
  const auto r = grad_check_params<Store, Space>(store, fn, opt);
  INFO(r.report);
  REQUIRE(r.checked > 0);
  REQUIRE(r.ok);
}

// Relative agreement of whole tensors: max |a - b| <= tol * max |b| (the issues' 1e-4 relative, done in
// double). The small absolute floor covers gradients that are zero in exact arithmetic (the key bias of
// attention: softmax is invariant to it), where both sides hold only rounding noise.
inline void require_rel_close(const std::string& what, const TensorD& got, const TensorD& want, double tol) {
  REQUIRE(got.shape() == want.shape());
  const auto g = got.to_host(), w = want.to_host();
  double err = 0, scale = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    err = std::max(err, std::fabs(g[i] - w[i]));
    scale = std::max(scale, std::fabs(w[i]));
  }
  INFO(what << ": max abs error " << err << ", max |reference| " << scale);
  REQUIRE(err <= tol * scale + 1e-13);
}

}  // namespace ibq::test
