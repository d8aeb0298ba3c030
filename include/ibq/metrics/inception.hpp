// ibq/metrics/inception.hpp — pytorch-fid's FID Inception (InceptionV3 with the TensorFlow FID weights),
// forward only: the 2048 pool3 features for FID and the 1008 logits for the Inception Score.
//
//   ibq::metrics::FidInception<> net("pt_inception.h5");   // from hpc/make_inception_weights.py
//   auto out = net.forward(images);                         // float [N, 3, H, W] in [0, 1], any H x W
//   out.pool3;                                              // [N, 2048]
//   out.logits;                                             // [N, 1008] = pool3 fc.weight^T, no bias
//   net.forward_minus1_1(x);                                // float [N, 3, H, W] in [-1, 1] (a decoder's output)
//   net.forward_uint8_nhwc(pixels);                         // uint8 [N, H, W, 3 or 1] (an .npz of samples)
//
// The path is pytorch-fid's InceptionV3([3]) (resize_input and normalize_input on, fid_inception_v3()):
//   x in [0, 1] -> bilinear resize to 299x299 (align_corners = False, no antialiasing) -> 2x - 1
//   -> Conv2d_1a_3x3 (stride 2) -> Conv2d_2a_3x3 -> Conv2d_2b_3x3 (pad 1) -> max pool 3x3 stride 2
//   -> Conv2d_3b_1x1 -> Conv2d_4a_3x3 -> max pool 3x3 stride 2                                 [N, 192, 35, 35]
//   -> Mixed_5b, 5c, 5d (FIDInceptionA) -> Mixed_6a (InceptionB)                              [N, 768, 17, 17]
//   -> Mixed_6b, 6c, 6d, 6e (FIDInceptionC) -> Mixed_7a (InceptionD)                          [N, 1280, 8, 8]
//   -> Mixed_7b (FIDInceptionE_1) -> Mixed_7c (FIDInceptionE_2) -> mean over 8x8 = pool3     [N, 2048]
// Each conv is a BasicConv2d (conv without bias, BatchNorm with eps 1e-3, ReLU), with the BatchNorm folded
// into the conv at load time (inception_weights.hpp). The FID blocks' average pools leave the padding out of
// the count (count_include_pad = False, TensorFlow's rule), and Mixed_7c's pool branch max-pools (3x3,
// stride 1, pad 1): the TF graph the FID statistics come from does both. The logits are that graph's too,
// pool3 fc.weight^T without the bias, which ADM's evaluator and torch-fidelity use for the IS.
//
// Each branch writes its ReLU'd output straight into its channels of the block's output, so torch.cat
// costs at most a copy (Mixed_7b/c's inner cat of the 1x3 and 3x1 branches included). Where oneDNN runs the
// convolutions (host float), activations are kept NHWC, the layout its kernels read and write: in NCHW
// every convolution reordered its input and output, 28% of the time (ops/image_layout.hpp). Elsewhere they
// are NCHW. Activations of a 299x299 image peak at about 17 MB (Conv2d_2b's 64 x 147 x 147 map and the
// maps around it): callers feed batches (50 images: about 0.9 GB). One forward at a time per object (the
// convs cache packed weights).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "ibq/metrics/inception_weights.hpp"
#include "ibq/ops/matmul.hpp"
#include "ibq/ops/pool3x3.hpp"
#include "ibq/ops/reduce.hpp"
#include "ibq/ops/resize.hpp"
#include "ibq/ops/shape_ops.hpp"

namespace ibq::metrics {

template <class Space>
struct InceptionOutput {
  Tensor<float, Space> pool3;   // [N, 2048]: FID features
  Tensor<float, Space> logits;  // [N, 1008]: pool3 fc.weight^T (no bias), for the IS
};

namespace detail {
inline void check_images(const Shape& s, const char* entry) {
  IBQ_CHECK(s.rank == 4 && s[1] == 3 && s[0] >= 1 && s[2] >= 1 && s[3] >= 1,
            "FidInception::" << entry << ": expects float images [N, 3, H, W], got " << s
                             << " (replicate a grey channel to 3 first)");
}

// y = 2 x - 1: pytorch-fid's normalize_input, from [0, 1] to the [-1, 1] the TF weights expect.
template <class Space>
Tensor<float, Space> unit_to_signed(const Tensor<float, Space>& x) {
  auto y = Tensor<float, Space>::empty(x.shape());
  auto xv = x.view();
  auto yv = y.view();
  Kokkos::parallel_for("ibq::metrics::inception_normalize", range<Space>(x.size()),
                       KOKKOS_LAMBDA(index_t i) { yv(i) = 2.0f * xv(i) - 1.0f; });
  return y;
}

// y = (clamp(x, -1, 1) + 1) / 2: a generator's [-1, 1] images as the [0, 1] images pytorch-fid takes.
template <class Space>
Tensor<float, Space> signed_to_unit(const Tensor<float, Space>& x) {
  auto y = Tensor<float, Space>::empty(x.shape());
  auto xv = x.view();
  auto yv = y.view();
  Kokkos::parallel_for("ibq::metrics::inception_from_signed", range<Space>(x.size()), KOKKOS_LAMBDA(index_t i) {
    const float v = xv(i) < -1.0f ? -1.0f : (xv(i) > 1.0f ? 1.0f : xv(i));
    yv(i) = (v + 1.0f) / 2.0f;
  });
  return y;
}

// uint8 [N, H, W, C] -> float [N, 3, H, W] = value / 255 (torchvision's ToTensor); C = 1 is replicated to
// three channels, as pytorch-fid's Image.convert("RGB") does for grey files.
template <class Space>
Tensor<float, Space> uint8_nhwc_to_unit(const Tensor<std::uint8_t, Space>& x) {
  IBQ_CHECK(x.rank() == 4 && (x.dim(3) == 3 || x.dim(3) == 1) && x.dim(0) >= 1 && x.dim(1) >= 1 && x.dim(2) >= 1,
            "FidInception::forward_uint8_nhwc: expects uint8 images [N, H, W, 3] (or [N, H, W, 1], grey), got "
                << x.shape());
  const index_t H = x.dim(1), W = x.dim(2), C = x.dim(3), plane = H * W;
  auto y = Tensor<float, Space>::empty(Shape{x.dim(0), 3, H, W});
  auto xv = x.view();
  auto yv = y.view();
  parallel_for_2d<Space>("ibq::metrics::inception_from_uint8", x.dim(0) * 3, plane,
                         KOKKOS_LAMBDA(index_t r, index_t p) {  // r: (image, channel), p: pixel
                           const index_t n = r / 3, c = C == 1 ? 0 : r - n * 3;
                           yv(r * plane + p) = float(xv((n * plane + p) * C + c)) / 255.0f;
                         });
  return y;
}
}  // namespace detail

template <class Space = DefaultSpace>
class FidInception {
 public:
  using TensorF = Tensor<float, Space>;
  static constexpr index_t resolution = 299;

  explicit FidInception(const std::string& weights_path)
      : FidInception(load_fid_inception_weights<Space>(weights_path)) {}
  explicit FidInception(FidInceptionWeights<Space> weights)
      : w_(std::move(weights)), layout_(FrozenConvRelu<float, Space>::preferred_layout()) {}

  // Adds each stage's seconds (resize, stem, Mixed_5b ... Mixed_7c, pool3) to *seconds on every forward,
  // fencing after each; nullptr turns it off. For benchmarks: the fences cost a little.
  void profile_into(std::map<std::string, double>* seconds) { profile_ = seconds; }

  // images [N, 3, H, W] in [0, 1], any H x W.
  InceptionOutput<Space> forward(const TensorF& images) const {
    detail::check_images(images.shape(), "forward");
    Stage stage(profile_, "resize");
    auto x = detail::unit_to_signed(resize_bilinear_forward(images, resolution, resolution));
    stage.done();
    return forward_prepared(x);
  }
  // x [N, 3, H, W] in [-1, 1] (clamped), mapped to [0, 1] first: the same path as pytorch-fid on (x + 1) / 2.
  InceptionOutput<Space> forward_minus1_1(const TensorF& x) const {
    detail::check_images(x.shape(), "forward_minus1_1");
    return forward(detail::signed_to_unit(x));
  }
  // pixels uint8 [N, H, W, 3] (or 1), value / 255.
  InceptionOutput<Space> forward_uint8_nhwc(const Tensor<std::uint8_t, Space>& pixels) const {
    return forward(detail::uint8_nhwc_to_unit(pixels));
  }

  // The network alone on x [N, 3, 299, 299] in [-1, 1] (no resize, no scaling).
  InceptionOutput<Space> forward_prepared(const TensorF& x) const {
    detail::check_images(x.shape(), "forward_prepared");
    Stage stage(profile_, "stem");
    TensorF h = layout_ == ImageLayout::nhwc ? permute_forward(x, Permutation(x.shape(), {0, 2, 3, 1}, "FidInception"))
                                             : x;
    h = max_pool(conv("Conv2d_2b_3x3", conv("Conv2d_2a_3x3", conv("Conv2d_1a_3x3", h))), {2, 0});
    h = max_pool(conv("Conv2d_4a_3x3", conv("Conv2d_3b_1x1", h)), {2, 0});
    stage.next("Mixed_5b"), h = inception_a(h, "Mixed_5b", 32);
    stage.next("Mixed_5c"), h = inception_a(h, "Mixed_5c", 64);
    stage.next("Mixed_5d"), h = inception_a(h, "Mixed_5d", 64);
    stage.next("Mixed_6a"), h = inception_b(h, "Mixed_6a");
    for (const char* p : {"Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"}) stage.next(p), h = inception_c(h, p);
    stage.next("Mixed_7a"), h = inception_d(h, "Mixed_7a");
    stage.next("Mixed_7b"), h = inception_e(h, "Mixed_7b", false);
    stage.next("Mixed_7c"), h = inception_e(h, "Mixed_7c", true);
    stage.next("pool3");
    const ImageDims d = dims(h);
    InceptionOutput<Space> out;  // the adaptive average pool to 1x1: a mean over the 8x8 pixels
    out.pool3 = layout_ == ImageLayout::nhwc ? mean_forward(h.reshape({d.n, d.h * d.w, d.c}), 1)
                                             : mean_forward(h.reshape({d.n, d.c, d.h * d.w}), 2);
    out.logits = linear_forward(out.pool3, w_.fc_weight, TensorF());
    stage.done();
    return out;
  }

  const FidInceptionWeights<Space>& weights() const { return w_; }
  // The layout of the activations: NHWC where oneDNN runs the convolutions (no reorders), else NCHW.
  ImageLayout layout() const { return layout_; }

 private:
  // Times the stage that runs until next() or done() into *seconds[name] (nothing when seconds is null).
  class Stage {
   public:
    Stage(std::map<std::string, double>* seconds, const char* name) : seconds_(seconds) { next(name); }
    void next(const char* name) {
      done();
      name_ = name;
      if (seconds_) Kokkos::fence(), start_ = std::chrono::steady_clock::now();
    }
    void done() {
      if (!seconds_ || !name_) return;
      Kokkos::fence();
      (*seconds_)[name_] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      name_ = nullptr;
    }

   private:
    std::map<std::string, double>* seconds_;
    const char* name_ = nullptr;
    std::chrono::steady_clock::time_point start_;
  };

  // A block's concatenated output, filled one branch after the other.
  struct Concat {
    TensorF y;
    index_t channels, next = 0;
    TensorF done() const {
      IBQ_CHECK(next == channels, "FidInception: branches filled " << next << " of " << channels << " channels");
      return y;
    }
  };
  Concat concat(const TensorF& x, index_t channels, index_t h, index_t w) const {
    return Concat{TensorF::empty(image_shape({dims(x).n, channels, h, w}, layout_)), channels, 0};
  }

  ImageDims dims(const TensorF& t) const { return image_dims(t.shape(), layout_, "FidInception"); }
  TensorF max_pool(const TensorF& x, const Pool3x3Args& a) const { return max_pool3x3_forward(x, a, layout_); }
  TensorF avg_pool(const TensorF& x, const Pool3x3Args& a) const { return avg_pool3x3_forward(x, a, layout_); }
  // relu(bn(conv(x))) of the BasicConv2d `name`, as a new tensor or into the next channels of `out`.
  TensorF conv(const std::string& name, const TensorF& x) const { return w_.convs.at(name).forward(x, layout_); }
  void conv(const std::string& name, const TensorF& x, Concat& out) const {
    const auto& c = w_.convs.at(name);
    c.forward_into(x, out.y, out.next, layout_);
    out.next += c.out_channels();
  }
  void append(const TensorF& x, Concat& out) const {
    copy_channels_into(x, out.y, out.next, false, layout_);
    out.next += dims(x).c;
  }
  static index_t halved(index_t size) { return (size - 3) / 2 + 1; }  // a 3x3 stride-2 unpadded window

  // FIDInceptionA: 1x1 | 1x1, 5x5 | 1x1, 3x3, 3x3 | avg pool (no padding counted), 1x1.
  TensorF inception_a(const TensorF& x, const std::string& p, index_t pool_features) const {
    const ImageDims d = dims(x);
    auto out = concat(x, 224 + pool_features, d.h, d.w);
    conv(p + ".branch1x1", x, out);
    conv(p + ".branch5x5_2", conv(p + ".branch5x5_1", x), out);
    conv(p + ".branch3x3dbl_3", conv(p + ".branch3x3dbl_2", conv(p + ".branch3x3dbl_1", x)), out);
    conv(p + ".branch_pool", avg_pool(x, {1, 1}), out);
    return out.done();
  }
  // InceptionB: 3x3 stride 2 | 1x1, 3x3, 3x3 stride 2 | max pool stride 2.
  TensorF inception_b(const TensorF& x, const std::string& p) const {
    const ImageDims d = dims(x);
    auto out = concat(x, 384 + 96 + d.c, halved(d.h), halved(d.w));
    conv(p + ".branch3x3", x, out);
    conv(p + ".branch3x3dbl_3", conv(p + ".branch3x3dbl_2", conv(p + ".branch3x3dbl_1", x)), out);
    append(max_pool(x, {2, 0}), out);
    return out.done();
  }
  // FIDInceptionC: 1x1 | 1x1, 1x7, 7x1 | 1x1, 7x1, 1x7, 7x1, 1x7 | avg pool (no padding counted), 1x1.
  TensorF inception_c(const TensorF& x, const std::string& p) const {
    const ImageDims d = dims(x);
    auto out = concat(x, 4 * 192, d.h, d.w);
    conv(p + ".branch1x1", x, out);
    conv(p + ".branch7x7_3", conv(p + ".branch7x7_2", conv(p + ".branch7x7_1", x)), out);
    TensorF b = conv(p + ".branch7x7dbl_1", x);
    for (const char* k : {".branch7x7dbl_2", ".branch7x7dbl_3", ".branch7x7dbl_4"}) b = conv(p + k, b);
    conv(p + ".branch7x7dbl_5", b, out);
    conv(p + ".branch_pool", avg_pool(x, {1, 1}), out);
    return out.done();
  }
  // InceptionD: 1x1, 3x3 stride 2 | 1x1, 1x7, 7x1, 3x3 stride 2 | max pool stride 2.
  TensorF inception_d(const TensorF& x, const std::string& p) const {
    const ImageDims d = dims(x);
    auto out = concat(x, 320 + 192 + d.c, halved(d.h), halved(d.w));
    conv(p + ".branch3x3_2", conv(p + ".branch3x3_1", x), out);
    conv(p + ".branch7x7x3_4",
         conv(p + ".branch7x7x3_3", conv(p + ".branch7x7x3_2", conv(p + ".branch7x7x3_1", x))), out);
    append(max_pool(x, {2, 0}), out);
    return out.done();
  }
  // FIDInceptionE_1 (avg pool, no padding counted) and _2 (max pool), each pool stride 1, pad 1:
  // 1x1 | 1x1, then 1x3 and 3x1 side by side | 1x1, 3x3, then 1x3 and 3x1 side by side | pool, 1x1.
  TensorF inception_e(const TensorF& x, const std::string& p, bool max_pooled) const {
    const ImageDims d = dims(x);
    auto out = concat(x, 320 + 2 * 384 + 2 * 384 + 192, d.h, d.w);
    conv(p + ".branch1x1", x, out);
    const TensorF b = conv(p + ".branch3x3_1", x);
    conv(p + ".branch3x3_2a", b, out);
    conv(p + ".branch3x3_2b", b, out);
    const TensorF e = conv(p + ".branch3x3dbl_2", conv(p + ".branch3x3dbl_1", x));
    conv(p + ".branch3x3dbl_3a", e, out);
    conv(p + ".branch3x3dbl_3b", e, out);
    conv(p + ".branch_pool", max_pooled ? max_pool(x, {1, 1}) : avg_pool(x, {1, 1}), out);
    return out.done();
  }

  FidInceptionWeights<Space> w_;
  ImageLayout layout_;
  std::map<std::string, double>* profile_ = nullptr;
};

}  // namespace ibq::metrics
