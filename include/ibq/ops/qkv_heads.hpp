// ibq/ops/qkv_heads.hpp — one part of a fused QKV projection as attention heads, rotated by RoPE or not.
//
//   auto qkv = wqkv.forward(x);                                  // [B, T, 3C]
//   auto q = qkv_heads(qkv, 0, heads, &rope_table, start);       // [B, H, T, Dh], rotated
//   auto v = qkv_heads(qkv, 2, heads);                           // [B, H, T, Dh]
//
// The same values as permute(rope(reshape(slice(qkv, 2, part C, (part + 1) C), {B, T, H, Dh})), {0, 2, 1, 3})
// in one pass, where the chain made two copies and a rotation forward and as many passes backward (plus
// zeroed gradient buffers for each). Backward adds R(-angle) gy into the part's columns of dqkv. The table is
// rope.hpp's: rows of (cos, sin) pairs, position start + t on row start + t.
#pragma once

#include "ibq/autodiff/tape.hpp"
#include "ibq/ops/rope.hpp"

namespace ibq {
namespace detail {
// Forward (sign = +1: y = R x into y) or backward (sign = -1: gqkv += R(-angle) gy) of qkv_heads.
template <class T, class Space>
void qkv_heads_apply(const Tensor<T, Space>& qkv, const Tensor<T, Space>& heads_t, int part, index_t H,
                     const Tensor<T, Space>& table, index_t start, bool backward) {
  const index_t B = heads_t.dim(0), Tn = heads_t.dim(2), Dh = heads_t.dim(3), C = H * Dh, pairs = Dh / 2;
  const bool rotate = table.defined();
  auto qv = qkv.view();
  auto hv = heads_t.view();
  auto tv = table.view();
  // A row is one (b, h, t) of the heads; its Dh values are contiguous on both sides.
  parallel_for_2d<Space>(backward ? "ibq::ops::qkv_heads_bwd" : "ibq::ops::qkv_heads_fwd", B * H * Tn, pairs,
                         KOKKOS_LAMBDA(index_t row, index_t j) {
                           const index_t t = row % Tn, h = (row / Tn) % H, b = row / (Tn * H);
                           const index_t src = (b * Tn + t) * 3 * C + part * C + h * Dh + 2 * j;
                           const index_t dst = row * Dh + 2 * j;
                           T c = T(1), s = T(0);
                           if (rotate) {
                             c = tv(((start + t) * pairs + j) * 2);
                             s = tv(((start + t) * pairs + j) * 2 + 1);
                           }
                           if (!backward) {
                             const T x0 = qv(src), x1 = qv(src + 1);
                             hv(dst) = rotate ? x0 * c - x1 * s : x0;
                             hv(dst + 1) = rotate ? x1 * c + x0 * s : x1;
                           } else {
                             const T g0 = hv(dst), g1 = hv(dst + 1);
                             qv(src) += rotate ? g0 * c + g1 * s : g0;
                             qv(src + 1) += rotate ? g1 * c - g0 * s : g1;
                           }
                         });
}
}  // namespace detail

// qkv [B, T, 3C] -> part (0, 1 or 2) as [B, H, T, C / H]; with a table, rotated at positions start, start + 1, ..
template <class T, class Space>
Var<T, Space> qkv_heads(const Var<T, Space>& qkv, int part, index_t heads, const Tensor<T, Space>* table = nullptr,
                        index_t start = 0) {
  const Shape s = qkv.shape();
  IBQ_CHECK(s.rank == 3 && heads > 0 && s[2] % (3 * heads) == 0 && part >= 0 && part < 3,
            "qkv_heads: expects qkv [B, T, 3C] with C a multiple of heads (" << heads << ") and part 0, 1 or 2; got "
                                                                              << s << ", part " << part);
  const index_t B = s[0], Tn = s[1], Dh = s[2] / 3 / heads;
  const Tensor<T, Space> tab = table ? *table : Tensor<T, Space>();
  if (table) detail::check_rope(Shape{B, Tn, heads, Dh}, tab.shape(), start, "qkv_heads");
  IBQ_CHECK(Dh % 2 == 0, "qkv_heads: the head dimension " << Dh << " must be even (pairs of values)");
  auto y = Tensor<T, Space>::empty(Shape{B, heads, Tn, Dh});
  detail::qkv_heads_apply(qkv.value(), y, part, heads, tab, start, false);
  auto& tape = qkv.tape();
  return tape.record("qkv_heads", y, {qkv},
                     [iq = qkv.id(), part, heads, tab, start](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       auto gq = t.grad_for(iq);
                       if (gq.defined()) detail::qkv_heads_apply(gq, gy, part, heads, tab, start, true);
                     });
}

}  // namespace ibq
