// ibq/ops/pool3x3.hpp — 3x3 max and average pooling of images with stride and zero padding, forward only
// (Inception's pools; nothing trains through them), in NCHW or NHWC (image_layout.hpp).
//
//   auto p = max_pool3x3_forward(x, {2, 0});     // nn.MaxPool2d(3, stride=2):   [N,C,H,W] -> [N,C,(H-3)/2+1,...]
//   auto q = max_pool3x3_forward(x, {1, 1});     // F.max_pool2d(x, 3, stride=1, padding=1): same size
//   auto a = avg_pool3x3_forward(x, {1, 1});     // F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
//   auto b = avg_pool3x3_forward(h, {1, 1}, ImageLayout::nhwc);   // h [N, H, W, C]
//
// Output sizes floor, as PyTorch's default (ceil_mode = False): (H + 2 pad - 3) / stride + 1. Padding never
// takes part: the max is over the window's pixels inside the image (PyTorch pads with -inf), and the average
// divides by how many of them there are (count_include_pad = False, TensorFlow's rule, which the FID
// Inception's blocks follow). A NaN in a window wins the max, as in PyTorch. Both layouts give the same
// values, summed in the same order: NCHW runs a thread per output row; NHWC a thread per output pixel on the
// host (channels in vector loops) and per output value on a device (neighbouring threads, neighbouring
// channels).
#pragma once

#include "ibq/core/tensor.hpp"
#include "ibq/ops/image_layout.hpp"

namespace ibq {

struct Pool3x3Args {
  index_t stride = 1, pad = 0;
};

namespace detail {
// The window of output (oh, ow) clipped to the image: rows [h0, h1), columns [w0, w1).
struct Pool3x3Geom {
  index_t h, w, ho, wo, stride, pad;
  KOKKOS_INLINE_FUNCTION void window(index_t oh, index_t ow, index_t& h0, index_t& h1, index_t& w0,
                                     index_t& w1) const {
    h0 = oh * stride - pad, w0 = ow * stride - pad;
    h1 = h0 + 3 < h ? h0 + 3 : h, w1 = w0 + 3 < w ? w0 + 3 : w;
    h0 = h0 > 0 ? h0 : 0, w0 = w0 > 0 ? w0 : 0;
  }
};

inline Pool3x3Geom pool3x3_geom(const ImageDims& d, const Pool3x3Args& a, const char* op) {
  IBQ_CHECK(a.stride >= 1 && a.pad >= 0 && a.pad <= 1,
            op << ": stride must be >= 1 and padding 0 or 1 (a window must overlap the image), got stride "
               << a.stride << " padding " << a.pad);
  IBQ_CHECK(d.h + 2 * a.pad >= 3 && d.w + 2 * a.pad >= 3,
            op << ": a " << d.h << "x" << d.w << " image with padding " << a.pad << " is smaller than the 3x3 window");
  return Pool3x3Geom{d.h, d.w, (d.h + 2 * a.pad - 3) / a.stride + 1, (d.w + 2 * a.pad - 3) / a.stride + 1, a.stride,
                     a.pad};
}

// y = reduce over each window, for Op with init(first value), add(acc, value) and finish(acc, count).
template <class Op, class T, class Space>
Tensor<T, Space> pool3x3(const Tensor<T, Space>& x, const Pool3x3Args& args, ImageLayout layout, const char* op,
                         const char* label) {
  const ImageDims d = image_dims(x.shape(), layout, op);
  const Pool3x3Geom g = pool3x3_geom(d, args, op);
  auto y = Tensor<T, Space>::empty(image_shape({d.n, d.c, g.ho, g.wo}, layout));
  auto xv = x.view();
  auto yv = y.view();
  if (layout == ImageLayout::nchw) {
    parallel_for_2d<Space>(label, d.n * d.c * g.ho, g.wo, KOKKOS_LAMBDA(index_t row, index_t ow) {
      const index_t p = row / g.ho, oh = row - p * g.ho;  // row: (plane, output row)
      index_t h0, h1, w0, w1;
      g.window(oh, ow, h0, h1, w0, w1);
      const index_t plane = p * g.h * g.w;
      T acc = Op::init(xv(plane + h0 * g.w + w0));
      for (index_t i = h0; i < h1; ++i)
        for (index_t j = w0; j < w1; ++j)
          if (i != h0 || j != w0) acc = Op::add(acc, xv(plane + i * g.w + j));
      yv(row * g.wo + ow) = Op::finish(acc, (h1 - h0) * (w1 - w0));
    });
  } else if constexpr (host_accessible_v<Space>) {
    // A thread per output pixel, its window found once and reduced channel by channel in vector loops.
    const index_t C = d.c;
    Kokkos::parallel_for(label, range<Space>(d.n * g.ho * g.wo), KOKKOS_LAMBDA(index_t pix) {
      const index_t ow = pix % g.wo, r = pix / g.wo, oh = r % g.ho, n = r / g.ho;
      index_t h0, h1, w0, w1;
      g.window(oh, ow, h0, h1, w0, w1);
      const T* image = xv.data() + n * g.h * g.w * C;
      T* out = yv.data() + pix * C;
      const T* first = image + (h0 * g.w + w0) * C;
      for (index_t c = 0; c < C; ++c) out[c] = Op::init(first[c]);
      for (index_t i = h0; i < h1; ++i)
        for (index_t j = w0; j < w1; ++j) {
          if (i == h0 && j == w0) continue;
          const T* src = image + (i * g.w + j) * C;
          for (index_t c = 0; c < C; ++c) out[c] = Op::add(out[c], src[c]);
        }
      const index_t count = (h1 - h0) * (w1 - w0);
      for (index_t c = 0; c < C; ++c) out[c] = Op::finish(out[c], count);
    });
  } else {
    const index_t C = d.c;
    parallel_for_2d<Space>(label, d.n * g.ho * g.wo, C, KOKKOS_LAMBDA(index_t pix, index_t c) {
      const index_t ow = pix % g.wo, r = pix / g.wo, oh = r % g.ho, n = r / g.ho;  // pix: output pixel
      index_t h0, h1, w0, w1;
      g.window(oh, ow, h0, h1, w0, w1);
      const index_t image = n * g.h * g.w;
      T acc = Op::init(xv((image + h0 * g.w + w0) * C + c));
      for (index_t i = h0; i < h1; ++i)
        for (index_t j = w0; j < w1; ++j)
          if (i != h0 || j != w0) acc = Op::add(acc, xv((image + i * g.w + j) * C + c));
      yv(pix * C + c) = Op::finish(acc, (h1 - h0) * (w1 - w0));
    });
  }
  return y;
}

struct MaxOp {  // NaN wins and stays, as PyTorch's (val > max || isnan(val))
  template <class T> KOKKOS_INLINE_FUNCTION static T init(T v) { return v; }
  template <class T> KOKKOS_INLINE_FUNCTION static T add(T acc, T v) {
    return (v > acc || v != v) && acc == acc ? v : acc;
  }
  template <class T> KOKKOS_INLINE_FUNCTION static T finish(T acc, index_t) { return acc; }
};
struct MeanOp {  // the window's pixels inside the image, in row-major order, over their count
  template <class T> KOKKOS_INLINE_FUNCTION static T init(T v) { return v; }
  template <class T> KOKKOS_INLINE_FUNCTION static T add(T acc, T v) { return acc + v; }
  template <class T> KOKKOS_INLINE_FUNCTION static T finish(T acc, index_t count) { return acc / T(count); }
};
}  // namespace detail

template <class T, class Space>
Tensor<T, Space> max_pool3x3_forward(const Tensor<T, Space>& x, const Pool3x3Args& args,
                                     ImageLayout layout = ImageLayout::nchw) {
  return detail::pool3x3<detail::MaxOp>(x, args, layout, "max_pool3x3", "ibq::ops::max_pool3x3_fwd");
}

template <class T, class Space>
Tensor<T, Space> avg_pool3x3_forward(const Tensor<T, Space>& x, const Pool3x3Args& args,
                                     ImageLayout layout = ImageLayout::nchw) {
  return detail::pool3x3<detail::MeanOp>(x, args, layout, "avg_pool3x3", "ibq::ops::avg_pool3x3_fwd");
}

}  // namespace ibq
