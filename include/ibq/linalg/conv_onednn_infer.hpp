// ibq/linalg/conv_onednn_infer.hpp — host float relu(conv2d(x, w) + b) for frozen networks through oneDNN,
// written into a channel slice of a wider NCHW or NHWC tensor.
//
//   auto& conv = onednn::conv_infer_for(key);             // key: geometry, output channels, layout
//   conv.forward(x, conv_weights, b, y + c0 * ho * wo);    // NCHW: y[:, c0:c0+Cout] = relu(conv(x) + b)
//   conv.forward(x, conv_weights, b, y + c0);              // NHWC: y[..., c0:c0+Cout]
//
// The training path (conv_onednn.hpp) builds forward_training and both backward primitives and writes a
// whole NCHW tensor. A frozen network's conv + BatchNorm + ReLU needs none of that: a forward_inference
// primitive with the ReLU as a post-op, its result going straight into the channels of the concatenated block
// output, so neither a ReLU pass nor a concat copy touches it again. In NCHW, oneDNN reads and writes its own
// layout (blocked or NHWC, its choice), so each call reorders its input and its output (a transpose). In
// NHWC the primitive is asked for NHWC itself: no reorder at all when it writes a whole tensor, and a strided
// copy of whole pixels when it writes a channel slice.
// Weights are reordered to the primitive's layout once per weight tensor and kept (prepack()), since they
// never change: per call that reorder would read all 22 M of Inception's weights again. The layout oneDNN
// picks depends on the geometry, so the caller keeps one packed copy per weights_desc() (nn/frozen_conv2d.hpp).
#pragma once

#include "ibq/linalg/conv_onednn.hpp"

#if defined(IBQ_HAVE_DNNL)

namespace ibq::onednn {

// A ConvKey plus the destination's total channel count (the slice's channel stride), the post-op and the
// layout of input and output.
struct ConvInferKey {
  ConvKey conv;
  index_t out_channels;
  bool relu, nhwc;
  auto tie() const { return std::tuple_cat(conv.tie(), std::tie(out_channels, relu, nhwc)); }
  bool operator<(const ConvInferKey& o) const { return tie() < o.tie(); }
};

class ConvInfer {
 public:
  explicit ConvInfer(const ConvInferKey& key) : key_(key) {
    using tag = dnnl::memory::format_tag;
    const ConvKey& k = key.conv;
    const index_t ho = (k.h + k.pt + k.pb - k.kh) / k.stride + 1, wo = (k.w + k.pl + k.pr - k.kw) / k.stride + 1;
    const auto f32 = dnnl::memory::data_type::f32;
    const index_t ct = key.out_channels;
    x_ = dnnl::memory::desc({k.n, k.cin, k.h, k.w}, f32, key.nhwc ? tag::nhwc : tag::nchw);
    w_ = dnnl::memory::desc({k.cout, k.cin, k.kh, k.kw}, f32, tag::oihw);
    b_ = dnnl::memory::desc({k.cout}, f32, tag::x);
    // Channels [c0, c0 + cout) of an [n, ct, ho, wo] image tensor: its own strides, over all ct channels.
    y_ = dnnl::memory::desc({k.n, k.cout, ho, wo}, f32,
                            key.nhwc ? dnnl::memory::dims{ho * wo * ct, 1, wo * ct, ct}
                                     : dnnl::memory::dims{ct * ho * wo, ho * wo, wo, 1});
    const auto any = [&](const dnnl::memory::dims& d) { return dnnl::memory::desc(d, f32, tag::any); };
    const dnnl::memory::dims y_dims{k.n, k.cout, ho, wo};
    const auto xa = key.nhwc ? x_ : any(x_.dims());
    const auto ya = key.nhwc ? dnnl::memory::desc(y_dims, f32, tag::nhwc) : any(y_dims);
    const dnnl::memory::dims strides{k.stride, k.stride}, pad_l{k.pt, k.pl}, pad_r{k.pb, k.pr};
    const dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                             xa, any(w_.dims()), b_, ya, strides, pad_l, pad_r);
    dnnl::primitive_attr attr;
    if (key.relu) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      attr.set_post_ops(ops);
    }
    pd_ = dnnl::convolution_forward::primitive_desc(fd, attr, engine());
    conv_ = dnnl::convolution_forward(pd_);
  }

  // The layout this primitive reads its weights in, and the weights [cout, cin, kh, kw] reordered to it.
  dnnl::memory::desc weights_desc() const { return pd_.weights_desc(); }
  dnnl::memory prepack(const float* w) const {
    dnnl::memory u(w_, engine(), const_cast<float*>(w));
    dnnl::memory m(pd_.weights_desc(), engine());
    dnnl::reorder(u, m).execute(stream(), u, m);
    stream().wait();
    return m;
  }

  // y_slice (the address of channel c0 of image 0) = relu(conv(x, w) + b); w from prepack().
  void forward(const float* x, const dnnl::memory& w, const float* b, float* y_slice) const {
    auto& s = stream();
    dnnl::memory xu(x_, engine(), const_cast<float*>(x)), xb = xu;
    if (pd_.src_desc() != x_) {
      xb = dnnl::memory(pd_.src_desc(), engine());
      dnnl::reorder(xu, xb).execute(s, xu, xb);
    }
    dnnl::memory yu(y_, engine(), y_slice);
    const bool direct = pd_.dst_desc() == y_;  // a whole tensor in the primitive's own layout
    dnnl::memory yb = direct ? yu : dnnl::memory(pd_.dst_desc(), engine());
    conv_.execute(s, {{DNNL_ARG_SRC, xb},
                      {DNNL_ARG_WEIGHTS, w},
                      {DNNL_ARG_BIAS, dnnl::memory(b_, engine(), const_cast<float*>(b))},
                      {DNNL_ARG_DST, yb}});
    if (!direct) dnnl::reorder(yb, yu).execute(s, yb, yu);
    s.wait();
  }

 private:
  ConvInferKey key_;
  dnnl::memory::desc x_, w_, b_, y_;
  dnnl::convolution_forward::primitive_desc pd_;
  dnnl::convolution_forward conv_;
};

// The primitive for one geometry, built on first use and kept for the process.
inline ConvInfer& conv_infer_for(const ConvInferKey& k) { return cached_primitive<ConvInfer>(k); }

}  // namespace ibq::onednn

#endif  // IBQ_HAVE_DNNL
