// ibq/gan/losses.hpp — the adversarial terms of the reference (ibq-spec.md section 3).
//
//   auto l_d = hinge_d_loss(disc(x), disc(stop_gradient(x_hat)));        // or vanilla_d_loss
//   l_d = l_d + 0.05 * lecam_loss(real_logits, fake_logits, anchors);    // anchors.update(...) first
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

namespace ibq {

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

// The LeCam anchors: EMAs of the mean real and fake logits, plain numbers as in the reference (per process,
// never averaged across ranks, saved with checkpoints so a resumed run continues them).
struct LecamAnchors {
  double real = 0, fake = 0;
  double decay = 0.999;
  void update(double mean_real, double mean_fake) {
    real = decay * real + (1 - decay) * mean_real;
    fake = decay * fake + (1 - decay) * mean_fake;
  }
};

// R = mean relu(real - anchors.fake)^2 + mean relu(anchors.real - fake)^2 (anchors already updated).
template <class T, class Space>
Var<T, Space> lecam_loss(const Var<T, Space>& real, const Var<T, Space>& fake, const LecamAnchors& anchors) {
  return mean(square(relu(real - anchors.fake))) + mean(square(relu(anchors.real - fake)));
}

// The adaptive generator weight from the two gradients of the decoder's last layer (flattened tensors).
template <class T, class Space>
double adaptive_generator_weight(const Tensor<T, Space>& grad_nll, const Tensor<T, Space>& grad_gan,
                                 double disc_weight) {
  IBQ_CHECK(grad_nll.size() == grad_gan.size(),
            "adaptive_generator_weight: gradients of different sizes " << grad_nll.shape() << " and " << grad_gan.shape());
  const auto a = grad_nll.to_host(), b = grad_gan.to_host();
  double na = 0, nb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) na += double(a[i]) * double(a[i]), nb += double(b[i]) * double(b[i]);
  return std::clamp(std::sqrt(na) / (std::sqrt(nb) + 1e-4), 0.0, 1e4) * disc_weight;
}

}  // namespace ibq
