// ibq/models/ar_transformer.hpp — IBQ's class-conditional Llama-style generator (docs/math.md).
//
//   auto cfg = ibq::ArConfig::preset("B");                  // 342,994,944 parameters; also L, XL, XXL, fmnist-*
//   ibq::ArTransformer<float> gpt(cfg, /*seed=*/1);
//   auto logits = gpt.forward(tape, tokens_in, labels, /*training=*/true, rng);   // [B, 1 + n, V]
//   auto loss = gpt.loss(tape, tokens, labels, true, rng);  // mean CE of logits[:, t] against tokens[:, t]
//
// The sequence is [c, E z_0, ..., E z_{n-1}]: the class embedding c (row num_classes is the null class of
// classifier-free guidance, drawn with probability class_dropout in training) is both the prefix token and
// the AdaLN condition of every block and of the head. Logits at position t predict z_t. A block is
//   (g1, g2, s1, s2, b1, b2) = Linear(SiLU(c))             (6C, in this order)
//   h   = x + g1 * Attn(RMSNorm(x) * (1 + s1) + b1)        (causal, 2-D RoPE on q and k, class slot zeroed)
//   out = h + g2 * FFN (RMSNorm(h) * (1 + s2) + b2)        (SwiGLU: w2(silu(w1 a) * w3 a))
// and the head is Linear(RMSNorm(h) * (1 + s) + b) with (s, b) = Linear(SiLU(c)). Parameter names are the
// reference's state-dict names (tok_emb, class_emb.embedding_table, blocks.{i}.attention.wqkv, ...,
// head_nm.ada_lin.1, head), so weights map 1:1. Initialisation: every Linear and Embedding N(0, 0.02),
// biases 0; block ada_lin rows [0, 2C) (the gammas) x init_adaln_gamma, rows [2C, 6C) x init_adaln;
// head ada_lin x init_adaln; the output head zero.
//
// Sampling runs the same blocks on one new position at a time against a static KV cache (ArKvCache):
// decode() writes the new keys and values at their positions and attends over the filled prefix.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ibq/core/random.hpp"
#include "ibq/nn/linear.hpp"
#include "ibq/nn/param_store.hpp"
#include "ibq/ops/adaln.hpp"
#include "ibq/ops/attention.hpp"
#include "ibq/ops/binary.hpp"
#include "ibq/ops/dropout.hpp"
#include "ibq/ops/embedding.hpp"
#include "ibq/ops/norm.hpp"
#include "ibq/ops/qkv_heads.hpp"
#include "ibq/ops/rope.hpp"
#include "ibq/ops/shape_ops.hpp"
#include "ibq/ops/softmax.hpp"
#include "ibq/ops/swiglu.hpp"
#include "ibq/ops/unary.hpp"

namespace ibq {

struct ArConfig {
  index_t vocab_size = 16384;  // the tokenizer's codebook size K: one K-way softmax per token
  index_t num_classes = 1000;  // + 1 null class
  index_t grid = 16;           // tokens per side; a sequence is 1 + grid^2 long
  index_t n_layer = 16, dim = 1024, n_head = 16;
  index_t multiple_of = 256;
  double ffn_dim_multiplier = 0;  // 0: none (the reference's None)
  double norm_eps = 1e-5, rope_base = 10000;
  double class_dropout = 0.1, token_dropout = 0.1, resid_dropout = 0.1, ffn_dropout = 0.1;
  double init_std = 0.02, init_adaln = 0.5, init_adaln_gamma = 1e-3;

  index_t head_dim() const { return dim / n_head; }
  index_t seq_len() const { return 1 + grid * grid; }
  // find_multiple(int(8C/3) (x multiplier), multiple_of), the reference's SwiGLU hidden size.
  index_t ffn_hidden() const {
    index_t h = index_t(2 * (4 * dim) / 3);
    if (ffn_dim_multiplier > 0) h = index_t(ffn_dim_multiplier * double(h));
    return (h + multiple_of - 1) / multiple_of * multiple_of;
  }
  void validate() const {
    IBQ_CHECK(dim > 0 && n_head > 0 && dim % n_head == 0,
              "ArConfig: model.dim (" << dim << ") must be a positive multiple of model.heads (" << n_head << ")");
    IBQ_CHECK(head_dim() % 4 == 0, "ArConfig: head dim dim/heads = " << head_dim()
                                                                     << " must be a multiple of 4 for 2-D RoPE");
    IBQ_CHECK(vocab_size >= 2 && num_classes >= 1 && grid >= 1 && n_layer >= 1 && multiple_of >= 1,
              "ArConfig: vocab_size >= 2, num_classes >= 1, grid >= 1, layers >= 1 and multiple_of >= 1 are "
              "required, got " << vocab_size << ", " << num_classes << ", " << grid << ", " << n_layer << ", "
                               << multiple_of);
    for (double p : {class_dropout, token_dropout, resid_dropout, ffn_dropout})
      IBQ_CHECK(p >= 0 && p < 1, "ArConfig: dropout probabilities must lie in [0, 1), got " << p);
  }

  // The paper's sizes (ImageNet 256x256, 16x16 tokens, K = 16384) and small ones for Fashion-MNIST's 8x8
  // grids of the quick-start tokenizer (K = 1024, 10 classes).
  static ArConfig preset(const std::string& name) {
    ArConfig c;
    auto set = [&](index_t layers, index_t dim, index_t heads, double alng) {
      c.n_layer = layers, c.dim = dim, c.n_head = heads, c.init_adaln_gamma = alng;
    };
    if (name == "B") set(16, 1024, 16, 1e-3);
    else if (name == "L") set(20, 1280, 20, 1e-3);
    else if (name == "XL") set(24, 1536, 24, 1e-4);
    else if (name == "XXL") set(30, 1920, 30, 1e-5);
    else if (name == "fmnist-s" || name == "fmnist-m" || name == "fmnist-l") {
      c.vocab_size = 1024, c.num_classes = 10, c.grid = 8, c.multiple_of = 64;
      if (name == "fmnist-s") set(4, 128, 2, 1e-3);
      else if (name == "fmnist-m") set(6, 192, 3, 1e-3);
      else set(8, 256, 4, 1e-3);
    } else {
      IBQ_THROW("ArConfig: unknown preset '" << name << "'; use B, L, XL, XXL, fmnist-s, fmnist-m or fmnist-l");
    }
    return c;
  }
};

// Per-layer keys and values [B, H, max_len, Dh] of a sampling run, filled position by position.
template <class T = float, class Space = DefaultSpace>
struct ArKvCache {
  std::vector<Tensor<T, Space>> k, v;
  index_t batch = 0, max_len = 0;
};

// Kernels of the model as free functions: CUDA forbids device lambdas in private member functions.
namespace detail {
// x[i] *= f for i in [lo, hi).
template <class T, class Space>
void ar_scale_rows(const Tensor<T, Space>& x, index_t lo, index_t hi, T f) {
  auto v = x.view();
  Kokkos::parallel_for("ibq::ar::scale_adaln", range<Space>(hi - lo), KOKKOS_LAMBDA(index_t i) { v(lo + i) *= f; });
}

// labels [B], each replaced by null_class where rng.uniform(b) < p.
template <class Space>
Tensor<std::int32_t, Space> ar_drop_labels(const Tensor<std::int32_t, Space>& labels, const Rng& rng, double p,
                                           std::int32_t null_class) {
  Tensor<std::int32_t, Space> out(labels.shape());
  auto in = labels.view();
  auto o = out.view();
  const Rng r = rng;
  Kokkos::parallel_for("ibq::ar::label_dropout", range<Space>(labels.size()), KOKKOS_LAMBDA(index_t b) {
    o(b) = r.uniform(std::uint64_t(b)) < p ? null_class : in(b);
  });
  return out;
}

// tokens[:, :n] as a contiguous [B, n] tensor.
template <class Space>
Tensor<std::int32_t, Space> ar_first_tokens(const Tensor<std::int32_t, Space>& tokens, index_t n) {
  const index_t B = tokens.dim(0), L = tokens.dim(1);
  Tensor<std::int32_t, Space> out(Shape{B, n});
  auto in = tokens.view();
  auto o = out.view();
  Kokkos::parallel_for("ibq::ar::slice_tokens", range<Space>(B * n),
                       KOKKOS_LAMBDA(index_t i) { o(i) = in((i / n) * L + i % n); });
  return out;
}

// cache[:, :, start:start+T] = x [B, H, T, D].
template <class T, class Space>
void ar_kv_store(const Tensor<T, Space>& x, const Tensor<T, Space>& cache, index_t start) {
  const index_t Tn = x.dim(2), D = x.dim(3), L = cache.dim(2);
  IBQ_CHECK(start + Tn <= L && x.dim(0) == cache.dim(0),
            "ArTransformer: KV cache " << cache.shape() << " cannot take " << x.shape() << " at position " << start);
  auto xv = x.view();
  auto cv = cache.view();
  Kokkos::parallel_for("ibq::ar::kv_store", range<Space>(x.size()), KOKKOS_LAMBDA(index_t i) {
    const index_t d = i % D, t = (i / D) % Tn, bh = i / (D * Tn);
    cv((bh * L + start + t) * D + d) = xv(i);
  });
}

// cache[:, :, :len] as a contiguous [B, H, len, D] tensor.
template <class T, class Space>
Tensor<T, Space> ar_kv_prefix(const Tensor<T, Space>& cache, index_t len) {
  const index_t D = cache.dim(3), L = cache.dim(2);
  auto out = Tensor<T, Space>::empty(Shape{cache.dim(0), cache.dim(1), len, D});
  auto cv = cache.view();
  auto ov = out.view();
  Kokkos::parallel_for("ibq::ar::kv_prefix", range<Space>(out.size()), KOKKOS_LAMBDA(index_t i) {
    const index_t d = i % D, t = (i / D) % len, bh = i / (D * len);
    ov(i) = cv((bh * L + t) * D + d);
  });
  return out;
}
}  // namespace detail

template <class T = float, class Space = DefaultSpace>
class ArTransformer {
 public:
  using VarT = Var<T, Space>;
  using Labels = Tensor<std::int32_t, Space>;

  ArTransformer(const ArConfig& cfg, std::uint64_t seed, bool allocate = true) : cfg_(cfg) {
    cfg.validate();
    const index_t C = cfg.dim, F = cfg.ffn_hidden();
    const Init normal = Init::normal(0.0, cfg.init_std), zeros = Init::zeros();
    tok_emb_ = store_.add("tok_emb.weight", {cfg.vocab_size, C}, normal);
    class_emb_ = store_.add("class_emb.embedding_table.weight", {cfg.num_classes + 1, C}, normal);
    for (index_t i = 0; i < cfg.n_layer; ++i) {
      const std::string p = "blocks." + std::to_string(i) + ".";
      Block b;
      b.wqkv = linear(p + "attention.wqkv", C, 3 * C, false);
      b.wo = linear(p + "attention.wo", C, C, false);
      b.w1 = linear(p + "feed_forward.w1", C, F, false);
      b.w3 = linear(p + "feed_forward.w3", C, F, false);
      b.w2 = linear(p + "feed_forward.w2", F, C, false);
      b.attention_norm = store_.add(p + "attention_norm.weight", {C}, Init::ones());
      b.ffn_norm = store_.add(p + "ffn_norm.weight", {C}, Init::ones());
      b.ada_lin = linear(p + "ada_lin.1", C, 6 * C, true);
      blocks_.push_back(b);
    }
    head_norm_ = store_.add("head_nm.rmsnorm.weight", {C}, Init::ones());
    head_ada_ = linear("head_nm.ada_lin.1", C, 2 * C, true);
    head_ = linear("head", C, cfg.vocab_size, false);
    store_.set_init(head_.weight, zeros);
    if (!allocate) return;
    store_.allocate(seed);
    scale_adaln_rows();
    rope_ = rope_table_2d<T, Space>(cfg.grid, cfg.head_dim(), cfg.rope_base, 1);
  }
  ArTransformer(const ArTransformer&) = delete;  // layers point at store_
  ArTransformer& operator=(const ArTransformer&) = delete;

  // Trainable parameters per top-level module, without allocating (the 2B-parameter XXL counts in bytes).
  static std::map<std::string, index_t> declared_counts(const ArConfig& cfg) {
    return ArTransformer(cfg, 0, false).store_.declared_counts();
  }

  const ArConfig& config() const { return cfg_; }
  ParamStore<T, Space>& store() { return store_; }
  const ParamStore<T, Space>& store() const { return store_; }

  // Teacher-forced logits [B, 1 + n, V] for tokens [B, n] (n <= grid^2 - 1 in training, any n <= grid^2
  // here) and labels [B] in [0, num_classes] (num_classes: the null class). In training the labels are
  // dropped to the null class with probability class_dropout, and the dropouts are on; rng draws them all.
  // ids: IdCheck::none for tokens and labels already checked on the host (the trainer checks its dataset).
  VarT forward(Tape<T, Space>& tape, const Labels& tokens, const Labels& labels, bool training, const Rng& rng,
               IdCheck ids = IdCheck::host) const {
    IBQ_CHECK(tokens.rank() == 2 && labels.rank() == 1 && labels.dim(0) == tokens.dim(0),
              "ArTransformer: expects tokens [B, n] and labels [B], got " << tokens.shape() << " and "
                                                                          << labels.shape());
    IBQ_CHECK(tokens.dim(1) + 1 <= cfg_.seq_len(), "ArTransformer: " << tokens.dim(1) << " tokens and the class "
                                                                     << "token exceed the sequence of "
                                                                     << cfg_.seq_len() << " (1 + grid^2)");
    const index_t B = tokens.dim(0), n = tokens.dim(1);
    const auto used = training ? detail::ar_drop_labels(labels, rng.split(1), cfg_.class_dropout,
                                                       std::int32_t(cfg_.num_classes))
                                : labels;
    auto c = embedding(store_.param(tape, class_emb_), reshape_labels(used), ids);  // [B, 1, C]
    auto h = c;
    if (n > 0) h = concat({c, embedding(store_.param(tape, tok_emb_), tokens, ids)}, 1);
    h = dropout(h, cfg_.token_dropout, rng.split(2), training);
    (void)B;
    return run(tape, h, c, 0, nullptr, training, rng);
  }

  // Mean cross-entropy of the logits at positions 0..n-1 against tokens [B, n] (the last token is only a
  // target): the reference's training loss.
  VarT loss(Tape<T, Space>& tape, const Labels& tokens, const Labels& labels, bool training, const Rng& rng,
            IdCheck ids = IdCheck::host) const {
    const index_t B = tokens.dim(0), n = tokens.dim(1);
    IBQ_CHECK(n >= 1, "ArTransformer::loss: needs at least one target token, got " << tokens.shape());
    auto inputs = detail::ar_first_tokens(tokens, n - 1);
    auto logits = forward(tape, inputs, labels, training, rng, ids);  // [B, n, V]
    return cross_entropy(reshape(logits, {B * n, cfg_.vocab_size}), reshape_tokens(tokens, B * n), -100, ids);
  }

  // One block alone (no dropout) on h [B, T, C] at positions start.., conditioned on c [B, 1, C]: the unit
  // the PyTorch fixture checks in isolation.
  VarT block(Tape<T, Space>& tape, index_t layer, const VarT& h, const VarT& c, index_t start = 0) const {
    IBQ_CHECK(layer >= 0 && layer < cfg_.n_layer, "ArTransformer::block: no layer " << layer);
    return block_step(tape, std::size_t(layer), h, silu(c), start, nullptr, false, Rng{});
  }

  // The rotary table: row 0 (the class token) zero, then the grid positions in raster order.
  const Tensor<T, Space>& rope_table() const { return rope_; }

  // A cache for `batch` sequences of the whole length (1 + grid^2, rounded up to 8 as the reference does).
  ArKvCache<T, Space> make_cache(index_t batch) const {
    ArKvCache<T, Space> cache;
    cache.batch = batch;
    cache.max_len = (cfg_.seq_len() + 7) / 8 * 8;
    for (index_t i = 0; i < cfg_.n_layer; ++i) {
      cache.k.emplace_back(Shape{batch, cfg_.n_head, cache.max_len, cfg_.head_dim()});
      cache.v.emplace_back(Shape{batch, cfg_.n_head, cache.max_len, cfg_.head_dim()});
    }
    return cache;
  }

  // One sampling step at position `pos`: pos = 0 feeds the class token (labels [B]), pos >= 1 feeds
  // tokens [B, 1] (the token sampled at pos - 1). Returns the logits [B, V] that predict the token at pos.
  // Inference only (no dropout); run it under a no-grad scope.
  VarT decode(Tape<T, Space>& tape, const Labels& step_tokens, const Labels& labels, index_t pos,
              ArKvCache<T, Space>& cache) const {
    IBQ_CHECK(pos >= 0 && pos < cfg_.seq_len() && labels.rank() == 1 && labels.dim(0) == cache.batch,
              "ArTransformer::decode: position " << pos << " outside [0, " << cfg_.seq_len()
                                                 << ") or labels " << labels.shape() << " not [" << cache.batch
                                                 << "]");
    auto c = embedding(store_.param(tape, class_emb_), reshape_labels(labels));
    VarT h = c;
    if (pos > 0) {
      IBQ_CHECK(step_tokens.rank() == 2 && step_tokens.dim(0) == cache.batch && step_tokens.dim(1) == 1,
                "ArTransformer::decode: expects the previous tokens [" << cache.batch << ", 1], got "
                                                                       << step_tokens.shape());
      h = embedding(store_.param(tape, tok_emb_), step_tokens);
    }
    auto logits = run(tape, h, c, pos, &cache, false, Rng{});
    return reshape(logits, {cache.batch, cfg_.vocab_size});
  }

 private:
  struct Block {
    Linear<T, Space> wqkv, wo, w1, w2, w3, ada_lin;
    ParamRef attention_norm, ffn_norm;
  };

  Linear<T, Space> linear(const std::string& name, index_t in, index_t out, bool bias) {
    Linear<T, Space> l(store_, name, in, out, bias);
    store_.set_init(l.weight, Init::normal(0.0, cfg_.init_std));
    if (bias) store_.set_init(l.bias, Init::zeros());
    return l;
  }

  // The reference scales the AdaLN projections after the N(0, 0.02) draw: gammas by init_adaln_gamma,
  // scales and shifts by init_adaln (the head's: all of it by init_adaln).
  void scale_adaln_rows() {
    const index_t C = cfg_.dim;
    auto scale_rows = [&](ParamRef w, index_t row0, index_t row1, double f) {
      detail::ar_scale_rows(store_.value(w), row0 * C, row1 * C, T(f));
    };
    for (auto& b : blocks_) {
      scale_rows(b.ada_lin.weight, 0, 2 * C, cfg_.init_adaln_gamma);
      scale_rows(b.ada_lin.weight, 2 * C, 6 * C, cfg_.init_adaln);
    }
    scale_rows(head_ada_.weight, 0, 2 * C, cfg_.init_adaln);
    store_.mark_values_modified();
  }

  static Labels reshape_labels(const Labels& labels) { return labels.reshape(Shape{labels.dim(0), 1}); }
  static Labels reshape_tokens(const Labels& tokens, index_t n) { return tokens.reshape(Shape{n}); }

  // h [B, T, C] at positions start .. start + T - 1 through every block and the head: logits [B, T, V].
  VarT run(Tape<T, Space>& tape, VarT h, const VarT& c, index_t start, ArKvCache<T, Space>* cache, bool training,
           const Rng& rng) const {
    const index_t C = cfg_.dim;
    const auto act = silu(c);  // SiLU(c): the input of every ada_lin
    for (std::size_t i = 0; i < blocks_.size(); ++i)
      h = block_step(tape, i, h, act, start, cache, training, rng.split(100 + i));
    auto hm = head_ada_.forward(act);  // [B, 1, 2C]: s, b
    auto out = modulate(rms_norm(h, store_.param(tape, head_norm_), cfg_.norm_eps), slice(hm, 2, 0, C),
                        slice(hm, 2, C, 2 * C));
    return head_.forward(out);
  }

  // Block `layer` on h [B, T, C] at positions start..; act = SiLU(c).
  VarT block_step(Tape<T, Space>& tape, std::size_t layer, const VarT& h, const VarT& act, index_t start,
                  ArKvCache<T, Space>* cache, bool training, const Rng& r) const {
    const index_t C = cfg_.dim;
    const Block& b = blocks_.at(layer);
    auto mod = b.ada_lin.forward(act);  // [B, 1, 6C]: g1, g2, s1, s2, b1, b2
    auto part = [&](int k) { return slice(mod, 2, k * C, (k + 1) * C); };
    auto a = modulate(rms_norm(h, store_.param(tape, b.attention_norm), cfg_.norm_eps), part(2), part(4));
    auto att = dropout(b.wo.forward(self_attention(tape, b, a, start, cache, layer)), cfg_.resid_dropout,
                       r.split(1), training);
    auto h1 = gated_add(h, att, part(0));
    auto f = modulate(rms_norm(h1, store_.param(tape, b.ffn_norm), cfg_.norm_eps), part(3), part(5));
    auto ffn = b.w2.forward(swiglu(b.w1.forward(f), b.w3.forward(f)));
    return gated_add(h1, dropout(ffn, cfg_.ffn_dropout, r.split(2), training), part(1));
  }

  // Causal multi-head attention of a [B, T, C] at positions start..start+T-1 (RoPE rows of those
  // positions); with a cache, the new keys and values are stored first and the queries attend over the
  // whole filled prefix.
  VarT self_attention(Tape<T, Space>& tape, const Block& b, const VarT& a, index_t start, ArKvCache<T, Space>* cache,
                      std::size_t layer) const {
    const index_t B = a.value().dim(0), Tn = a.value().dim(1), C = cfg_.dim, H = cfg_.n_head;
    auto qkv = b.wqkv.forward(a);                // [B, T, 3C]
    auto q = qkv_heads(qkv, 0, H, &rope_, start);  // [B, H, T, D], rotated
    auto k = qkv_heads(qkv, 1, H, &rope_, start);
    auto v = qkv_heads(qkv, 2, H);
    AttentionArgs args;
    args.causal = true;
    VarT o;
    if (cache) {
      detail::ar_kv_store(k.value(), cache->k[layer], start);
      detail::ar_kv_store(v.value(), cache->v[layer], start);
      o = attention(q, tape.leaf(detail::ar_kv_prefix(cache->k[layer], start + Tn)),
                    tape.leaf(detail::ar_kv_prefix(cache->v[layer], start + Tn)), args);
    } else {
      o = attention(q, k, v, args);
    }
    return reshape(permute(o, {0, 2, 1, 3}), {B, Tn, C});
  }

  ArConfig cfg_;
  ParamStore<T, Space> store_;
  ParamRef tok_emb_, class_emb_, head_norm_;
  std::vector<Block> blocks_;
  Linear<T, Space> head_ada_, head_;
  Tensor<T, Space> rope_;
};

}  // namespace ibq
