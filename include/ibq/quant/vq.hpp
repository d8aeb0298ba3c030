// ibq/quant/vq.hpp — the VQ-VAE / taming baseline quantizer (VectorQuantizer2), spec section 1.2.
//
//   ibq::ParamStore<float> store;
//   ibq::VqQuantizer<float> vq(store, "quantize", ibq::VqConfig{1024, 256});   // before store.allocate()
//   store.allocate(seed);
//   auto q = vq.forward(z);                 // z [B, D, H, W] on a tape
//   auto x_hat = decode(q.z_q);  total = rec + q.quant_loss;  q.indices: (B*H*W,) int32, b-h-w raster
//   auto zq = vq.codebook_entry(tape, q.indices, B, H, W);   // E[ind] as [B, D, H, W]
//
// Selection is by nearest squared L2 distance ||z||^2 + ||e||^2 - 2 z.e (unlike IBQ's maximum inner
// product). The forward value sent on is z + sg(E[ind] - z): the straight-through estimator copies the
// whole upstream gradient to z, and only the codebook loss term reaches E, and then only the selected rows
// (unused codes get exactly zero gradient; IBQ updates every code through its softmax).
// legacy = true keeps taming's swapped weights (beta on the codebook term), which VQModel trains with.
#pragma once

#include "ibq/core/kokkos_compat.hpp"
#include <climits>
#include <cstdint>
#include <string>

#include "ibq/autodiff/tape.hpp"
#include "ibq/quant/codebook_products.hpp"
#include "ibq/nn/param_store.hpp"
#include "ibq/ops/binary.hpp"
#include "ibq/ops/embedding.hpp"
#include "ibq/ops/losses.hpp"
#include "ibq/ops/reduce.hpp"
#include "ibq/ops/shape_ops.hpp"
#include "ibq/ops/unary.hpp"

namespace ibq {

struct VqConfig {
  index_t codebook_size = 1024, embed_dim = 256;
  double beta = 0.25;
  bool legacy = true;         // loss = mean((sg(z_q) - z)^2) + beta mean((z_q - sg(z))^2), as taming trains
  bool l2_normalize = false;  // normalise z and e for the distance only; z_q and the loss stay unnormalised
};

template <class T, class Space>
struct VqOutput {
  Var<T, Space> z_q;         // [B, D, H, W], forward value E[ind] (computed as z + (E[ind] - z))
  Var<T, Space> quant_loss;  // [1]
  Tensor<std::int32_t, Space> indices;  // (B*H*W,), b-h-w raster order
};

namespace detail {

// Rows processed per distance GEMM: bounds the [rows, K] workspace (K = 2^18 would otherwise need N*K).
inline index_t& vq_distance_workspace_elements() {
  static index_t elements = index_t(1) << 24;
  return elements;
}

// sq[r] = sum_d x[r, d]^2, or, with normalize, rows scaled to unit norm in place of x (F.normalize, eps 1e-12)
template <class T, class Space>
Tensor<T, Space> vq_row_sq_norms(const Tensor<T, Space>& x, index_t rows, index_t D) {
  auto sq = Tensor<T, Space>::empty(Shape{rows});
  auto xv = x.view();
  auto sv = sq.view();
  Kokkos::parallel_for("ibq::quant::vq_row_norms", range<Space>(rows), KOKKOS_LAMBDA(index_t r) {
    T s = T(0);
    for (index_t d = 0; d < D; ++d) s += xv(r * D + d) * xv(r * D + d);
    sv(r) = s;
  });
  return sq;
}

template <class T, class Space>
Tensor<T, Space> vq_l2_normalized(const Tensor<T, Space>& x, index_t rows, index_t D) {
  auto y = Tensor<T, Space>::empty(x.shape());
  auto xv = x.view();
  auto yv = y.view();
  Kokkos::parallel_for("ibq::quant::vq_l2_normalize", range<Space>(rows), KOKKOS_LAMBDA(index_t r) {
    T s = T(0);
    for (index_t d = 0; d < D; ++d) s += xv(r * D + d) * xv(r * D + d);
    const T nrm = ibq::kmath::sqrt(s);
    const T den = nrm > T(1e-12) ? nrm : T(1e-12);
    for (index_t d = 0; d < D; ++d) yv(r * D + d) = xv(r * D + d) / den;
  });
  return y;
}

// ind[r0 + i] = first argmin_k (zsq[r0 + i] + esq[k]) + dist[i, k], where dist already holds -2 z.e
template <class T, class Space>
void vq_argmin_rows(const Tensor<T, Space>& dist, const Tensor<T, Space>& zsq, const Tensor<T, Space>& esq,
                    index_t r0, index_t rows, index_t K, const Tensor<std::int32_t, Space>& ind) {
  using member_t = typename team_policy_t<Space>::member_type;
  auto dv = dist.view();
  auto zv = zsq.view();
  auto ev = esq.view();
  auto iv = ind.view();
  Kokkos::parallel_for("ibq::quant::vq_argmin", row_teams<Space>(rows, K, "VqQuantizer"),
                       KOKKOS_LAMBDA(const member_t& m) {
                         const index_t i = m.league_rank(), base = i * K;
                         const T zn = zv(r0 + i);
                         T mn;
                         Kokkos::parallel_reduce(
                             Kokkos::TeamThreadRange(m, K),
                             [&](index_t k, T& acc) {
                               const T v = (zn + ev(k)) + dv(base + k);
                               if (v < acc) acc = v;
                             },
                             Kokkos::Min<T>(mn));
                         index_t first;
                         Kokkos::parallel_reduce(
                             Kokkos::TeamThreadRange(m, K),
                             [&](index_t k, index_t& acc) {
                               if ((zn + ev(k)) + dv(base + k) == mn && k < acc) acc = k;
                             },
                             Kokkos::Min<index_t>(first));
                         Kokkos::single(Kokkos::PerTeam(m), [&]() {
                           iv(r0 + i) = static_cast<std::int32_t>(first < K ? first : 0);  // NaN row: 0
                         });
                       });
}

}  // namespace detail

// ---- kernels ------------------------------------------------------------------------------------------
// Index of the nearest code (squared L2, ties to the lowest index as torch.argmin) for each row of
// z_flat [N, D] against the codebook [K, D]. Not differentiable.
template <class T, class Space>
Tensor<std::int32_t, Space> vq_nearest_indices(const Tensor<T, Space>& z_flat, const Tensor<T, Space>& codebook,
                                               bool l2_normalize = false) {
  IBQ_CHECK(z_flat.rank() == 2 && codebook.rank() == 2 && z_flat.dim(1) == codebook.dim(1),
            "vq_nearest_indices: z " << z_flat.shape() << " vs codebook " << codebook.shape()
                                     << "; expected z [N, D] and codebook [K, D] with the same D");
  const index_t N = z_flat.dim(0), K = codebook.dim(0), D = codebook.dim(1);
  IBQ_CHECK(K > 0 && K <= INT32_MAX, "vq_nearest_indices: codebook " << codebook.shape()
                                         << " must have between 1 and " << INT32_MAX << " codes");
  auto ind = Tensor<std::int32_t, Space>::empty(Shape{N});
  if (N == 0) return ind;
  const auto z = l2_normalize ? detail::vq_l2_normalized(z_flat, N, D) : z_flat;
  const auto e = l2_normalize ? detail::vq_l2_normalized(codebook, K, D) : codebook;
  const auto zsq = detail::vq_row_sq_norms(z, N, D);
  const auto esq = detail::vq_row_sq_norms(e, K, D);
  index_t chunk = detail::vq_distance_workspace_elements() / K;
  chunk = chunk < 1 ? 1 : (chunk > N ? N : chunk);
  auto dist = Tensor<T, Space>::empty(Shape{chunk, K});
  // -2 z.e in the autocast scope's precision (the reference's einsum); the squared norms stay fp32.
  const CodebookProducts<T, Space> prod(autocast_precision<T>(), e.data(), K, D);
  for (index_t r0 = 0; r0 < N; r0 += chunk) {
    const index_t rows = N - r0 < chunk ? N - r0 : chunk;
    prod.logits(z.data() + r0 * D, rows, dist.data(), T(-2));
    detail::vq_argmin_rows(dist, zsq, esq, r0, rows, K, ind);
  }
  return ind;
}

// ---- differentiable quantizer ----------------------------------------------------------------------------
// E[ind] as [B, D, H, W] from flat b-h-w raster indices (get_codebook_entry): a gather, differentiable in E.
// check: IdCheck::none for the quantizer's own argmin ids (in range by construction: no read to the host).
template <class T, class Space>
Var<T, Space> vq_codebook_entry(const Var<T, Space>& codebook, const Tensor<std::int32_t, Space>& indices, index_t B,
                                index_t H, index_t W, IdCheck check = IdCheck::host) {
  IBQ_CHECK(indices.rank() == 1 && indices.size() == B * H * W,
            "codebook_entry: indices " << indices.shape() << " vs shape (B, H, W) = [" << B << ", " << H << ", " << W
                                       << "]; pass the flat (B*H*W,) indices the quantizer returned");
  const index_t D = codebook.shape()[1];
  return permute(reshape(embedding(codebook, indices, check), Shape{B, H, W, D}), {0, 3, 1, 2});
}

// VectorQuantizer2.forward with the codebook passed in as a Var (the module below supplies its parameter).
template <class T, class Space>
VqOutput<T, Space> vector_quantize(const Var<T, Space>& z, const Var<T, Space>& codebook, const VqConfig& cfg) {
  const Shape& zs = z.shape();
  const Shape& es = codebook.shape();
  IBQ_CHECK(es.rank == 2, "VqQuantizer: codebook has shape " << es << "; it must be [K, D]");
  IBQ_CHECK(zs.rank == 4 && zs[1] == es[1],
            "VqQuantizer: z " << zs << " vs codebook " << es
                              << "; z must be [B, D, H, W] with D equal to the codebook's embedding dimension");
  const index_t B = zs[0], D = zs[1], H = zs[2], W = zs[3];
  // Distances, argmin: no gradient (the reference computes them on z_flattened, then discards the graph).
  const auto z_flat =
      permute_forward(z.value(), Permutation(zs, {0, 2, 3, 1}, "VqQuantizer")).reshape(Shape{B * H * W, D});
  auto indices = vq_nearest_indices(z_flat, codebook.value(), cfg.l2_normalize);
  const auto zq = vq_codebook_entry(codebook, indices, B, H, W, IdCheck::none);  // argmin ids
  const auto sg_zq = stop_gradient(zq);
  const auto sg_z = stop_gradient(z);
  const double w_commit = cfg.legacy ? 1.0 : cfg.beta, w_codebook = cfg.legacy ? cfg.beta : 1.0;
  const auto loss = mse_loss(sg_zq, z) * w_commit + mse_loss(zq, sg_z) * w_codebook;
  const auto z_q = z + stop_gradient(zq - z);  // straight-through: the forward value is E[ind]
  return VqOutput<T, Space>{z_q, loss, indices};
}

template <class T = float, class Space = DefaultSpace>
struct VqQuantizer {
  VqConfig cfg;
  ParamStore<T, Space>* store = nullptr;
  ParamRef embedding_weight;

  VqQuantizer(ParamStore<T, Space>& s, const std::string& prefix, const VqConfig& c) : cfg(c), store(&s) {
    IBQ_CHECK(c.codebook_size > 0 && c.embed_dim > 0,
              "VqQuantizer: codebook_size " << c.codebook_size << " and embed_dim " << c.embed_dim
                                            << " must both be positive");
    const double bound = 1.0 / double(c.codebook_size);
    embedding_weight = s.add(prefix + ".embedding.weight", Shape{c.codebook_size, c.embed_dim},
                             Init::uniform(-bound, bound));
  }

  // z [B, D, H, W] (the output of quant_conv) on a tape.
  VqOutput<T, Space> forward(const Var<T, Space>& z) const {
    return vector_quantize(z, store->param(z.tape(), embedding_weight), cfg);
  }
  // E[indices] as [B, D, H, W]; differentiable in E.
  Var<T, Space> codebook_entry(Tape<T, Space>& tape, const Tensor<std::int32_t, Space>& indices, index_t B,
                               index_t H, index_t W) const {
    return vq_codebook_entry(store->param(tape, embedding_weight), indices, B, H, W);
  }
  const Tensor<T, Space>& codebook() const { return store->value(embedding_weight); }
};

}  // namespace ibq
