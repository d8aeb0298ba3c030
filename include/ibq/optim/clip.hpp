// ibq/optim/clip.hpp — gradient clipping by global L2 norm over the flat gradient buffer.
//
//   double norm = ibq::clip_grad_norm(store, 1.0);    // the AR model's clip; returns the norm before clipping
//
// As torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) only when norm > max_norm. A
// non-finite norm is reported to the caller (who should stop: the step would write NaN into the weights).
#pragma once

#include <cmath>

#include "ibq/nn/param_store.hpp"

namespace ibq {

template <class T, class Space>
double global_norm(const Tensor<T, Space>& g) {
  auto gv = g.view();
  double sq = 0;
  Kokkos::parallel_reduce(
      "ibq::optim::global_norm", range<Space>(g.size()),
      KOKKOS_LAMBDA(index_t i, double& acc) { acc += double(gv(i)) * double(gv(i)); }, sq);
  return std::sqrt(sq);
}

template <class T, class Space>
void scale_inplace(const Tensor<T, Space>& g, double factor) {
  auto gv = g.view();
  const T f = T(factor);
  Kokkos::parallel_for("ibq::optim::scale", range<Space>(g.size()), KOKKOS_LAMBDA(index_t i) { gv(i) *= f; });
}

template <class T, class Space>
double clip_grad_norm(ParamStore<T, Space>& store, double max_norm) {
  const double norm = global_norm(store.flat_grads());
  if (std::isfinite(norm) && norm > max_norm) scale_inplace(store.flat_grads(), max_norm / (norm + 1e-6));
  return norm;
}

}  // namespace ibq
