// ibq/quant/ibq_fused.hpp — IBQ's N x K part (logits, softmax straight-through, entropy) without an N x K tensor.
//
//   auto f = ibq_fused(zf, codebook, {cfg.use_entropy, cfg.entropy_temperature});   // zf [N, D], codebook [K, D]
//   f.z_q;            // [N, D]: value E[ind], gradient through softmax(zf E^T) as the straight-through estimator
//   f.sample_entropy; // [1]: mean_n -sum_k q log q, q = softmax(zf E^T / tau)   (undefined without entropy)
//   f.pbar;           // [K]: mean_n q                                            (undefined without entropy)
//   f.indices;        // [N]: argmax_k zf.E_k (ties: lowest index)
//
// The plain path (quant/ibq.hpp) holds the logits, both softmaxes, the one-hot and their products, each
// N x K. Here rows are taken in blocks of nb (nb x K logits at a time, one GEMM) and every per-row quantity
// is reduced exactly while the block is in memory; the backward pass recomputes the block's logits instead
// of storing them. Only O(N + K) statistics survive between the passes: per row the maximum logit m,
// log sum exp(l - m), log sum exp((l - m) / tau) and the row's entropy H_n. Both softmaxes are taken of l - m
// (then scaled by 1/tau), never of l / tau - max(l / tau): with tau = 0.01 the latter loses |l| / tau ulps.
//
// Cost: 5 GEMMs of 2 N K D flops (forward: logits; backward: logits again, A = G E^T, dz = dl E and
// dE = dl^T zf), against the 4 every dense implementation needs, and no N x K memory traffic beyond the tile.
//
// Backward, for one row n with p = softmax(l), q = softmax(l / tau), G = dL/dz_q, g_h = dL/dH_sample and
// g_b = dL/dpbar (all read on the device, so a GPU step never waits for the host):
//   a_k = G.E_k,  r = sum_k p_k a_k,  c = sum_k q_k g_b,k
//   dl_k = p_k (a_k - r)                                   (the straight-through softmax path)
//        - g_h / (N tau) q_k (log q_k + H_n)               (d H_n / d l_k)
//        + 1 / (N tau) q_k (g_b,k - c)                     (d pbar / d l_k)
//   dz += dl E,  dE += dl^T zf,  and dE[ind_n] += G_n (the forward value E[ind]).
// The plain path's log_softmax(l / tau + 1e-5) equals log_softmax(l / tau): a constant shift cancels.
#pragma once

#include <cstdint>
#include <cstring>

#include "ibq/core/precision.hpp"
#include "ibq/quant/codebook_products.hpp"
#include "ibq/ops/embedding.hpp"
#include "ibq/ops/reduce.hpp"
#include "ibq/ops/shape_ops.hpp"
#include "ibq/quant/ibq_fused_rows.hpp"
#include "ibq/quant/ibq_fused_team.hpp"

namespace ibq {

struct IbqFusedOptions {
  bool entropy = true;
  double temperature = 0.01;
  index_t block_rows = 0;  // rows per tile; 0: about 2^21 logits a tile, 64 to 512 rows
  // Threads per row. 0: one on the host (each runs a row in vector loops), a team of up to 256 on a GPU.
  // > 0: a team of that many (at most the host's threads), so the GPU's kernels can be checked on the host.
  int row_team = 0;
  // The products' precision (the logits, and their gradients): ibq_fused() takes it from the autocast scope.
  Precision precision = Precision::fp32;
};

template <class T, class Space>
struct IbqFusedOutput {
  Var<T, Space> z_q;             // [N, D]
  Var<T, Space> sample_entropy;  // [1]
  Var<T, Space> pbar;            // [K]
  Tensor<std::int32_t, Space> indices;  // [N]
};

namespace detail {

// Rows per tile: about 2^21 logits (8 MiB in float; the backward pass holds two tiles), and at least 64 rows
// so that the GEMMs' inner dimension (dE = dl^T zf sums over the tile's rows) stays long. Measured at N = 1024,
// K = 16384 on 2 cores: 64 rows 0.256 s, 128 rows 0.239 s, 256 rows 0.251 s per step, peak 41 / 53 / 77 MiB.
inline index_t ibq_block_rows(index_t n, index_t k, index_t requested) {
  index_t nb = requested > 0 ? requested : (index_t(1) << 21) / (k > 0 ? k : 1);
  if (requested <= 0) nb = nb < 64 ? 64 : (nb > 512 ? 512 : nb);
  return nb < n ? nb : n;
}

// Per-row statistics from the forward pass, [N] each: max_k l, log sum exp(l - max), log sum exp((l - max) / tau)
// and H_n.
template <class T, class Space>
struct IbqRowStats {
  Tensor<T, Space> max, log_s1, log_st, entropy;
};

// Threads per row (see IbqFusedOptions::row_team); 0 means the thread-per-row kernels.
template <class Space>
int ibq_row_team(int requested, index_t k) {
  if constexpr (runs_on_host_v<Space>) {
    const int threads = exec_space_t<Space>().concurrency();
    return requested <= 0 ? 0 : (requested < threads ? requested : threads);
  } else {
    return requested > 0 ? requested : row_teams<Space>(1, k, "ibq_fused").team_size();  // the row ops' rule
  }
}

template <class Space>
using ibq_team_t = typename team_policy_t<Space>::member_type;

template <class T, class Space>
struct IbqFusedForward {
  Tensor<T, Space> packed;  // [N D + (1 + K if entropy)]: z_q, H_sample, pbar
  Tensor<std::int32_t, Space> indices;
  IbqRowStats<T, Space> stats;
};

// One pass over the row blocks: argmax, z_q = E[ind], the row statistics, H_sample and pbar.
template <class T, class Space>
IbqFusedForward<T, Space> ibq_fused_forward(const Tensor<T, Space>& zf, const Tensor<T, Space>& codebook,
                                            const IbqFusedOptions& opt) {
  const index_t N = zf.shape().dims[0], D = zf.shape().dims[1], K = codebook.shape().dims[0];
  const index_t nb = ibq_block_rows(N, K, opt.block_rows);
  const int team = ibq_row_team<Space>(opt.row_team, K);
  const bool ent = opt.entropy;
  const T inv_tau = T(1.0 / opt.temperature), inv_n = T(1) / T(N);
  IbqFusedForward<T, Space> f;
  f.packed = Tensor<T, Space>::empty({N * D + (ent ? 1 + K : 0)}, "ibq::fused.out");
  f.indices = Tensor<std::int32_t, Space>::empty({N}, "ibq::fused.indices");
  f.stats.max = Tensor<T, Space>::empty({N}, "ibq::fused.max");
  f.stats.log_s1 = Tensor<T, Space>::empty({N}, "ibq::fused.log_s1");
  f.stats.log_st = Tensor<T, Space>::empty({N}, "ibq::fused.log_st");
  f.stats.entropy = Tensor<T, Space>::empty({N}, "ibq::fused.entropy");
  Kokkos::View<T*, Space> tile(Kokkos::view_alloc(Kokkos::WithoutInitializing, "ibq::fused.tile"), nb * K);
  Kokkos::View<T*, Space> inv_sum(Kokkos::view_alloc(Kokkos::WithoutInitializing, "ibq::fused.inv_sum"), nb);

  T* out = f.packed.data();
  T* pbar = out + N * D + 1;  // a running sum over the blocks, scaled by 1/N at the end
  if (ent) Kokkos::parallel_for("ibq::fused_fwd_pbar_zero", range<Space>(K), KOKKOS_LAMBDA(index_t k) { pbar[k] = 0; });
  const T* z = zf.data();
  const T* e = codebook.data();
  const CodebookProducts<T, Space> prod(opt.precision, codebook.data(), K, D);
  T* l = tile.data();
  T* isum = inv_sum.data();
  std::int32_t* ind = f.indices.data();
  T *mx = f.stats.max.data(), *log_s1 = f.stats.log_s1.data(), *log_st = f.stats.log_st.data();
  T* ent_n = f.stats.entropy.data();

  for (index_t n0 = 0; n0 < N; n0 += nb) {
    const index_t rows = N - n0 < nb ? N - n0 : nb;
    prod.logits(z + n0 * D, rows, l);
    auto keep = KOKKOS_LAMBDA(index_t i, const FusedRow<T>& r) {
      const index_t n = n0 + i;
      ind[n] = std::int32_t(r.arg);
      mx[n] = r.max;
      log_s1[n] = r.log_s1;
      log_st[n] = r.log_st;
      ent_n[n] = r.entropy;
      isum[i] = r.inv_st;
    };
    if (team == 0) {
      Kokkos::parallel_for("ibq::fused_fwd_rows", range<Space>(rows), KOKKOS_LAMBDA(index_t i) {
        const FusedRow<T> r = fused_forward_row(l + i * K, K, ent, inv_tau);
        keep(i, r);
        for (index_t d = 0; d < D; ++d) out[(n0 + i) * D + d] = e[r.arg * D + d];
      });
    } else {
      Kokkos::parallel_for(
          "ibq::fused_fwd_row_teams", team_policy_t<Space>(int(rows), team), KOKKOS_LAMBDA(const ibq_team_t<Space>& tm) {
            const index_t i = tm.league_rank();
            const FusedRow<T> r = fused_forward_row_team(tm, l + i * K, K, ent, inv_tau);
            Kokkos::single(Kokkos::PerTeam(tm), [&]() { keep(i, r); });
            Kokkos::parallel_for(Kokkos::TeamThreadRange(tm, D),
                                 [&](index_t d) { out[(n0 + i) * D + d] = e[r.arg * D + d]; });
          });
    }
    if (ent && team > 0) {
      // pbar_k += sum over the block's rows of q_nk: a thread per code, neighbouring threads reading
      // neighbouring codes (coalesced on a GPU).
      Kokkos::parallel_for("ibq::fused_fwd_pbar_cols", range<Space>(K), KOKKOS_LAMBDA(index_t k) {
        T acc = 0;
        for (index_t i = 0; i < rows; ++i) acc += l[i * K + k] * isum[i];
        pbar[k] += acc;
      });
    } else if (ent) {
      // pbar_k += sum over the block's rows of q_nk, a column sum: 64 neighbouring codes per thread.
      constexpr index_t cols = 64;
      Kokkos::parallel_for("ibq::fused_fwd_pbar", range<Space>((K + cols - 1) / cols), KOKKOS_LAMBDA(index_t c) {
        const index_t k0 = c * cols, len = K - k0 < cols ? K - k0 : cols;
        T acc[cols];
        for (index_t j = 0; j < cols; ++j) acc[j] = 0;
        for (index_t i = 0; i < rows; ++i)
          for (index_t j = 0; j < len; ++j) acc[j] += l[i * K + k0 + j] * isum[i];
        for (index_t j = 0; j < len; ++j) pbar[k0 + j] += acc[j];
      });
    }
  }
  if (ent) {
    Kokkos::parallel_for("ibq::fused_fwd_pbar_mean", range<Space>(K), KOKKOS_LAMBDA(index_t k) { pbar[k] *= inv_n; });
    Kokkos::View<T, Space> hs(out + N * D);
    Kokkos::parallel_reduce(
        "ibq::fused_fwd_hsample", range<Space>(N), KOKKOS_LAMBDA(index_t n, T & acc) { acc += ent_n[n]; },
        Kokkos::Sum<T, Space>(hs));
    Kokkos::parallel_for("ibq::fused_fwd_hsample_mean", range<Space>(1), KOKKOS_LAMBDA(index_t) { out[N * D] *= inv_n; });
  }
  return f;
}

// Accumulates dL/dzf into gz and dL/dE into ge (either may be undefined) from gy = dL/d packed.
template <class T, class Space>
void ibq_fused_backward(const Tensor<T, Space>& zf, const Tensor<T, Space>& codebook,
                        const Tensor<std::int32_t, Space>& indices, const IbqRowStats<T, Space>& st,
                        const IbqFusedOptions& opt, const Tensor<T, Space>& gy, const Tensor<T, Space>& gz,
                        const Tensor<T, Space>& ge) {
  const index_t N = zf.shape().dims[0], D = zf.shape().dims[1], K = codebook.shape().dims[0];
  const index_t nb = ibq_block_rows(N, K, opt.block_rows);
  const int team = ibq_row_team<Space>(opt.row_team, K);
  const bool ent = opt.entropy;
  const T inv_tau = T(1.0 / opt.temperature), inv_n = T(1) / T(N);
  Kokkos::View<T*, Space> tile(Kokkos::view_alloc(Kokkos::WithoutInitializing, "ibq::fused.tile"), nb * K);
  Kokkos::View<T*, Space> atile(Kokkos::view_alloc(Kokkos::WithoutInitializing, "ibq::fused.atile"), nb * K);
  const T* z = zf.data();
  const CodebookProducts<T, Space> prod(opt.precision, codebook.data(), K, D);
  const T* g = gy.data();            // dL/dz_q [N, D]
  const T* gh = g + N * D;           // dL/dH_sample [1]
  const T* gb = g + N * D + 1;       // dL/dpbar [K]
  T* l = tile.data();
  T* a = atile.data();
  const T *mx = st.max.data(), *log_s1 = st.log_s1.data(), *log_st = st.log_st.data(), *ent_n = st.entropy.data();

  for (index_t n0 = 0; n0 < N; n0 += nb) {
    const index_t rows = N - n0 < nb ? N - n0 : nb;
    prod.logits(z + n0 * D, rows, l);  // recomputed exactly as in the forward pass
    prod.logits(g + n0 * D, rows, a);  // a = G E^T
    const T wb = inv_n * inv_tau;
    if (team == 0) {
      Kokkos::parallel_for("ibq::fused_bwd_rows", range<Space>(rows), KOKKOS_LAMBDA(index_t i) {
        const index_t n = n0 + i;
        const T wh = ent ? -gh[0] * wb : T(0);
        fused_backward_row(l + i * K, a + i * K, gb, K, ent, inv_tau, mx[n], log_s1[n], log_st[n], ent_n[n], wh, wb);
      });
    } else {
      Kokkos::parallel_for(
          "ibq::fused_bwd_row_teams", team_policy_t<Space>(int(rows), team), KOKKOS_LAMBDA(const ibq_team_t<Space>& tm) {
            const index_t i = tm.league_rank(), n = n0 + i;
            const T wh = ent ? -gh[0] * wb : T(0);
            fused_backward_row_team(tm, l + i * K, a + i * K, gb, K, ent, inv_tau, mx[n], log_s1[n], log_st[n],
                                    ent_n[n], wh, wb);
          });
    }
    if (gz.defined()) prod.times_codebook(l, rows, gz.data() + n0 * D);
    if (ge.defined()) prod.codebook_grad(l, z + n0 * D, rows, ge.data());
  }
  // The forward value E[ind]: G scatter-added to the selected rows (deterministically, as embedding does).
  if (ge.defined()) embedding_backward(indices, slice_forward(gy, 0, 0, N * D).reshape({N, D}), ge);
}

}  // namespace detail

// zf [N, D] and codebook [K, D], either may require gradients.
template <class T, class Space>
IbqFusedOutput<T, Space> ibq_fused(const Var<T, Space>& zf, const Var<T, Space>& codebook, const IbqFusedOptions& opt) {
  const Shape zs = zf.shape(), es = codebook.shape();
  IBQ_CHECK(zs.rank == 2 && es.rank == 2 && zs.dims[1] == es.dims[1],
            "ibq_fused: z must be [N, D] and the codebook [K, D] with the same D; got " << zs << " and " << es);
  IBQ_CHECK(es.dims[0] > 0 && es.dims[0] <= INT32_MAX, "ibq_fused: K = " << es.dims[0] << " must lie in [1, 2^31)");
  IBQ_CHECK(!opt.entropy || opt.temperature > 0, "ibq_fused: the entropy temperature must be positive, got "
                                                     << opt.temperature);
  auto& tape = zf.tape();
  const index_t N = zs.dims[0], D = zs.dims[1], K = es.dims[0];
  IbqFusedOptions o = opt;
  o.precision = autocast_precision<T>();
  auto fw = detail::ibq_fused_forward(zf.value(), codebook.value(), o);
  auto packed = tape.record(
      "ibq_fused", fw.packed, {zf, codebook},
      [iz = zf.id(), ie = codebook.id(), sz = SavedTensor<T, Space>(zf.value()),
       se = SavedTensor<T, Space>(codebook.value()), ind = fw.indices, st = fw.stats,
       o](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
        detail::ibq_fused_backward(sz.get("ibq_fused"), se.get("ibq_fused"), ind, st, o, gy, t.grad_for(iz),
                                   t.grad_for(ie));
      });
  IbqFusedOutput<T, Space> out;
  out.indices = fw.indices;
  out.z_q = reshape(slice(packed, 0, 0, N * D), {N, D});
  if (opt.entropy) {
    out.sample_entropy = slice(packed, 0, N * D, N * D + 1);
    out.pbar = slice(packed, 0, N * D + 1, N * D + 1 + K);
  }
  return out;
}

}  // namespace ibq
