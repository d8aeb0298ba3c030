// ibq/quant/ibq.hpp — Index Backpropagation Quantization (SEED-Voken's IndexPropagationQuantize).
//
//   ibq::IbqQuantizer<float> quant(store, "quantize", cfg);   // declares quantize.embedding.weight [K, D]
//   store.allocate(seed);
//   auto q = quant.forward(z);                                  // z [B, D, H, W] from quant_conv
//   auto loss = rec + q.quant_loss + 0.05 * q.entropy_loss;     // q.z_q goes to post_quant_conv
//   auto zq = quant.codebook_entry(tape, q.indices, B, H, W);   // tokens -> [B, D, H, W] for decoding
//
// Math: docs/math.md (from the IBQ paper, arXiv 2412.02692, and TencentARC/SEED-Voken's
// IndexPropagationQuantize). The code is selected by the largest raw inner product
// z.E_k (not the nearest code), and the straight-through estimator acts on the categorical index:
// one_hot = hard - sg(softmax) + softmax, z_q = one_hot E. Its forward value is E[ind], but its gradient
// reaches every code through the softmax, which is what keeps all K codes in use.
//
// Two implementations of the N x K part (logits, softmax straight-through, entropy), chosen by cfg.fused:
// - fused (default, quant/ibq_fused.hpp): row blocks of logits reduced in place and recomputed in backward;
//   no N x K tensor, which is what K = 2^18 needs.
// - plain: the tape's ops, term for term as the reference writes them. It materialises several N x K
//   tensors (logits, softmax, the one-hot and its straight-through sum, and for the entropy loss two more)
//   and stays as the reference the fused path is tested against.
// Both feed the same [N, D]-sized loss terms below.
//
// Loss placement: beta_on_codebook = true (default) is the released code, beta on the codebook term
// mean((z_q2 - sg z)^2); false is the paper's Eq. 10, beta on the commitment term mean((sg z_q2 - z)^2).
// Both terms have the same forward value, so the switch changes gradients only. double_quant = false (an
// ablation) drops the commitment term mean((sg z_q2 - z)^2), whichever weight it carries.
#pragma once

#include <functional>

#include <cstdint>
#include <string>

#include "ibq/nn/layer.hpp"
#include "ibq/ops/all.hpp"
#include "ibq/quant/ibq_fused.hpp"

namespace ibq {

struct IbqConfig {
  index_t codebook_size = 1024;
  index_t embed_dim = 256;
  double beta = 0.25;
  bool beta_on_codebook = true;  // true: released code; false: paper Eq. 10 (beta on the commitment term)
  bool double_quant = true;      // false drops mean((sg(z_q2) - z)^2) (ablation)
  bool use_entropy = true;
  double entropy_temperature = 0.01;
  double sample_entropy_weight = 1.0;
  double batch_entropy_weight = 1.0;
  bool fused = true;             // false: the plain reference path (every N x K tensor held)
  index_t fused_block_rows = 0;  // fused: rows of logits per tile (0: automatic, about 2^21 logits)
  int fused_row_team = 0;        // fused: threads per row (0: automatic; see IbqFusedOptions::row_team)
};

// Entropy Vars are undefined when cfg.use_entropy is false. quant_loss and the entropy terms have shape [1].
template <class T, class Space>
struct IbqOutput {
  Var<T, Space> z_q;             // [B, D, H, W], value E[ind], gradient through the softmax
  Var<T, Space> quant_loss;      // the double quantization loss L_Q
  Var<T, Space> sample_entropy;  // H_sample (minimised)
  Var<T, Space> batch_entropy;   // H_avg (maximised)
  Var<T, Space> entropy_loss;    // w_s H_sample - w_b H_avg
  Tensor<std::int32_t, Space> indices;  // [B * H * W], b-h-w raster order
};

// ---- kernels ------------------------------------------------------------------------------------------
// y[n, k] = (k == indices[n]); indices must lie in [0, num_classes).
template <class T, class Space>
Tensor<T, Space> one_hot(const Tensor<std::int32_t, Space>& indices, index_t num_classes) {
  IBQ_CHECK(indices.shape().rank == 1,
            "one_hot: indices must be rank 1 [N], got " << indices.shape() << "; flatten them first");
  const index_t n = indices.size(), k = num_classes;
  Tensor<T, Space> y = Tensor<T, Space>::empty({n, k});
  auto iv = indices.view();
  auto yv = y.view();
  Kokkos::parallel_for("ibq::ops::one_hot_fwd", range<Space>(n * k), KOKKOS_LAMBDA(index_t e) {
    yv(e) = index_t(iv(e / k)) == e % k ? T(1) : T(0);
  });
  return y;
}

// Maps the batch's mean code distribution pbar [K] before H_avg is taken: data-parallel training passes
// an allreduce here so that H_avg is the global batch's (empty: this process's batch, the reference).
template <class T, class Space>
using BatchMeanHook = std::function<Var<T, Space>(const Var<T, Space>&)>;

// ---- the quantizer as a function of (z, codebook) ------------------------------------------------------
// z [B, D, H, W], codebook [K, D]. Both may require gradients; the layer below passes its parameter.
template <class T, class Space>
IbqOutput<T, Space> ibq_quantize(const Var<T, Space>& z, const Var<T, Space>& codebook, const IbqConfig& cfg,
                                 const BatchMeanHook<T, Space>& batch_mean = {}) {
  const Shape zs = z.shape(), es = codebook.shape();
  IBQ_CHECK(es.rank == 2, "ibq_quantize: the codebook must be [K, D], got " << es);
  IBQ_CHECK(zs.rank == 4 && zs.dims[1] == es.dims[1],
            "ibq_quantize: z must be [B, D, H, W] with D = the codebook's embedding dim; z is "
                << zs << ", codebook " << es);
  auto& tape = z.tape();
  const index_t B = zs.dims[0], D = zs.dims[1], H = zs.dims[2], W = zs.dims[3], K = es.dims[0];
  const index_t N = B * H * W;

  IbqOutput<T, Space> out;
  // Rows of zf in b-h-w raster order: the order of the returned indices and of the AR sequence.
  auto zf = reshape(permute(z, {0, 2, 3, 1}), {N, D});
  Var<T, Space> zq_rows, pbar;  // [N, D] and [K]
  if (cfg.fused) {
    auto f = ibq_fused(zf, codebook, {cfg.use_entropy, cfg.entropy_temperature, cfg.fused_block_rows, cfg.fused_row_team});
    out.indices = f.indices;  // argmax of the logits (ties: lowest index)
    zq_rows = f.z_q;
    out.sample_entropy = f.sample_entropy;
    pbar = f.pbar;
  } else {
    auto logits = matmul(zf, codebook, false, /*trans_b=*/true);  // [N, K], temperature 1, no normalisation
    auto soft = softmax(logits, 1);
    out.indices = argmax(soft.value(), 1);  // as the code: argmax of the softmax (ties: lowest index)
    auto hard = tape.leaf(one_hot<T>(out.indices, K));
    auto st = hard - stop_gradient(soft) + soft;
    zq_rows = matmul(st, codebook);
    if (cfg.use_entropy) {
      // MAGVIT-v2's compute_entropy_loss, term for term (including the +1e-5 inside log_softmax).
      auto scaled = logits / cfg.entropy_temperature;
      auto p = softmax(scaled, 1);
      auto logp = log_softmax(scaled + 1e-5, 1);
      out.sample_entropy = mean(-sum(p * logp, 1));
      pbar = mean(p, 0);
    }
  }
  out.z_q = permute(reshape(zq_rows, {B, H, W, D}), {0, 3, 1, 2});
  // [N, D] = hard E, no soft path; the ids are an argmax over the K codes, in range by construction
  auto zq2 = embedding(codebook, out.indices, IdCheck::none);

  // Every mean is over all B*D*H*W elements, so terms 2 and 3 can compare in the [N, D] layout.
  auto loss = mse_loss(out.z_q, z);
  const double commit_w = cfg.beta_on_codebook ? 1.0 : cfg.beta;
  const double codebook_w = cfg.beta_on_codebook ? cfg.beta : 1.0;
  if (cfg.double_quant) loss = loss + commit_w * mse_loss(stop_gradient(zq2), zf);
  out.quant_loss = loss + codebook_w * mse_loss(zq2, stop_gradient(zf));

  if (cfg.use_entropy) {
    if (batch_mean) pbar = batch_mean(pbar);
    out.batch_entropy = -sum(pbar * log(pbar + 1e-5));
    out.entropy_loss = cfg.sample_entropy_weight * out.sample_entropy - cfg.batch_entropy_weight * out.batch_entropy;
  }
  return out;
}

// ---- the layer -----------------------------------------------------------------------------------------
template <class T = float, class Space = DefaultSpace>
struct IbqQuantizer {
  const ParamStore<T, Space>* store = nullptr;
  ParamRef embedding_weight;
  IbqConfig cfg;

  IbqQuantizer() = default;
  // nn.Embedding's default init N(0, 1): the IBQ class does not re-initialise it.
  IbqQuantizer(ParamStore<T, Space>& s, const std::string& prefix, const IbqConfig& config) : store(&s), cfg(config) {
    IBQ_CHECK(cfg.codebook_size > 0 && cfg.embed_dim > 0,
              "IbqQuantizer: codebook_size and embed_dim must be positive, got " << cfg.codebook_size << " x "
                                                                                 << cfg.embed_dim);
    IBQ_CHECK(cfg.codebook_size <= INT32_MAX, "IbqQuantizer: codebook_size " << cfg.codebook_size
                                                                               << " does not fit int32 indices");
    IBQ_CHECK(!cfg.use_entropy || cfg.entropy_temperature > 0,
              "IbqQuantizer: entropy_temperature must be positive, got " << cfg.entropy_temperature);
    embedding_weight = s.add(join_name(prefix, "embedding.weight"), {cfg.codebook_size, cfg.embed_dim},
                             Init::normal(0.0, 1.0));
  }

  IbqOutput<T, Space> forward(const Var<T, Space>& z, const BatchMeanHook<T, Space>& batch_mean = {}) const {
    return ibq_quantize(z, store->param(z.tape(), embedding_weight), cfg, batch_mean);
  }

  // Tokens only (encoding): argmax_k z.E_k per position, [B*H*W] in raster order. The same codes as
  // forward() (the softmax is monotone) without its softmax straight-through and losses.
  Tensor<std::int32_t, Space> indices(const Var<T, Space>& z) const {
    const Shape zs = z.shape();
    IBQ_CHECK(zs.rank == 4 && zs.dims[1] == cfg.embed_dim,
              "IbqQuantizer::indices: z must be [B, " << cfg.embed_dim << ", H, W], got " << zs);
    auto zf = reshape(permute(z, {0, 2, 3, 1}), {zs.dims[0] * zs.dims[2] * zs.dims[3], cfg.embed_dim});
    auto e = store->param(z.tape(), embedding_weight);
    if (cfg.fused)  // tile by tile, so that tokenising with K = 2^18 holds no N x K logits either
      return detail::ibq_fused_forward(zf.value(), e.value(), {false, 1.0, cfg.fused_block_rows, cfg.fused_row_team}).indices;
    return argmax(matmul(zf, e, false, /*trans_b=*/true).value(), 1);
  }

  // get_codebook_entry: indices [B*H*W] in raster order -> E[indices] as [B, D, H, W].
  Var<T, Space> codebook_entry(Tape<T, Space>& tape, const Tensor<std::int32_t, Space>& indices, index_t B,
                               index_t H, index_t W) const {
    IBQ_CHECK(indices.shape().rank == 1 && indices.size() == B * H * W,
              "IbqQuantizer::codebook_entry: indices " << indices.shape() << " do not match B*H*W = " << B << "*"
                                                       << H << "*" << W << "; pass the flat raster-order indices");
    auto e = embedding(store->param(tape, embedding_weight), indices);
    return permute(reshape(e, {B, H, W, cfg.embed_dim}), {0, 3, 1, 2});
  }
};

}  // namespace ibq
