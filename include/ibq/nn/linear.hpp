// ibq/nn/linear.hpp — y = x W^T + b, PyTorch's nn.Linear (weight [out, in], bias [out]).
//
//   ibq::Linear<float> fc(store, "head", 128, 10);     // declares head.weight, head.bias
//   auto logits = fc.forward(h);                        // h [..., 128] -> [..., 10]
#pragma once

#include "ibq/nn/layer.hpp"
#include "ibq/ops/matmul.hpp"

namespace ibq {

template <class T = float, class Space = DefaultSpace>
struct Linear {
  const ParamStore<T, Space>* store = nullptr;
  ParamRef weight, bias;
  index_t in_features = 0, out_features = 0;
  bool has_bias = true;

  Linear() = default;
  Linear(ParamStore<T, Space>& s, const std::string& prefix, index_t in, index_t out, bool with_bias = true)
      : store(&s), in_features(in), out_features(out), has_bias(with_bias) {
    weight = s.add(join_name(prefix, "weight"), {out, in}, Init::kaiming_uniform_default(in));
    if (has_bias) bias = s.add(join_name(prefix, "bias"), {out}, Init::kaiming_uniform_default(in));
  }

  Var<T, Space> forward(const Var<T, Space>& x) const {
    auto& tape = x.tape();
    auto w = store->param(tape, weight);
    return has_bias ? linear(x, w, store->param(tape, bias)) : linear(x, w);
  }
};

}  // namespace ibq
