// ibq/train/flat_math.hpp — the small vector updates trainers apply to flat buffers (gradient weighting
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
// y += (a w[0]) x, the factor w a [1] tensor on the device (the adaptive GAN weight): no read to the host.
template <class T, class Space>
void axpy(T a, const Tensor<T, Space>& w, const Tensor<T, Space>& x, const Tensor<T, Space>& y) {
  auto wv = w.view();
  auto xv = x.view();
  auto yv = y.view();
  Kokkos::parallel_for("ibq::train::axpy_w", range<Space>(x.size()), KOKKOS_LAMBDA(index_t i) { yv(i) += a * wv(0) * xv(i); });
}
// [a[0], b[0]] from two [1] tensors, on the device.
template <class T, class Space>
Tensor<T, Space> pack2(const Tensor<T, Space>& a, const Tensor<T, Space>& b) {
  auto y = Tensor<T, Space>::empty(Shape{2});
  auto av = a.view();
  auto bv = b.view();
  auto yv = y.view();
  Kokkos::parallel_for("ibq::train::pack2", range<Space>(1), KOKKOS_LAMBDA(index_t) {
    yv(0) = av(0);
    yv(1) = bv(0);
  });
  return y;
}
// x *= a.
template <class T, class Space>
void scale(const Tensor<T, Space>& x, T a) {
  auto xv = x.view();
  Kokkos::parallel_for("ibq::train::scale", range<Space>(x.size()), KOKKOS_LAMBDA(index_t i) { xv(i) *= a; });
}
}  // namespace detail

}  // namespace ibq
