// ibq/nn/group_norm.hpp — PyTorch's nn.GroupNorm with affine weight/bias (taming's Normalize: 32 groups, eps 1e-6).
//
//   ibq::GroupNorm<float> norm(store, "encoder.norm_out", 512);   // weight ones, bias zeros
//   auto y = norm.forward(x);                                     // x [N, C, H, W]
#pragma once

#include "ibq/nn/layer.hpp"
#include "ibq/ops/norm.hpp"

namespace ibq {

template <class T = float, class Space = DefaultSpace>
struct GroupNorm {
  const ParamStore<T, Space>* store = nullptr;
  ParamRef weight, bias;
  int groups = 32;
  double eps = 1e-6;

  GroupNorm() = default;
  GroupNorm(ParamStore<T, Space>& s, const std::string& prefix, index_t channels, int groups_ = 32, double eps_ = 1e-6)
      : store(&s), groups(groups_), eps(eps_) {
    IBQ_CHECK(groups > 0 && channels % groups == 0,
              "GroupNorm '" << prefix << "': " << channels << " channels are not divisible into " << groups
                            << " groups; choose model.ch (and ch_mult) as multiples of model.norm_groups");
    weight = s.add(join_name(prefix, "weight"), {channels}, Init::ones());
    bias = s.add(join_name(prefix, "bias"), {channels}, Init::zeros());
  }

  Var<T, Space> forward(const Var<T, Space>& x) const {
    auto& tape = x.tape();
    return group_norm(x, groups, store->param(tape, weight), store->param(tape, bias), eps);
  }
};

}  // namespace ibq
