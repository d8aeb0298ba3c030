// ibq/optim/adam.hpp — Adam and AdamW as one kernel over the flat parameter buffer.
//
//   ibq::Adam<float> opt(store, {.lr = 1e-4, .beta1 = 0.5, .beta2 = 0.9});           // the IBQ tokenizer
//   ibq::Adam<float> ar(store, {.lr = 3e-4, .beta1 = 0.9, .beta2 = 0.95, .weight_decay = 0.05,
//                               .decoupled_weight_decay = true});                       // AdamW, the AR model
//   ... tape.backward(loss); opt.step(); store.zero_grad();
//
// Matches torch.optim.Adam / AdamW (bias-corrected moments, eps outside the square root). Adam's weight
// decay is L2 added to the gradient; AdamW's is decoupled (p -= lr * wd * p before the update).
// The moments are flat buffers of the same layout as the parameters, so checkpoints store them by name.
// Weight decay reaches every parameter unless decay_matrices_only() is called: then only tensors of rank
// >= 2 (weights and embeddings) decay, not norms and biases (the usual AdamW grouping; the AR reference
// overwrites both groups' decay every step, so it decays everything).
#pragma once

#include "ibq/core/kokkos_compat.hpp"
#include <algorithm>
#include <cmath>
#include <vector>

#include "ibq/nn/param_store.hpp"

namespace ibq {

struct AdamConfig {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled_weight_decay = false;  // true: AdamW
};

// One fused pass: p, m, v updated in place from g. Public and free so nvcc accepts its device lambda.
template <class T, class Space>
void adam_update(const Tensor<T, Space>& p, const Tensor<T, Space>& g, const Tensor<T, Space>& m,
                 const Tensor<T, Space>& v, const AdamConfig& c, std::int64_t step,
                 const Tensor<T, Space>& decay_mask = {}) {
  const T lr = T(c.lr), b1 = T(c.beta1), b2 = T(c.beta2), eps = T(c.eps), wd = T(c.weight_decay);
  const bool decoupled = c.decoupled_weight_decay;
  const T bc1 = T(1 - std::pow(c.beta1, double(step)));
  const T sqrt_bc2 = T(std::sqrt(1 - std::pow(c.beta2, double(step))));
  auto pv = p.view();
  auto gv = g.view();
  auto mv = m.view();
  auto vv = v.view();
  auto dv = decay_mask.view();
  const bool masked = decay_mask.defined();
  Kokkos::parallel_for("ibq::optim::adam", range<Space>(p.size()), KOKKOS_LAMBDA(index_t i) {
    T grad = gv(i);
    const T wdi = masked ? wd * dv(i) : wd;
    if (decoupled) pv(i) -= lr * wdi * pv(i);
    else grad += wdi * pv(i);
    mv(i) = b1 * mv(i) + (T(1) - b1) * grad;
    vv(i) = b2 * vv(i) + (T(1) - b2) * grad * grad;
    pv(i) -= (lr / bc1) * mv(i) / (ibq::kmath::sqrt(vv(i)) / sqrt_bc2 + eps);
  });
}

template <class T = float, class Space = DefaultSpace>
class Adam {
 public:
  using tensor_type = Tensor<T, Space>;

  Adam(ParamStore<T, Space>& store, const AdamConfig& config)
      : store_(store), config_(config), m_({store.num_params()}, "ibq::adam.m"), v_({store.num_params()}, "ibq::adam.v") {
    IBQ_CHECK(store.allocated(), "Adam: allocate the ParamStore before creating its optimizer");
    IBQ_CHECK(config.lr >= 0 && config.eps > 0 && config.beta1 >= 0 && config.beta1 < 1 && config.beta2 >= 0 &&
                  config.beta2 < 1,
              "Adam: invalid hyper-parameters (need lr >= 0, eps > 0, 0 <= beta < 1)");
  }

  void step() {
    ++step_;
    adam_update(store_.flat_values(), store_.flat_grads(), m_, v_, config_, step_, decay_mask_);
    store_.mark_values_modified();
  }

  // Weight decay only on tensors of rank >= 2; norms and biases keep theirs at 0.
  void decay_matrices_only() {
    std::vector<T> mask(std::size_t(store_.num_params()), T(0));
    for (const auto& e : store_.params())
      if (e.shape.rank >= 2) std::fill(mask.begin() + e.offset, mask.begin() + e.offset + e.shape.numel(), T(1));
    decay_mask_ = tensor_type::from_host(Shape{store_.num_params()}, mask);
  }

  void set_lr(double lr) { config_.lr = lr; }
  void set_weight_decay(double wd) { config_.weight_decay = wd; }
  const AdamConfig& config() const { return config_; }
  std::int64_t steps() const { return step_; }
  // For checkpoints: the moments and the step count restore the optimizer exactly.
  const tensor_type& first_moment() const { return m_; }
  const tensor_type& second_moment() const { return v_; }
  void set_steps(std::int64_t s) { step_ = s; }

 private:
  ParamStore<T, Space>& store_;
  AdamConfig config_;
  tensor_type m_, v_;
  tensor_type decay_mask_;  // undefined: every element decays
  std::int64_t step_ = 0;
};

}  // namespace ibq
