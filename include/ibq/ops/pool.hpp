// ibq/ops/pool.hpp — 2x2 max pooling with stride 2 of NCHW images (VGG's MaxPool2d(2, 2)).
//
//   auto h = max_pool2x2(relu(conv2d(x, w, b, Conv2dArgs::symmetric(1, 1))));   // [N,C,H,W] -> [N,C,H/2,W/2]
//
// Odd sizes floor, as PyTorch's default (ceil_mode = False): the last row/column is dropped. Backward
// routes each output gradient to the first maximum of its window in row-major order (PyTorch's choice
// for ties); each output pixel owns its window, so the scatter needs no atomics.
#pragma once

#include "ibq/autodiff/tape.hpp"

namespace ibq {

namespace detail {
// Offset of the window's maximum from its top-left input pixel (0, 1, W, W + 1): the first one in row-major
// order, and a NaN wins (it propagates, as in PyTorch).
template <class V>
KOKKOS_INLINE_FUNCTION index_t pool_argmax(const V& xv, index_t base, index_t W) {
  const index_t offs[4] = {0, 1, W, W + 1};
  index_t best = 0;
  auto bv = xv(base);
  for (int k = 1; k < 4; ++k) {
    const auto v = xv(base + offs[k]);
    if ((v > bv || v != v) && bv == bv) best = offs[k], bv = v;
  }
  return best;
}
inline void check_pool_input(const Shape& s) {
  IBQ_CHECK(s.rank == 4 && s[2] >= 2 && s[3] >= 2,
            "max_pool2x2: expects x [N, C, H, W] with H, W >= 2, got " << s);
}
}  // namespace detail

template <class T, class Space>
Tensor<T, Space> max_pool2x2_forward(const Tensor<T, Space>& x) {
  detail::check_pool_input(x.shape());
  const index_t H = x.dim(2), W = x.dim(3), Ho = H / 2, Wo = W / 2;
  auto y = Tensor<T, Space>::empty(Shape{x.dim(0), x.dim(1), Ho, Wo});
  auto xv = x.view();
  auto yv = y.view();
  parallel_for_2d<Space>("ibq::ops::max_pool2x2_fwd", x.dim(0) * x.dim(1) * Ho, Wo,
                         KOKKOS_LAMBDA(index_t row, index_t j) {  // row: (plane, output row)
                           const index_t p = row / Ho, i = row - p * Ho;
                           const index_t base = (p * H + 2 * i) * W + 2 * j;
                           yv(row * Wo + j) = xv(base + detail::pool_argmax(xv, base, W));
                         });
  return y;
}

// gx[argmax of each window] += gy.
template <class T, class Space>
void max_pool2x2_backward(const Tensor<T, Space>& x, const Tensor<T, Space>& gy, const Tensor<T, Space>& gx) {
  const index_t H = x.dim(2), W = x.dim(3), Ho = H / 2, Wo = W / 2;
  IBQ_CHECK(gy.shape() == (Shape{x.dim(0), x.dim(1), Ho, Wo}),
            "max_pool2x2 backward: output gradient " << gy.shape() << " does not match the input " << x.shape());
  auto xv = x.view();
  auto gyv = gy.view();
  auto gxv = gx.view();
  parallel_for_2d<Space>("ibq::ops::max_pool2x2_bwd", x.dim(0) * x.dim(1) * Ho, Wo,
                         KOKKOS_LAMBDA(index_t row, index_t j) {
                           const index_t p = row / Ho, i = row - p * Ho;
                           const index_t base = (p * H + 2 * i) * W + 2 * j;
                           gxv(base + detail::pool_argmax(xv, base, W)) += gyv(row * Wo + j);
                         });
}

template <class T, class Space>
Var<T, Space> max_pool2x2(const Var<T, Space>& x) {
  auto& tape = x.tape();
  auto y = max_pool2x2_forward(x.value());
  return tape.record("max_pool2x2", y, {x},
                     [ix = x.id(), sx = tape.save(x.value())](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       auto gx = t.grad_for(ix);
                       if (gx.defined()) max_pool2x2_backward(sx.get("max_pool2x2"), gy, gx);
                     });
}

}  // namespace ibq
