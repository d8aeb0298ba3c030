// ibq/ops/resize.hpp — bilinear resizing of NCHW float images, forward only: torch.nn.functional.interpolate
// (mode='bilinear', align_corners=False, antialias=False), the resize in front of the FID Inception.
//
//   auto y = resize_bilinear_forward(x, 299, 299);     // [N, C, H, W] -> [N, C, 299, 299], any H, W
//
// PyTorch's formula, in T arithmetic as its CPU kernel does (float for float): along each axis
//   scale = in / out,  src = max(scale (dst + 0.5) - 0.5, 0),  i0 = floor(src),  i1 = min(i0 + 1, in - 1),
//   l1 = src - i0,  l0 = 1 - l1;  an axis whose size does not change is copied (l1 = 0).
// Then y = l0h (l0w x[i0h, i0w] + l1w x[i0h, i1w]) + l1h (l0w x[i1h, i0w] + l1w x[i1h, i1w]), in PyTorch's
// order (columns mixed first, then rows).
// Downscaling samples two pixels per axis and averages nothing else: that is what pytorch-fid does (and
// what the FID statistics were computed with), unlike ibq/data/image_resize.hpp's antialiased PIL filter.
#pragma once

#include "ibq/core/tensor.hpp"

namespace ibq {

namespace detail {
// One axis of a bilinear resize: the two source indices and weights of output index `o`.
template <class T>
struct ResizeAxis {
  index_t in, out;
  T scale;
  KOKKOS_INLINE_FUNCTION void taps(index_t o, index_t& i0, index_t& i1, T& l0, T& l1) const {
    if (in == out) {
      i0 = i1 = o, l0 = T(1), l1 = T(0);
      return;
    }
    T src = scale * (T(o) + T(0.5)) - T(0.5);
    src = src < T(0) ? T(0) : src;
    i0 = index_t(src);  // src >= 0: truncation is floor
    i1 = i0 < in - 1 ? i0 + 1 : i0;
    l1 = src - T(i0);
    l1 = l1 < T(0) ? T(0) : (l1 > T(1) ? T(1) : l1);
    l0 = T(1) - l1;
  }
};
template <class T>
ResizeAxis<T> resize_axis(index_t in, index_t out) {
  return ResizeAxis<T>{in, out, T(in) / T(out)};
}
}  // namespace detail

template <class T, class Space>
Tensor<T, Space> resize_bilinear_forward(const Tensor<T, Space>& x, index_t out_h, index_t out_w) {
  IBQ_CHECK(x.rank() == 4 && x.dim(2) >= 1 && x.dim(3) >= 1,
            "resize_bilinear: expects x [N, C, H, W] with H, W >= 1, got " << x.shape());
  IBQ_CHECK(out_h >= 1 && out_w >= 1, "resize_bilinear: output size " << out_h << "x" << out_w << " must be positive");
  const index_t H = x.dim(2), W = x.dim(3);
  const auto ah = detail::resize_axis<T>(H, out_h), aw = detail::resize_axis<T>(W, out_w);
  auto y = Tensor<T, Space>::empty(Shape{x.dim(0), x.dim(1), out_h, out_w});
  auto xv = x.view();
  auto yv = y.view();
  parallel_for_2d<Space>("ibq::ops::resize_bilinear_fwd", x.dim(0) * x.dim(1) * out_h, out_w,
                         KOKKOS_LAMBDA(index_t row, index_t ow) {  // row: (plane, output row)
                           const index_t p = row / out_h, oh = row - p * out_h;
                           index_t h0, h1, w0, w1;
                           T lh0, lh1, lw0, lw1;
                           ah.taps(oh, h0, h1, lh0, lh1);
                           aw.taps(ow, w0, w1, lw0, lw1);
                           const index_t r0 = (p * H + h0) * W, r1 = (p * H + h1) * W;
                           yv(row * out_w + ow) = lh0 * (lw0 * xv(r0 + w0) + lw1 * xv(r0 + w1)) +
                                                  lh1 * (lw0 * xv(r1 + w0) + lw1 * xv(r1 + w1));
                         });
  return y;
}

}  // namespace ibq
