// ibq/ops/attention.hpp — multi-head scaled dot-product attention, softmax(scale Q K^T + mask) V.
//
//   auto o = attention(q, k, v);                                    // q [B, H, Tq, Dh], k/v [B, H, Tk, Dh]
//   AttentionArgs a; a.causal = true;  auto o2 = attention(q, k, v, a);   // autoregressive
//   auto h = attention(q1, k1, v1);                                 // taming AttnBlock: [B, 1, H*W, C]
//
// Both products are strided-batched GEMMs over the B*H heads; the probabilities P [B, H, Tq, Tk] are kept
// for backward (O(B H Tq Tk) memory; fine at the sizes this library trains). The causal mask lets query i
// see keys j <= i + (Tk - Tq), i.e. the last Tq positions of a sequence whose first Tk - Tq keys come from
// a KV cache.
#pragma once

#include "ibq/core/kokkos_compat.hpp"
#include "ibq/core/fast_exp.hpp"
#include <cmath>

#include "ibq/autodiff/tape.hpp"
#include "ibq/linalg/gemm_bf16.hpp"

namespace ibq {

struct AttentionArgs {
  bool causal = false;
  double scale = 0;  // 0: 1 / sqrt(head_dim)
};

template <class T, class Space>
struct AttentionResult {
  Tensor<T, Space> out;    // [B, H, Tq, Dv]
  Tensor<T, Space> probs;  // [B, H, Tq, Tk], zero where masked
};

namespace detail {
inline double attention_scale(const AttentionArgs& a, index_t head_dim) {
  return a.scale != 0 ? a.scale : 1.0 / std::sqrt(double(head_dim));
}

// In place over rows of s [rows, tk]: s = softmax(s) with key j of row r masked when causal and
// j > r % tq + (tk - tq). Max-subtracted, so large logits do not overflow.
template <class T, class Space>
void attention_masked_softmax(const Tensor<T, Space>& s, index_t tq, index_t tk, bool causal) {
  namespace km = ibq::kmath;
  using policy_t = Kokkos::TeamPolicy<exec_space_t<Space>>;
  using member_t = typename policy_t::member_type;
  auto sv = s.view();
  const index_t rows = tk == 0 ? 0 : s.size() / tk;
  Kokkos::parallel_for(
      "ibq::ops::attention_softmax_fwd", policy_t(rows, Kokkos::AUTO), KOKKOS_LAMBDA(const member_t& m) {
        const index_t r = m.league_rank();
        const index_t base = r * tk;
        const index_t visible = causal ? r % tq + (tk - tq) + 1 : tk;  // keys [0, visible) are seen
        T mx = 0;
        Kokkos::parallel_reduce(
            Kokkos::TeamThreadRange(m, visible),
            [&](const index_t j, T& acc) { acc = sv(base + j) > acc ? sv(base + j) : acc; }, Kokkos::Max<T>(mx));
        T sum = 0;
        Kokkos::parallel_reduce(
            Kokkos::TeamThreadRange(m, visible),
            [&](const index_t j, T& acc) {
              const T e = km::exp_nonpositive(sv(base + j) - mx);
              sv(base + j) = e;
              acc += e;
            },
            sum);
        const T inv = T(1) / sum;
        Kokkos::parallel_for(Kokkos::TeamThreadRange(m, tk),
                             [&](const index_t j) { sv(base + j) = j < visible ? sv(base + j) * inv : T(0); });
      });
}

// In place over rows: dp = p * (dp - sum_j dp_j p_j), the softmax Jacobian-vector product.
template <class T, class Space>
void attention_softmax_backward(const Tensor<T, Space>& p, const Tensor<T, Space>& dp, index_t tk) {
  using policy_t = Kokkos::TeamPolicy<exec_space_t<Space>>;
  using member_t = typename policy_t::member_type;
  auto pv = p.view();
  auto dv = dp.view();
  const index_t rows = tk == 0 ? 0 : p.size() / tk;
  Kokkos::parallel_for(
      "ibq::ops::attention_softmax_bwd", policy_t(rows, Kokkos::AUTO), KOKKOS_LAMBDA(const member_t& m) {
        const index_t base = m.league_rank() * tk;
        T dot = 0;
        Kokkos::parallel_reduce(
            Kokkos::TeamThreadRange(m, tk), [&](const index_t j, T& acc) { acc += dv(base + j) * pv(base + j); },
            dot);
        Kokkos::parallel_for(Kokkos::TeamThreadRange(m, tk),
                             [&](const index_t j) { dv(base + j) = pv(base + j) * (dv(base + j) - dot); });
      });
}

inline void check_attention_shapes(const Shape& q, const Shape& k, const Shape& v, bool causal) {
  IBQ_CHECK(q.rank == 4 && k.rank == 4 && v.rank == 4,
            "attention: q " << q << ", k " << k << ", v " << v << " must all be [B, H, T, Dh] (rank 4)");
  IBQ_CHECK(q[0] == k[0] && q[1] == k[1] && q[3] == k[3],
            "attention: q " << q << " and k " << k << " must agree in batch, heads and head_dim");
  IBQ_CHECK(v[0] == k[0] && v[1] == k[1] && v[2] == k[2],
            "attention: v " << v << " must match k " << k << " in batch, heads and key length");
  IBQ_CHECK(!causal || q[2] <= k[2], "attention: causal attention with q " << q << " longer than k " << k
                                                                           << " would leave queries with no key; "
                                                                              "pass at least as many keys as queries");
}
}  // namespace detail

// ---- kernels ------------------------------------------------------------------------------------------
template <class T, class Space>
AttentionResult<T, Space> attention_forward(const Tensor<T, Space>& q, const Tensor<T, Space>& k,
                                            const Tensor<T, Space>& v, const AttentionArgs& args = {},
                                            Precision p = Precision::fp32) {
  detail::check_attention_shapes(q.shape(), k.shape(), v.shape(), args.causal);
  const index_t bh = q.dim(0) * q.dim(1), tq = q.dim(2), tk = k.dim(2), dh = q.dim(3), dv = v.dim(3);
  const T scale = T(detail::attention_scale(args, dh));
  AttentionResult<T, Space> res;
  res.probs = Tensor<T, Space>::empty({q.dim(0), q.dim(1), tq, tk});
  res.out = Tensor<T, Space>::empty({q.dim(0), q.dim(1), tq, dv});
  // S = scale Q K^T, one [tq, tk] block per head
  gemm_strided_batched_as<Space>(p, Trans::N, Trans::T, tq, tk, dh, scale, q.data(), dh, tq * dh, k.data(), dh, tk * dh,
                              T(0), res.probs.data(), tk, tq * tk, bh);
  detail::attention_masked_softmax(res.probs, tq, tk, args.causal);
  // O = P V
  gemm_strided_batched_as<Space>(p, Trans::N, Trans::N, tq, dv, tk, T(1), res.probs.data(), tk, tq * tk, v.data(), dv,
                              tk * dv, T(0), res.out.data(), dv, tq * dv, bh);
  return res;
}

// Accumulates into the defined gradients among gq, gk, gv (beta = 1 GEMMs).
template <class T, class Space>
void attention_backward(const Tensor<T, Space>& q, const Tensor<T, Space>& k, const Tensor<T, Space>& v,
                        const Tensor<T, Space>& probs, const Tensor<T, Space>& gout, double scale,
                        const Tensor<T, Space>& gq, const Tensor<T, Space>& gk, const Tensor<T, Space>& gv,
                        Precision p = Precision::fp32) {
  const index_t bh = q.dim(0) * q.dim(1), tq = q.dim(2), tk = k.dim(2), dh = q.dim(3), dv = v.dim(3);
  if (gv.defined())  // dV += P^T dO
    gemm_strided_batched_as<Space>(p, Trans::T, Trans::N, tk, dv, tq, T(1), probs.data(), tk, tq * tk, gout.data(), dv,
                                tq * dv, T(1), gv.data(), dv, tk * dv, bh);
  if (!gq.defined() && !gk.defined()) return;
  // dP = dO V^T, then dS = P * (dP - rowsum(dP * P)) in place
  auto ds = Tensor<T, Space>::empty(probs.shape());
  gemm_strided_batched_as<Space>(p, Trans::N, Trans::T, tq, tk, dv, T(1), gout.data(), dv, tq * dv, v.data(), dv, tk * dv,
                              T(0), ds.data(), tk, tq * tk, bh);
  detail::attention_softmax_backward(probs, ds, tk);
  if (gq.defined())  // dQ += scale dS K
    gemm_strided_batched_as<Space>(p, Trans::N, Trans::N, tq, dh, tk, T(scale), ds.data(), tk, tq * tk, k.data(), dh,
                                tk * dh, T(1), gq.data(), dh, tq * dh, bh);
  if (gk.defined())  // dK += scale dS^T Q
    gemm_strided_batched_as<Space>(p, Trans::T, Trans::N, tk, dh, tq, T(scale), ds.data(), tk, tq * tk, q.data(), dh,
                                tq * dh, T(1), gk.data(), dh, tk * dh, bh);
}

namespace detail {
// Autocast's attention, with each operand converted once: q, k and v before the first product, the
// probabilities after the softmax, dO and dS once each in backward (6 conversions instead of 12). Backward
// reads the bf16 copies, so no fp32 q, k or v is kept; the softmax and its backward stay fp32. The products
// are the ones attention_forward/backward compute in bf16, operand for operand.
template <class Space>
Var<float, Space> attention_bf16(const Var<float, Space>& q, const Var<float, Space>& k, const Var<float, Space>& v,
                                 const AttentionArgs& args) {
  using M = Bf16Matrix<Space>;
  const Tensor<float, Space>&qt = q.value(), &kt = k.value(), &vt = v.value();
  check_attention_shapes(qt.shape(), kt.shape(), vt.shape(), args.causal);
  const index_t bh = qt.dim(0) * qt.dim(1), tq = qt.dim(2), tk = kt.dim(2), dh = qt.dim(3), dv = vt.dim(3);
  const float scale = float(attention_scale(args, dh));
  const auto qb = M::pack(qt.data(), Trans::N, tq, dh, dh, tq * dh, bh);  // all three as stored: [tq|tk, d]
  const auto kb = M::pack(kt.data(), Trans::T, dh, tk, dh, tk * dh, bh);
  const auto vb = M::pack(vt.data(), Trans::N, tk, dv, dv, tk * dv, bh);
  auto probs = Tensor<float, Space>::empty({qt.dim(0), qt.dim(1), tq, tk});
  auto out = Tensor<float, Space>::empty({qt.dim(0), qt.dim(1), tq, dv});
  gemm_bf16<Space>(Trans::N, Trans::T, tq, tk, dh, scale, qb, kb, 0.f, probs.data(), tk, tq * tk, bh);
  attention_masked_softmax(probs, tq, tk, args.causal);
  const auto pb = M::pack(probs.data(), Trans::N, tq, tk, tk, tq * tk, bh);
  gemm_bf16<Space>(Trans::N, Trans::N, tq, dv, tk, 1.f, pb, vb, 0.f, out.data(), dv, tq * dv, bh);
  auto& tape = q.tape();
  return tape.record(
      "attention", out, {q, k, v},
      [iq = q.id(), ik = k.id(), iv = v.id(), qb, kb, vb, pb, sp = tape.save(probs), bh, tq, tk, dh, dv, scale](
          Tape<float, Space>& t, const Tensor<float, Space>& gy) {
        const auto gq = t.grad_for(iq), gk = t.grad_for(ik), gv = t.grad_for(iv);
        const auto gob = M::pack(gy.data(), Trans::N, tq, dv, dv, tq * dv, bh);
        if (gv.defined())  // dV += P^T dO
          gemm_bf16<Space>(Trans::T, Trans::N, tk, dv, tq, 1.f, pb, gob, 1.f, gv.data(), dv, tk * dv, bh);
        if (!gq.defined() && !gk.defined()) return;
        const auto& probs = sp.get("attention");
        auto ds = Tensor<float, Space>::empty(probs.shape());  // dP = dO V^T, then dS in place
        gemm_bf16<Space>(Trans::N, Trans::T, tq, tk, dv, 1.f, gob, vb, 0.f, ds.data(), tk, tq * tk, bh);
        attention_softmax_backward(probs, ds, tk);
        const auto dsb = M::pack(ds.data(), Trans::N, tq, tk, tk, tq * tk, bh);
        if (gq.defined())  // dQ += scale dS K
          gemm_bf16<Space>(Trans::N, Trans::N, tq, dh, tk, scale, dsb, kb, 1.f, gq.data(), dh, tq * dh, bh);
        if (gk.defined())  // dK += scale dS^T Q
          gemm_bf16<Space>(Trans::T, Trans::N, tk, dh, tq, scale, dsb, qb, 1.f, gk.data(), dh, tk * dh, bh);
      });
}
}  // namespace detail

// ---- differentiable wrapper -----------------------------------------------------------------------------
template <class T, class Space>
Var<T, Space> attention(const Var<T, Space>& q, const Var<T, Space>& k, const Var<T, Space>& v,
                        const AttentionArgs& args = {}) {
  auto& tape = q.tape();
  const Precision p = autocast_precision<T>();
  if constexpr (std::is_same_v<T, float>)
    if (p == Precision::bf16) return detail::attention_bf16(q, k, v, args);
  auto r = attention_forward(q.value(), k.value(), v.value(), args, p);
  const double scale = detail::attention_scale(args, q.value().dim(3));
  return tape.record("attention", r.out, {q, k, v},
                     [scale, p, iq = q.id(), ik = k.id(), iv = v.id(), sq = tape.save(q.value()),
                      sk = tape.save(k.value()), sv = tape.save(v.value()),
                      sp = tape.save(r.probs)](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       attention_backward(sq.get("attention"), sk.get("attention"), sv.get("attention"),
                                          sp.get("attention"), gy, scale, t.grad_for(iq), t.grad_for(ik),
                                          t.grad_for(iv), p);
                     });
}

}  // namespace ibq
