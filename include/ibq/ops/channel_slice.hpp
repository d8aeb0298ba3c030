// ibq/ops/channel_slice.hpp — writing a tensor into a channel range of a wider image tensor, forward only:
// a channel concat built in place, one branch at a time (Inception's blocks), in NCHW or NHWC.
//
//   auto y = Tensor<float>::empty({n, 768, h, w});
//   copy_channels_into(branch_a, y, 0);            // y[:, 0:384]   = branch_a   [n, 384, h, w]
//   copy_channels_into(branch_b, y, 384, true);    // y[:, 384:768] = max(branch_b, 0) (NaN stays NaN)
//   copy_channels_into(a, z, 64, false, ImageLayout::nhwc);   // z[..., 64:64+C] = a, both [N, H, W, *]
#pragma once

#include "ibq/core/tensor.hpp"
#include "ibq/ops/image_layout.hpp"

namespace ibq {

template <class T, class Space>
void copy_channels_into(const Tensor<T, Space>& x, const Tensor<T, Space>& y, index_t c0, bool relu = false,
                        ImageLayout layout = ImageLayout::nchw) {
  const ImageDims dx = image_dims(x.shape(), layout, "copy_channels_into");
  const ImageDims dy = image_dims(y.shape(), layout, "copy_channels_into");
  IBQ_CHECK(dx.n == dy.n && dx.h == dy.h && dx.w == dy.w && c0 >= 0 && c0 + dx.c <= dy.c,
            "copy_channels_into: " << layout_name(layout) << " " << x.shape() << " does not fit into channels [" << c0
                                   << ", " << c0 + dx.c << ") of " << y.shape());
  const index_t C = dx.c, Cy = dy.c, plane = dx.h * dx.w;
  auto xv = x.view();
  auto yv = y.view();
  if (layout == ImageLayout::nchw) {
    parallel_for_2d<Space>("ibq::ops::copy_channels_into", dx.n * C, plane, KOKKOS_LAMBDA(index_t r, index_t e) {
      const index_t n = r / C, c = r - n * C;  // r: (image, channel), e: pixel
      const T v = xv(r * plane + e);
      yv((n * Cy + c0 + c) * plane + e) = relu && v < T(0) ? T(0) : v;
    });
  } else {
    parallel_for_2d<Space>("ibq::ops::copy_channels_into", dx.n * plane, C, KOKKOS_LAMBDA(index_t p, index_t c) {
      const T v = xv(p * C + c);  // p: pixel of any image
      yv(p * Cy + c0 + c) = relu && v < T(0) ? T(0) : v;
    });
  }
}

}  // namespace ibq
