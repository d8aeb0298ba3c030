// ibq/ops/broadcast.hpp — NumPy broadcasting index maps for binary ops (rank <= 5, right-aligned).
//
//   Shape out = broadcast_shapes(a.shape(), b.shape(), "add");     // throws naming both shapes
//   BroadcastMap ma(a.shape(), out);  ma.in_index(i)                 // flat index into a for output i
//   ma.out_index(j, m)                                               // the m-th output that reads a[j]
//
// Backward of a broadcast input is a sum over the outputs that read it; out_index lets each input element
// gather that sum itself (no atomics), which is what bias, affine and scale gradients need.
#pragma once

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

struct BroadcastMap {
  int rank = 0;
  index_t out_dims[Shape::max_rank] = {};
  index_t out_strides[Shape::max_rank] = {};
  index_t in_strides[Shape::max_rank] = {};  // 0 on broadcast axes
  index_t in_dims[Shape::max_rank] = {};     // input extent aligned to the output (1 on broadcast axes)
  index_t red_dims[Shape::max_rank] = {};    // output extent on broadcast axes, else 1
  index_t reduce_count = 1;                  // outputs that read each input element
  bool identity = true;                      // input has the output's shape

  BroadcastMap() = default;
  BroadcastMap(const Shape& in, const Shape& out) : rank(out.rank) {
    index_t os = 1, is = 1;
    for (int k = out.rank - 1; k >= 0; --k) {
      const int ik = in.rank - out.rank + k;
      const index_t d = ik >= 0 ? in.dims[ik] : 1;
      out_dims[k] = out.dims[k];
      out_strides[k] = os;
      in_dims[k] = d;
      in_strides[k] = d == 1 ? 0 : is;
      red_dims[k] = d == 1 ? out.dims[k] : 1;
      reduce_count *= red_dims[k];
      os *= out.dims[k];
      is *= d;
      identity = identity && d == out.dims[k];
    }
    identity = identity && in.numel() == out.numel();
  }
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
};

}  // namespace ibq
