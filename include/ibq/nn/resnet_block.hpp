// ibq/nn/resnet_block.hpp — taming's ResnetBlock without time embedding (temb_ch = 0).
//
//   ibq::ResnetBlock<float> block(store, "encoder.down.2.block.0", 128, 256, groups, /*dropout=*/0.0);
//   auto y = block.forward(x, rng, /*training=*/true);
//
//   h = conv2(dropout(swish(norm2(conv1(swish(norm1(x)))))));   y = shortcut(x) + h
//
// The shortcut is a 1x1 conv named nin_shortcut when the channel count changes (the reference's default,
// conv_shortcut = False), the identity otherwise.
#pragma once

#include "ibq/core/random.hpp"
#include "ibq/nn/conv2d.hpp"
#include "ibq/nn/group_norm.hpp"
#include "ibq/ops/binary.hpp"
#include "ibq/ops/dropout.hpp"
#include "ibq/ops/unary.hpp"

namespace ibq {

template <class T = float, class Space = DefaultSpace>
struct ResnetBlock {
  GroupNorm<T, Space> norm1, norm2;
  Conv2d<T, Space> conv1, conv2, nin_shortcut;
  bool has_shortcut = false;
  double dropout_p = 0.0;

  ResnetBlock() = default;
  ResnetBlock(ParamStore<T, Space>& s, const std::string& prefix, index_t in, index_t out, int groups,
              double dropout_ = 0.0)
      : norm1(s, join_name(prefix, "norm1"), in, groups),
        norm2(s, join_name(prefix, "norm2"), out, groups),
        conv1(s, join_name(prefix, "conv1"), in, out, 3, 1, 1),
        conv2(s, join_name(prefix, "conv2"), out, out, 3, 1, 1),
        has_shortcut(in != out),
        dropout_p(dropout_) {
    if (has_shortcut) nin_shortcut = Conv2d<T, Space>(s, join_name(prefix, "nin_shortcut"), in, out, 1);
  }

  Var<T, Space> forward(const Var<T, Space>& x, const Rng& rng, bool training) const {
    auto h = conv1.forward(silu(norm1.forward(x)));
    h = conv2.forward(dropout(silu(norm2.forward(h)), dropout_p, rng, training));
    return (has_shortcut ? nin_shortcut.forward(x) : x) + h;
  }
};

}  // namespace ibq
