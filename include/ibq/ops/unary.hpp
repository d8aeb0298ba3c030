// ibq/ops/unary.hpp — elementwise functions y = f(x) and their derivatives, as one family.
//
//   auto y = silu(x);  auto z = leaky_relu(x, 0.2f);  auto w = -x * 3.0f + 1.0f;
//
// Each function is a small struct with f(x) and df(x, y) = dy/dx (given both x and y so that exp, sigmoid
// and tanh reuse their output). unary_forward/unary_backward are the pure kernels; the named functions
// at the bottom are the differentiable wrappers. Backward accumulates: gx += gy * df(x, y).
#pragma once

#include "ibq/core/kokkos_compat.hpp"
#include "ibq/core/fast_exp.hpp"
#include "ibq/autodiff/tape.hpp"

namespace ibq {
namespace fn {
namespace km = ibq::kmath;

struct Neg {
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const { return -x; }
  template <class T> KOKKOS_INLINE_FUNCTION T df(T, T) const { return T(-1); }
};
struct Scale {  // c * x
  double c;
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const { return T(c) * x; }
  template <class T> KOKKOS_INLINE_FUNCTION T df(T, T) const { return T(c); }
};
struct AddScalar {  // x + c
  double c;
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const { return x + T(c); }
  template <class T> KOKKOS_INLINE_FUNCTION T df(T, T) const { return T(1); }
};
struct RSubScalar {  // c - x
  double c;
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const { return T(c) - x; }
  template <class T> KOKKOS_INLINE_FUNCTION T df(T, T) const { return T(-1); }
};
struct RDivScalar {  // c / x
  double c;
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const { return T(c) / x; }
  template <class T> KOKKOS_INLINE_FUNCTION T df(T x, T y) const { return -y / x; }
};
struct Exp {
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const { return km::exp(x); }
  template <class T> KOKKOS_INLINE_FUNCTION T df(T, T y) const { return y; }
};
struct Log {
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const { return km::log(x); }
  template <class T> KOKKOS_INLINE_FUNCTION T df(T x, T) const { return T(1) / x; }
};
struct Sqrt {
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const { return km::sqrt(x); }
  template <class T> KOKKOS_INLINE_FUNCTION T df(T, T y) const { return T(0.5) / y; }
};
struct Rsqrt {  // x^{-1/2}; d/dx = -1/2 x^{-3/2} = -y^3/2
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const { return T(1) / km::sqrt(x); }
  template <class T> KOKKOS_INLINE_FUNCTION T df(T, T y) const { return T(-0.5) * y * y * y; }
};
struct Square {
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const { return x * x; }
  template <class T> KOKKOS_INLINE_FUNCTION T df(T x, T) const { return T(2) * x; }
};
struct Abs {  // subgradient 0 at 0, as PyTorch
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const { return x < T(0) ? -x : x; }
  template <class T> KOKKOS_INLINE_FUNCTION T df(T x, T) const { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)); }
};
struct Relu {
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const { return x > T(0) ? x : T(0); }
  template <class T> KOKKOS_INLINE_FUNCTION T df(T x, T) const { return x > T(0) ? T(1) : T(0); }
};
struct LeakyRelu {
  double slope;
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const { return x > T(0) ? x : T(slope) * x; }
  template <class T> KOKKOS_INLINE_FUNCTION T df(T x, T) const { return x > T(0) ? T(1) : T(slope); }
};
struct Sigmoid {  // finite for any x: both branches take e = exp(-|x|) <= 1, branch-free so loops vectorise
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const {
    const T e = km::exp_nonpositive(x > T(0) ? -x : x);
    return (x >= T(0) ? T(1) : e) / (T(1) + e);
  }
  template <class T> KOKKOS_INLINE_FUNCTION T df(T, T y) const { return y * (T(1) - y); }
};
struct Tanh {
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const { return km::tanh(x); }
  template <class T> KOKKOS_INLINE_FUNCTION T df(T, T y) const { return T(1) - y * y; }
};
struct Softplus {  // log(1 + e^x) = max(x, 0) + log1p(e^-|x|), finite for any x; d/dx = sigmoid(x)
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const {
    return (x > T(0) ? x : T(0)) + km::log1p(km::exp_nonpositive(x > T(0) ? -x : x));
  }
  template <class T> KOKKOS_INLINE_FUNCTION T df(T x, T) const { return Sigmoid{}.f(x); }
};
struct Silu {  // x * sigmoid(x); d/dx = s + x s (1 - s)
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const { return x * Sigmoid{}.f(x); }
  // s = y / x recovers sigmoid(x) from the saved output with a division (vectorised) instead of a second
  // exponential (a libm call per element: it was a third of SiLU's cost); near 0, s = 1/2 + x/4 (the
  // Taylor error there is below 1e-19).
  template <class T> KOKKOS_INLINE_FUNCTION T df(T x, T y) const {
    const T s = (x > T(1e-6) || x < T(-1e-6)) ? y / x : T(0.5) + T(0.25) * x;
    return s * (T(1) + x * (T(1) - s));
  }
};

}  // namespace fn

// ---- kernels ------------------------------------------------------------------------------------------
template <class F, class T, class Space>
Tensor<T, Space> unary_forward(const F& f, const Tensor<T, Space>& x) {
  auto y = Tensor<T, Space>::empty(x.shape());
  auto xv = x.view();
  auto yv = y.view();
  Kokkos::parallel_for("ibq::ops::unary_forward", range<Space>(x.size()),
                       KOKKOS_LAMBDA(index_t i) { yv(i) = f.f(xv(i)); });
  return y;
}

// gx += gy * f'(x)
template <class F, class T, class Space>
void unary_backward(const F& f, const Tensor<T, Space>& x, const Tensor<T, Space>& y, const Tensor<T, Space>& gy,
                    const Tensor<T, Space>& gx) {
  auto xv = x.view();
  auto yv = y.view();
  auto gyv = gy.view();
  auto gxv = gx.view();
  Kokkos::parallel_for("ibq::ops::unary_backward", range<Space>(x.size()),
                       KOKKOS_LAMBDA(index_t i) { gxv(i) += gyv(i) * f.df(xv(i), yv(i)); });
}

// ---- differentiable wrapper -----------------------------------------------------------------------------
template <class F, class T, class Space>
Var<T, Space> unary(const char* name, const F& f, const Var<T, Space>& x) {
  auto& tape = x.tape();
  auto y = unary_forward(f, x.value());
  return tape.record(name, y, {x},
                     [f, ix = x.id(), sx = tape.save(x.value()), sy = tape.save(y), name](Tape<T, Space>& t,
                                                                                          const Tensor<T, Space>& gy) {
                       auto gx = t.grad_for(ix);
                       if (gx.defined()) unary_backward(f, sx.get(name), sy.get(name), gy, gx);
                     });
}

template <class T, class S> Var<T, S> operator-(const Var<T, S>& x) { return unary("neg", fn::Neg{}, x); }
template <class T, class S> Var<T, S> exp(const Var<T, S>& x) { return unary("exp", fn::Exp{}, x); }
template <class T, class S> Var<T, S> log(const Var<T, S>& x) { return unary("log", fn::Log{}, x); }
template <class T, class S> Var<T, S> sqrt(const Var<T, S>& x) { return unary("sqrt", fn::Sqrt{}, x); }
template <class T, class S> Var<T, S> rsqrt(const Var<T, S>& x) { return unary("rsqrt", fn::Rsqrt{}, x); }
template <class T, class S> Var<T, S> square(const Var<T, S>& x) { return unary("square", fn::Square{}, x); }
template <class T, class S> Var<T, S> abs(const Var<T, S>& x) { return unary("abs", fn::Abs{}, x); }
template <class T, class S> Var<T, S> relu(const Var<T, S>& x) { return unary("relu", fn::Relu{}, x); }
template <class T, class S> Var<T, S> leaky_relu(const Var<T, S>& x, double slope = 0.01) {
  return unary("leaky_relu", fn::LeakyRelu{slope}, x);
}
template <class T, class S> Var<T, S> sigmoid(const Var<T, S>& x) { return unary("sigmoid", fn::Sigmoid{}, x); }
template <class T, class S> Var<T, S> softplus(const Var<T, S>& x) { return unary("softplus", fn::Softplus{}, x); }
template <class T, class S> Var<T, S> tanh(const Var<T, S>& x) { return unary("tanh", fn::Tanh{}, x); }
template <class T, class S> Var<T, S> silu(const Var<T, S>& x) { return unary("silu", fn::Silu{}, x); }

// Scalars on either side read like the math: 2.0f * x, x - 1, 1 / x.
template <class T, class S> Var<T, S> operator*(const Var<T, S>& x, double c) { return unary("scale", fn::Scale{c}, x); }
template <class T, class S> Var<T, S> operator*(double c, const Var<T, S>& x) { return x * c; }
template <class T, class S> Var<T, S> operator/(const Var<T, S>& x, double c) { return x * (1.0 / c); }
template <class T, class S> Var<T, S> operator+(const Var<T, S>& x, double c) { return unary("add_scalar", fn::AddScalar{c}, x); }
template <class T, class S> Var<T, S> operator+(double c, const Var<T, S>& x) { return x + c; }
template <class T, class S> Var<T, S> operator-(const Var<T, S>& x, double c) { return x + (-c); }
template <class T, class S> Var<T, S> operator-(double c, const Var<T, S>& x) { return unary("rsub_scalar", fn::RSubScalar{c}, x); }
template <class T, class S> Var<T, S> operator/(double c, const Var<T, S>& x) { return unary("rdiv_scalar", fn::RDivScalar{c}, x); }

}  // namespace ibq
