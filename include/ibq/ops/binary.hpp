// ibq/ops/binary.hpp — broadcasting elementwise arithmetic: a + b, a - b, a * b, a / b.
//
//   auto y = x * gamma + beta;     // x [N,C,H,W], gamma/beta [1,C,1,1]
//
// Each op is a struct with f(a, b) and the partials da(a, b), db(a, b). The forward runs over outputs;
// the backward of each input runs over that input's elements and sums the outputs that read it, so a
// broadcast bias gets its reduced gradient without atomics.
#pragma once

#include <algorithm>

#include "ibq/autodiff/tape.hpp"
#include "ibq/ops/broadcast.hpp"

namespace ibq {
namespace fn {
struct Add {
  template <class T> KOKKOS_INLINE_FUNCTION T f(T a, T b) const { return a + b; }
  template <class T> KOKKOS_INLINE_FUNCTION T da(T, T) const { return T(1); }
  template <class T> KOKKOS_INLINE_FUNCTION T db(T, T) const { return T(1); }
};
struct Sub {
  template <class T> KOKKOS_INLINE_FUNCTION T f(T a, T b) const { return a - b; }
  template <class T> KOKKOS_INLINE_FUNCTION T da(T, T) const { return T(1); }
  template <class T> KOKKOS_INLINE_FUNCTION T db(T, T) const { return T(-1); }
};
struct Mul {
  template <class T> KOKKOS_INLINE_FUNCTION T f(T a, T b) const { return a * b; }
  template <class T> KOKKOS_INLINE_FUNCTION T da(T, T b) const { return b; }
  template <class T> KOKKOS_INLINE_FUNCTION T db(T a, T) const { return a; }
};
struct Div {
  template <class T> KOKKOS_INLINE_FUNCTION T f(T a, T b) const { return a / b; }
  template <class T> KOKKOS_INLINE_FUNCTION T da(T, T b) const { return T(1) / b; }
  template <class T> KOKKOS_INLINE_FUNCTION T db(T a, T b) const { return -a / (b * b); }
};
}  // namespace fn

template <class F, class T, class Space>
Tensor<T, Space> binary_forward(const F& f, const Tensor<T, Space>& a, const Tensor<T, Space>& b, const char* op) {
  const Shape out = broadcast_shapes(a.shape(), b.shape(), op);
  auto y = Tensor<T, Space>::empty(out);
  const BroadcastMap ma(a.shape(), out), mb(b.shape(), out);
  auto av = a.view();
  auto bv = b.view();
  auto yv = y.view();
  if (a.shape() == out && b.shape() == out) {  // no broadcasting (residual adds): skip the index arithmetic
    Kokkos::parallel_for("ibq::ops::binary_forward_same", range<Space>(y.size()),
                         KOKKOS_LAMBDA(index_t i) { yv(i) = f.f(av(i), bv(i)); });
    return y;
  }
  const index_t sa = ma.inner_stride(), sb = mb.inner_stride();
  parallel_for_runs<Space>("ibq::ops::binary_forward", y.size(), std::min(ma.inner(), mb.inner()),
                           KOKKOS_LAMBDA(index_t i0, index_t len) {
                             const index_t ja = ma.in_index(i0), jb = mb.in_index(i0);
                             for (index_t k = 0; k < len; ++k) yv(i0 + k) = f.f(av(ja + k * sa), bv(jb + k * sb));
                           });
  return y;
}

// g_a += sum over outputs i reading a[j] of gy[i] * da(a, b)   (wrt_b = false)
// g_b += sum over outputs i reading b[j] of gy[i] * db(a, b)   (wrt_b = true)
template <class F, class T, class Space>
void binary_backward(const F& f, bool wrt_b, const Tensor<T, Space>& a, const Tensor<T, Space>& b,
                     const Tensor<T, Space>& gy, const Tensor<T, Space>& g) {
  const Shape out = gy.shape();
  const BroadcastMap ma(a.shape(), out), mb(b.shape(), out);
  const BroadcastMap mine = wrt_b ? mb : ma;
  auto av = a.view();
  auto bv = b.view();
  auto gyv = gy.view();
  auto gv = g.view();
  const index_t count = mine.reduce_count;
  if (a.shape() == out && b.shape() == out) {
    Kokkos::parallel_for("ibq::ops::binary_backward_same", range<Space>(g.size()), KOKKOS_LAMBDA(index_t j) {
      gv(j) += gyv(j) * (wrt_b ? f.db(av(j), bv(j)) : f.da(av(j), bv(j)));
    });
    return;
  }
  // Element j of my input is read by outputs first + red_offset(m); only the other input needs an index map.
  const BroadcastMap other = wrt_b ? ma : mb;
  if (mine.identity) {  // no reduction: my gradient runs along the output, the other input in runs
    const index_t so = other.inner_stride();
    parallel_for_runs<Space>("ibq::ops::binary_backward_runs", g.size(), std::min(mine.inner(), other.inner()),
                             KOKKOS_LAMBDA(index_t i0, index_t len) {
                               const index_t o0 = other.in_index(i0);
                               for (index_t k = 0; k < len; ++k) {
                                 const index_t i = i0 + k, o = o0 + k * so;
                                 gv(i) += wrt_b ? gyv(i) * f.db(av(o), bv(i)) : gyv(i) * f.da(av(i), bv(o));
                               }
                             });
    return;
  }
  if constexpr (host_accessible_v<Space>) {
    if (other.identity && mine.inner_stride() == 1) {
      // My innermost axis is kept ([B, 1, C] against [B, T, C], a bias [C] against [N, C]): a CPU thread
      // takes a run of my elements and adds the outputs that read them run by run, so every load is
      // contiguous and the loop vectorises, instead of one strided gather per element. The outputs are
      // added in the same order as below, so the result is the same to the bit.
      constexpr index_t chunk = 256;
      const index_t L = mine.inner(), per = (L + chunk - 1) / chunk;
      Kokkos::parallel_for("ibq::ops::binary_backward_rows", range<Space>(g.size() / L * per),
                           KOKKOS_LAMBDA(index_t t) {
                             const index_t c0 = (t % per) * chunk, j0 = (t / per) * L + c0;
                             const index_t len = L - c0 < chunk ? L - c0 : chunk, first = mine.out_index(j0, 0);
                             T acc[chunk];
                             for (index_t k = 0; k < len; ++k) acc[k] = T(0);
                             for (index_t m = 0; m < count; ++m) {
                               const index_t i0 = first + mine.red_offset(m);
                               for (index_t k = 0; k < len; ++k)
                                 acc[k] += wrt_b ? gyv(i0 + k) * f.db(av(i0 + k), bv(j0 + k))
                                                 : gyv(i0 + k) * f.da(av(j0 + k), bv(i0 + k));
                             }
                             for (index_t k = 0; k < len; ++k) gv(j0 + k) += acc[k];
                           });
      return;
    }
  }
  Kokkos::parallel_for("ibq::ops::binary_backward", range<Space>(g.size()), KOKKOS_LAMBDA(index_t j) {
    const index_t first = mine.identity ? j : mine.out_index(j, 0);
    const T me = wrt_b ? bv(j) : av(j);
    T acc = 0;
    for (index_t m = 0; m < count; ++m) {
      const index_t i = first + mine.red_offset(m);
      const index_t o = other.in_index(i);
      acc += wrt_b ? gyv(i) * f.db(av(o), me) : gyv(i) * f.da(me, bv(o));
    }
    gv(j) += acc;
  });
}

template <class F, class T, class Space>
Var<T, Space> binary(const char* name, const F& f, const Var<T, Space>& a, const Var<T, Space>& b) {
  auto& tape = a.tape();
  auto y = binary_forward(f, a.value(), b.value(), name);
  return tape.record(name, y, {a, b},
                     [f, name, ia = a.id(), ib = b.id(), sa = tape.save(a.value()), sb = tape.save(b.value())](
                         Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       auto ga = t.grad_for(ia);
                       if (ga.defined()) binary_backward(f, false, sa.get(name), sb.get(name), gy, ga);
                       auto gb = t.grad_for(ib);
                       if (gb.defined()) binary_backward(f, true, sa.get(name), sb.get(name), gy, gb);
                     });
}

template <class T, class S> Var<T, S> operator+(const Var<T, S>& a, const Var<T, S>& b) { return binary("add", fn::Add{}, a, b); }
template <class T, class S> Var<T, S> operator-(const Var<T, S>& a, const Var<T, S>& b) { return binary("sub", fn::Sub{}, a, b); }
template <class T, class S> Var<T, S> operator*(const Var<T, S>& a, const Var<T, S>& b) { return binary("mul", fn::Mul{}, a, b); }
template <class T, class S> Var<T, S> operator/(const Var<T, S>& a, const Var<T, S>& b) { return binary("div", fn::Div{}, a, b); }

}  // namespace ibq
