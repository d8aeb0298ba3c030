// ibq/optim/ema.hpp — exponential moving average of a ParamStore's parameters (LitEma with a constant decay).
//
//   ibq::Ema<float> ema(store, 0.999);     // shadow = a copy of the current parameters
//   ... adam.step(); ema.update();         // shadow = decay * shadow + (1 - decay) * params, one pass
//
// The shadow is one flat buffer laid out like store.flat_values(), so the update is a single kernel and a
// checkpoint stores it under the parameters' names (ema/<name>). The reference updates every step with a
// constant decay (docs/math.md).
#pragma once

#include "ibq/nn/param_store.hpp"

namespace ibq {

template <class T, class Space>
void ema_update(const Tensor<T, Space>& shadow, const Tensor<T, Space>& values, double decay) {
  auto sv = shadow.view();
  auto vv = values.view();
  const T d = T(decay), one_minus = T(1.0 - decay);
  Kokkos::parallel_for(
      "ibq::optim::ema_update", range<Space>(shadow.size()),
      KOKKOS_LAMBDA(index_t i) { sv(i) = d * sv(i) + one_minus * vv(i); });
}

template <class T = float, class Space = DefaultSpace>
class Ema {
 public:
  Ema(const ParamStore<T, Space>& store, double decay)
      : decay_(decay), shadow_({store.num_params()}, "ibq::ema.shadow") {
    IBQ_CHECK(store.allocated(), "Ema: allocate the ParamStore before creating its EMA");
    IBQ_CHECK(decay >= 0 && decay < 1, "Ema: decay " << decay << " must lie in [0, 1) (train.ema_decay)");
    shadow_.copy_from_(store.flat_values());
  }

  void update(const ParamStore<T, Space>& store) { ema_update(shadow_, store.flat_values(), decay_); }

  const Tensor<T, Space>& shadow() const { return shadow_; }
  Tensor<T, Space>& shadow() { return shadow_; }  // for loading a checkpoint's ema/ into it
  double decay() const { return decay_; }

 private:
  double decay_;
  Tensor<T, Space> shadow_;
};

}  // namespace ibq
