// ibq/nn/batch_norm.hpp — PyTorch's nn.BatchNorm2d: affine weight/bias plus running statistics.
//
//   ibq::BatchNorm<float> bn(store, "features.1", 32);   // weight, bias, running_mean, running_var
//   auto y = bn.forward(x, /*training=*/true);           // batch statistics; updates the running ones
//
// The running statistics are store *buffers*: saved in checkpoints, never touched by the optimizer.
#pragma once

#include "ibq/nn/layer.hpp"
#include "ibq/ops/norm.hpp"

namespace ibq {

template <class T = float, class Space = DefaultSpace>
struct BatchNorm {
  const ParamStore<T, Space>* store = nullptr;
  ParamRef weight, bias, running_mean, running_var;
  double momentum = 0.1, eps = 1e-5;

  BatchNorm() = default;
  BatchNorm(ParamStore<T, Space>& s, const std::string& prefix, index_t channels, double momentum_ = 0.1,
            double eps_ = 1e-5)
      : store(&s), momentum(momentum_), eps(eps_) {
    weight = s.add(join_name(prefix, "weight"), {channels}, Init::ones());
    bias = s.add(join_name(prefix, "bias"), {channels}, Init::zeros());
    running_mean = s.add_buffer(join_name(prefix, "running_mean"), {channels}, Init::zeros());
    running_var = s.add_buffer(join_name(prefix, "running_var"), {channels}, Init::ones());
  }

  Var<T, Space> forward(const Var<T, Space>& x, bool training) const {
    auto& tape = x.tape();
    return batch_norm(x, store->param(tape, weight), store->param(tape, bias), store->value(running_mean),
                      store->value(running_var), training, momentum, eps);
  }
};

}  // namespace ibq
