// ibq/gan/perceptual.hpp — LPIPS (VGG16 variant, v0.1 heads) as the reference's perceptual loss.
//
//   ibq::Lpips<float> lpips({}, /*seed=*/0);
//   ibq::load_lpips_weights(lpips, "lpips_vgg16.h5");   // make it with hpc/make_lpips_weights.py
//   auto d = lpips.forward(x, x_hat, rng, /*training=*/true);   // [N, 1, 1, 1], x and x_hat in [-1, 1]
//
//   x -> (x - shift) / scale, shift = (-.030, -.088, -.188), scale = (.458, .448, .450)
//   VGG16 features: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (3x3 convs, 2x2 max pools between stages)
//   per stage k: f / (sqrt(sum_c f^2) + 1e-10) for both images, d_k = (f0 - f1)^2,
//                 lin_k = 1x1 conv (no bias) after Dropout(0.5), spatial mean
//   LPIPS = sum_k lin_k(d_k)
// Names follow torchvision's VGG16 (features.0.weight ... features.28.bias) and the LPIPS heads
// (lin0.model.1.weight ... lin4.model.1.weight, each [1, C, 1, 1]). The reference builds LPIPS in eval
// mode, and under the Lightning it pins (2.2.0) it stays there: no dropout in training (docs/math.md). `dropout_in_training` turns it on, as Lightning 2.1.x's train() did. The weights are frozen:
// LPIPS keeps its own ParamStore, which no optimizer sees. Stage widths are configurable so tests can run a
// narrow copy against a PyTorch reference; the real weights need the torchvision widths.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ibq/io/hdf5.hpp"
#include "ibq/nn/conv2d.hpp"
#include "ibq/ops/binary.hpp"
#include "ibq/ops/dropout.hpp"
#include "ibq/ops/pool.hpp"
#include "ibq/ops/reduce.hpp"
#include "ibq/ops/shape_ops.hpp"
#include "ibq/ops/unary.hpp"

namespace ibq {

struct LpipsConfig {
  std::vector<index_t> widths{64, 128, 256, 512, 512};  // VGG16's stage widths
  bool dropout_in_training = false;                     // the reference (eval mode under Lightning 2.2)
  double dropout = 0.5;
};

template <class T = float, class Space = DefaultSpace>
class Lpips {
 public:
  // VGG16's conv count per stage; torchvision numbers features.<i> across convs, ReLUs and pools.
  static constexpr int convs_per_stage[5] = {2, 2, 3, 3, 3};

  Lpips(const LpipsConfig& cfg, std::uint64_t seed) : cfg_(cfg) {
    IBQ_CHECK(cfg.widths.size() == 5, "Lpips: widths must list the 5 VGG16 stage widths");
    index_t in = 3, index = 0;
    for (int s = 0; s < 5; ++s) {
      for (int k = 0; k < convs_per_stage[s]; ++k) {
        stages_[s].push_back(Conv2d<T, Space>(store_, "features." + std::to_string(index), in, cfg.widths[s], 3, 1, 1));
        in = cfg.widths[s];
        index += 2;  // conv, ReLU
      }
      index += 1;  // the max pool after the stage
      heads_[s] = Conv2d<T, Space>(store_, "lin" + std::to_string(s) + ".model.1", cfg.widths[s], 1, 1, 1, 0, false);
    }
    store_.allocate(seed);
  }
  Lpips(const Lpips&) = delete;  // layers point at store_
  Lpips& operator=(const Lpips&) = delete;

  // Per-image distance [N, 1, 1, 1] between two batches of 3-channel images in [-1, 1].
  Var<T, Space> forward(const Var<T, Space>& x0, const Var<T, Space>& x1, const Rng& rng, bool training) const {
    IBQ_CHECK(x0.shape() == x1.shape() && x0.shape().rank == 4 && x0.shape()[1] == 3,
              "LPIPS: inputs " << x0.shape() << " and " << x1.shape() << " must both be [N, 3, H, W] (replicate a "
                                                                           "grey channel to 3 first)");
    auto& tape = x0.tape();
    const index_t n = x0.shape()[0];
    const auto shift = tape.leaf(Tensor<T, Space>::from_host({1, 3, 1, 1}, {T(-.030), T(-.088), T(-.188)}));
    const auto scale = tape.leaf(Tensor<T, Space>::from_host({1, 3, 1, 1}, {T(.458), T(.448), T(.450)}));
    Var<T, Space> h0 = (x0 - shift) / scale, h1 = (x1 - shift) / scale, total;
    for (int s = 0; s < 5; ++s) {
      if (s > 0) h0 = max_pool2x2(h0), h1 = max_pool2x2(h1);
      for (const auto& conv : stages_[s]) h0 = relu(conv.forward(h0)), h1 = relu(conv.forward(h1));
      auto d = square(unit_normalize(h0) - unit_normalize(h1));
      d = dropout(d, cfg_.dropout, rng.split(std::uint64_t(s)), training && cfg_.dropout_in_training);
      auto per_image = mean(reshape(heads_[s].forward(d), {n, d.shape()[2] * d.shape()[3]}), 1);  // [N]
      total = total.defined() ? total + per_image : per_image;
    }
    return reshape(total, {n, 1, 1, 1});
  }

  ParamStore<T, Space>& store() { return store_; }
  const ParamStore<T, Space>& store() const { return store_; }
  const LpipsConfig& config() const { return cfg_; }

 private:
  // f / (sqrt(sum over channels of f^2) + 1e-10), LPIPS's normalize_tensor. The 1e-20 under the root leaves
  // every value as it is (features are O(1) or exactly 0) but keeps the gradient finite where all of a
  // pixel's features are 0 after the ReLU (in PyTorch it is 0 * inf = NaN there).
  static Var<T, Space> unit_normalize(const Var<T, Space>& f) {
    return f / (sqrt(sum(square(f), 1, true) + 1e-20) + 1e-10);
  }

  LpipsConfig cfg_;
  ParamStore<T, Space> store_;
  std::vector<Conv2d<T, Space>> stages_[5];
  Conv2d<T, Space> heads_[5];
};

// Loads every LPIPS tensor by name from an HDF5 file (hpc/make_lpips_weights.py writes one from
// torchvision's VGG16 and the LPIPS v0.1 heads); a missing file, tensor or shape is an error that says how
// to make the file.
// `prefix`: the group the names live under ("" for the files the script writes).
template <class T, class Space>
void load_lpips_weights(Lpips<T, Space>& lpips, const std::string& path, const std::string& prefix = "") {
  const std::string how = "; make it with 'python3 hpc/make_lpips_weights.py " + path +
                          "' on a machine that can download torchvision's VGG16 and the LPIPS weights";
  IBQ_CHECK(!path.empty(), "loss.perceptual_weight > 0 needs LPIPS weights: set loss.lpips_weights to their HDF5 "
                           "file (make one with 'python3 hpc/make_lpips_weights.py lpips_vgg16.h5'), or set "
                           "loss.perceptual_weight = 0");
  std::unique_ptr<h5::File> file;
  try {
    file = std::make_unique<h5::File>(path, h5::File::Mode::read);
  } catch (const Error& e) {
    IBQ_THROW("LPIPS weights: " << e.what() << how);
  }
  const h5::File& f = *file;
  for (const auto& e : lpips.store().params()) {
    const std::string name = prefix + e.name;
    IBQ_CHECK(f.exists(name), "LPIPS weights '" << path << "' lack '" << name << "'" << how);
    const auto dims = f.dims(name);
    const Shape s = Shape::from_range(dims.begin(), dims.end());
    IBQ_CHECK(s == e.shape, "LPIPS weights '" << path << "': '" << name << "' has shape " << s << ", expected "
                                              << e.shape << how);
    e.value.copy_from_(h5::read_tensor<T, Space>(f, name));
  }
  lpips.store().mark_values_modified();
}

}  // namespace ibq
