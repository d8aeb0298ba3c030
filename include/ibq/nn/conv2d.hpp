// ibq/nn/conv2d.hpp — PyTorch's nn.Conv2d (weight [out, in, k, k], bias [out]) with zero padding.
//
//   ibq::Conv2d<float> conv(store, "encoder.conv_in", 3, 128, /*kernel=*/3, /*stride=*/1, /*pad=*/1);
//   auto y = conv.forward(x);                         // x [N, 3, H, W] -> [N, 128, H, W]
//   conv.args = {2, 0, 1, 0, 1};                      // taming Downsample: pad right/bottom by 1, stride 2
#pragma once

#include "ibq/nn/layer.hpp"
#include "ibq/ops/conv2d.hpp"

namespace ibq {

template <class T = float, class Space = DefaultSpace>
struct Conv2d {
  const ParamStore<T, Space>* store = nullptr;
  ParamRef weight, bias;
  Conv2dArgs args;
  bool has_bias = true;

  Conv2d() = default;
  Conv2d(ParamStore<T, Space>& s, const std::string& prefix, index_t in, index_t out, index_t kernel,
         index_t stride = 1, index_t pad = 0, bool with_bias = true)
      : store(&s), args(Conv2dArgs::symmetric(stride, pad)), has_bias(with_bias) {
    const index_t fan_in = in * kernel * kernel;
    weight = s.add(join_name(prefix, "weight"), {out, in, kernel, kernel}, Init::kaiming_uniform_default(fan_in));
    if (has_bias) bias = s.add(join_name(prefix, "bias"), {out}, Init::kaiming_uniform_default(fan_in));
  }

  Var<T, Space> forward(const Var<T, Space>& x) const {
    auto& tape = x.tape();
    auto w = store->param(tape, weight);
    return has_bias ? conv2d(x, w, store->param(tape, bias), args) : conv2d(x, w, args);
  }
};

}  // namespace ibq
