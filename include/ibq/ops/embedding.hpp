// ibq/ops/embedding.hpp — table lookup: rows of a weight matrix selected by integer indices.
//
//   ibq::Tensor<std::int32_t> tokens({B, T});               // token ids in [0, V)
//   auto h = embedding(wte, tokens);                         // wte [V, D] -> h [B, T, D]
//
// Indices are a plain Tensor (no gradient). They are checked on the host before the lookup, because an
// out-of-range id would read or (in backward) write outside the table. The backward pass scatter-adds
// gy rows into the rows of dweight they came from; repeated ids make this a reduction with an unknown
// fan-in, so it uses atomics rather than a sort.
#pragma once

#include <cstdint>

#include "ibq/autodiff/tape.hpp"

namespace ibq {

namespace detail {
template <class Space>
void check_embedding_indices(const Tensor<std::int32_t, Space>& indices, index_t vocab) {
  const auto host = indices.to_host();
  for (std::size_t i = 0; i < host.size(); ++i)
    IBQ_CHECK(host[i] >= 0 && host[i] < vocab,
              "embedding: index " << host[i] << " (at flat position " << i << " of indices " << indices.shape()
                                  << ") is out of range for a table of V = " << vocab
                                  << " rows; ids must lie in [0, " << vocab << ")");
}
}  // namespace detail

// ---- kernels ------------------------------------------------------------------------------------------
// y[..., d] = weight[indices[...], d]
template <class T, class Space>
Tensor<T, Space> embedding_forward(const Tensor<T, Space>& weight, const Tensor<std::int32_t, Space>& indices) {
  IBQ_CHECK(weight.rank() == 2, "embedding: weight has shape " << weight.shape() << "; it must be a table [V, D]");
  IBQ_CHECK(indices.rank() < Shape::max_rank, "embedding: indices " << indices.shape() << " have rank "
                                                                     << indices.rank() << "; the output adds one axis "
                                                                     << "and the maximum rank is " << Shape::max_rank);
  detail::check_embedding_indices(indices, weight.dim(0));
  Shape out = indices.shape();
  out.dims[out.rank++] = weight.dim(1);
  auto y = Tensor<T, Space>::empty(out);
  auto wv = weight.view();
  auto iv = indices.view();
  auto yv = y.view();
  const index_t D = weight.dim(1);
  Kokkos::parallel_for("ibq::ops::embedding_fwd", range<Space>(y.size()), KOKKOS_LAMBDA(index_t e) {
    yv(e) = wv(index_t(iv(e / D)) * D + e % D);
  });
  return y;
}

// gweight[indices[...], d] += gy[..., d]  (indices already checked by the forward pass)
template <class T, class Space>
void embedding_backward(const Tensor<std::int32_t, Space>& indices, const Tensor<T, Space>& gy,
                        const Tensor<T, Space>& gweight) {
  auto iv = indices.view();
  auto gyv = gy.view();
  auto gwv = gweight.view();
  const index_t D = gweight.dim(1);
  Kokkos::parallel_for("ibq::ops::embedding_bwd", range<Space>(gy.size()), KOKKOS_LAMBDA(index_t e) {
    Kokkos::atomic_add(&gwv(index_t(iv(e / D)) * D + e % D), gyv(e));
  });
}

// ---- differentiable wrapper -----------------------------------------------------------------------------
template <class T, class Space>
Var<T, Space> embedding(const Var<T, Space>& weight, const Tensor<std::int32_t, Space>& indices) {
  auto& tape = weight.tape();
  auto y = embedding_forward(weight.value(), indices);
  return tape.record("embedding", y, {weight},
                     [iw = weight.id(), si = SavedTensor<std::int32_t, Space>(indices)](Tape<T, Space>& t,
                                                                                        const Tensor<T, Space>& gy) {
                       auto gw = t.grad_for(iw);
                       if (gw.defined()) embedding_backward(si.get("embedding"), gy, gw);
                     });
}

}  // namespace ibq
