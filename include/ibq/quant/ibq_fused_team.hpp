// ibq/quant/ibq_fused_team.hpp — the per-row math of quant/ibq_fused_rows.hpp for one team of threads per row.
//
//   FusedRow<T> r = fused_forward_row_team(member, logits_row, K, entropy, 1 / tau);
//   fused_backward_row_team(member, logits_row, a_row, g_pbar, K, entropy, 1 / tau, ...);
//
// On a GPU a row of K = 16384 to 262144 logits is far too long for one thread: a thread per row leaves most of
// the device idle (N = 1024 rows) and reads memory with a stride of K. Here the team's threads take
// neighbouring logits (coalesced) and reduce across the team. Each sum is its own team reduction, so the
// exponentials of a reduction are recomputed rather than kept in registers; the row stays in L2 between the
// passes. The results equal the thread-per-row version's up to the order of summation.
#pragma once

#include "ibq/core/kokkos_compat.hpp"
#include "ibq/quant/ibq_fused_rows.hpp"

namespace ibq::detail {

template <class T, class Member>
KOKKOS_INLINE_FUNCTION FusedRow<T> fused_forward_row_team(const Member& tm, T* li, index_t K, bool ent, T inv_tau) {
  using Kokkos::TeamThreadRange;
  FusedRow<T> r{0, 0, 0, 0, 0, 0};
  T m;
  Kokkos::parallel_reduce(
      TeamThreadRange(tm, K), [&](index_t k, T& acc) { acc = li[k] > acc ? li[k] : acc; }, Kokkos::Max<T>(m));
  // the lowest index holding the maximum (the thread version's tie rule); K - 1 if none does (NaN logits)
  index_t arg;
  Kokkos::parallel_reduce(
      TeamThreadRange(tm, K), [&](index_t k, index_t& acc) { acc = (li[k] == m && k < acc) ? k : acc; },
      Kokkos::Min<index_t>(arg));
  r.arg = arg < K ? arg : K - 1;
  r.max = m;
  T s1 = 0;
  Kokkos::parallel_reduce(
      TeamThreadRange(tm, K), [&](index_t k, T& acc) { acc += exp_nonpositive(li[k] - m); }, s1);
  r.log_s1 = ibq::kmath::log(s1);
  if (ent) {
    T st = 0, w = 0;
    Kokkos::parallel_reduce(
        TeamThreadRange(tm, K), [&](index_t k, T& acc) { acc += exp_nonpositive((li[k] - m) * inv_tau); }, st);
    Kokkos::parallel_reduce(
        TeamThreadRange(tm, K),
        [&](index_t k, T& acc) {
          const T ds = (li[k] - m) * inv_tau;
          acc += exp_nonpositive(ds) * ds;
        },
        w);
    // every thread has finished reading the row (a reduction's result reaches a thread only once all have
    // contributed), so the row can now be overwritten with q's numerators
    Kokkos::parallel_for(TeamThreadRange(tm, K), [&](index_t k) { li[k] = exp_nonpositive((li[k] - m) * inv_tau); });
    r.log_st = ibq::kmath::log(st);
    r.entropy = r.log_st - w / st;
    r.inv_st = T(1) / st;
  }
  return r;
}

// dL/dl for one row, in place (the arguments as in fused_backward_row_impl).
template <class T, class Member>
KOKKOS_INLINE_FUNCTION void fused_backward_row_team(const Member& tm, T* li, const T* ai, const T* gb, index_t K,
                                                    bool ent, T inv_tau, T m, T ls1, T lst, T h, T wh, T wb) {
  using Kokkos::TeamThreadRange;
  T r = 0, c = 0;
  Kokkos::parallel_reduce(
      TeamThreadRange(tm, K), [&](index_t k, T& acc) { acc += exp_nonpositive(li[k] - m - ls1) * ai[k]; }, r);
  if (ent) {
    Kokkos::parallel_reduce(
        TeamThreadRange(tm, K), [&](index_t k, T& acc) { acc += exp_nonpositive((li[k] - m) * inv_tau - lst) * gb[k]; },
        c);
    Kokkos::parallel_for(TeamThreadRange(tm, K), [&](index_t k) {
      const T d = li[k] - m, lq = d * inv_tau - lst;  // log q_k
      li[k] = exp_nonpositive(d - ls1) * (ai[k] - r) + exp_nonpositive(lq) * (wh * (lq + h) + wb * (gb[k] - c));
    });
  } else {
    Kokkos::parallel_for(TeamThreadRange(tm, K),
                         [&](index_t k) { li[k] = exp_nonpositive(li[k] - m - ls1) * (ai[k] - r); });
  }
}

}  // namespace ibq::detail
