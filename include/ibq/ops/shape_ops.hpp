// ibq/ops/shape_ops.hpp — reshape, permute/transpose, slice and concat.
//
//   auto t = reshape(x, {n, c * h * w});           // shares storage with x
//   auto y = permute(x, {0, 2, 3, 1});             // NCHW -> NHWC (a contiguous copy)
//   auto k = transpose(q, -2, -1);
//   auto a = slice(x, 1, 0, 3);                    // x[:, 0:3] (a contiguous copy)
//   auto z = concat({a, b, c}, 1);                 // also takes a std::vector<Var>
//
// Every result is contiguous row-major, as every other kernel expects, so permute and slice copy. Each output
// or gradient element is written by exactly one thread: the backward passes are gathers or disjoint scatters.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "ibq/autodiff/tape.hpp"
#include "ibq/ops/reduce.hpp"

namespace ibq {

// Output axis k of a permute reads input axis axes[k].
struct Permutation {
  int axes[Shape::max_rank] = {0, 1, 2, 3, 4};
  int rank = 0;

  Permutation() = default;
  Permutation(const Shape& in, const std::vector<int>& dims, const char* op) : rank(in.rank) {
    IBQ_CHECK(static_cast<int>(dims.size()) == in.rank,
              op << ": " << dims.size() << " axes given for a tensor of shape " << in << "; list each axis once");
    bool seen[Shape::max_rank] = {false, false, false, false, false};
    for (int k = 0; k < rank; ++k) {
      const int a = detail::normalize_axis(in, dims[k], op);
      IBQ_CHECK(!seen[a], op << ": axis " << dims[k] << " appears twice in the permutation of shape " << in);
      seen[a] = true;
      axes[k] = a;
    }
  }
  Permutation inverse() const {
    Permutation p;
    p.rank = rank;
    for (int k = 0; k < rank; ++k) p.axes[axes[k]] = k;
    return p;
  }
  Shape apply(const Shape& in) const {
    Shape out = in;
    for (int k = 0; k < rank; ++k) out.dims[k] = in.dims[axes[k]];
    return out;
  }
  bool identity() const {
    for (int k = 0; k < rank; ++k)
      if (axes[k] != k) return false;
    return true;
  }
};

namespace detail {

// For each output element of a permute, the flat index of the input element it copies. Output axes that
// read consecutive input axes move as one block and are merged (NCHW -> NHWC is a [N, C, HW] transpose),
// which cuts the index arithmetic and lengthens the innermost run.
struct PermuteMap {
  int rank = 0;
  index_t out_dims[Shape::max_rank] = {};
  index_t src_strides[Shape::max_rank] = {};  // input stride of the (merged) input axis behind output axis k

  PermuteMap(const Shape& in, const Permutation& p) {
    index_t strides[Shape::max_rank] = {};
    index_t s = 1;
    for (int k = in.rank - 1; k >= 0; --k) strides[k] = s, s *= in.dims[k];
    int last = -2;
    for (int k = 0; k < p.rank; ++k) {
      const int a = p.axes[k];
      if (a == last + 1) {
        out_dims[rank - 1] *= in.dims[a];
      } else {
        out_dims[rank] = in.dims[a];
        ++rank;
      }
      src_strides[rank - 1] = strides[a];
      last = a;
    }
  }
  index_t last_dim() const { return rank ? out_dims[rank - 1] : 1; }
  index_t last_stride() const { return rank ? src_strides[rank - 1] : 0; }
  KOKKOS_INLINE_FUNCTION index_t src_index(index_t i) const {
    index_t j = 0;
    for (int k = rank - 1; k >= 0; --k) {
      j += (i % out_dims[k]) * src_strides[k];
      i /= out_dims[k];
    }
    return j;
  }
};

// dst[i] (+)= src[map.src_index(i)] over every element of dst. A GPU thread takes one element, so writes
// coalesce; a CPU thread takes a whole output row, paying the index arithmetic once per row.
template <class T, class Space>
void permute_into(const Tensor<T, Space>& src, const Permutation& p, const Tensor<T, Space>& dst, bool accumulate,
                  const char* label) {
  if (dst.size() == 0) return;
  const PermuteMap map(src.shape(), p);
  auto sv = src.view();
  auto dv = dst.view();
  if constexpr (runs_on_host_v<Space>) {
    const index_t len = map.last_dim(), stride = map.last_stride();
    Kokkos::parallel_for(label, range<Space>(dst.size() / len), KOKKOS_LAMBDA(index_t r) {
      const index_t s0 = map.src_index(r * len), d0 = r * len;
      for (index_t k = 0; k < len; ++k) {
        const T v = sv(s0 + k * stride);
        dv(d0 + k) = accumulate ? dv(d0 + k) + v : v;
      }
    });
  } else {
    Kokkos::parallel_for(label, range<Space>(dst.size()), KOKKOS_LAMBDA(index_t i) {
      const T v = sv(map.src_index(i));
      dv(i) = accumulate ? dv(i) + v : v;
    });
  }
}

// Copies a block between two tensors that differ only along one axis, viewed as (outer, n, inner):
// dst[o, dst_offset + k, i] (+)= src[o, src_offset + k, i] for k < count.
template <class T, class Space>
void copy_axis_block(const Tensor<T, Space>& src, index_t src_n, index_t src_offset, const Tensor<T, Space>& dst,
                     index_t dst_n, index_t dst_offset, index_t outer, index_t count, index_t inner, bool accumulate,
                     const char* label) {
  auto sv = src.view();
  auto dv = dst.view();
  // For each o the block is one contiguous run of count * inner elements in both tensors.
  const index_t run = count * inner;
  if (run == 0) return;
  if constexpr (runs_on_host_v<Space>) {
    // A CPU thread copies a chunk of one run: the division is paid per chunk, and the loop vectorises.
    constexpr index_t chunk = 4096;
    const index_t per_run = (run + chunk - 1) / chunk;
    Kokkos::parallel_for(label, range<Space>(outer * per_run), KOKKOS_LAMBDA(index_t q) {
      const index_t o = q / per_run, r0 = (q - o * per_run) * chunk, r1 = r0 + chunk < run ? r0 + chunk : run;
      const index_t s0 = (o * src_n + src_offset) * inner, d0 = (o * dst_n + dst_offset) * inner;
      for (index_t r = r0; r < r1; ++r) dv(d0 + r) = accumulate ? dv(d0 + r) + sv(s0 + r) : sv(s0 + r);
    });
  } else {
    Kokkos::parallel_for(label, range<Space>(outer * run), KOKKOS_LAMBDA(index_t q) {
      const index_t o = q / run, r = q - o * run;
      const T v = sv((o * src_n + src_offset) * inner + r);
      const index_t d = (o * dst_n + dst_offset) * inner + r;
      dv(d) = accumulate ? dv(d) + v : v;
    });
  }
}

inline void slice_bounds(const Shape& s, int axis, index_t& begin, index_t& end, const char* op) {
  const int a = normalize_axis(s, axis, op);
  const index_t n = s.dims[a], b0 = begin, e0 = end;
  if (begin < 0) begin += n;
  if (end < 0) end += n;
  IBQ_CHECK(begin >= 0 && begin <= end && end <= n,
            op << ": range [" << b0 << ", " << e0 << ") is not inside axis " << axis << " (length " << n
               << ") of shape " << s << "; need 0 <= begin <= end <= length (negative values count from the end)");
}

}  // namespace detail

// ---- kernels ------------------------------------------------------------------------------------------
template <class T, class Space>
Tensor<T, Space> reshape_forward(const Tensor<T, Space>& x, const Shape& shape) {
  return x.reshape(shape);
}
// gx += gy, element by element in row-major order
template <class T, class Space>
void reshape_backward(const Tensor<T, Space>& gy, const Tensor<T, Space>& gx) {
  IBQ_CHECK(gy.size() == gx.size(), "reshape: output gradient " << gy.shape() << " does not match input " << gx.shape());
  auto gyv = gy.view();
  auto gxv = gx.view();
  Kokkos::parallel_for("ibq::ops::reshape_bwd", range<Space>(gx.size()), KOKKOS_LAMBDA(index_t i) { gxv(i) += gyv(i); });
}

template <class T, class Space>
Tensor<T, Space> permute_forward(const Tensor<T, Space>& x, const Permutation& p) {
  if (p.identity()) return x.clone();
  auto y = Tensor<T, Space>::empty(p.apply(x.shape()));
  detail::permute_into(x, p, y, false, "ibq::ops::permute_fwd");
  return y;
}
// gx += permute(gy, p^-1)
template <class T, class Space>
void permute_backward(const Tensor<T, Space>& gy, const Permutation& p, const Tensor<T, Space>& gx) {
  IBQ_CHECK(gy.shape() == p.apply(gx.shape()),
            "permute: output gradient " << gy.shape() << " does not match input " << gx.shape() << " permuted");
  detail::permute_into(gy, p.inverse(), gx, true, "ibq::ops::permute_bwd");
}

template <class T, class Space>
Tensor<T, Space> slice_forward(const Tensor<T, Space>& x, int axis, index_t begin, index_t end) {
  detail::slice_bounds(x.shape(), axis, begin, end, "slice");
  const int a = detail::normalize_axis(x.shape(), axis, "slice");
  const AxisSplit sp = detail::split_axis(x.shape(), a);
  Shape out = x.shape();
  out.dims[a] = end - begin;
  auto y = Tensor<T, Space>::empty(out);
  detail::copy_axis_block(x, sp.n, begin, y, end - begin, 0, sp.outer, end - begin, sp.inner, false,
                          "ibq::ops::slice_fwd");
  return y;
}
// gx[..., begin + k, ...] += gy[..., k, ...]
template <class T, class Space>
void slice_backward(const Tensor<T, Space>& gy, int axis, index_t begin, const Tensor<T, Space>& gx) {
  const int a = detail::normalize_axis(gx.shape(), axis, "slice");
  const AxisSplit sp = detail::split_axis(gx.shape(), a);
  if (begin < 0) begin += sp.n;
  const index_t count = gy.rank() == gx.rank() ? gy.shape().dims[a] : -1;
  Shape want = gx.shape();
  want.dims[a] = count;
  IBQ_CHECK(count >= 0 && begin >= 0 && begin + count <= sp.n && gy.shape() == want,
            "slice: output gradient " << gy.shape() << " does not fit input " << gx.shape() << " at offset " << begin
                                      << " of axis " << axis);
  detail::copy_axis_block(gy, count, 0, gx, sp.n, begin, sp.outer, count, sp.inner, true, "ibq::ops::slice_bwd");
}

template <class T, class Space>
Tensor<T, Space> concat_forward(const std::vector<Tensor<T, Space>>& xs, int axis) {
  IBQ_CHECK(!xs.empty(), "concat: no tensors given");
  const Shape& s0 = xs[0].shape();
  const int a = detail::normalize_axis(s0, axis, "concat");
  Shape out = s0;
  out.dims[a] = 0;
  for (std::size_t j = 0; j < xs.size(); ++j) {
    Shape want = xs[j].shape();
    bool ok = want.rank == s0.rank;
    if (ok) want.dims[a] = s0.dims[a];
    IBQ_CHECK(ok && want == s0, "concat: input " << j << " has shape " << xs[j].shape() << " but input 0 has shape "
                                                 << s0 << "; all shapes must match except along axis " << axis);
    out.dims[a] += xs[j].shape().dims[a];
  }
  auto y = Tensor<T, Space>::empty(out);
  const AxisSplit sp = detail::split_axis(out, a);
  index_t offset = 0;
  for (const auto& x : xs) {
    const index_t m = x.shape().dims[a];
    detail::copy_axis_block(x, m, 0, y, sp.n, offset, sp.outer, m, sp.inner, false, "ibq::ops::concat_fwd");
    offset += m;
  }
  return y;
}
// The gradient of the input that starts at `offset` along `axis`: gx += gy[..., offset:offset + len, ...]
template <class T, class Space>
void concat_backward(const Tensor<T, Space>& gy, int axis, index_t offset, const Tensor<T, Space>& gx) {
  const int a = detail::normalize_axis(gy.shape(), axis, "concat");
  const AxisSplit sp = detail::split_axis(gy.shape(), a);
  const index_t count = gx.rank() == gy.rank() ? gx.shape().dims[a] : -1;
  Shape want = gy.shape();
  want.dims[a] = count;
  IBQ_CHECK(count >= 0 && offset >= 0 && offset + count <= sp.n && gx.shape() == want,
            "concat: input gradient " << gx.shape() << " does not fit output " << gy.shape() << " at offset " << offset
                                      << " of axis " << axis);
  detail::copy_axis_block(gy, sp.n, offset, gx, count, 0, sp.outer, count, sp.inner, true, "ibq::ops::concat_bwd");
}

// ---- differentiable wrappers --------------------------------------------------------------------------
template <class T, class Space>
Var<T, Space> reshape(const Var<T, Space>& x, const Shape& shape) {
  auto& tape = x.tape();
  return tape.record("reshape", reshape_forward(x.value(), shape), {x},
                     [ix = x.id(), xs = x.shape()](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       if (t.adopt_grad(ix, gy.reshape(xs))) return;  // no copy when x has no gradient yet
                       auto gx = t.grad_for(ix);
                       if (gx.defined()) reshape_backward(gy, gx);
                     });
}

template <class T, class Space>
Var<T, Space> permute(const Var<T, Space>& x, const std::vector<int>& dims) {
  auto& tape = x.tape();
  const Permutation p(x.shape(), dims, "permute");
  return tape.record("permute", permute_forward(x.value(), p), {x},
                     [ix = x.id(), p](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       auto gx = t.grad_for(ix);
                       if (gx.defined()) permute_backward(gy, p, gx);
                     });
}

// Swaps axes a and b (negative axes count from the end).
template <class T, class Space>
Var<T, Space> transpose(const Var<T, Space>& x, int a, int b) {
  const int ra = detail::normalize_axis(x.shape(), a, "transpose"), rb = detail::normalize_axis(x.shape(), b, "transpose");
  std::vector<int> dims(x.shape().rank);
  for (int k = 0; k < x.shape().rank; ++k) dims[k] = k;
  dims[ra] = rb;
  dims[rb] = ra;
  return permute(x, dims);
}

// x[..., begin:end, ...] along `axis`; negative begin/end count from the end of the axis.
template <class T, class Space>
Var<T, Space> slice(const Var<T, Space>& x, int axis, index_t begin, index_t end) {
  auto& tape = x.tape();
  detail::slice_bounds(x.shape(), axis, begin, end, "slice");
  return tape.record("slice", slice_forward(x.value(), axis, begin, end), {x},
                     [ix = x.id(), axis, begin](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       auto gx = t.grad_for(ix);
                       if (gx.defined()) slice_backward(gy, axis, begin, gx);
                     });
}

template <class T, class Space>
Var<T, Space> concat(const std::vector<Var<T, Space>>& xs, int axis) {
  IBQ_CHECK(!xs.empty(), "concat: no inputs given");
  auto& tape = xs[0].tape();
  std::vector<Tensor<T, Space>> values;
  std::vector<int> ids;
  std::vector<index_t> offsets;
  index_t offset = 0;
  for (const auto& x : xs) {
    IBQ_CHECK(x.defined() && &x.tape() == &tape,
              "concat: inputs come from different tapes; record a step's ops on one tape");
    values.push_back(x.value());
    ids.push_back(x.id());
    offsets.push_back(offset);
    if (x.shape().rank == xs[0].shape().rank) offset += x.shape()[detail::normalize_axis(x.shape(), axis, "concat")];
  }
  return tape.record("concat", concat_forward(values, axis), xs,
                     [ids, offsets, axis](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       for (std::size_t j = 0; j < ids.size(); ++j) {
                         auto gx = t.grad_for(ids[j]);
                         if (gx.defined()) concat_backward(gy, axis, offsets[j], gx);
                       }
                     });
}
template <class T, class Space>
Var<T, Space> concat(std::initializer_list<Var<T, Space>> xs, int axis) {
  return concat(std::vector<Var<T, Space>>(xs), axis);
}

}  // namespace ibq
