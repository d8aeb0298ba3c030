// ibq/ops/rope.hpp — rotary position embedding (RoPE), with the 2-D table of LlamaGen / IBQ's AR model.
//
//   auto table = rope_table_2d<float>(16, 64, 10000.0, /*prefix=*/1);   // [1 + 16*16, 32] cos and sin
//   auto q = rope(q_btd, table);                 // q [B, T, H, Dh]: position t uses table row t
//   auto k1 = rope(k_new, table, /*start=*/p);   // KV-cache step: rows p .. p + T - 1
//
// Pairs (2j, 2j+1) of the head dimension rotate by the angle of their row: (x0 cos - x1 sin, x1 cos + x0 sin).
// The 2-D table gives a token at grid (r, c) the angles r theta_j on the first half of the pairs and
// c theta_j on the second, theta_j = base^(-j / (Dh/4)); `prefix` rows of cos = sin = 0 come first, for
// the class token(s), whose rotated q and k are therefore exactly zero (the reference's behaviour).
// The rotation is orthogonal, so the backward rotates the gradient by -angle. The table is a constant
// (no gradient); it holds cos in [.., 2j] and sin in [.., 2j+1].
#pragma once

#include <cmath>
#include <vector>

#include "ibq/autodiff/tape.hpp"

namespace ibq {

// Rows: `prefix` zero rows, then the grid x grid positions in raster order. Columns: Dh/2 (cos, sin) pairs.
template <class T, class Space = DefaultSpace>
Tensor<T, Space> rope_table_2d(index_t grid, index_t head_dim, double base, index_t prefix) {
  IBQ_CHECK(head_dim > 0 && head_dim % 4 == 0, "rope_table_2d: head_dim must be a positive multiple of 4 (two "
                                               "halves of rotary pairs), got " << head_dim);
  IBQ_CHECK(grid >= 1 && prefix >= 0, "rope_table_2d: grid must be >= 1 and prefix >= 0, got grid " << grid
                                                                                                     << ", prefix "
                                                                                                     << prefix);
  const index_t pairs = head_dim / 2, quarter = head_dim / 4, rows = prefix + grid * grid;
  std::vector<T> v(std::size_t(rows * pairs * 2), T(0));
  for (index_t p = 0; p < grid * grid; ++p) {
    const index_t r = p / grid, c = p % grid;
    for (index_t j = 0; j < pairs; ++j) {
      // theta_j in double: the reference builds the table in float32 from torch.arange, so tables agree
      // to float rounding (the fixtures carry the reference's own table to test against).
      const double theta = std::pow(base, -double(j % quarter) / double(quarter));
      const double angle = double(j < quarter ? r : c) * theta;
      const std::size_t at = std::size_t(((prefix + p) * pairs + j) * 2);
      v[at] = T(std::cos(angle));
      v[at + 1] = T(std::sin(angle));
    }
  }
  return Tensor<T, Space>::from_host(Shape{rows, pairs, 2}, v);
}

namespace detail {
inline void check_rope(const Shape& x, const Shape& table, index_t start, const char* op) {
  IBQ_CHECK(x.rank == 4, op << ": expects x [B, T, H, Dh], got " << x);
  IBQ_CHECK(table.rank == 3 && table.dims[2] == 2 && 2 * table.dims[1] == x.dims[3],
            op << ": table " << table << " does not match x " << x << "; expected [rows, " << x.dims[3] / 2
               << ", 2] (cos, sin per rotary pair)");
  IBQ_CHECK(start >= 0 && start + x.dims[1] <= table.dims[0],
            op << ": positions " << start << " .. " << start + x.dims[1] - 1 << " are outside the table's "
               << table.dims[0] << " rows");
}

// y = R(angle) x (sign = +1) or R(-angle) x (sign = -1, the backward), added onto y when accumulate.
template <class T, class Space>
void rope_apply(const Tensor<T, Space>& x, const Tensor<T, Space>& table, index_t start, T sign, bool accumulate,
                const Tensor<T, Space>& y) {
  const index_t T_ = x.dim(1), H = x.dim(2), pairs = x.dim(3) / 2;
  auto xv = x.view();
  auto yv = y.view();
  auto tv = table.view();
  // A row is one (b, t, h): its pairs share the table row start + t.
  parallel_for_2d<Space>("ibq::ops::rope", x.dim(0) * T_ * H, pairs, KOKKOS_LAMBDA(index_t row, index_t j) {
    const index_t t = (row / H) % T_;
    const T c = tv(((start + t) * pairs + j) * 2), s = sign * tv(((start + t) * pairs + j) * 2 + 1);
    const index_t i = (row * pairs + j) * 2;
    const T x0 = xv(i), x1 = xv(i + 1);
    const T y0 = x0 * c - x1 * s, y1 = x1 * c + x0 * s;
    if (accumulate) {
      yv(i) += y0;
      yv(i + 1) += y1;
    } else {
      yv(i) = y0;
      yv(i + 1) = y1;
    }
  });
}
}  // namespace detail

template <class T, class Space>
Tensor<T, Space> rope_forward(const Tensor<T, Space>& x, const Tensor<T, Space>& table, index_t start = 0) {
  detail::check_rope(x.shape(), table.shape(), start, "rope");
  auto y = Tensor<T, Space>::empty(x.shape());
  detail::rope_apply(x, table, start, T(1), false, y);
  return y;
}

// gx += R(-angle) gy.
template <class T, class Space>
void rope_backward(const Tensor<T, Space>& gy, const Tensor<T, Space>& table, index_t start,
                   const Tensor<T, Space>& gx) {
  detail::check_rope(gy.shape(), table.shape(), start, "rope backward");
  IBQ_CHECK(gx.shape() == gy.shape(), "rope backward: gradient " << gx.shape() << " does not match " << gy.shape());
  detail::rope_apply(gy, table, start, T(-1), true, gx);
}

template <class T, class Space>
Var<T, Space> rope(const Var<T, Space>& x, const Tensor<T, Space>& table, index_t start = 0) {
  auto& tape = x.tape();
  auto y = rope_forward(x.value(), table, start);
  return tape.record("rope", y, {x}, [ix = x.id(), table, start](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
    auto gx = t.grad_for(ix);
    if (gx.defined()) rope_backward(gy, table, start, gx);
  });
}

}  // namespace ibq
