// ibq/ops/softmax.hpp — softmax, log_softmax and the cross-entropy loss along one axis.
//
//   auto p = softmax(logits, -1);                      // rows sum to 1
//   auto lp = log_softmax(logits, 1);
//   auto loss = cross_entropy(logits, labels);         // logits [N, C] or [N, C, d1, ...], labels int32
//   auto loss2 = cross_entropy(logits, labels, /*ignore_index=*/-1);
//
// All are computed as x - max(x) so large logits never overflow. Over the last axis (the hot case: N x K
// code logits with K up to 2^18) one team owns a row and reduces it cooperatively; over any other axis one
// thread owns an (outer, inner) row and strides through it, keeping neighbouring threads on neighbouring memory.
// cross_entropy keeps only each row's log-sum-exp for backward, never a second N x C tensor.
#pragma once

#include "ibq/core/kokkos_compat.hpp"
#include "ibq/core/fast_exp.hpp"
#include "ibq/core/simd.hpp"
#include <cstdint>
#include <limits>
#include <vector>

#include "ibq/autodiff/tape.hpp"
#include "ibq/ops/id_check.hpp"
#include "ibq/ops/reduce.hpp"

namespace ibq {

namespace detail {

// y = softmax(x) or log_softmax(x) along axis a.
template <class T, class Space>
Tensor<T, Space> softmax_rows(const Tensor<T, Space>& x, int a, bool log, const char* op, const char* label) {
  namespace km = ibq::kmath;
  using member_t = typename team_policy_t<Space>::member_type;
  const AxisSplit sp = split_axis(x.shape(), a);
  auto y = Tensor<T, Space>::empty(x.shape());
  if (x.size() == 0) return y;
  auto xv = x.view();
  auto yv = y.view();
  const index_t n = sp.n, inner = sp.inner;
  if (inner == 1) {
    Kokkos::parallel_for(label, row_teams<Space>(sp.outer, n, op), KOKKOS_LAMBDA(const member_t& m) {
      const index_t base = index_t(m.league_rank()) * n;
      const T mx = team_row_max(m, xv, base, n);
      // softmax keeps exp(x - max) in y between the passes: one exp per element, the dominant cost.
      T s = 0;
      Kokkos::parallel_reduce(
          Kokkos::TeamThreadRange(m, n),
          [&](index_t k, T& acc) {
            const T e = km::exp_nonpositive(xv(base + k) - mx);
            if (!log) yv(base + k) = e;
            acc += e;
          },
          s);
      const T shift = mx + km::log(s), inv = T(1) / s;
      Kokkos::parallel_for(Kokkos::TeamThreadRange(m, n), [&](index_t k) {
        yv(base + k) = log ? xv(base + k) - shift : yv(base + k) * inv;
      });
    });
  } else {
    Kokkos::parallel_for(label, range<Space>(sp.outer * inner), KOKKOS_LAMBDA(index_t p) {
      const index_t base = (p / inner) * n * inner + p % inner;
      T mx = xv(base);
      for (index_t k = 1; k < n; ++k) mx = xv(base + k * inner) > mx ? xv(base + k * inner) : mx;
      T s = 0;
      for (index_t k = 0; k < n; ++k) {
        const T e = km::exp_nonpositive(xv(base + k * inner) - mx);
        if (!log) yv(base + k * inner) = e;
        s += e;
      }
      const T shift = mx + km::log(s), inv = T(1) / s;
      for (index_t k = 0; k < n; ++k) {
        const index_t j = base + k * inner;
        yv(j) = log ? xv(j) - shift : yv(j) * inv;
      }
    });
  }
  return y;
}

// softmax:     gx += y * (gy - sum(gy * y))
// log_softmax: gx += gy - exp(y) * sum(gy)
template <class T, class Space>
void softmax_rows_backward(const Tensor<T, Space>& y, const Tensor<T, Space>& gy, const Tensor<T, Space>& gx, int axis,
                           bool log, const char* op, const char* label) {
  namespace km = ibq::kmath;
  using member_t = typename team_policy_t<Space>::member_type;
  IBQ_CHECK(y.shape() == gx.shape() && gy.shape() == gx.shape(),
            op << ": output " << y.shape() << " / output gradient " << gy.shape() << " do not match input gradient "
               << gx.shape());
  const int a = normalize_axis(gx.shape(), axis, op);
  const AxisSplit sp = split_axis(gx.shape(), a);
  auto yv = y.view();
  auto gyv = gy.view();
  auto gxv = gx.view();
  const index_t n = sp.n, inner = sp.inner;
  if (inner == 1) {
    Kokkos::parallel_for(label, row_teams<Space>(sp.outer, n, op), KOKKOS_LAMBDA(const member_t& m) {
      const index_t base = index_t(m.league_rank()) * n;
      T s = 0;
      Kokkos::parallel_reduce(
          Kokkos::TeamThreadRange(m, n),
          [&](index_t k, T& acc) { acc += log ? gyv(base + k) : gyv(base + k) * yv(base + k); }, s);
      Kokkos::parallel_for(Kokkos::TeamThreadRange(m, n), [&](index_t k) {
        const index_t j = base + k;
        gxv(j) += log ? gyv(j) - km::exp_nonpositive(yv(j)) * s : yv(j) * (gyv(j) - s);
      });
    });
  } else {
    Kokkos::parallel_for(label, range<Space>(sp.outer * inner), KOKKOS_LAMBDA(index_t p) {
      const index_t base = (p / inner) * n * inner + p % inner;
      T s = 0;
      for (index_t k = 0; k < n; ++k) {
        const index_t j = base + k * inner;
        s += log ? gyv(j) : gyv(j) * yv(j);
      }
      for (index_t k = 0; k < n; ++k) {
        const index_t j = base + k * inner;
        gxv(j) += log ? gyv(j) - km::exp_nonpositive(yv(j)) * s : yv(j) * (gyv(j) - s);
      }
    });
  }
}

// log(sum(exp(x))) of each (outer, inner) row along axis a, flat [outer * inner].
template <class T, class Space>
Tensor<T, Space> logsumexp_rows(const Tensor<T, Space>& x, int a, const char* op, const char* label) {
  namespace km = ibq::kmath;
  using member_t = typename team_policy_t<Space>::member_type;
  const AxisSplit sp = split_axis(x.shape(), a);
  auto lse = Tensor<T, Space>::empty(Shape{sp.outer * sp.inner});
  auto xv = x.view();
  auto lv = lse.view();
  const index_t n = sp.n, inner = sp.inner;
  if (n == 0) {
    Kokkos::deep_copy(lse.view(), -std::numeric_limits<T>::infinity());
    return lse;
  }
  if constexpr (runs_on_host_v<Space>) {
    if (inner == 1) {  // a thread per row, both passes in vector lanes (the logits' rows are contiguous)
      Kokkos::parallel_for(label, range<Space>(sp.outer), KOKKOS_LAMBDA(index_t row) {
        const T* x = &xv(row * n);
        T mx = x[0];
        IBQ_SIMD_REDUCE(max, mx)
        for (index_t k = 0; k < n; ++k) mx = x[k] > mx ? x[k] : mx;
        T s = 0;
        IBQ_SIMD_REDUCE(+, s)
        for (index_t k = 0; k < n; ++k) s += km::exp_nonpositive(x[k] - mx);
        lv(row) = mx + km::log(s);
      });
      return lse;
    }
  }
  if (inner == 1) {
    Kokkos::parallel_for(label, row_teams<Space>(sp.outer, n, op), KOKKOS_LAMBDA(const member_t& m) {
      const index_t row = m.league_rank(), base = row * n;
      const T mx = team_row_max(m, xv, base, n);
      T s = 0;
      Kokkos::parallel_reduce(
          Kokkos::TeamThreadRange(m, n), [&](index_t k, T& acc) { acc += km::exp_nonpositive(xv(base + k) - mx); }, s);
      Kokkos::single(Kokkos::PerTeam(m), [&]() { lv(row) = mx + km::log(s); });
    });
  } else {
    Kokkos::parallel_for(label, range<Space>(sp.outer * inner), KOKKOS_LAMBDA(index_t p) {
      const index_t base = (p / inner) * n * inner + p % inner;
      T mx = xv(base);
      for (index_t k = 1; k < n; ++k) mx = xv(base + k * inner) > mx ? xv(base + k * inner) : mx;
      T s = 0;
      for (index_t k = 0; k < n; ++k) s += km::exp_nonpositive(xv(base + k * inner) - mx);
      lv(p) = mx + km::log(s);
    });
  }
  return lse;
}

// Checks the labels on the host (one small copy) and returns how many rows are not ignored. With
// IdCheck::none only the shapes are checked: every label is taken to lie in [0, C), none ignored.
template <class Space>
index_t check_class_labels(const Shape& logits, const Tensor<std::int32_t, Space>& labels, int ignore_index,
                           const char* op, IdCheck check = IdCheck::host) {
  IBQ_CHECK(logits.rank >= 2, op << ": logits must be [N, C] or [N, C, d1, ...], got " << logits
                                 << "; the class axis is axis 1");
  const Shape want = reduced_shape(logits, 1, false);
  IBQ_CHECK(labels.shape() == want,
            op << ": labels " << labels.shape() << " do not match logits " << logits << "; labels need shape " << want
               << " (the logits without the class axis 1)");
  const index_t c = logits.dims[1];
  IBQ_CHECK(c > 0, op << ": logits " << logits << " have no classes (axis 1 is empty)");
  if (check == IdCheck::none) return labels.size();
  const std::vector<std::int32_t> host = labels.to_host();
  index_t valid = 0;
  for (std::size_t p = 0; p < host.size(); ++p) {
    const std::int32_t l = host[p];
    if (l == ignore_index) continue;
    IBQ_CHECK(l >= 0 && l < c, op << ": label " << l << " at position " << p << " is out of range for C = " << c
                                  << " classes (logits " << logits << "); labels must lie in [0, " << c
                                  << ") or equal ignore_index (" << ignore_index << ")");
    ++valid;
  }
  return valid;
}

}  // namespace detail

template <class T, class Space>
struct CrossEntropyResult {
  Tensor<T, Space> loss;  // [1]
  Tensor<T, Space> lse;   // log-sum-exp of each (n, d...) row over the classes, flat
  index_t valid = 0;      // rows whose label is not ignore_index
};

// ---- kernels ------------------------------------------------------------------------------------------
template <class T, class Space>
Tensor<T, Space> softmax_forward(const Tensor<T, Space>& x, int axis) {
  return detail::softmax_rows(x, detail::normalize_axis(x.shape(), axis, "softmax"), false, "softmax",
                              "ibq::ops::softmax_fwd");
}
template <class T, class Space>
Tensor<T, Space> log_softmax_forward(const Tensor<T, Space>& x, int axis) {
  return detail::softmax_rows(x, detail::normalize_axis(x.shape(), axis, "log_softmax"), true, "log_softmax",
                              "ibq::ops::log_softmax_fwd");
}
// gx += y * (gy - sum(gy * y)) along axis, y = softmax(x)
template <class T, class Space>
void softmax_backward(const Tensor<T, Space>& y, const Tensor<T, Space>& gy, const Tensor<T, Space>& gx, int axis) {
  detail::softmax_rows_backward(y, gy, gx, axis, false, "softmax", "ibq::ops::softmax_bwd");
}
// gx += gy - exp(y) * sum(gy) along axis, y = log_softmax(x)
template <class T, class Space>
void log_softmax_backward(const Tensor<T, Space>& y, const Tensor<T, Space>& gy, const Tensor<T, Space>& gx,
                          int axis) {
  detail::softmax_rows_backward(y, gy, gx, axis, true, "log_softmax", "ibq::ops::log_softmax_bwd");
}

// Mean over non-ignored rows of lse - logits[label], as torch.nn.functional.cross_entropy(reduction="mean").
// Every row ignored gives NaN (0 / 0), as PyTorch does.
template <class T, class Space>
CrossEntropyResult<T, Space> cross_entropy_forward(const Tensor<T, Space>& logits,
                                                   const Tensor<std::int32_t, Space>& labels, int ignore_index = -100,
                                                   IdCheck check = IdCheck::host) {
  const index_t valid = detail::check_class_labels(logits.shape(), labels, ignore_index, "cross_entropy", check);
  const AxisSplit sp = detail::split_axis(logits.shape(), 1);
  CrossEntropyResult<T, Space> r{Tensor<T, Space>::empty(Shape{1}),
                                 detail::logsumexp_rows(logits, 1, "cross_entropy", "ibq::ops::cross_entropy_fwd"),
                                 valid};
  auto xv = logits.view();
  auto lv = r.lse.view();
  auto labv = labels.view();
  const index_t c = sp.n, inner = sp.inner;
  detail::reduce_sum_into(
      "ibq::ops::cross_entropy_fwd", sp.outer * inner,
      KOKKOS_LAMBDA(index_t p, T & s) {
        const std::int32_t l = labv(p);
        if (l != ignore_index) s += lv(p) - xv(((p / inner) * c + l) * inner + p % inner);
      },
      r.loss, T(1) / T(valid));
  return r;
}

// gx[n, c, d] += gy[0] / valid * (softmax(x)[n, c, d] - [c == label[n, d]]) for rows not ignored
template <class T, class Space>
void cross_entropy_backward(const Tensor<T, Space>& logits, const Tensor<std::int32_t, Space>& labels,
                            const Tensor<T, Space>& lse, index_t valid, const Tensor<T, Space>& gy,
                            const Tensor<T, Space>& gx, int ignore_index = -100) {
  namespace km = ibq::kmath;
  IBQ_CHECK(gx.shape() == logits.shape() && gy.size() == 1,
            "cross_entropy: gradient " << gx.shape() << " / output gradient " << gy.shape() << " do not match logits "
                                       << logits.shape() << " and a [1] loss");
  const AxisSplit sp = detail::split_axis(logits.shape(), 1);
  auto xv = logits.view();
  auto labv = labels.view();
  auto lv = lse.view();
  auto gyv = gy.view();
  auto gxv = gx.view();
  const index_t c = sp.n, inner = sp.inner;
  const T inv_valid = T(1) / T(valid);
  if constexpr (detail::runs_on_host_v<Space>) {
    if (inner == 1) {  // a thread per row: no index division per element, and the exponentials vectorise
      Kokkos::parallel_for("ibq::ops::cross_entropy_bwd", range<Space>(sp.outer), KOKKOS_LAMBDA(index_t p) {
        const std::int32_t l = labv(p);
        if (l == ignore_index) return;
        const T g = gyv(0) * inv_valid, lse_p = lv(p);
        const T* x = &xv(p * c);
        T* gr = &gxv(p * c);
        for (index_t k = 0; k < c; ++k) gr[k] += g * km::exp_nonpositive(x[k] - lse_p);
        gr[l] -= g;
      });
      return;
    }
  }
  Kokkos::parallel_for("ibq::ops::cross_entropy_bwd", range<Space>(gx.size()), KOKKOS_LAMBDA(index_t j) {
    const index_t i = j % inner, k = (j / inner) % c, p = (j / (inner * c)) * inner + i;
    const std::int32_t l = labv(p);
    if (l == ignore_index) return;
    gxv(j) += gyv(0) * inv_valid * (km::exp_nonpositive(xv(j) - lv(p)) - (k == l ? T(1) : T(0)));
  });
}

// ---- differentiable wrappers --------------------------------------------------------------------------
template <class T, class Space>
Var<T, Space> softmax(const Var<T, Space>& x, int axis) {
  auto& tape = x.tape();
  auto y = softmax_forward(x.value(), axis);
  return tape.record("softmax", y, {x},
                     [ix = x.id(), sy = tape.save(y), axis](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       auto gx = t.grad_for(ix);
                       if (gx.defined()) softmax_backward(sy.get("softmax"), gy, gx, axis);
                     });
}
template <class T, class Space>
Var<T, Space> log_softmax(const Var<T, Space>& x, int axis) {
  auto& tape = x.tape();
  auto y = log_softmax_forward(x.value(), axis);
  return tape.record("log_softmax", y, {x},
                     [ix = x.id(), sy = tape.save(y), axis](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       auto gx = t.grad_for(ix);
                       if (gx.defined()) log_softmax_backward(sy.get("log_softmax"), gy, gx, axis);
                     });
}

// logits [N, C] (or [N, C, d1, ...] with labels [N, d1, ...]); labels int32 in [0, C) or ignore_index.
// Out-of-range labels throw before any kernel runs. Labels are not differentiable. IdCheck::none: labels
// known to lie in [0, C), none equal to ignore_index (no read to the host).
template <class T, class Space>
Var<T, Space> cross_entropy(const Var<T, Space>& logits, const Tensor<std::int32_t, Space>& labels,
                            int ignore_index = -100, IdCheck check = IdCheck::host) {
  auto& tape = logits.tape();
  auto r = cross_entropy_forward(logits.value(), labels, ignore_index, check);
  return tape.record("cross_entropy", r.loss, {logits},
                     [ix = logits.id(), sx = tape.save(logits.value()), sl = SavedTensor<std::int32_t, Space>(labels),
                      lse = r.lse, valid = r.valid, ignore_index](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       auto gx = t.grad_for(ix);
                       if (gx.defined())
                         cross_entropy_backward(sx.get("cross_entropy"), sl.get("cross_entropy"), lse, valid, gy, gx,
                                                ignore_index);
                     });
}

}  // namespace ibq
