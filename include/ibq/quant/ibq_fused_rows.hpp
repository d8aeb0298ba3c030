// ibq/quant/ibq_fused_rows.hpp — the per-row math of the fused IBQ quantizer (quant/ibq_fused.hpp).
//
//   FusedRow<float> r = fused_forward_row(logits_row, K, entropy, 1 / tau);     // argmax and statistics
//   fused_backward_row(logits_row, a_row, g_pbar, K, entropy, 1 / tau, ...);    // the row's dL/dl, in place
//
// One thread owns a row and runs through its K logits in vectorisable loops. On x86-64 hosts the float
// versions are compiled three times (AVX-512, AVX2, baseline SSE2) and the loader picks the best the CPU has
// (GCC's target_clones): the project builds for any x86-64, and the exponentials here would otherwise run
// 4 lanes wide while the GEMMs around them use every vector unit. Different clones may differ in the last
// bit (FMA contraction); every rank of a job runs on the same kind of CPU in practice.
#pragma once

#include "ibq/core/kokkos_compat.hpp"
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "ibq/core/config.hpp"
#include "ibq/core/fast_exp.hpp"
#include "ibq/core/simd.hpp"

#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__) && defined(__x86_64__) && \
    !defined(IBQ_NO_TARGET_CLONES)
#define IBQ_TARGET_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define IBQ_TARGET_CLONES
#endif


namespace ibq::detail {

// Every exponential here has a non-positive argument (a logit minus its row's maximum).
using ibq::kmath::exp_nonpositive;

// What the forward pass keeps of a row of logits l: arg = argmax (lowest index on ties), max = l[arg],
// log_s1 = log sum exp(l - max), log_st = log sum exp((l - max) / tau), entropy = -sum q log q for
// q = softmax(l / tau), inv_st = 1 / sum exp((l - max) / tau). With the entropy on, the row is overwritten
// by q's numerators exp((l - max) / tau), which the caller sums into pbar.
template <class T>
struct FusedRow {
  T max, log_s1, log_st, entropy, inv_st;
  index_t arg;
};

template <class T>
KOKKOS_FORCEINLINE_FUNCTION FusedRow<T> fused_forward_row_impl(T* li, index_t K, bool ent, T inv_tau) {
  FusedRow<T> r{li[0], 0, 0, 0, 0, 0};
  T m = li[0];
  IBQ_SIMD_REDUCE(max, m)
  for (index_t k = 0; k < K; ++k) m = li[k] > m ? li[k] : m;
  while (r.arg + 1 < K && !(li[r.arg] == m)) ++r.arg;
  r.max = m;
  T s1 = 0;
  if (ent) {
    T st = 0, w = 0;
    IBQ_SIMD_REDUCE(+, s1, st, w)
    for (index_t k = 0; k < K; ++k) {
      const T d = li[k] - m, ds = d * inv_tau;
      const T eq = exp_nonpositive(ds);
      s1 += exp_nonpositive(d);
      st += eq;
      w += eq * ds;
      li[k] = eq;
    }
    r.log_st = ibq::kmath::log(st);
    r.entropy = r.log_st - w / st;  // -sum q log q = log S - sum q (s - max s), s = l / tau
    r.inv_st = T(1) / st;
  } else {
    IBQ_SIMD_REDUCE(+, s1)
    for (index_t k = 0; k < K; ++k) s1 += exp_nonpositive(li[k] - m);
  }
  r.log_s1 = ibq::kmath::log(s1);
  return r;
}

// dL/dl for one row, written over the row's logits li (see quant/ibq_fused.hpp for the formula): ai = G.E_k,
// gb = dL/dpbar, wh = -dL/dH_sample / (N tau), wb = 1 / (N tau).
template <class T>
KOKKOS_FORCEINLINE_FUNCTION void fused_backward_row_impl(T* li, const T* ai, const T* gb, index_t K, bool ent, T inv_tau,
                                                         T m, T ls1, T lst, T h, T wh, T wb) {
  T r = 0, c = 0;
  if (ent) {
    IBQ_SIMD_REDUCE(+, r, c)
    for (index_t k = 0; k < K; ++k) {
      const T d = li[k] - m;
      r += exp_nonpositive(d - ls1) * ai[k];
      c += exp_nonpositive(d * inv_tau - lst) * gb[k];
    }
    for (index_t k = 0; k < K; ++k) {
      const T d = li[k] - m, lq = d * inv_tau - lst;  // log q_k
      li[k] = exp_nonpositive(d - ls1) * (ai[k] - r) + exp_nonpositive(lq) * (wh * (lq + h) + wb * (gb[k] - c));
    }
  } else {
    IBQ_SIMD_REDUCE(+, r)
    for (index_t k = 0; k < K; ++k) r += exp_nonpositive(li[k] - m - ls1) * ai[k];
    for (index_t k = 0; k < K; ++k) li[k] = exp_nonpositive(li[k] - m - ls1) * (ai[k] - r);
  }
}

// The float rows on the host, cloned per instruction set.
IBQ_TARGET_CLONES inline FusedRow<float> fused_forward_row_host(float* li, index_t K, bool ent, float inv_tau) {
  return fused_forward_row_impl(li, K, ent, inv_tau);
}
IBQ_TARGET_CLONES inline void fused_backward_row_host(float* li, const float* ai, const float* gb, index_t K, bool ent,
                                                      float inv_tau, float m, float ls1, float lst, float h, float wh,
                                                      float wb) {
  fused_backward_row_impl(li, ai, gb, K, ent, inv_tau, m, ls1, lst, h, wh, wb);
}

template <class T>
KOKKOS_INLINE_FUNCTION FusedRow<T> fused_forward_row(T* li, index_t K, bool ent, T inv_tau) {
#if !defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) return fused_forward_row_host(li, K, ent, inv_tau);
#endif
  return fused_forward_row_impl(li, K, ent, inv_tau);
}

template <class T>
KOKKOS_INLINE_FUNCTION void fused_backward_row(T* li, const T* ai, const T* gb, index_t K, bool ent, T inv_tau, T m,
                                               T ls1, T lst, T h, T wh, T wb) {
#if !defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) {
    fused_backward_row_host(li, ai, gb, K, ent, inv_tau, m, ls1, lst, h, wh, wb);
    return;
  }
#endif
  fused_backward_row_impl(li, ai, gb, K, ent, inv_tau, m, ls1, lst, h, wh, wb);
}

}  // namespace ibq::detail
