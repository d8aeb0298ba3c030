// ibq/ops/reduce.hpp — sums, means and maxima over all elements or one axis.
//
//   auto loss = mean(square(x - y));              // all elements -> shape [1]
//   auto s = sum(x, -1, /*keepdim=*/true);        // [N, C] -> [N, 1]
//   auto m = max(logits, 1);                      // differentiable: the gradient goes to the first maximum
//   Tensor<std::int32_t> idx = argmax(logits.value(), 1);   // not differentiable
//
// An axis reduction views the tensor as (outer, n, inner) around the axis. When the axis is the last one
// (inner == 1) each row is contiguous and one team reduces it (a whole GPU block for long rows); otherwise
// one thread per (outer, inner) row loops over the axis, so neighbouring threads read neighbouring memory.
// Reducing the only axis of a rank-1 tensor without keepdim gives shape [1], the library's scalar shape.
#pragma once

#include <climits>
#include <cstdint>
#include <type_traits>

#include "ibq/autodiff/tape.hpp"

namespace ibq {

// (outer, n, inner) sizes around one axis: element (o, k, i) sits at (o * n + k) * inner + i.
struct AxisSplit {
  index_t outer = 1, n = 1, inner = 1;
};

namespace detail {

inline int normalize_axis(const Shape& s, int axis, const char* op) {
  const int a = axis < 0 ? axis + s.rank : axis;
  IBQ_CHECK(a >= 0 && a < s.rank, op << ": axis " << axis << " is out of range for a tensor of shape " << s
                                     << "; use an axis in [" << -s.rank << ", " << s.rank << ")");
  return a;
}
inline AxisSplit split_axis(const Shape& s, int a) { return AxisSplit{s.prod(0, a), s.dims[a], s.prod(a + 1, s.rank)}; }

inline Shape reduced_shape(const Shape& s, int a, bool keepdim) {
  Shape out = s;
  if (keepdim) {
    out.dims[a] = 1;
    return out;
  }
  out.rank = 0;
  for (int k = 0; k < s.rank; ++k)
    if (k != a) out.dims[out.rank++] = s.dims[k];
  for (int k = out.rank; k < Shape::max_rank; ++k) out.dims[k] = 0;
  if (out.rank == 0) out = Shape{1};
  return out;
}

template <class Space>
using team_policy_t = Kokkos::TeamPolicy<exec_space_t<Space>>;

// Kernels pick their parallel layout by where they execute (host threads vs GPU blocks).
template <class Space>
inline constexpr bool runs_on_host_v = host_accessible_v<typename exec_space_t<Space>::memory_space>;

// One team per contiguous row of n elements. On a GPU the team is a power of two between a warp and 256
// threads, sized to the row, so short rows do not idle a whole block; on the host a team is one thread and
// the rows are spread over the threads.
template <class Space>
team_policy_t<Space> row_teams(index_t rows, index_t n, const char* op) {
  IBQ_CHECK(rows <= INT_MAX, op << ": " << rows << " rows exceed the " << INT_MAX << " teams one launch can take");
  int team = 1;
  if constexpr (!runs_on_host_v<Space>) {
    team = 32;
    while (team < 256 && team < n) team *= 2;
  }
  return team_policy_t<Space>(static_cast<int>(rows), team);
}

// Reduces straight into y[0] on the device (no host round trip in a training loop), then scales it there.
template <class T, class Space, class F>
void reduce_sum_into(const char* label, index_t n, const F& term, const Tensor<T, Space>& y, T scale) {
  Kokkos::View<T, Space> out(y.data());
  Kokkos::parallel_reduce(label, range<Space>(n), term, Kokkos::Sum<T, Space>(out));
  if (scale != T(1)) {
    auto yv = y.view();
    Kokkos::parallel_for(label, range<Space>(1), KOKKOS_LAMBDA(index_t) { yv(0) *= scale; });
  }
}

template <class T, class Space>
Tensor<T, Space> sum_all(const Tensor<T, Space>& x, bool mean, const char* label) {
  auto y = Tensor<T, Space>::empty(Shape{1});
  auto xv = x.view();
  const T scale = mean ? T(1) / T(x.size()) : T(1);
  reduce_sum_into(label, x.size(), KOKKOS_LAMBDA(index_t i, T & s) { s += xv(i); }, y, scale);
  return y;
}

// gx[j] += scale * gy[0]
template <class T, class Space>
void sum_all_backward(const Tensor<T, Space>& gy, const Tensor<T, Space>& gx, bool mean, const char* label) {
  auto gyv = gy.view();
  auto gxv = gx.view();
  const T scale = mean ? T(1) / T(gx.size()) : T(1);
  Kokkos::parallel_for(label, range<Space>(gx.size()), KOKKOS_LAMBDA(index_t j) { gxv(j) += scale * gyv(0); });
}

template <class T, class Space>
Tensor<T, Space> sum_axis(const Tensor<T, Space>& x, int axis, bool keepdim, bool mean, const char* op,
                          const char* label) {
  using member_t = typename team_policy_t<Space>::member_type;
  const int a = normalize_axis(x.shape(), axis, op);
  const AxisSplit sp = split_axis(x.shape(), a);
  auto y = Tensor<T, Space>::empty(reduced_shape(x.shape(), a, keepdim));
  auto xv = x.view();
  auto yv = y.view();
  const index_t n = sp.n, inner = sp.inner;
  const T scale = mean ? T(1) / T(n) : T(1);
  if (inner == 1) {
    Kokkos::parallel_for(label, row_teams<Space>(sp.outer, n, op), KOKKOS_LAMBDA(const member_t& m) {
      const index_t r = m.league_rank();
      T s = 0;
      Kokkos::parallel_reduce(
          Kokkos::TeamThreadRange(m, n), [&](index_t k, T& acc) { acc += xv(r * n + k); }, s);
      Kokkos::single(Kokkos::PerTeam(m), [&]() { yv(r) = s * scale; });
    });
  } else if constexpr (runs_on_host_v<Space>) {
    // A CPU thread sums a block of neighbouring columns at once: the inner loop is contiguous and
    // vectorises, instead of one latency-bound scalar chain per column.
    constexpr index_t block = 64;
    const index_t blocks = (inner + block - 1) / block;
    Kokkos::parallel_for(label, range<Space>(sp.outer * blocks), KOKKOS_LAMBDA(index_t q) {
      const index_t o = q / blocks, i0 = (q % blocks) * block;
      const index_t len = inner - i0 < block ? inner - i0 : block;
      T acc[block];
      for (index_t i = 0; i < block; ++i) acc[i] = 0;
      for (index_t k = 0; k < n; ++k) {
        const index_t base = (o * n + k) * inner + i0;
        for (index_t i = 0; i < len; ++i) acc[i] += xv(base + i);
      }
      for (index_t i = 0; i < len; ++i) yv(o * inner + i0 + i) = acc[i] * scale;
    });
  } else {
    Kokkos::parallel_for(label, range<Space>(sp.outer * inner), KOKKOS_LAMBDA(index_t p) {
      const index_t base = (p / inner) * n * inner + p % inner;
      T s = 0;
      for (index_t k = 0; k < n; ++k) s += xv(base + k * inner);
      yv(p) = s * scale;
    });
  }
  return y;
}

// gx[o, k, i] += scale * gy[o, i]
template <class T, class Space>
void sum_axis_backward(const Tensor<T, Space>& gy, const Tensor<T, Space>& gx, int axis, bool mean, const char* op,
                       const char* label) {
  const int a = normalize_axis(gx.shape(), axis, op);
  const AxisSplit sp = split_axis(gx.shape(), a);
  IBQ_CHECK(gy.size() == sp.outer * sp.inner, op << ": output gradient " << gy.shape() << " does not match input "
                                                 << gx.shape() << " reduced over axis " << axis);
  auto gyv = gy.view();
  auto gxv = gx.view();
  const index_t n = sp.n, inner = sp.inner;
  const T scale = mean ? T(1) / T(n) : T(1);
  Kokkos::parallel_for(label, range<Space>(gx.size()), KOKKOS_LAMBDA(index_t j) {
    gxv(j) += scale * gyv((j / (n * inner)) * inner + j % inner);
  });
}


// The maximum of row [base, base + n) of v, reduced across the calling team (softmax, log-sum-exp, max).
template <class View, class Member>
KOKKOS_INLINE_FUNCTION typename View::non_const_value_type team_row_max(const Member& m, const View& v, index_t base,
                                                                        index_t n) {
  using T = typename View::non_const_value_type;
  T mx;
  Kokkos::parallel_reduce(
      Kokkos::TeamThreadRange(m, n),
      [&](index_t k, T& acc) {
        const T x = v(base + k);
        if (x > acc) acc = x;
      },
      Kokkos::Max<T>(mx));
  return mx;
}

}  // namespace detail

// Values and positions (within the axis) of the maxima.
template <class T, class Space>
struct MaxResult {
  Tensor<T, Space> values;
  Tensor<std::int32_t, Space> indices;
};

// ---- kernels ------------------------------------------------------------------------------------------
template <class T, class Space>
Tensor<T, Space> sum_forward(const Tensor<T, Space>& x) {
  return detail::sum_all(x, false, "ibq::ops::sum_fwd");
}
template <class T, class Space>
Tensor<T, Space> mean_forward(const Tensor<T, Space>& x) {
  return detail::sum_all(x, true, "ibq::ops::mean_fwd");
}
template <class T, class Space>
Tensor<T, Space> sum_forward(const Tensor<T, Space>& x, int axis, bool keepdim = false) {
  return detail::sum_axis(x, axis, keepdim, false, "sum", "ibq::ops::sum_fwd");
}
template <class T, class Space>
Tensor<T, Space> mean_forward(const Tensor<T, Space>& x, int axis, bool keepdim = false) {
  return detail::sum_axis(x, axis, keepdim, true, "mean", "ibq::ops::mean_fwd");
}
// gx += gy[0] (sum) or gy[0] / numel (mean), gy of shape [1]
template <class T, class Space>
void sum_backward(const Tensor<T, Space>& gy, const Tensor<T, Space>& gx) {
  detail::sum_all_backward(gy, gx, false, "ibq::ops::sum_bwd");
}
template <class T, class Space>
void mean_backward(const Tensor<T, Space>& gy, const Tensor<T, Space>& gx) {
  detail::sum_all_backward(gy, gx, true, "ibq::ops::mean_bwd");
}
// gx += gy broadcast along `axis` (divided by the axis length for mean); gy with or without keepdim
template <class T, class Space>
void sum_backward(const Tensor<T, Space>& gy, const Tensor<T, Space>& gx, int axis) {
  detail::sum_axis_backward(gy, gx, axis, false, "sum", "ibq::ops::sum_bwd");
}
template <class T, class Space>
void mean_backward(const Tensor<T, Space>& gy, const Tensor<T, Space>& gx, int axis) {
  detail::sum_axis_backward(gy, gx, axis, true, "mean", "ibq::ops::mean_bwd");
}

// Ties go to the first (lowest) index, as torch.max(dim) and torch.argmax; rows containing NaN give an
// unspecified position.
template <class T, class Space>
MaxResult<T, Space> max_forward(const Tensor<T, Space>& x, int axis, bool keepdim = false, const char* op = "max") {
  using member_t = typename detail::team_policy_t<Space>::member_type;
  const int a = detail::normalize_axis(x.shape(), axis, op);
  const AxisSplit sp = detail::split_axis(x.shape(), a);
  IBQ_CHECK(sp.n > 0, op << ": cannot take the maximum over the empty axis " << axis << " of shape " << x.shape());
  IBQ_CHECK(sp.n <= INT32_MAX, op << ": axis " << axis << " of shape " << x.shape() << " is too long for int32 indices");
  const Shape out = detail::reduced_shape(x.shape(), a, keepdim);
  MaxResult<T, Space> r{Tensor<T, Space>::empty(out), Tensor<std::int32_t, Space>::empty(out)};
  auto xv = x.view();
  auto yv = r.values.view();
  auto iv = r.indices.view();
  const index_t n = sp.n, inner = sp.inner;
  if (inner == 1) {
    // Two passes (max, then the first index holding it) keep ties deterministic with the stock reducers.
    Kokkos::parallel_for("ibq::ops::max_fwd", detail::row_teams<Space>(sp.outer, n, op), KOKKOS_LAMBDA(const member_t& m) {
      const index_t row = m.league_rank(), base = row * n;
      const T mx = detail::team_row_max(m, xv, base, n);
      index_t first;
      Kokkos::parallel_reduce(
          Kokkos::TeamThreadRange(m, n),
          [&](index_t k, index_t& acc) {
            if (xv(base + k) == mx && k < acc) acc = k;
          },
          Kokkos::Min<index_t>(first));
      Kokkos::single(Kokkos::PerTeam(m), [&]() {
        const index_t k = first < n ? first : 0;  // no match: the row holds NaN
        yv(row) = xv(base + k);
        iv(row) = static_cast<std::int32_t>(k);
      });
    });
  } else {
    Kokkos::parallel_for("ibq::ops::max_fwd", range<Space>(sp.outer * inner), KOKKOS_LAMBDA(index_t p) {
      const index_t base = (p / inner) * n * inner + p % inner;
      T best = xv(base);
      index_t arg = 0;
      for (index_t k = 1; k < n; ++k) {
        const T v = xv(base + k * inner);
        if (v > best) best = v, arg = k;
      }
      yv(p) = best;
      iv(p) = static_cast<std::int32_t>(arg);
    });
  }
  return r;
}

// gx[o, indices[o, i], i] += gy[o, i]: each output feeds exactly one input element, so no two threads collide.
template <class T, class Space>
void max_backward(const Tensor<std::int32_t, Space>& indices, const Tensor<T, Space>& gy, const Tensor<T, Space>& gx,
                  int axis) {
  const int a = detail::normalize_axis(gx.shape(), axis, "max");
  const AxisSplit sp = detail::split_axis(gx.shape(), a);
  IBQ_CHECK(gy.size() == sp.outer * sp.inner && indices.size() == gy.size(),
            "max: output gradient " << gy.shape() << " / indices " << indices.shape() << " do not match input "
                                    << gx.shape() << " reduced over axis " << axis);
  auto iv = indices.view();
  auto gyv = gy.view();
  auto gxv = gx.view();
  const index_t n = sp.n, inner = sp.inner;
  Kokkos::parallel_for("ibq::ops::max_bwd", range<Space>(gy.size()), KOKKOS_LAMBDA(index_t p) {
    gxv(((p / inner) * n + iv(p)) * inner + p % inner) += gyv(p);
  });
}

// Position of the maximum along `axis` (ties: the first). Not differentiable.
template <class T, class Space>
Tensor<std::int32_t, Space> argmax(const Tensor<T, Space>& x, int axis, bool keepdim = false) {
  return max_forward(x, axis, keepdim, "argmax").indices;
}

// ---- differentiable wrappers --------------------------------------------------------------------------
template <class T, class Space>
Var<T, Space> sum(const Var<T, Space>& x) {
  auto& tape = x.tape();
  return tape.record("sum", sum_forward(x.value()), {x},
                     [ix = x.id()](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       auto gx = t.grad_for(ix);
                       if (gx.defined()) sum_backward(gy, gx);
                     });
}
template <class T, class Space>
Var<T, Space> mean(const Var<T, Space>& x) {
  auto& tape = x.tape();
  return tape.record("mean", mean_forward(x.value()), {x},
                     [ix = x.id()](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       auto gx = t.grad_for(ix);
                       if (gx.defined()) mean_backward(gy, gx);
                     });
}
template <class T, class Space>
Var<T, Space> sum(const Var<T, Space>& x, int axis, bool keepdim = false) {
  auto& tape = x.tape();
  return tape.record("sum", sum_forward(x.value(), axis, keepdim), {x},
                     [ix = x.id(), axis](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       auto gx = t.grad_for(ix);
                       if (gx.defined()) sum_backward(gy, gx, axis);
                     });
}
template <class T, class Space>
Var<T, Space> mean(const Var<T, Space>& x, int axis, bool keepdim = false) {
  auto& tape = x.tape();
  return tape.record("mean", mean_forward(x.value(), axis, keepdim), {x},
                     [ix = x.id(), axis](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       auto gx = t.grad_for(ix);
                       if (gx.defined()) mean_backward(gy, gx, axis);
                     });
}
template <class T, class Space>
Var<T, Space> max(const Var<T, Space>& x, int axis, bool keepdim = false) {
  auto& tape = x.tape();
  auto r = max_forward(x.value(), axis, keepdim);
  // The indices are private to this node (nothing else can modify them), so they need no version check.
  return tape.record("max", r.values, {x},
                     [ix = x.id(), axis, idx = r.indices](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       auto gx = t.grad_for(ix);
                       if (gx.defined()) max_backward(idx, gy, gx, axis);
                     });
}
template <class T, class Space>
Tensor<std::int32_t, Space> argmax(const Var<T, Space>& x, int axis, bool keepdim = false) {
  return argmax(x.value(), axis, keepdim);
}

}  // namespace ibq
