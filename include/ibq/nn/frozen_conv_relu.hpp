// ibq/nn/frozen_conv_relu.hpp — relu(conv2d(x, w) + b) with constant weights, forward only: a pretrained
// network's conv + (folded) BatchNorm + ReLU, for feature extractors that nothing trains (FID Inception).
//
//   ibq::FrozenConvRelu<float> conv(w, b, ibq::Conv2dArgs{1, 0, 0, 3, 3});   // a 1x7 conv, pad (0, 3)
//   auto h = conv.forward(x);                                                 // [N, Cout, Ho, Wo]
//   conv.forward_into(x, y, 64);                                              // y[:, 64:64+Cout] = relu(...)
//   const auto layout = ibq::FrozenConvRelu<float>::preferred_layout();       // NHWC with oneDNN
//   conv.forward_into(xl, yl, 64, layout);                                    // the same in that layout
//
// Unlike the layers of nn/ it has no ParamStore and no tape: its weights are given once and never change.
// That lets the host's oneDNN path (linalg/conv_onednn_infer.hpp) keep the weights in the primitive's
// layout and apply the ReLU as a post-op while writing into the output's channel slice; given NHWC tensors
// it reorders nothing. Elsewhere (double, device tensors, builds without oneDNN, IBQ_CONV=im2col) it is
// conv2d_forward on NCHW, then one pass that applies the ReLU while copying into the slice (NHWC tensors are
// permuted around it there: correct, and slower, so callers use preferred_layout()). Not thread-safe: one
// forward at a time per object.
#pragma once

#include <utility>
#include <vector>

#include "ibq/linalg/conv_onednn_infer.hpp"
#include "ibq/ops/channel_slice.hpp"
#include "ibq/ops/conv2d.hpp"
#include "ibq/ops/image_layout.hpp"
#include "ibq/ops/shape_ops.hpp"

namespace ibq {

template <class T = float, class Space = DefaultSpace>
class FrozenConvRelu {
 public:
  FrozenConvRelu() = default;
  FrozenConvRelu(const Tensor<T, Space>& weight, const Tensor<T, Space>& bias, const Conv2dArgs& args)
      : weight_(weight), bias_(bias), args_(args) {
    IBQ_CHECK(weight.rank() == 4 && bias.rank() == 1 && bias.dim(0) == weight.dim(0),
              "FrozenConvRelu: weight " << weight.shape() << " and bias " << bias.shape()
                                        << " must be [Cout, Cin, kh, kw] and [Cout]");
  }

  // The layout in which forward() runs fastest here: NHWC where oneDNN runs it (no reorders), else NCHW.
  static ImageLayout preferred_layout() {
#if defined(IBQ_HAVE_DNNL)
    if constexpr (detail::conv2d_onednn_capable_v<T, Space>)
      if (conv2d_use_onednn()) return ImageLayout::nhwc;
#endif
    return ImageLayout::nchw;
  }

  index_t out_channels() const { return weight_.dim(0); }
  // The output's shape for an input of shape x, both in `layout`.
  Shape out_shape(const Shape& x, ImageLayout layout = ImageLayout::nchw) const {
    const ImageDims d = image_dims(x, layout, "FrozenConvRelu");
    const ConvGeom g = conv2d_geom(Shape{d.n, d.c, d.h, d.w}, weight_.shape(), args_);
    return image_shape({g.n, g.cout, g.ho, g.wo}, layout);
  }

  Tensor<T, Space> forward(const Tensor<T, Space>& x, ImageLayout layout = ImageLayout::nchw) const {
    auto y = Tensor<T, Space>::empty(out_shape(x.shape(), layout));
    forward_into(x, y, 0, layout);
    return y;
  }

  // Channels [c0, c0 + Cout) of y = relu(conv(x) + b); y's other channels are left as they are.
  void forward_into(const Tensor<T, Space>& x, const Tensor<T, Space>& y, index_t c0,
                    ImageLayout layout = ImageLayout::nchw) const {
    const ImageDims dx = image_dims(x.shape(), layout, "FrozenConvRelu");
    const ImageDims dy = image_dims(y.shape(), layout, "FrozenConvRelu");
    const ConvGeom g = conv2d_geom(Shape{dx.n, dx.c, dx.h, dx.w}, weight_.shape(), args_);
    IBQ_CHECK(dy.n == g.n && dy.h == g.ho && dy.w == g.wo && c0 >= 0 && c0 + g.cout <= dy.c,
              "FrozenConvRelu: the " << layout_name(layout) << " output of input " << x.shape() << " ("
                                     << g.cout << " channels of " << g.ho << "x" << g.wo << ") does not fit into "
                                     << "channels [" << c0 << ", " << c0 + g.cout << ") of " << y.shape());
    const bool nhwc = layout == ImageLayout::nhwc;
#if defined(IBQ_HAVE_DNNL)
    if constexpr (detail::conv2d_onednn_capable_v<T, Space>) {
      if (conv2d_use_onednn()) {
        const auto& a = args_;
        auto& prim = onednn::conv_infer_for(onednn::ConvInferKey{
            onednn::ConvKey{g.n, g.cin, g.h, g.w, g.cout, g.kh, g.kw, g.stride, a.pad_top, a.pad_bottom, a.pad_left,
                            a.pad_right, true},
            dy.c, true, nhwc});
        prim.forward(x.data(), packed_weights(prim), bias_.data(), y.data() + (nhwc ? c0 : c0 * g.ho * g.wo));
        return;
      }
    }
#endif
    if (!nhwc) {
      copy_channels_into(conv2d_forward(x, weight_, bias_, args_), y, c0, /*relu=*/true);
      return;
    }
    const auto h = conv2d_forward(permute_forward(x, Permutation(x.shape(), {0, 3, 1, 2}, "FrozenConvRelu")),
                                  weight_, bias_, args_);
    copy_channels_into(permute_forward(h, Permutation(h.shape(), {0, 2, 3, 1}, "FrozenConvRelu")), y, c0,
                       /*relu=*/true, layout);
  }

 private:
#if defined(IBQ_HAVE_DNNL)
  // The weights in the layout `prim` reads, reordered on first use of that layout.
  const dnnl::memory& packed_weights(const onednn::ConvInfer& prim) const {
    const auto want = prim.weights_desc();
    for (const auto& [desc, mem] : packed_)
      if (desc == want) return mem;
    packed_.emplace_back(want, prim.prepack(weight_.data()));
    return packed_.back().second;
  }
  mutable std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> packed_;
#endif
  Tensor<T, Space> weight_, bias_;
  Conv2dArgs args_;
};

}  // namespace ibq
