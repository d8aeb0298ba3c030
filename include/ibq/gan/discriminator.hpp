// ibq/gan/discriminator.hpp — the PatchGAN discriminator of the reference (taming's NLayerDiscriminator).
//
//   ibq::PatchDiscriminator<float> disc({/*in_channels=*/3, /*ndf=*/64, /*n_layers=*/3}, seed);
//   auto logits = disc.forward(x, /*training=*/true);     // x [N, 3, 256, 256] -> [N, 1, 30, 30]
//
// main.0:  conv 4x4 stride 2 pad 1, in -> ndf (bias), LeakyReLU 0.2
// main.*:  for n = 1 .. n_layers-1: conv 4x4 stride 2, ndf*min(2^(n-1), 8) -> ndf*min(2^n, 8), no bias,
//          BatchNorm, LeakyReLU 0.2; then the same with stride 1 up to ndf*min(2^n_layers, 8)
// last:    conv 4x4 stride 1 pad 1 -> 1 channel (bias): one logit per patch
// Names are the reference's nn.Sequential indices under `loss.discriminator.main` (conv 0, LeakyReLU 1,
// conv 2, BatchNorm 3, ...), so a reference checkpoint's discriminator maps 1:1. Initialisation as the
// reference's weights_init: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02) and biases 0; the two
// conv biases keep PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)). BatchNorm runs in training mode
// with per-call batch statistics (the reference calls real and fake images separately) and updates its
// running statistics, which are store buffers.
// The discriminator owns its ParamStore: the generator and discriminator have separate optimizers,
// gradient buffers and allreduces.
#pragma once

#include <string>
#include <vector>

#include "ibq/nn/batch_norm.hpp"
#include "ibq/nn/conv2d.hpp"
#include "ibq/ops/unary.hpp"

namespace ibq {

struct DiscriminatorConfig {
  index_t in_channels = 3;
  index_t ndf = 64;     // width of the first layer
  index_t n_layers = 3; // stride-2 convs (the first included)
  std::string prefix = "loss.discriminator.main";

  void validate() const {
    IBQ_CHECK(in_channels > 0 && ndf > 0, "disc.in_channels and disc.ndf must be positive");
    IBQ_CHECK(n_layers >= 1 && n_layers <= 8, "disc.n_layers must be in [1, 8], got " << n_layers);
  }
  // Patch logits per side for an input of side `size` (each 4x4 conv with pad 1: stride 2 halves (floor),
  // stride 1 loses one pixel).
  index_t output_size(index_t size) const {
    for (index_t i = 0; i < n_layers; ++i) size = (size + 2 - 4) / 2 + 1;
    return size - 2;
  }
};

template <class T = float, class Space = DefaultSpace>
class PatchDiscriminator {
 public:
  PatchDiscriminator(const DiscriminatorConfig& cfg, std::uint64_t seed) : cfg_(cfg) {
    cfg.validate();
    const auto name = [&](index_t i) { return cfg.prefix + "." + std::to_string(i); };
    const Init conv_init = Init::normal(0.0, 0.02);
    auto add_conv = [&](index_t index, index_t in, index_t out, index_t stride, bool bias) {
      Conv2d<T, Space> c(store_, name(index), in, out, 4, stride, 1, bias);
      store_.set_init(c.weight, conv_init);
      convs_.push_back(c);
    };
    auto add_norm = [&](index_t index, index_t channels) {
      BatchNorm<T, Space> bn(store_, name(index), channels);
      store_.set_init(bn.weight, Init::normal(1.0, 0.02));
      norms_.push_back(bn);
    };
    index_t index = 0, mult = 1;
    add_conv(index, cfg.in_channels, cfg.ndf, 2, true);
    index += 2;  // conv, LeakyReLU
    for (index_t n = 1; n <= cfg.n_layers; ++n) {
      const index_t prev = mult;
      mult = std::min<index_t>(index_t(1) << n, 8);
      add_conv(index, cfg.ndf * prev, cfg.ndf * mult, n < cfg.n_layers ? 2 : 1, false);
      add_norm(index + 1, cfg.ndf * mult);
      index += 3;  // conv, BatchNorm, LeakyReLU
    }
    add_conv(index, cfg.ndf * mult, 1, 1, true);
    store_.allocate(seed);
  }
  PatchDiscriminator(const PatchDiscriminator&) = delete;  // layers point at store_
  PatchDiscriminator& operator=(const PatchDiscriminator&) = delete;

  // Patch logits [N, 1, h, w]. training: BatchNorm uses this call's batch statistics and updates the
  // running ones; otherwise it normalises with the running statistics.
  Var<T, Space> forward(const Var<T, Space>& x, bool training) const {
    IBQ_CHECK(x.shape().rank == 4 && x.shape()[1] == cfg_.in_channels,
              "PatchDiscriminator: input " << x.shape() << " must be [N, " << cfg_.in_channels << ", H, W]");
    auto h = leaky_relu(convs_[0].forward(x), 0.2);
    for (std::size_t i = 0; i < norms_.size(); ++i)
      h = leaky_relu(norms_[i].forward(convs_[i + 1].forward(h), training), 0.2);
    return convs_.back().forward(h);
  }

  ParamStore<T, Space>& store() { return store_; }
  const ParamStore<T, Space>& store() const { return store_; }
  const DiscriminatorConfig& config() const { return cfg_; }

 private:
  DiscriminatorConfig cfg_;
  ParamStore<T, Space> store_;
  std::vector<Conv2d<T, Space>> convs_;
  std::vector<BatchNorm<T, Space>> norms_;
};

}  // namespace ibq
