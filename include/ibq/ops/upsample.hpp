// ibq/ops/upsample.hpp — nearest-neighbour 2x upsampling of NCHW images (the taming Upsample).
//
//   auto h = conv2d(upsample_nearest2x(x), w, b, Conv2dArgs::symmetric(1, 1));   // [N,C,H,W] -> [N,C,2H,2W]
//
// Each input pixel is copied to a 2x2 block; backward lets each input pixel sum its own block (a gather:
// one thread per input pixel, no atomics).
#pragma once

#include "ibq/autodiff/tape.hpp"

namespace ibq {

template <class T, class Space>
Tensor<T, Space> upsample_nearest2x_forward(const Tensor<T, Space>& x) {
  IBQ_CHECK(x.rank() == 4, "upsample_nearest2x: expects x [N, C, H, W], got " << x.shape()
                                                                               << "; reshape to rank 4 first");
  const index_t W = x.dim(3);
  auto y = Tensor<T, Space>::empty(Shape{x.dim(0), x.dim(1), 2 * x.dim(2), 2 * W});
  auto xv = x.view();
  auto yv = y.view();
  // Input pixel i = row r (over N*C*H), column c; its block starts at output row 2r, column 2c.
  Kokkos::parallel_for("ibq::ops::upsample_nearest2x_fwd", range<Space>(x.size()), KOKKOS_LAMBDA(index_t i) {
    const index_t r = i / W, c = i - r * W, o = 2 * r * 2 * W + 2 * c;
    const T v = xv(i);
    yv(o) = v;
    yv(o + 1) = v;
    yv(o + 2 * W) = v;
    yv(o + 2 * W + 1) = v;
  });
  return y;
}

// gx += sum of gy over each input pixel's 2x2 block.
template <class T, class Space>
void upsample_nearest2x_backward(const Tensor<T, Space>& gy, const Tensor<T, Space>& gx) {
  IBQ_CHECK(gx.rank() == 4 && gy.shape() == (Shape{gx.dim(0), gx.dim(1), 2 * gx.dim(2), 2 * gx.dim(3)}),
            "upsample_nearest2x backward: output gradient " << gy.shape() << " is not twice the input "
                                                            << gx.shape());
  const index_t W = gx.dim(3);
  auto gyv = gy.view();
  auto gxv = gx.view();
  Kokkos::parallel_for("ibq::ops::upsample_nearest2x_bwd", range<Space>(gx.size()), KOKKOS_LAMBDA(index_t i) {
    const index_t r = i / W, c = i - r * W, o = 2 * r * 2 * W + 2 * c;
    gxv(i) += (gyv(o) + gyv(o + 1)) + (gyv(o + 2 * W) + gyv(o + 2 * W + 1));
  });
}

template <class T, class Space>
Var<T, Space> upsample_nearest2x(const Var<T, Space>& x) {
  auto& tape = x.tape();
  auto y = upsample_nearest2x_forward(x.value());
  return tape.record("upsample_nearest2x", y, {x}, [ix = x.id()](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
    auto gx = t.grad_for(ix);
    if (gx.defined()) upsample_nearest2x_backward(gy, gx);
  });
}

}  // namespace ibq
