// ibq/models/tokenizer.hpp — the IBQ (or VQ) tokenizer: Encoder -> quant_conv -> quantizer -> post_quant_conv
// -> Decoder, with encode() to token grids and decode() from them.
//
//   ibq::TokenizerConfig cfg;                       // reference ImageNet model, IBQ, K = 16384
//   ibq::Tokenizer<float> model(cfg, /*seed=*/1);
//   auto out = model.forward(tape.leaf(x), rng, /*training=*/true);   // out.x_hat, out.quant_loss, ...
//   auto tokens = model.encode(x);                  // int32 [B, h, w], raster order
//   auto images = model.decode(tokens);             // [B, out_ch, R, R]
//
// One ParamStore holds every generator parameter under the reference's state-dict names (encoder.*,
// decoder.*, quant_conv.*, post_quant_conv.*, quantize.embedding.weight).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "ibq/models/autoencoder.hpp"
#include "ibq/quant/ibq.hpp"
#include "ibq/quant/vq.hpp"

namespace ibq {

enum class QuantizerKind { ibq, vq };

inline QuantizerKind parse_quantizer_kind(const std::string& s) {
  if (s == "ibq") return QuantizerKind::ibq;
  if (s == "vq") return QuantizerKind::vq;
  IBQ_THROW("model.quantizer = '" << s << "' is not a quantizer; use ibq or vq");
}

struct TokenizerConfig {
  AutoencoderConfig ae;
  QuantizerKind quantizer = QuantizerKind::ibq;
  index_t codebook_size = 16384;
  index_t embed_dim = 256;
  IbqConfig ibq;  // its codebook_size/embed_dim are taken from the two fields above
  VqConfig vq;    // likewise

  IbqConfig ibq_config() const {
    IbqConfig c = ibq;
    c.codebook_size = codebook_size;
    c.embed_dim = embed_dim;
    return c;
  }
  VqConfig vq_config() const {
    VqConfig c = vq;
    c.codebook_size = codebook_size;
    c.embed_dim = embed_dim;
    return c;
  }
};

template <class T, class Space>
struct TokenizerOutput {
  Var<T, Space> x_hat;           // [B, out_ch, R, R]
  Var<T, Space> decoder_features;  // the input of decoder.conv_out (x_hat = conv_out(decoder_features))
  Var<T, Space> quant_loss;      // L_Q (IBQ) or the VQ codebook + commitment loss, [1]
  Var<T, Space> entropy_loss;    // IBQ with use_entropy only (undefined otherwise)
  Var<T, Space> sample_entropy;  // idem
  Var<T, Space> batch_entropy;   // idem
  Tensor<std::int32_t, Space> indices;  // [B*h*w], b-h-w raster order
};

template <class T = float, class Space = DefaultSpace>
class Tokenizer {
 public:
  Tokenizer(const TokenizerConfig& cfg, std::uint64_t seed) : Tokenizer(cfg, seed, true) {}
  Tokenizer(const Tokenizer&) = delete;  // layers point at store_
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Trainable parameters per module (encoder, decoder, quant_conv, post_quant_conv, quantize), counted
  // from the declarations alone: nothing is allocated.
  static std::map<std::string, index_t> parameter_counts(const TokenizerConfig& cfg) {
    return Tokenizer(cfg, 0, false).store_.declared_counts();
  }

  // x [B, in_channels, R, R] on a tape. rng/training drive dropout (0 in the reference).
  // batch_mean: see BatchMeanHook (ibq/quant/ibq.hpp); IBQ only.
  TokenizerOutput<T, Space> forward(const Var<T, Space>& x, const Rng& rng = {}, bool training = false,
                                    const BatchMeanHook<T, Space>& batch_mean = {}) const {
    TokenizerOutput<T, Space> out;
    auto& tape = x.tape();  // regions name where a profiled step's time goes (autodiff/op_profile.hpp)
    Var<T, Space> z;
    {
      auto r = tape.region("encoder");
      z = quant_conv_.forward(encoder_.forward(x, rng.split(1), training));
    }
    auto region = tape.region("quantizer");
    Var<T, Space> z_q;
    if (ibq_) {
      auto q = ibq_->forward(z, batch_mean);
      z_q = q.z_q;
      out.quant_loss = q.quant_loss;
      out.entropy_loss = q.entropy_loss;
      out.sample_entropy = q.sample_entropy;
      out.batch_entropy = q.batch_entropy;
      out.indices = q.indices;
    } else {
      auto q = vq_->forward(z);
      z_q = q.z_q;
      out.quant_loss = q.quant_loss;
      out.indices = q.indices;
    }
    auto r = tape.region("decoder");
    out.decoder_features = decoder_.features(post_quant_conv_.forward(z_q), rng.split(2), training);
    out.x_hat = decoder_.conv_out().forward(out.decoder_features);
    return out;
  }

  // Images -> token grid int32 [B, h, w] (no gradients).
  Tensor<std::int32_t, Space> encode(const Tensor<T, Space>& x) const {
    Tape<T, Space> tape;
    auto guard = tape.no_grad();
    auto z = quant_conv_.forward(encoder_.forward(tape.leaf(x)));
    const index_t h = z.shape()[2], w = z.shape()[3];
    const auto ind = ibq_ ? ibq_->indices(z) : vq_->forward(z).indices;
    return Tensor<std::int32_t, Space>::from_view(ind.view(), Shape{x.dim(0), h, w});
  }

  // Token grid int32 [B, h, w] -> images [B, out_ch, R, R]: codebook lookup, post_quant_conv, decoder.
  Tensor<T, Space> decode(const Tensor<std::int32_t, Space>& tokens) const {
    const Shape& ts = tokens.shape();
    const index_t r = cfg_.ae.latent_resolution();
    IBQ_CHECK(ts.rank == 3 && ts[1] == r && ts[2] == r,
              "Tokenizer::decode: tokens " << ts << " must be [B, " << r << ", " << r << "] for this model");
    check_token_range(tokens);
    Tape<T, Space> tape;
    auto guard = tape.no_grad();
    const auto flat = Tensor<std::int32_t, Space>::from_view(tokens.view(), Shape{tokens.size()});
    auto zq = ibq_ ? ibq_->codebook_entry(tape, flat, ts[0], r, r) : vq_->codebook_entry(tape, flat, ts[0], r, r);
    return decoder_.forward(post_quant_conv_.forward(zq)).value();
  }

  ParamStore<T, Space>& store() { return store_; }
  const ParamStore<T, Space>& store() const { return store_; }
  const TokenizerConfig& config() const { return cfg_; }
  const Decoder<T, Space>& decoder() const { return decoder_; }
  const Tensor<T, Space>& codebook() const {
    return store_.value(ibq_ ? ibq_->embedding_weight : vq_->embedding_weight);
  }

 private:
  Tokenizer(const TokenizerConfig& cfg, std::uint64_t seed, bool allocate)
      : cfg_(cfg),
        encoder_(store_, "encoder", cfg.ae),
        decoder_(store_, "decoder", cfg.ae),
        quant_conv_(store_, "quant_conv", cfg.ae.z_channels, cfg.embed_dim, 1),
        post_quant_conv_(store_, "post_quant_conv", cfg.embed_dim, cfg.ae.z_channels, 1) {
    if (cfg.quantizer == QuantizerKind::ibq)
      ibq_.emplace(store_, "quantize", cfg.ibq_config());
    else
      vq_.emplace(store_, "quantize", cfg.vq_config());
    if (allocate) store_.allocate(seed);
  }

  void check_token_range(const Tensor<std::int32_t, Space>& tokens) const {
    const auto host = tokens.to_host();
    for (std::size_t i = 0; i < host.size(); ++i)
      IBQ_CHECK(host[i] >= 0 && host[i] < cfg_.codebook_size,
                "Tokenizer::decode: token " << host[i] << " at position " << i << " is outside the codebook [0, "
                                            << cfg_.codebook_size << "); the tokens come from another tokenizer");
  }

  TokenizerConfig cfg_;
  ParamStore<T, Space> store_;
  Encoder<T, Space> encoder_;
  Decoder<T, Space> decoder_;
  Conv2d<T, Space> quant_conv_, post_quant_conv_;
  std::optional<IbqQuantizer<T, Space>> ibq_;
  std::optional<VqQuantizer<T, Space>> vq_;
};

}  // namespace ibq
