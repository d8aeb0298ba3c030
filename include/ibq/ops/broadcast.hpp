// ibq/ops/broadcast.hpp — NumPy broadcasting index maps for binary ops (rank <= 5, right-aligned).
//
//   Shape out = broadcast_shapes(a.shape(), b.shape(), "add");     // throws naming both shapes
//   BroadcastMap ma(a.shape(), out);  ma.in_index(i)                 // flat index into a for output i
//   ma.out_index(j, m)                                               // the m-th output that reads a[j]
//
// Backward of a broadcast input is a sum over the outputs that read it; out_index lets each input element
// gather that sum itself (no atomics), which is what bias, affine and scale gradients need.
#pragma once

#include "ibq/core/config.hpp"
#include "ibq/core/shape.hpp"

namespace ibq {

inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  Shape out;
  out.rank = a.rank > b.rank ? a.rank : b.rank;
  for (int k = 0; k < out.rank; ++k) {
    const int ia = a.rank - out.rank + k, ib = b.rank - out.rank + k;
    const index_t da = ia >= 0 ? a.dims[ia] : 1, db = ib >= 0 ? b.dims[ib] : 1;
    IBQ_CHECK(da == db || da == 1 || db == 1,
              op << ": shapes " << a << " and " << b << " cannot be broadcast (axis " << k << ": " << da << " vs " << db << ")");
    out.dims[k] = da == 1 ? db : da;
  }
  return out;
}

// The map works on the output's axes collapsed as far as the input allows: output axes of extent 1 are
// dropped, and neighbouring axes merge when the input keeps both or broadcasts both. [B, T, C] against
// [B, 1, C] stays three axes; [B, T, C] against [C] becomes two; identical shapes become one. Every
// division in in_index/out_index is per collapsed axis, so this is what makes broadcasting cheap.
struct BroadcastMap {
  int rank = 0;                              // collapsed axes
  index_t out_dims[Shape::max_rank] = {};
  index_t out_strides[Shape::max_rank] = {};
  index_t in_strides[Shape::max_rank] = {};  // 0 on broadcast axes
  index_t in_dims[Shape::max_rank] = {};     // input extent aligned to the output (1 on broadcast axes)
  index_t red_dims[Shape::max_rank] = {};    // output extent on broadcast axes, else 1
  index_t reduce_count = 1;                  // outputs that read each input element
  index_t red_stride = 0;                    // with one broadcast axis: its output stride
  bool single_red = false;                   // exactly one broadcast axis (after collapsing)
  bool identity = true;                      // input has the output's shape

  BroadcastMap() = default;
  BroadcastMap(const Shape& in, const Shape& out) {
    // Aligned extents, right to left, without the output's unit axes; then merge runs of one kind.
    index_t od[Shape::max_rank], id[Shape::max_rank];
    int n = 0;
    for (int k = out.rank - 1; k >= 0; --k) {
      const int ik = in.rank - out.rank + k;
      const index_t d = ik >= 0 ? in.dims[ik] : 1;
      if (out.dims[k] == 1) continue;
      const bool bcast = d == 1;
      if (n > 0 && (id[n - 1] == 1) == bcast) {  // same kind as the axis to its right: merge
        od[n - 1] *= out.dims[k];
        id[n - 1] *= d;
      } else {
        od[n] = out.dims[k];
        id[n] = d;
        ++n;
      }
    }
    rank = n;
    index_t os = 1, is = 1;
    int reduced = 0;
    for (int r = 0; r < n; ++r) {  // r = 0 is the innermost axis; stored left to right as before
      const int k = n - 1 - r;
      out_dims[k] = od[r];
      out_strides[k] = os;
      in_dims[k] = id[r];
      in_strides[k] = id[r] == 1 ? 0 : is;
      red_dims[k] = id[r] == 1 ? od[r] : 1;
      if (id[r] == 1) {
        ++reduced;
        red_stride = os;
      }
      reduce_count *= red_dims[k];
      os *= od[r];
      is *= id[r];
    }
    single_red = reduced == 1;
    identity = reduced == 0 && in.numel() == out.numel();
  }
  // The innermost collapsed axis: along it, consecutive outputs read inputs inner_stride() apart (1 or 0).
  index_t inner() const { return rank > 0 ? out_dims[rank - 1] : 1; }
  KOKKOS_INLINE_FUNCTION index_t inner_stride() const { return rank > 0 ? in_strides[rank - 1] : 0; }
  KOKKOS_INLINE_FUNCTION index_t in_index(index_t i) const {
    if (identity) return i;
    index_t j = 0;
    for (int k = rank - 1; k >= 0; --k) {
      const index_t c = i % out_dims[k];
      i /= out_dims[k];
      j += c * in_strides[k];
    }
    return j;
  }
  // The output index of the m-th output that reads input element j: out_index(j, 0) + red_offset(m).
  KOKKOS_INLINE_FUNCTION index_t out_index(index_t j, index_t m) const {
    index_t i = 0;
    for (int k = rank - 1; k >= 0; --k) {
      const index_t cj = j % in_dims[k], cm = m % red_dims[k];
      j /= in_dims[k];
      m /= red_dims[k];
      i += (cj + cm) * out_strides[k];
    }
    return i;
  }
  KOKKOS_INLINE_FUNCTION index_t red_offset(index_t m) const {
    if (single_red) return m * red_stride;
    index_t i = 0;
    for (int k = rank - 1; k >= 0; --k) {
      const index_t cm = m % red_dims[k];
      m /= red_dims[k];
      i += cm * out_strides[k];
    }
    return i;
  }
};

// f(i0, len) over [0, n) in runs [i0, i0 + len) that never cross a multiple of `inner` (the smaller
// inner() of the maps involved, which divides the other), so a run maps to each input as in_index(i0) +
// k * inner_stride(). On the host runs are up to 1024 long and the index arithmetic is paid once a run; on
// a device every thread takes one element (len = 1), which keeps the accesses coalesced.
template <class Space, class F>
void parallel_for_runs(const char* name, index_t n, index_t inner, const F& f) {
  if constexpr (host_accessible_v<Space>) {
    constexpr index_t max_run = 1024;
    const index_t per_row = (inner + max_run - 1) / max_run, rows = inner > 0 ? n / inner : 0;
    Kokkos::parallel_for(name, range<Space>(rows * per_row), KOKKOS_LAMBDA(index_t t) {
      const index_t row = t / per_row, part = t % per_row, start = part * max_run;
      f(row * inner + start, inner - start < max_run ? inner - start : max_run);
    });
  } else {
    Kokkos::parallel_for(name, range<Space>(n), KOKKOS_LAMBDA(index_t i) { f(i, index_t(1)); });
  }
}

}  // namespace ibq
