// ibq/ops/losses.hpp — elementwise regression losses, averaged over every element to shape [1].
//
//   auto rec = l1_loss(x_hat, x);        // mean |x_hat - x|
//   auto l2 = mse_loss(x_hat, x);        // mean (x_hat - x)^2
//
// Both inputs are differentiable (a target that needs no gradient simply gets none). Shapes must match
// exactly: silently broadcasting a [N, C, H, W] reconstruction against a [N, 1, H, W] target is a bug.
// The sum reduces straight into the [1] output on the device, so a training loop never waits on it.
#pragma once

#include "ibq/autodiff/tape.hpp"
#include "ibq/ops/reduce.hpp"

namespace ibq {

namespace detail {

inline void check_same_shape(const Shape& a, const Shape& b, const char* op) {
  IBQ_CHECK(a == b, op << ": input shapes differ: " << a << " vs " << b
                       << "; the loss compares element by element, so reshape or expand one of them first");
}

// ga += gy[0] * scale * d(a - b),  gb -= the same, where d is sign (l1) or 2 (a - b) (mse)
template <class T, class Space>
void elementwise_loss_backward(bool squared, const Tensor<T, Space>& a, const Tensor<T, Space>& b,
                               const Tensor<T, Space>& gy, const Tensor<T, Space>& ga, const Tensor<T, Space>& gb,
                               const char* op, const char* label) {
  check_same_shape(a.shape(), b.shape(), op);
  const bool wa = ga.defined(), wb = gb.defined();
  IBQ_CHECK((!wa || ga.shape() == a.shape()) && (!wb || gb.shape() == b.shape()) && gy.size() == 1,
            op << ": gradient shapes " << ga.shape() << " / " << gb.shape() << " do not match inputs " << a.shape());
  auto av = a.view();
  auto bv = b.view();
  auto gyv = gy.view();
  auto gav = ga.view();
  auto gbv = gb.view();
  const T scale = T(1) / T(a.size());
  Kokkos::parallel_for(label, range<Space>(a.size()), KOKKOS_LAMBDA(index_t i) {
    const T d = av(i) - bv(i);
    const T dd = squared ? T(2) * d : (d > T(0) ? T(1) : (d < T(0) ? T(-1) : T(0)));  // sign(0) = 0, as PyTorch
    const T g = gyv(0) * scale * dd;
    if (wa) gav(i) += g;
    if (wb) gbv(i) -= g;
  });
}

}  // namespace detail

// ---- kernels ------------------------------------------------------------------------------------------
// mean |a - b| (squared = false) or mean (a - b)^2 (squared = true), into a new [1] tensor on the device.
template <class T, class Space>
Tensor<T, Space> distance_loss_forward(const Tensor<T, Space>& a, const Tensor<T, Space>& b, bool squared,
                                       const char* op) {
  detail::check_same_shape(a.shape(), b.shape(), op);
  auto y = Tensor<T, Space>::empty(Shape{1});
  auto av = a.view();
  auto bv = b.view();
  detail::reduce_sum_into(
      squared ? "ibq::ops::mse_loss_fwd" : "ibq::ops::l1_loss_fwd", a.size(),
      KOKKOS_LAMBDA(index_t i, T & s) {
        const T d = av(i) - bv(i);
        s += squared ? d * d : (d < T(0) ? -d : d);
      },
      y, T(1) / T(a.size()));
  return y;
}
template <class T, class Space>
Tensor<T, Space> l1_loss_forward(const Tensor<T, Space>& a, const Tensor<T, Space>& b) {
  return distance_loss_forward(a, b, false, "l1_loss");
}
template <class T, class Space>
Tensor<T, Space> mse_loss_forward(const Tensor<T, Space>& a, const Tensor<T, Space>& b) {
  return distance_loss_forward(a, b, true, "mse_loss");
}
// ga += gy[0] sign(a - b) / numel, gb -= the same; pass an undefined Tensor for a gradient not wanted
template <class T, class Space>
void l1_loss_backward(const Tensor<T, Space>& a, const Tensor<T, Space>& b, const Tensor<T, Space>& gy,
                      const Tensor<T, Space>& ga, const Tensor<T, Space>& gb) {
  detail::elementwise_loss_backward(false, a, b, gy, ga, gb, "l1_loss", "ibq::ops::l1_loss_bwd");
}
// ga += gy[0] 2 (a - b) / numel, gb -= the same
template <class T, class Space>
void mse_loss_backward(const Tensor<T, Space>& a, const Tensor<T, Space>& b, const Tensor<T, Space>& gy,
                       const Tensor<T, Space>& ga, const Tensor<T, Space>& gb) {
  detail::elementwise_loss_backward(true, a, b, gy, ga, gb, "mse_loss", "ibq::ops::mse_loss_bwd");
}

// ---- differentiable wrappers --------------------------------------------------------------------------
template <class T, class Space>
Var<T, Space> l1_loss(const Var<T, Space>& a, const Var<T, Space>& b) {
  auto& tape = a.tape();
  return tape.record("l1_loss", l1_loss_forward(a.value(), b.value()), {a, b},
                     [ia = a.id(), ib = b.id(), sa = tape.save(a.value()), sb = tape.save(b.value())](
                         Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       l1_loss_backward(sa.get("l1_loss"), sb.get("l1_loss"), gy, t.grad_for(ia), t.grad_for(ib));
                     });
}
template <class T, class Space>
Var<T, Space> mse_loss(const Var<T, Space>& a, const Var<T, Space>& b) {
  auto& tape = a.tape();
  return tape.record("mse_loss", mse_loss_forward(a.value(), b.value()), {a, b},
                     [ia = a.id(), ib = b.id(), sa = tape.save(a.value()), sb = tape.save(b.value())](
                         Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       mse_loss_backward(sa.get("mse_loss"), sb.get("mse_loss"), gy, t.grad_for(ia), t.grad_for(ib));
                     });
}

}  // namespace ibq
