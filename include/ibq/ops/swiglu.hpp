// ibq/ops/swiglu.hpp — the gate of a SwiGLU feed-forward, y = silu(a) * b, in one pass each way.
//
//   auto h = w2.forward(swiglu(w1.forward(x), w3.forward(x)));   // Llama's FFN: w2(silu(w1 x) * w3 x)
//
// As silu(a) * b it costs two forward passes, four backward passes and two [.., F] tensors (silu's output and
// its gradient); fused, the forward reads a and b once, and the backward recomputes sigmoid(a) (one
// vectorised exponential) instead of reading a saved one:
//   ga += gy * b * s (1 + a (1 - s)),   gb += gy * a s,   s = sigmoid(a).
// The forward value is silu(a) * b exactly as the two ops compute it.
#pragma once

#include "ibq/autodiff/tape.hpp"
#include "ibq/ops/unary.hpp"

namespace ibq {

template <class T, class Space>
Tensor<T, Space> swiglu_forward(const Tensor<T, Space>& a, const Tensor<T, Space>& b) {
  IBQ_CHECK(a.shape() == b.shape(), "swiglu: gate input " << a.shape() << " and value input " << b.shape()
                                                          << " must have the same shape (w1 x and w3 x)");
  auto y = Tensor<T, Space>::empty(a.shape());
  auto av = a.view();
  auto bv = b.view();
  auto yv = y.view();
  Kokkos::parallel_for("ibq::ops::swiglu_fwd", range<Space>(y.size()),
                       KOKKOS_LAMBDA(index_t i) { yv(i) = fn::Silu{}.f(av(i)) * bv(i); });
  return y;
}

// Writes whichever of ga, gb is defined: stores (SA / SB: a buffer no op wrote yet, Tape::grad_dest) or adds.
// One kernel per case: a store or a skip under a runtime flag would keep the loop (and its exponential) scalar.
template <bool SA, bool SB, class T, class Space>
void swiglu_backward(const Tensor<T, Space>& a, const Tensor<T, Space>& b, const Tensor<T, Space>& gy,
                     const Tensor<T, Space>& ga, const Tensor<T, Space>& gb) {
  using detail::grad_put;
  auto av = a.view();
  auto bv = b.view();
  auto gyv = gy.view();
  auto gav = ga.view();
  auto gbv = gb.view();
  if (ga.defined() && gb.defined()) {
    Kokkos::parallel_for("ibq::ops::swiglu_bwd", range<Space>(a.size()), KOKKOS_LAMBDA(index_t i) {
      const T x = av(i), s = fn::Sigmoid{}.f(x), g = gyv(i);
      grad_put<SA>(gav(i), g * bv(i) * (s * (T(1) + x * (T(1) - s))));  // ga first: it may alias gb
      grad_put<SB>(gbv(i), g * (x * s));
    });
  } else if (ga.defined()) {
    Kokkos::parallel_for("ibq::ops::swiglu_bwd_a", range<Space>(a.size()), KOKKOS_LAMBDA(index_t i) {
      const T x = av(i), s = fn::Sigmoid{}.f(x);
      grad_put<SA>(gav(i), gyv(i) * bv(i) * (s * (T(1) + x * (T(1) - s))));
    });
  } else if (gb.defined()) {
    Kokkos::parallel_for("ibq::ops::swiglu_bwd_b", range<Space>(a.size()), KOKKOS_LAMBDA(index_t i) {
      grad_put<SB>(gbv(i), gyv(i) * fn::Silu{}.f(av(i)));
    });
  }
}

template <class T, class Space>
Var<T, Space> swiglu(const Var<T, Space>& a, const Var<T, Space>& b) {
  auto& tape = a.tape();
  auto y = swiglu_forward(a.value(), b.value());
  return tape.record("swiglu", y, {a, b},
                     [ia = a.id(), ib = b.id(), sa = tape.save(a.value()), sb = tape.save(b.value())](
                         Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       const auto da = t.grad_dest(ia);  // requested in the order written: a, then b
                       const auto db = t.grad_dest(ib);
                       detail::with_store(da.overwrite, [&](auto sa_) {
                         detail::with_store(db.overwrite, [&](auto sb_) {
                           swiglu_backward<decltype(sa_)::value, decltype(sb_)::value>(
                               sa.get("swiglu"), sb.get("swiglu"), gy, da.grad, db.grad);
                         });
                       });
                     });
}

}  // namespace ibq
