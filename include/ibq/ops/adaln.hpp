// ibq/ops/adaln.hpp — AdaLN's per-sample modulation and gating of a sequence, one pass each way.
//
//   auto a = modulate(rms_norm(h, w, eps), scale, shift);   // x * (1 + scale) + shift
//   auto h1 = gated_add(h, attn_out, gate);                  // h + x * gate
//
// x and h are [B, T, C]; scale, shift and gate are [B, 1, C], one row per sample, the same for every position.
// Written as broadcast ops these are three passes forward (and a [B, T, C] temporary) and five backward;
// here each is one pass forward, and backward one pass for dx plus one that sums over the positions:
//   modulate:  dx += gy (1 + scale),  dscale[b, c] += sum_t gy x,  dshift[b, c] += sum_t gy
//   gated_add: dh += gy,  dx += gy gate,  dgate[b, c] += sum_t gy x
// Sums over t run in position order, on every backend.
#pragma once

#include "ibq/autodiff/tape.hpp"
#include "ibq/ops/reduce.hpp"

namespace ibq {
namespace detail {

inline void check_adaln(const Shape& x, const Shape& row, const char* op, const char* name) {
  IBQ_CHECK(x.rank == 3, op << ": x must be [B, T, C], got " << x);
  IBQ_CHECK(row.rank == 3 && row[0] == x[0] && row[1] == 1 && row[2] == x[2],
            op << ": " << name << " must be [B, 1, C] = [" << x[0] << ", 1, " << x[2] << "] for x " << x << "; got "
               << row);
}

// y[b, t, c] = x[b, t, c] * (c0 + s[b, c]) + (r is [B, T, C] ? r[b, t, c] : r[b, c]).
template <class T, class Space>
Tensor<T, Space> adaln_forward(const Tensor<T, Space>& x, const Tensor<T, Space>& s, T c0, const Tensor<T, Space>& r,
                               bool r_per_position, const char* label) {
  const index_t B = x.dim(0), Tn = x.dim(1), C = x.dim(2);
  auto y = Tensor<T, Space>::empty(x.shape());
  auto xv = x.view();
  auto sv = s.view();
  auto rv = r.view();
  auto yv = y.view();
  if constexpr (runs_on_host_v<Space>) {  // a thread per position, the channels contiguous
    Kokkos::parallel_for(label, range<Space>(B * Tn), KOKKOS_LAMBDA(index_t p) {
      const index_t b = p / Tn, o = p * C, ro = r_per_position ? o : b * C;
      for (index_t c = 0; c < C; ++c) yv(o + c) = xv(o + c) * (c0 + sv(b * C + c)) + rv(ro + c);
    });
  } else {
    Kokkos::parallel_for(label, range<Space>(x.size()), KOKKOS_LAMBDA(index_t i) {
      const index_t c = i % C, b = i / (Tn * C);
      yv(i) = xv(i) * (c0 + sv(b * C + c)) + rv(r_per_position ? i : b * C + c);
    });
  }
  return y;
}

// gx[b, t, c] += gy[b, t, c] * (c0 + s[b, c])
template <class T, class Space>
void adaln_grad_x(const Tensor<T, Space>& gy, const Tensor<T, Space>& s, T c0, const Tensor<T, Space>& gx,
                  const char* label) {
  const index_t B = gy.dim(0), Tn = gy.dim(1), C = gy.dim(2);
  auto gyv = gy.view();
  auto sv = s.view();
  auto gxv = gx.view();
  if constexpr (runs_on_host_v<Space>) {
    Kokkos::parallel_for(label, range<Space>(B * Tn), KOKKOS_LAMBDA(index_t p) {
      const index_t b = p / Tn, o = p * C;
      for (index_t c = 0; c < C; ++c) gxv(o + c) += gyv(o + c) * (c0 + sv(b * C + c));
    });
  } else {
    Kokkos::parallel_for(label, range<Space>(gy.size()), KOKKOS_LAMBDA(index_t i) {
      gxv(i) += gyv(i) * (c0 + sv((i / (Tn * C)) * C + i % C));
    });
  }
}

// g[b, c] += sum_t gy[b, t, c] * (x defined ? x[b, t, c] : 1), t in order.
template <class T, class Space>
void adaln_sum_positions(const Tensor<T, Space>& gy, const Tensor<T, Space>& x, const Tensor<T, Space>& g,
                         const char* label) {
  const index_t B = gy.dim(0), Tn = gy.dim(1), C = gy.dim(2);
  const bool times_x = x.defined();
  auto gyv = gy.view();
  auto xv = x.view();
  auto gv = g.view();
  if constexpr (runs_on_host_v<Space>) {
    // A thread per (sample, run of 256 channels) adds the positions run by run: contiguous, vectorised.
    constexpr index_t chunk = 256;
    const index_t per = (C + chunk - 1) / chunk;
    Kokkos::parallel_for(label, range<Space>(B * per), KOKKOS_LAMBDA(index_t q) {
      const index_t b = q / per, c0 = (q % per) * chunk, len = C - c0 < chunk ? C - c0 : chunk;
      T acc[chunk];
      for (index_t c = 0; c < len; ++c) acc[c] = T(0);
      for (index_t t = 0; t < Tn; ++t) {
        const index_t o = (b * Tn + t) * C + c0;
        for (index_t c = 0; c < len; ++c) acc[c] += times_x ? gyv(o + c) * xv(o + c) : gyv(o + c);
      }
      for (index_t c = 0; c < len; ++c) gv(b * C + c0 + c) += acc[c];
    });
  } else {  // a thread per (b, c): neighbouring threads read neighbouring channels
    Kokkos::parallel_for(label, range<Space>(B * C), KOKKOS_LAMBDA(index_t j) {
      const index_t b = j / C, c = j % C;
      T acc = 0;
      for (index_t t = 0; t < Tn; ++t) {
        const index_t i = (b * Tn + t) * C + c;
        acc += times_x ? gyv(i) * xv(i) : gyv(i);
      }
      gv(j) += acc;
    });
  }
}

}  // namespace detail

// x * (1 + scale) + shift: x [B, T, C], scale and shift [B, 1, C].
template <class T, class Space>
Var<T, Space> modulate(const Var<T, Space>& x, const Var<T, Space>& scale, const Var<T, Space>& shift) {
  detail::check_adaln(x.shape(), scale.shape(), "modulate", "scale");
  detail::check_adaln(x.shape(), shift.shape(), "modulate", "shift");
  auto& tape = x.tape();
  auto y = detail::adaln_forward(x.value(), scale.value(), T(1), shift.value(), false, "ibq::ops::modulate_fwd");
  return tape.record("modulate", y, {x, scale, shift},
                     [ix = x.id(), is = scale.id(), ib = shift.id(), sx = tape.save(x.value()),
                      ss = tape.save(scale.value())](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       const auto gx = t.grad_for(ix), gs = t.grad_for(is), gb = t.grad_for(ib);
                       if (gx.defined())
                         detail::adaln_grad_x(gy, ss.get("modulate"), T(1), gx, "ibq::ops::modulate_bwd_x");
                       if (gs.defined())
                         detail::adaln_sum_positions(gy, sx.get("modulate"), gs, "ibq::ops::modulate_bwd_scale");
                       if (gb.defined()) detail::adaln_sum_positions(gy, Tensor<T, Space>(), gb, "ibq::ops::modulate_bwd_shift");
                     });
}

// h + x * gate: h and x [B, T, C], gate [B, 1, C] (the gated residual of an AdaLN block).
template <class T, class Space>
Var<T, Space> gated_add(const Var<T, Space>& h, const Var<T, Space>& x, const Var<T, Space>& gate) {
  IBQ_CHECK(h.shape() == x.shape(), "gated_add: residual " << h.shape() << " and branch " << x.shape()
                                                           << " must have the same shape");
  detail::check_adaln(x.shape(), gate.shape(), "gated_add", "gate");
  auto& tape = x.tape();
  auto y = detail::adaln_forward(x.value(), gate.value(), T(0), h.value(), true, "ibq::ops::gated_add_fwd");
  return tape.record("gated_add", y, {h, x, gate},
                     [ih = h.id(), ix = x.id(), ig = gate.id(), sx = tape.save(x.value()),
                      sg = tape.save(gate.value())](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       const auto gh = t.grad_for(ih), gx = t.grad_for(ix), gg = t.grad_for(ig);
                       if (gh.defined()) detail::accumulate(gh, gy);
                       if (gx.defined())
                         detail::adaln_grad_x(gy, sg.get("gated_add"), T(0), gx, "ibq::ops::gated_add_bwd_x");
                       if (gg.defined())
                         detail::adaln_sum_positions(gy, sx.get("gated_add"), gg, "ibq::ops::gated_add_bwd_gate");
                     });
}

}  // namespace ibq
