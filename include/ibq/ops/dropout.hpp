// ibq/ops/dropout.hpp — inverted dropout with a counter-based mask.
//
//   auto h = dropout(x, 0.1, rng.split(step).split(layer), /*training=*/true);
//
// Element i is kept iff rng.uniform(i) >= p, and kept values are scaled by 1 / (1 - p) so the expectation
// is unchanged. Because the mask is a pure function of (rng, i), nothing is saved for backward: the
// backward kernel recomputes it. The same rng gives the same mask, so give every call its own stream
// (rng.split(...)). Identity (no node recorded) when !training or p == 0.
#pragma once

#include "ibq/autodiff/tape.hpp"
#include "ibq/core/random.hpp"

namespace ibq {

// ---- kernels ------------------------------------------------------------------------------------------
template <class T, class Space>
Tensor<T, Space> dropout_forward(const Tensor<T, Space>& x, double p, const Rng& rng) {
  IBQ_CHECK(p >= 0 && p < 1, "dropout: probability p = " << p << " must lie in [0, 1)");
  auto y = Tensor<T, Space>::empty(x.shape());
  auto xv = x.view();
  auto yv = y.view();
  const Rng r = rng;
  const T scale = T(1.0 / (1.0 - p));
  Kokkos::parallel_for("ibq::ops::dropout_fwd", range<Space>(x.size()), KOKKOS_LAMBDA(index_t i) {
    yv(i) = r.uniform(std::uint64_t(i)) >= p ? xv(i) * scale : T(0);
  });
  return y;
}

// gx += gy * mask / (1 - p), with the mask recomputed from rng
template <class T, class Space>
void dropout_backward(double p, const Rng& rng, const Tensor<T, Space>& gy, const Tensor<T, Space>& gx) {
  auto gyv = gy.view();
  auto gxv = gx.view();
  const Rng r = rng;
  const T scale = T(1.0 / (1.0 - p));
  Kokkos::parallel_for("ibq::ops::dropout_bwd", range<Space>(gy.size()), KOKKOS_LAMBDA(index_t i) {
    if (r.uniform(std::uint64_t(i)) >= p) gxv(i) += gyv(i) * scale;
  });
}

// ---- differentiable wrapper -----------------------------------------------------------------------------
template <class T, class Space>
Var<T, Space> dropout(const Var<T, Space>& x, double p, Rng rng, bool training) {
  IBQ_CHECK(p >= 0 && p < 1, "dropout: probability p = " << p << " must lie in [0, 1)");
  if (!training || p == 0) return x;
  auto& tape = x.tape();
  auto y = dropout_forward(x.value(), p, rng);
  return tape.record("dropout", y, {x}, [p, rng, ix = x.id()](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
    auto gx = t.grad_for(ix);
    if (gx.defined()) dropout_backward(p, rng, gy, gx);
  });
}

}  // namespace ibq
