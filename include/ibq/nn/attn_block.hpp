// ibq/nn/attn_block.hpp — taming's AttnBlock: single-head self-attention over the H*W positions.
//
//   ibq::AttnBlock<float> attn(store, "encoder.mid.attn_1", 512, groups);
//   auto y = attn.forward(x);            // x [B, C, H, W] -> x + proj_out(attention(q, k, v))
//
// q, k, v and proj_out are 1x1 convs (state-dict names q/k/v/proj_out); the scale is C^-1/2. The positions
// become the sequence of one head, [B, 1, H*W, C], so the attention op's batched GEMMs do the work.
#pragma once

#include "ibq/nn/conv2d.hpp"
#include "ibq/nn/group_norm.hpp"
#include "ibq/ops/attention.hpp"
#include "ibq/ops/binary.hpp"
#include "ibq/ops/shape_ops.hpp"

namespace ibq {

template <class T = float, class Space = DefaultSpace>
struct AttnBlock {
  GroupNorm<T, Space> norm;
  Conv2d<T, Space> q, k, v, proj_out;

  AttnBlock() = default;
  AttnBlock(ParamStore<T, Space>& s, const std::string& prefix, index_t channels, int groups)
      : norm(s, join_name(prefix, "norm"), channels, groups),
        q(s, join_name(prefix, "q"), channels, channels, 1),
        k(s, join_name(prefix, "k"), channels, channels, 1),
        v(s, join_name(prefix, "v"), channels, channels, 1),
        proj_out(s, join_name(prefix, "proj_out"), channels, channels, 1) {}

  Var<T, Space> forward(const Var<T, Space>& x) const {
    const Shape xs = x.shape();
    const index_t B = xs[0], C = xs[1], H = xs[2], W = xs[3];
    auto h = norm.forward(x);
    // [B, C, H, W] -> [B, 1, H*W, C]: one head whose sequence is the raster of positions
    auto tokens = [&](const Var<T, Space>& t) { return reshape(transpose(reshape(t, {B, C, H * W}), 1, 2), {B, 1, H * W, C}); };
    auto o = attention(tokens(q.forward(h)), tokens(k.forward(h)), tokens(v.forward(h)));
    o = reshape(transpose(reshape(o, {B, H * W, C}), 1, 2), {B, C, H, W});
    return x + proj_out.forward(o);
  }
};

}  // namespace ibq
