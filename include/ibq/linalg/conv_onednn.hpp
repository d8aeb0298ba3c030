// ibq/linalg/conv_onednn.hpp — host float conv2d through oneDNN (the library PyTorch's CPU convolutions use).
//
//   onednn::conv_for(key).forward(x, w, b, y);                  // y = conv(x, w) + b, NCHW / OIHW
//   onednn::conv_for(key).backward(x, w, gy, gx, gw, gb);       // gx += ..., gw += ..., gb += ... (null: skip)
//
// At 32-64 channels an im2col column buffer feeds GEMMs too small for OpenBLAS to reach its peak (70-95
// GFLOP/s on the dev VM against 240-300 for oneDNN's direct JIT kernels). Those kernels want blocked
// layouts (nChw16c, OIhw16i16o), so each call reorders its operands from our plain row-major tensors and
// the results back, as PyTorch does for plain tensors; the reorders are a few percent of the convolution.
// Primitives are built once per geometry and kept (a map keyed by shape, stride and padding): building one
// costs far more than running it at these sizes. Gradients accumulate through a reorder with a sum
// post-op, so they add onto what the tape already holds, like every other backward kernel.
#pragma once

#include <cstdlib>
#include <cstring>
#include <string>

#include "ibq/core/config.hpp"

#if defined(IBQ_HAVE_DNNL)

#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "ibq/linalg/onednn_engine.hpp"

namespace ibq::onednn {

// Everything that decides a primitive: shapes, stride, the four paddings, and whether there is a bias.
// bf16: the operands (x, w, and dy in backward) are read as bf16 and the results written in fp32 (autocast).
struct ConvKey {
  index_t n, cin, h, w, cout, kh, kw, stride, pt, pb, pl, pr;
  bool bias;
  bool bf16 = false;
  auto tie() const { return std::tie(n, cin, h, w, cout, kh, kw, stride, pt, pb, pl, pr, bias, bf16); }
  bool operator<(const ConvKey& o) const { return tie() < o.tie(); }
};

class Conv {
 public:
  explicit Conv(const ConvKey& k) : key_(k) {
    using tag = dnnl::memory::format_tag;
    const index_t ho = (k.h + k.pt + k.pb - k.kh) / k.stride + 1, wo = (k.w + k.pl + k.pr - k.kw) / k.stride + 1;
    x_ = plain({k.n, k.cin, k.h, k.w}, tag::nchw);
    w_ = plain({k.cout, k.cin, k.kh, k.kw}, tag::oihw);
    y_ = plain({k.n, k.cout, ho, wo}, tag::nchw);
    b_ = plain({k.cout}, tag::x);
    const dnnl::memory::dims strides{k.stride, k.stride}, pad_l{k.pt, k.pl}, pad_r{k.pb, k.pr};
    // format_tag::any lets oneDNN pick its blocked layouts (plain NCHW would select its slow gemm path).
    // Under bf16 the inputs of each primitive are bf16 and its outputs fp32; the reorders from our plain fp32
    // buffers into the blocked layouts do the rounding, so bf16 costs no extra pass.
    using dt = dnnl::memory::data_type;
    const dt in = k.bf16 ? dt::bf16 : dt::f32;
    const auto xa = any(x_, in), wa = any(w_, in), ya = any(y_, dt::f32), gya = any(y_, in);
    const auto gxa = any(x_, dt::f32), gwa = any(w_, dt::f32);
    const auto alg = dnnl::algorithm::convolution_direct;
    const auto fd = k.bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, xa, wa, b_,
                                                             ya, strides, pad_l, pad_r)
                           : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, xa, wa, ya,
                                                             strides, pad_l, pad_r);
    fwd_pd_ = dnnl::convolution_forward::primitive_desc(fd, engine());
    bwd_data_pd_ = dnnl::convolution_backward_data::primitive_desc(
        dnnl::convolution_backward_data::desc(alg, gxa, wa, gya, strides, pad_l, pad_r), engine(), fwd_pd_);
    // The weight gradient always computes the bias gradient too (it is one more reduction over dy).
    bwd_w_pd_ = dnnl::convolution_backward_weights::primitive_desc(
        dnnl::convolution_backward_weights::desc(alg, xa, gwa, b_, gya, strides, pad_l, pad_r), engine(), fwd_pd_);
    fwd_ = dnnl::convolution_forward(fwd_pd_);
    bwd_data_ = dnnl::convolution_backward_data(bwd_data_pd_);
    bwd_w_ = dnnl::convolution_backward_weights(bwd_w_pd_);
  }

  // y = conv(x, w) (+ b): y is overwritten.
  void forward(const float* x, const float* w, const float* b, float* y) {
    auto& s = stream();
    auto xb = to_layout(x_, x, fwd_pd_.src_desc()), wb = to_layout(w_, w, fwd_pd_.weights_desc());
    auto yb = dnnl::memory(fwd_pd_.dst_desc(), engine());
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, xb}, {DNNL_ARG_WEIGHTS, wb}, {DNNL_ARG_DST, yb}};
    if (key_.bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(b_, engine(), const_cast<float*>(b)));
    fwd_.execute(s, args);
    from_layout(yb, y_, y, /*accumulate=*/false);
    s.wait();
  }

  // gx += dL/dx, gw += dL/dw, gb += dL/db for the output gradient gy; a null pointer skips that gradient.
  void backward(const float* x, const float* w, const float* gy, float* gx, float* gw, float* gb) {
    auto& s = stream();
    if (gx) {
      auto gyb = to_layout(y_, gy, bwd_data_pd_.diff_dst_desc());
      auto wb = to_layout(w_, w, bwd_data_pd_.weights_desc());
      auto gxb = dnnl::memory(bwd_data_pd_.diff_src_desc(), engine());
      bwd_data_.execute(s, {{DNNL_ARG_DIFF_DST, gyb}, {DNNL_ARG_WEIGHTS, wb}, {DNNL_ARG_DIFF_SRC, gxb}});
      from_layout(gxb, x_, gx, /*accumulate=*/true);
    }
    if (gw || gb) {
      auto gyb = to_layout(y_, gy, bwd_w_pd_.diff_dst_desc()), xb = to_layout(x_, x, bwd_w_pd_.src_desc());
      auto gwb = dnnl::memory(bwd_w_pd_.diff_weights_desc(), engine());
      std::vector<float> gbias(std::size_t(key_.cout));
      bwd_w_.execute(s, {{DNNL_ARG_DIFF_DST, gyb},
                         {DNNL_ARG_SRC, xb},
                         {DNNL_ARG_DIFF_WEIGHTS, gwb},
                         {DNNL_ARG_DIFF_BIAS, dnnl::memory(b_, engine(), gbias.data())}});
      if (gw) from_layout(gwb, w_, gw, /*accumulate=*/true);
      s.wait();
      if (gb)
        for (index_t c = 0; c < key_.cout; ++c) gb[c] += gbias[std::size_t(c)];
    }
    s.wait();
  }

 private:
  static dnnl::memory::desc plain(const dnnl::memory::dims& d, dnnl::memory::format_tag t) {
    return dnnl::memory::desc(d, dnnl::memory::data_type::f32, t);
  }
  static dnnl::memory::desc any(const dnnl::memory::desc& d, dnnl::memory::data_type t) {
    return dnnl::memory::desc(d.dims(), t, dnnl::memory::format_tag::any);
  }
  // Our plain buffer as the primitive wants it: wrapped in place when the layouts agree, else reordered.
  static dnnl::memory to_layout(const dnnl::memory::desc& user, const float* p, const dnnl::memory::desc& want) {
    dnnl::memory u(user, engine(), const_cast<float*>(p));
    if (want == user) return u;
    dnnl::memory m(want, engine());
    dnnl::reorder(u, m).execute(stream(), u, m);
    return m;
  }
  // A primitive's result into our plain buffer: written, or added onto it (reorder with a sum post-op).
  static void from_layout(dnnl::memory m, const dnnl::memory::desc& user, float* p, bool accumulate) {
    dnnl::memory u(user, engine(), p);
    dnnl::primitive_attr attr;
    if (accumulate) {
      dnnl::post_ops ops;
      ops.append_sum(1.0f);
      attr.set_post_ops(ops);
    }
    dnnl::reorder(dnnl::reorder::primitive_desc(m, u, attr)).execute(stream(), m, u);
  }

  ConvKey key_;
  dnnl::memory::desc x_, w_, y_, b_;
  dnnl::convolution_forward::primitive_desc fwd_pd_;
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd_;
  dnnl::convolution_backward_weights::primitive_desc bwd_w_pd_;
  dnnl::convolution_forward fwd_;
  dnnl::convolution_backward_data bwd_data_;
  dnnl::convolution_backward_weights bwd_w_;
};

// The primitive set for one geometry, built on first use and kept for the process.
inline Conv& conv_for(const ConvKey& k) { return cached_primitive<Conv>(k); }

}  // namespace ibq::onednn

#endif  // IBQ_HAVE_DNNL

namespace ibq {

// Whether host float convolutions go through oneDNN: on when the build has it, unless IBQ_CONV=im2col
// is set in the environment (benchmarks and tests compare both; set it before the first convolution).
inline bool& conv2d_use_onednn() {
#if defined(IBQ_HAVE_DNNL)
  static bool on = [] {
    const char* v = std::getenv("IBQ_CONV");
    return !(v && std::strcmp(v, "im2col") == 0);
  }();
#else
  static bool on = false;
#endif
  return on;
}

// Which kernels host float convolutions use, for log and benchmark lines.
inline std::string conv2d_host_backend() {
#if defined(IBQ_HAVE_DNNL)
  if (conv2d_use_onednn()) {
    const dnnl_version_t* v = dnnl_version();
    return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  }
#endif
  return "im2col + GEMM";
}

}  // namespace ibq
