// ibq/ops/image_layout.hpp — where a 4-d image tensor keeps its channels, for the forward-only image ops.
//
//   auto d = image_dims(x.shape(), ImageLayout::nhwc);        // {n, c, h, w} of x [N, H, W, C]
//   auto y = Tensor<float>::empty(image_shape({d.n, 64, d.h, d.w}, ImageLayout::nhwc));
//
// NCHW is the DSL's layout: every differentiable op uses it. NHWC (channels last) is what oneDNN's
// convolutions read and write on the host without reordering; moving a [50, 64, 147, 147] activation
// between the two costs as much as a small convolution, and a frozen network (the FID Inception) reordered
// every convolution's input and output: 28% of its time. So the forward-only ops that such a network chains
// (pool3x3.hpp, channel_slice.hpp, nn/frozen_conv_relu.hpp) take a layout, NCHW by default.
#pragma once

#include "ibq/core/shape.hpp"

namespace ibq {

enum class ImageLayout { nchw, nhwc };

inline const char* layout_name(ImageLayout l) { return l == ImageLayout::nchw ? "NCHW" : "NHWC"; }

struct ImageDims {
  index_t n, c, h, w;
};

inline ImageDims image_dims(const Shape& s, ImageLayout l, const char* op) {
  IBQ_CHECK(s.rank == 4, op << ": expects a 4-d " << layout_name(l) << " image tensor, got " << s);
  return l == ImageLayout::nchw ? ImageDims{s[0], s[1], s[2], s[3]} : ImageDims{s[0], s[3], s[1], s[2]};
}

inline Shape image_shape(const ImageDims& d, ImageLayout l) {
  return l == ImageLayout::nchw ? Shape{d.n, d.c, d.h, d.w} : Shape{d.n, d.h, d.w, d.c};
}

}  // namespace ibq
