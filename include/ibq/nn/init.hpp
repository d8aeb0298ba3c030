// ibq/nn/init.hpp — parameter initialisers, evaluated by a counter-based RNG.
//
//   Init::normal(0, 0.02)      Init::uniform(-b, b)      Init::kaiming_uniform_default(fan_in)
//   Init::zeros()  Init::ones()  Init::constant(c)
//
// The random stream of each parameter is derived from (seed, parameter name), so a parameter's initial
// value does not depend on declaration order, thread count, MPI rank or backend.
#pragma once

#include <cmath>
#include <string>

#include "ibq/core/random.hpp"
#include "ibq/core/tensor.hpp"

namespace ibq {

struct Init {
  enum class Kind { constant, normal, uniform };
  Kind kind = Kind::constant;
  double a = 0, b = 0;  // constant: a; normal: mean a, std b; uniform: [a, b)

  static Init zeros() { return {Kind::constant, 0, 0}; }
  static Init ones() { return {Kind::constant, 1, 0}; }
  static Init constant(double c) { return {Kind::constant, c, 0}; }
  static Init normal(double mean, double std) { return {Kind::normal, mean, std}; }
  static Init uniform(double lo, double hi) { return {Kind::uniform, lo, hi}; }
  // PyTorch's default for nn.Linear / nn.Conv2d weights and biases: kaiming_uniform_(a=sqrt(5)) reduces
  // to U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the bias uses the same bound.
  static Init kaiming_uniform_default(index_t fan_in) {
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
    return uniform(-bound, bound);
  }
  // He initialisation for ReLU networks: N(0, 2/fan_in).
  static Init kaiming_normal(index_t fan_in) { return normal(0.0, std::sqrt(2.0 / double(fan_in))); }
};

// A stable 64-bit hash of a parameter name (FNV-1a): the parameter's RNG stream.
inline std::uint64_t name_stream(const std::string& name) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

template <class T, class Space>
void apply_init(const Init& init, const Tensor<T, Space>& t, std::uint64_t seed, const std::string& name) {
  auto v = t.view();
  const Rng rng{seed, name_stream(name)};
  const Init in = init;
  Kokkos::parallel_for("ibq::nn::init", range<Space>(t.size()), KOKKOS_LAMBDA(index_t i) {
    if (in.kind == Init::Kind::constant) v(i) = T(in.a);
    else if (in.kind == Init::Kind::normal) v(i) = T(in.a + in.b * rng.normal(i));
    else v(i) = T(in.a + (in.b - in.a) * rng.uniform(i));
  });
  t.bump_version();
}

}  // namespace ibq
