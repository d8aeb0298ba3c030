// ibq/gan/losses.hpp — the adversarial terms of the reference (docs/math.md).
//
//   auto l_d = hinge_d_loss(disc(x), disc(stop_gradient(x_hat)));        // or vanilla_d_loss
//   l_d = l_d + 0.05 * lecam_loss(real_logits, fake_logits, anchors);    // anchors.update(means) first
//   auto l_g = generator_loss(disc(x_hat));                              // non-saturating, per-image mean
//   double w = adaptive_generator_weight(g_nll, g_gan, 0.4);             // optional (the reference: off)
//
//   hinge:       L_D = 1/2 (mean relu(1 - D(x)) + mean relu(1 + D(x_hat)))
//   vanilla:     L_D = 1/2 (mean softplus(-D(x)) + mean softplus(D(x_hat)))
//   generator:   L_G = mean_b softplus(-l_b),  l_b = mean over the patches of image b
//   LeCam:       R = mean relu(D(x) - f)^2 + mean relu(r - D(x_hat))^2, r, f: EMAs (decay 0.999, from 0)
//                of the mean real / fake logits, updated with this batch before R is computed
//   adaptive:    w = clamp(|grad_W nll| / (|grad_W L_G| + 1e-4), 0, 1e4) * disc_weight, W the decoder's
//                last conv weight
#pragma once

#include <algorithm>
#include <cmath>
#include <string>

#include "ibq/ops/binary.hpp"
#include "ibq/ops/reduce.hpp"
#include "ibq/ops/shape_ops.hpp"
#include "ibq/ops/unary.hpp"
#include "ibq/optim/clip.hpp"

namespace ibq {

namespace detail {
// y <- decay y + (1 - decay) x, elementwise on the device (y in double).
template <class T, class Space>
void ema_update(const Tensor<double, Space>& y, const Tensor<T, Space>& x, double decay) {
  auto yv = y.view();
  auto xv = x.view();
  Kokkos::parallel_for("ibq::gan::ema_update", range<Space>(y.size()),
                       KOKKOS_LAMBDA(index_t i) { yv(i) = decay * yv(i) + (1 - decay) * double(xv(i)); });
}
template <class T, class U, class Space>
Tensor<T, Space> cast_to(const Tensor<U, Space>& x) {
  auto y = Tensor<T, Space>::empty(x.shape());
  auto xv = x.view();
  auto yv = y.view();
  Kokkos::parallel_for("ibq::gan::cast", range<Space>(x.size()), KOKKOS_LAMBDA(index_t i) { yv(i) = T(xv(i)); });
  return y;
}
// w[0] <- clamp(|a| / (|b| + 1e-4), 0, 1e4) * scale, the norms (optim/clip.hpp's, in double) on the device.
template <class T, class Space>
void clamped_norm_ratio(const Tensor<T, Space>& a, const Tensor<T, Space>& b, double scale, const Tensor<T, Space>& w) {
  auto na = global_norm_device(a).view();
  auto nb = global_norm_device(b).view();
  auto wv = w.view();
  Kokkos::parallel_for("ibq::gan::norm_ratio", range<Space>(1), KOKKOS_LAMBDA(index_t) {
    const double r = na(0) / (nb(0) + 1e-4);
    wv(0) = T((r < 0 ? 0 : (r > 1e4 ? 1e4 : r)) * scale);
  });
}
}  // namespace detail

enum class DiscLoss { hinge, vanilla };

inline DiscLoss parse_disc_loss(const std::string& s) {
  if (s == "hinge") return DiscLoss::hinge;
  if (s == "vanilla" || s == "non-saturating") return DiscLoss::vanilla;
  IBQ_THROW("loss.disc_loss = '" << s << "' is not a discriminator loss; use hinge (the reference) or vanilla");
}

template <class T, class Space>
Var<T, Space> hinge_d_loss(const Var<T, Space>& real, const Var<T, Space>& fake) {
  return 0.5 * (mean(relu(1.0 - real)) + mean(relu(fake + 1.0)));
}

template <class T, class Space>
Var<T, Space> vanilla_d_loss(const Var<T, Space>& real, const Var<T, Space>& fake) {
  return 0.5 * (mean(softplus(-real)) + mean(softplus(fake)));
}

template <class T, class Space>
Var<T, Space> disc_loss(DiscLoss kind, const Var<T, Space>& real, const Var<T, Space>& fake) {
  return kind == DiscLoss::hinge ? hinge_d_loss(real, fake) : vanilla_d_loss(real, fake);
}

// Non-saturating generator loss on the per-image mean patch logit (logits [N, ...]).
template <class T, class Space>
Var<T, Space> generator_loss(const Var<T, Space>& fake) {
  const index_t n = fake.shape()[0];
  IBQ_CHECK(fake.shape().rank >= 1 && n > 0, "generator_loss: logits " << fake.shape() << " need a batch axis");
  return mean(softplus(-mean(reshape(fake, {n, fake.size() / n}), 1)));
}

// The LeCam anchors: EMAs of the mean real and fake logits, in double as the reference's Python floats (per
// process as in the reference, saved with checkpoints so a resumed run continues them). They live on the
// device, (real, fake) in one [2] tensor, so that a training step moves them without a read to the host.
template <class Space = DefaultSpace>
struct LecamAnchors {
  Tensor<double, Space> ema{Shape{2}, "ibq::lecam_anchors"};  // from 0, as the reference
  double decay = 0.999;
  // ema <- decay ema + (1 - decay) means, means = [mean real logit, mean fake logit] on the device.
  template <class T>
  void update(const Tensor<T, Space>& means) const {
    IBQ_CHECK(means.size() == 2, "LecamAnchors::update: means " << means.shape() << " must hold (real, fake)");
    detail::ema_update(ema, means, decay);
  }
  void set(double real, double fake) const { ema.copy_from_(Tensor<double, Space>::from_host({2}, {real, fake})); }
  // Host copies, for checkpoints and tests (each one a read from the device).
  double real() const { return ema.to_host()[0]; }
  double fake() const { return ema.to_host()[1]; }
};

// R = mean relu(real - anchors.fake)^2 + mean relu(anchors.real - fake)^2 (anchors already updated). The
// anchors enter the tape as constants in the logits' type (the reference's float - tensor), broadcast.
template <class T, class Space>
Var<T, Space> lecam_loss(const Var<T, Space>& real, const Var<T, Space>& fake, const LecamAnchors<Space>& anchors) {
  auto& tape = real.tape();
  const Tensor<T, Space> a = detail::cast_to<T>(anchors.ema);
  const auto anchor = [&](index_t i, const Var<T, Space>& like) {
    Shape ones = like.shape();
    for (int d = 0; d < ones.rank; ++d) ones.dims[d] = 1;
    return tape.leaf(slice_forward(a, 0, i, i + 1).reshape(ones));
  };
  return mean(square(relu(real - anchor(1, real)))) + mean(square(relu(anchor(0, fake) - fake)));
}

// The adaptive generator weight from the two gradients of the decoder's last layer (flattened tensors),
// computed where they live: a [1] tensor, never read back in a training step.
template <class T, class Space>
Tensor<T, Space> adaptive_generator_weight_device(const Tensor<T, Space>& grad_nll, const Tensor<T, Space>& grad_gan,
                                                  double disc_weight) {
  IBQ_CHECK(grad_nll.size() == grad_gan.size(),
            "adaptive_generator_weight: gradients of different sizes " << grad_nll.shape() << " and " << grad_gan.shape());
  Tensor<T, Space> w = Tensor<T, Space>::empty(Shape{1}, "ibq::adaptive_weight");
  detail::clamped_norm_ratio(grad_nll, grad_gan, disc_weight, w);
  return w;
}
// The same as a host number (one read), for tests and tools.
template <class T, class Space>
double adaptive_generator_weight(const Tensor<T, Space>& grad_nll, const Tensor<T, Space>& grad_gan, double disc_weight) {
  return double(adaptive_generator_weight_device(grad_nll, grad_gan, disc_weight).item());
}

}  // namespace ibq
