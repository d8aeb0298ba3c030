// ibq/train/flat_math.hpp — the two vector updates trainers apply to flat buffers (gradient weighting
// before an allreduce, adding a side gradient), as free functions: CUDA forbids device lambdas in private
// members of the trainer classes.
#pragma once

#include "ibq/core/tensor.hpp"

namespace ibq {
namespace detail {
// y += a x (a free function: CUDA forbids device lambdas in private members).
template <class T, class Space>
void axpy(T a, const Tensor<T, Space>& x, const Tensor<T, Space>& y) {
  auto xv = x.view();
  auto yv = y.view();
  Kokkos::parallel_for("ibq::train::axpy", range<Space>(x.size()), KOKKOS_LAMBDA(index_t i) { yv(i) += a * xv(i); });
}
// x *= a.
template <class T, class Space>
void scale(const Tensor<T, Space>& x, T a) {
  auto xv = x.view();
  Kokkos::parallel_for("ibq::train::scale", range<Space>(x.size()), KOKKOS_LAMBDA(index_t i) { xv(i) *= a; });
}
}  // namespace detail

}  // namespace ibq
