// ibq/nn/resample.hpp — taming's Downsample and Upsample with resamp_with_conv = True.
//
//   ibq::Downsample<float> down(store, "encoder.down.0.downsample", 128);   // [B,C,H,W] -> [B,C,H/2,W/2]
//   ibq::Upsample<float> up(store, "decoder.up.1.upsample", 256);          // [B,C,H,W] -> [B,C,2H,2W]
//
// Downsample pads asymmetrically (0 left/top, 1 right/bottom) and then applies a stride-2 3x3 conv with no
// padding, exactly as the reference's F.pad(x, (0, 1, 0, 1)); the conv op takes the asymmetric padding
// directly, so no padded copy is made. Upsample is nearest x2 followed by a 3x3 conv.
#pragma once

#include "ibq/nn/conv2d.hpp"
#include "ibq/ops/upsample.hpp"

namespace ibq {

template <class T = float, class Space = DefaultSpace>
struct Downsample {
  Conv2d<T, Space> conv;

  Downsample() = default;
  Downsample(ParamStore<T, Space>& s, const std::string& prefix, index_t channels)
      : conv(s, join_name(prefix, "conv"), channels, channels, 3, 2, 0) {
    conv.args = Conv2dArgs{/*stride=*/2, /*top=*/0, /*bottom=*/1, /*left=*/0, /*right=*/1};
  }

  Var<T, Space> forward(const Var<T, Space>& x) const { return conv.forward(x); }
};

template <class T = float, class Space = DefaultSpace>
struct Upsample {
  Conv2d<T, Space> conv;

  Upsample() = default;
  Upsample(ParamStore<T, Space>& s, const std::string& prefix, index_t channels)
      : conv(s, join_name(prefix, "conv"), channels, channels, 3, 1, 1) {}

  Var<T, Space> forward(const Var<T, Space>& x) const { return conv.forward(upsample_nearest2x(x)); }
};

}  // namespace ibq
