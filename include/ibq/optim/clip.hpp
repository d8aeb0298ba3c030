// ibq/optim/clip.hpp — gradient clipping by global L2 norm over the flat gradient buffer.
//
//   double norm = ibq::clip_grad_norm(store, 1.0);    // the AR model's clip; returns the norm before clipping
//   auto n = ibq::clip_grad_norm_device(store, 1.0);  // the same, the norm left on the device (a [1] tensor)
//
// As torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) only when norm > max_norm. A
// non-finite norm is reported to the caller (who should stop: the step would write NaN into the weights).
#pragma once

#include "ibq/core/kokkos_compat.hpp"
#include <cmath>

#include "ibq/nn/param_store.hpp"

namespace ibq {

// |g| into a [1] device tensor (double), reduced where g lives.
template <class T, class Space>
Tensor<double, Space> global_norm_device(const Tensor<T, Space>& g) {
  auto gv = g.view();
  Tensor<double, Space> norm = Tensor<double, Space>::empty(Shape{1}, "ibq::optim::global_norm");
  Kokkos::View<double, Space> sq(norm.data());
  Kokkos::parallel_reduce(
      "ibq::optim::global_norm", range<Space>(g.size()),
      KOKKOS_LAMBDA(index_t i, double& acc) { acc += double(gv(i)) * double(gv(i)); }, Kokkos::Sum<double, Space>(sq));
  auto nv = norm.view();
  Kokkos::parallel_for("ibq::optim::global_norm_sqrt", range<Space>(1),
                       KOKKOS_LAMBDA(index_t) { nv(0) = ibq::kmath::sqrt(nv(0)); });
  return norm;
}
template <class T, class Space>
double global_norm(const Tensor<T, Space>& g) {
  return global_norm_device(g).item();
}

// The clip decided and applied on the device (no read to the host in a training step); returns the norm
// before clipping as a [1] tensor. A non-finite norm leaves the gradients as they are.
template <class T, class Space>
Tensor<double, Space> clip_grad_norm_device(ParamStore<T, Space>& store, double max_norm) {
  const auto norm = global_norm_device(store.flat_grads());
  auto gv = store.flat_grads().view();
  auto nv = norm.view();
  Kokkos::parallel_for("ibq::optim::clip", range<Space>(store.flat_grads().size()), KOKKOS_LAMBDA(index_t i) {
    const double n = nv(0);
    if (ibq::kmath::isfinite(n) && n > max_norm) gv(i) *= T(max_norm / (n + 1e-6));
  });
  return norm;
}
template <class T, class Space>
double clip_grad_norm(ParamStore<T, Space>& store, double max_norm) {
  return clip_grad_norm_device(store, max_norm).item();
}

}  // namespace ibq
