// ibq/models/autoencoder.hpp — taming's Encoder and Decoder (diffusionmodules/model.py), as IBQ uses them.
//
//   ibq::AutoencoderConfig cfg;                         // the reference ddconfig (ch 128, ch_mult 1,1,2,2,4, ...)
//   ibq::Encoder<float> enc(store, "encoder", cfg);     // [B, in_channels, R, R] -> [B, z_channels, R/16, R/16]
//   ibq::Decoder<float> dec(store, "decoder", cfg);     // [B, z_channels, r, r]  -> [B, out_ch, R, R]
//
// Structure and state-dict names follow the reference exactly (encoder.down.{i}.block.{j}.conv1.weight,
// encoder.mid.attn_1.q.weight, decoder.up.{i}.upsample.conv.weight, ...): level i of the encoder has
// num_res_blocks ResnetBlocks (ch*in_ch_mult[i] -> ch*ch_mult[i]), an AttnBlock after each block when the
// level's resolution is in attn_resolutions, and a Downsample except at the last level. The decoder
// mirrors it with num_res_blocks + 1 blocks per level, visited from the deepest level up; its modules are
// stored under the level index (decoder.up.{i}), as the reference's up.insert(0, ...) does.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "ibq/nn/attn_block.hpp"
#include "ibq/nn/resample.hpp"
#include "ibq/nn/resnet_block.hpp"

namespace ibq {

struct AutoencoderConfig {
  index_t ch = 128;
  std::vector<index_t> ch_mult{1, 1, 2, 2, 4};
  index_t num_res_blocks = 4;
  std::vector<index_t> attn_resolutions{16};
  index_t z_channels = 256;
  index_t in_channels = 3;
  index_t out_ch = 3;
  index_t resolution = 256;
  double dropout = 0.0;
  int norm_groups = 32;  // taming's Normalize: GroupNorm(32, eps 1e-6)

  index_t levels() const { return index_t(ch_mult.size()); }
  index_t latent_resolution() const { return resolution >> (levels() - 1); }
  bool attends_at(index_t res) const {
    return std::find(attn_resolutions.begin(), attn_resolutions.end(), res) != attn_resolutions.end();
  }
  void validate() const {
    IBQ_CHECK(ch > 0 && !ch_mult.empty() && num_res_blocks >= 0 && z_channels > 0 && in_channels > 0 && out_ch > 0,
              "model: ch, ch_mult, z_channels, in_channels and out_ch must be positive (got ch=" << ch << ", "
                  << ch_mult.size() << " levels, z_channels=" << z_channels << ")");
    IBQ_CHECK(resolution % (index_t(1) << (levels() - 1)) == 0,
              "model.resolution " << resolution << " must be divisible by 2^" << levels() - 1
                                  << " (one halving per level after the first)");
    IBQ_CHECK(dropout >= 0 && dropout < 1, "model.dropout " << dropout << " must lie in [0, 1)");
  }
};

// One resolution level: blocks, optional attention after each block, optional resampler.
template <class T, class Space>
struct AutoencoderLevel {
  std::vector<ResnetBlock<T, Space>> blocks;
  std::vector<AttnBlock<T, Space>> attns;  // empty, or one per block
};

// The middle: ResnetBlock, AttnBlock, ResnetBlock at the lowest resolution.
template <class T, class Space>
struct MidBlock {
  ResnetBlock<T, Space> block_1, block_2;
  AttnBlock<T, Space> attn_1;

  MidBlock() = default;
  MidBlock(ParamStore<T, Space>& s, const std::string& prefix, index_t c, const AutoencoderConfig& cfg)
      : block_1(s, join_name(prefix, "block_1"), c, c, cfg.norm_groups, cfg.dropout),
        block_2(s, join_name(prefix, "block_2"), c, c, cfg.norm_groups, cfg.dropout),
        attn_1(s, join_name(prefix, "attn_1"), c, cfg.norm_groups) {}

  Var<T, Space> forward(const Var<T, Space>& h, const Rng& rng, bool training) const {
    return block_2.forward(attn_1.forward(block_1.forward(h, rng.split(0), training)), rng.split(1), training);
  }
};

// Runs blocks[j] (then attns[j]) for every j; each block draws its dropout mask from its own stream.
template <class T, class Space>
Var<T, Space> run_level(const AutoencoderLevel<T, Space>& level, Var<T, Space> h, const Rng& rng, bool training) {
  for (std::size_t j = 0; j < level.blocks.size(); ++j) {
    h = level.blocks[j].forward(h, rng.split(j), training);
    if (!level.attns.empty()) h = level.attns[j].forward(h);
  }
  return h;
}

template <class T = float, class Space = DefaultSpace>
class Encoder {
 public:
  Encoder(ParamStore<T, Space>& s, const std::string& prefix, const AutoencoderConfig& cfg) : cfg_(cfg) {
    cfg.validate();
    const index_t L = cfg.levels();
    conv_in_ = Conv2d<T, Space>(s, join_name(prefix, "conv_in"), cfg.in_channels, cfg.ch, 3, 1, 1);
    index_t res = cfg.resolution, block_in = cfg.ch;
    for (index_t i = 0; i < L; ++i) {
      const std::string p = join_name(prefix, "down." + std::to_string(i));
      const index_t block_out = cfg.ch * cfg.ch_mult[i];
      AutoencoderLevel<T, Space> level;
      for (index_t j = 0; j < cfg.num_res_blocks; ++j) {
        level.blocks.emplace_back(s, p + ".block." + std::to_string(j), block_in, block_out, cfg.norm_groups,
                                  cfg.dropout);
        block_in = block_out;
        if (cfg.attends_at(res)) level.attns.emplace_back(s, p + ".attn." + std::to_string(j), block_in, cfg.norm_groups);
      }
      levels_.push_back(std::move(level));
      if (i != L - 1) {
        down_.emplace_back(s, p + ".downsample", block_in);
        res /= 2;
      }
    }
    mid_ = MidBlock<T, Space>(s, join_name(prefix, "mid"), block_in, cfg);
    norm_out_ = GroupNorm<T, Space>(s, join_name(prefix, "norm_out"), block_in, cfg.norm_groups);
    conv_out_ = Conv2d<T, Space>(s, join_name(prefix, "conv_out"), block_in, cfg.z_channels, 3, 1, 1);
  }

  // x [B, in_channels, R, R] -> [B, z_channels, R/2^(L-1), R/2^(L-1)]
  Var<T, Space> forward(const Var<T, Space>& x, const Rng& rng = {}, bool training = false) const {
    const Shape& xs = x.shape();
    IBQ_CHECK(xs.rank == 4 && xs[1] == cfg_.in_channels && xs[2] == cfg_.resolution && xs[3] == cfg_.resolution,
              "Encoder: input " << xs << " does not match [B, " << cfg_.in_channels << ", " << cfg_.resolution << ", "
                                << cfg_.resolution << "] (model.in_channels, model.resolution)");
    auto h = conv_in_.forward(x);
    for (std::size_t i = 0; i < levels_.size(); ++i) {
      h = run_level(levels_[i], h, rng.split(i), training);
      if (i < down_.size()) h = down_[i].forward(h);
    }
    h = mid_.forward(h, rng.split(1000), training);
    return conv_out_.forward(silu(norm_out_.forward(h)));
  }

 private:
  AutoencoderConfig cfg_;
  Conv2d<T, Space> conv_in_, conv_out_;
  std::vector<AutoencoderLevel<T, Space>> levels_;
  std::vector<Downsample<T, Space>> down_;
  MidBlock<T, Space> mid_;
  GroupNorm<T, Space> norm_out_;
};

template <class T = float, class Space = DefaultSpace>
class Decoder {
 public:
  Decoder(ParamStore<T, Space>& s, const std::string& prefix, const AutoencoderConfig& cfg) : cfg_(cfg) {
    cfg.validate();
    const index_t L = cfg.levels();
    index_t block_in = cfg.ch * cfg.ch_mult[L - 1], res = cfg.latent_resolution();
    conv_in_ = Conv2d<T, Space>(s, join_name(prefix, "conv_in"), cfg.z_channels, block_in, 3, 1, 1);
    mid_ = MidBlock<T, Space>(s, join_name(prefix, "mid"), block_in, cfg);
    // Built from the deepest level up, as the reference's loop runs; stored (and named) by level index.
    levels_.resize(L);
    up_.resize(L);
    for (index_t i = L - 1; i >= 0; --i) {
      const std::string p = join_name(prefix, "up." + std::to_string(i));
      const index_t block_out = cfg.ch * cfg.ch_mult[i];
      for (index_t j = 0; j <= cfg.num_res_blocks; ++j) {
        levels_[i].blocks.emplace_back(s, p + ".block." + std::to_string(j), block_in, block_out, cfg.norm_groups,
                                       cfg.dropout);
        block_in = block_out;
        if (cfg.attends_at(res)) levels_[i].attns.emplace_back(s, p + ".attn." + std::to_string(j), block_in, cfg.norm_groups);
      }
      if (i != 0) {
        up_[i] = Upsample<T, Space>(s, p + ".upsample", block_in);
        res *= 2;
      }
    }
    norm_out_ = GroupNorm<T, Space>(s, join_name(prefix, "norm_out"), block_in, cfg.norm_groups);
    conv_out_ = Conv2d<T, Space>(s, join_name(prefix, "conv_out"), block_in, cfg.out_ch, 3, 1, 1);
  }

  // z [B, z_channels, r, r] -> [B, out_ch, R, R]; no output activation, as in training.
  Var<T, Space> forward(const Var<T, Space>& z, const Rng& rng = {}, bool training = false) const {
    return conv_out_.forward(features(z, rng, training));
  }

  // The input of conv_out, silu(norm_out(h)): with it, the gradient of any loss with respect to conv_out's
  // weight follows from the loss's gradient at the output (the adaptive GAN weight needs two of them).
  Var<T, Space> features(const Var<T, Space>& z, const Rng& rng = {}, bool training = false) const {
    const Shape& zs = z.shape();
    const index_t r = cfg_.latent_resolution();
    IBQ_CHECK(zs.rank == 4 && zs[1] == cfg_.z_channels && zs[2] == r && zs[3] == r,
              "Decoder: input " << zs << " does not match [B, " << cfg_.z_channels << ", " << r << ", " << r << "]");
    auto h = mid_.forward(conv_in_.forward(z), rng.split(1000), training);
    for (index_t i = cfg_.levels() - 1; i >= 0; --i) {
      h = run_level(levels_[i], h, rng.split(i), training);
      if (i != 0) h = up_[i].forward(h);
    }
    return silu(norm_out_.forward(h));
  }

  // The reference's "last layer" (for the adaptive GAN weight).
  const Conv2d<T, Space>& conv_out() const { return conv_out_; }

 private:
  AutoencoderConfig cfg_;
  Conv2d<T, Space> conv_in_, conv_out_;
  MidBlock<T, Space> mid_;
  std::vector<AutoencoderLevel<T, Space>> levels_;
  std::vector<Upsample<T, Space>> up_;
  GroupNorm<T, Space> norm_out_;
};

}  // namespace ibq
