// ibq/ops/embedding.hpp — table lookup: rows of a weight matrix selected by integer indices.
//
//   ibq::Tensor<std::int32_t> tokens({B, T});               // token ids in [0, V)
//   auto h = embedding(wte, tokens);                         // wte [V, D] -> h [B, T, D]
//
// Indices are a plain Tensor (no gradient). They are checked on the host before the lookup, because an
// out-of-range id would read or (in backward) write outside the table; ids the library computed itself
// (an argmax over the table's rows) may skip the check with IdCheck::none, which saves a device-to-host
// copy in every training step. The backward pass scatter-adds gy rows into the rows of dweight they came
// from; repeated ids make this a reduction with an unknown fan-in, summed after a sort (deterministic).
#pragma once

#include <Kokkos_Sort.hpp>

#include <cstdint>

#include "ibq/autodiff/tape.hpp"
#include "ibq/ops/id_check.hpp"

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
Tensor<T, Space> embedding_forward(const Tensor<T, Space>& weight, const Tensor<std::int32_t, Space>& indices,
                                   IdCheck check = IdCheck::host) {
  IBQ_CHECK(weight.rank() == 2, "embedding: weight has shape " << weight.shape() << "; it must be a table [V, D]");
  IBQ_CHECK(indices.rank() < Shape::max_rank, "embedding: indices " << indices.shape() << " have rank "
                                                                     << indices.rank() << "; the output adds one axis "
                                                                     << "and the maximum rank is " << Shape::max_rank);
  if (check == IdCheck::host) detail::check_embedding_indices(indices, weight.dim(0));
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
//
// Deterministic: rows that pick the same code are summed in position order by one thread, so a training
// run gives bitwise the same result every time (atomic adds would sum in whatever order threads arrive,
// and exact resume could not be tested). The positions are grouped by code by sorting the unique keys
// code * n + position; every thread that starts a run of equal codes sums that run.
template <class T, class Space>
void embedding_backward(const Tensor<std::int32_t, Space>& indices, const Tensor<T, Space>& gy,
                        const Tensor<T, Space>& gweight) {
  const index_t n = indices.size();
  if (n == 0) return;
  auto iv = indices.view();
  auto gyv = gy.view();
  auto gwv = gweight.view();
  const index_t D = gweight.dim(1);
  Kokkos::View<std::int64_t*, Space> keys(Kokkos::view_alloc(Kokkos::WithoutInitializing, "ibq::embedding.keys"), n);
  Kokkos::parallel_for("ibq::ops::embedding_bwd_keys", range<Space>(n),
                       KOKKOS_LAMBDA(index_t i) { keys(i) = std::int64_t(iv(i)) * n + i; });
  Kokkos::sort(keys);
  Kokkos::parallel_for("ibq::ops::embedding_bwd", range<Space>(n), KOKKOS_LAMBDA(index_t j) {
    const std::int64_t code = keys(j) / n;
    if (j > 0 && keys(j - 1) / n == code) return;  // not the start of a run of equal codes
    index_t end = j + 1;
    while (end < n && keys(end) / n == code) ++end;
    for (index_t d = 0; d < D; ++d) {
      T acc = 0;
      for (index_t r = j; r < end; ++r) acc += gyv(index_t(keys(r) % n) * D + d);
      gwv(index_t(code) * D + d) += acc;
    }
  });
}

// ---- differentiable wrapper -----------------------------------------------------------------------------
template <class T, class Space>
Var<T, Space> embedding(const Var<T, Space>& weight, const Tensor<std::int32_t, Space>& indices,
                        IdCheck check = IdCheck::host) {
  auto& tape = weight.tape();
  auto y = embedding_forward(weight.value(), indices, check);
  return tape.record("embedding", y, {weight},
                     [iw = weight.id(), si = SavedTensor<std::int32_t, Space>(indices)](Tape<T, Space>& t,
                                                                                        const Tensor<T, Space>& gy) {
                       auto gw = t.grad_for(iw);
                       if (gw.defined()) embedding_backward(si.get("embedding"), gy, gw);
                     });
}

}  // namespace ibq
