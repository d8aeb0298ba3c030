// ibq/autodiff/grad_check.hpp — central finite differences in double against the tape's gradients.
//
//   auto r = ibq::grad_check<ibq::DefaultSpace>(
//       [](auto& tape, const auto& in) { return silu(in[0]) * in[1]; },   // any output shape
//       {x, w}, {"x", "w"});
//   INFO(r.report); REQUIRE(r.ok);
//
// The output is projected onto a fixed random direction r, L = <r, f(x)>, so one backward pass gives the
// whole directional gradient and large outputs cost no more than scalars. Every element of every input is
// perturbed, up to max_elements per input (a random sample beyond that). An element passes when
// |analytic - numeric| <= atol + rtol * |numeric|. grad_check_params does the same for every parameter
// of a ParamStore, perturbed in place, against the gradients a backward pass leaves in the store.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "ibq/autodiff/tape.hpp"
#include "ibq/core/random.hpp"

namespace ibq {

struct GradCheckOptions {
  double eps = 1e-6;
  double atol = 1e-7;
  double rtol = 1e-5;
  index_t max_elements = 200;  // per input; beyond this a random sample is checked
  std::uint64_t seed = 20241203;
};

struct GradCheckResult {
  bool ok = true;
  double max_abs_err = 0;
  index_t checked = 0;
  std::string report;  // the worst element of each input, and every failure (first few)
};

namespace detail {
// Perturbs every sampled element of every target by +-eps, compares (L+ - L-) / 2 eps with `analytic`.
template <class Space>
GradCheckResult fd_compare(const std::vector<Tensor<double, Space>>& targets, const std::vector<std::string>& names,
                           const std::vector<std::vector<double>>& analytic, const std::function<double()>& projected,
                           const GradCheckOptions& opt) {
  using tensor_t = Tensor<double, Space>;
  auto set = [](const tensor_t& x, index_t e, double v) { Kokkos::deep_copy(Kokkos::subview(x.view(), e), v); };
  GradCheckResult res;
  std::ostringstream rep;
  rep.precision(6);
  int failures_listed = 0;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto host = targets[i].to_host();
    std::vector<index_t> elems(host.size());
    std::iota(elems.begin(), elems.end(), index_t(0));
    if (static_cast<index_t>(elems.size()) > opt.max_elements) {  // deterministic partial shuffle
      const Rng pick{opt.seed, 11 + i};
      for (index_t k = 0; k < opt.max_elements; ++k) {
        const index_t j = k + static_cast<index_t>(pick.uniform(k) * double(elems.size() - k));
        std::swap(elems[k], elems[j]);
      }
      elems.resize(opt.max_elements);
    }
    double worst = -1, worst_a = 0, worst_n = 0;
    index_t worst_e = 0;
    for (index_t e : elems) {
      set(targets[i], e, host[e] + opt.eps);
      const double lp = projected();
      set(targets[i], e, host[e] - opt.eps);
      const double lm = projected();
      set(targets[i], e, host[e]);
      const double numeric = (lp - lm) / (2 * opt.eps), a = analytic[i][e];
      const double err = std::fabs(a - numeric);
      const bool pass = err <= opt.atol + opt.rtol * std::fabs(numeric) && std::isfinite(a);
      ++res.checked;
      res.max_abs_err = std::max(res.max_abs_err, err);
      if (err > worst) worst = err, worst_a = a, worst_n = numeric, worst_e = e;
      if (!pass) {
        res.ok = false;
        if (failures_listed++ < 8)
          rep << "FAIL " << names[i] << " " << targets[i].shape() << " element " << e << ": analytic " << a
              << ", numeric " << numeric << ", |diff| " << err << "\n";
      }
    }
    rep << names[i] << " " << targets[i].shape() << ": " << elems.size() << " elements checked, worst element "
        << worst_e << " analytic " << worst_a << " numeric " << worst_n << " |diff| " << worst << "\n";
  }
  res.report = rep.str();
  return res;
}

// r: the fixed random projection of an output of `n` elements.
inline std::vector<double> projection(std::size_t n, const GradCheckOptions& opt) {
  std::vector<double> r(n);
  const Rng rng{opt.seed, 7};
  for (std::size_t k = 0; k < r.size(); ++k) r[k] = rng.normal(k);
  return r;
}
inline double dot(const std::vector<double>& r, const std::vector<double>& y) {
  double s = 0;
  for (std::size_t k = 0; k < y.size(); ++k) s += r[k] * y[k];
  return s;
}
}  // namespace detail

template <class Space = DefaultSpace>
GradCheckResult grad_check(
    const std::function<Var<double, Space>(Tape<double, Space>&, const std::vector<Var<double, Space>>&)>& fn,
    const std::vector<Tensor<double, Space>>& inputs, std::vector<std::string> names = {},
    const GradCheckOptions& opt = {}) {
  using tensor_t = Tensor<double, Space>;
  for (std::size_t i = names.size(); i < inputs.size(); ++i) names.push_back("input" + std::to_string(i));

  // Analytic: one backward pass with seed r.
  Tape<double, Space> tape;
  std::vector<Var<double, Space>> leaves;
  for (const auto& x : inputs) leaves.push_back(tape.leaf(x, true));
  const auto out = fn(tape, leaves);
  const auto r = detail::projection(std::size_t(out.size()), opt);
  tape.backward(out, tensor_t::from_host(out.shape(), r));
  std::vector<std::vector<double>> analytic;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto g = leaves[i].grad();
    analytic.push_back(g.defined() ? g.to_host() : std::vector<double>(inputs[i].size(), 0.0));
  }
  tape.clear();

  auto projected = [&]() {
    Tape<double, Space> t;
    auto guard = t.no_grad();
    std::vector<Var<double, Space>> xs;
    for (const auto& x : inputs) xs.push_back(t.leaf(x));
    return detail::dot(r, fn(t, xs).value().to_host());
  };
  return detail::fd_compare<Space>(inputs, names, analytic, projected, opt);
}

// The same check for the parameters of a model: fn(tape) runs the model (its layers take their
// parameters from `store`) and returns any output; every parameter tensor is perturbed in place.
template <class Store, class Space = DefaultSpace>
GradCheckResult grad_check_params(Store& store, const std::function<Var<double, Space>(Tape<double, Space>&)>& fn,
                                  const GradCheckOptions& opt = {}) {
  using tensor_t = Tensor<double, Space>;
  store.zero_grad();
  Tape<double, Space> tape;
  const auto out = fn(tape);
  const auto r = detail::projection(std::size_t(out.size()), opt);
  tape.backward(out, tensor_t::from_host(out.shape(), r));
  tape.clear();
  std::vector<tensor_t> targets;
  std::vector<std::string> names;
  std::vector<std::vector<double>> analytic;
  for (const auto& e : store.params()) {
    targets.push_back(e.value);
    names.push_back(e.name);
    analytic.push_back(e.grad.to_host());
  }
  store.zero_grad();
  auto projected = [&]() {
    Tape<double, Space> t;
    auto guard = t.no_grad();
    return detail::dot(r, fn(t).value().to_host());
  };
  return detail::fd_compare<Space>(targets, names, analytic, projected, opt);
}

}  // namespace ibq
