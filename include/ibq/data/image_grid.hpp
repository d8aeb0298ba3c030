// ibq/data/image_grid.hpp — model outputs back to uint8 images, and image grids for PNG files.
//
//   auto u8 = ibq::to_uint8_nhwc(x_hat.value());           // [N, C, H, W] in [-1, 1] -> uint8 [N, H, W, C]
//   auto orig = ibq::image_set_nhwc(test_set, first, n);   // the stored uint8 pixels, same layout
//   auto grid = ibq::image_grid({orig, u8}, n, H, W, C, 2); // row 0 originals, row 1 reconstructions, x2
//   ibq::write_png("recon.png", grid.pixels, grid.height, grid.width, C);
//
// Quantisation follows the reference evaluation: clamp to [-1, 1], map to [0, 255], round to nearest.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ibq/core/tensor.hpp"
#include "ibq/data/image_set.hpp"

namespace ibq {

template <class T, class Space>
std::vector<std::uint8_t> to_uint8_nhwc(const Tensor<T, Space>& x) {
  const Shape& s = x.shape();
  IBQ_CHECK(s.rank == 4, "to_uint8_nhwc: expected images [N, C, H, W], got " << s);
  const index_t N = s[0], C = s[1], H = s[2], W = s[3];
  const auto v = x.to_host();
  std::vector<std::uint8_t> out(v.size());
  for (index_t n = 0; n < N; ++n)
    for (index_t c = 0; c < C; ++c)
      for (index_t p = 0; p < H * W; ++p) {
        const double u = (std::clamp(double(v[(n * C + c) * H * W + p]), -1.0, 1.0) + 1.0) * 127.5;
        out[(n * H * W + p) * C + c] = std::uint8_t(std::lround(u));
      }
  return out;
}

// Images [first, first + n) of an image source as uint8 [n, H, W, C] (sources give [N, C, H, W]).
inline std::vector<std::uint8_t> image_set_nhwc(const ImageSource& set, index_t first, index_t n) {
  const index_t C = set.channels, P = set.height * set.width;
  std::vector<index_t> rows(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) rows[std::size_t(i)] = first + i;
  std::vector<std::uint8_t> nchw(std::size_t(n * C * P)), out(nchw.size());
  set.gather(rows.data(), n, nchw.data(), nullptr);
  for (index_t i = 0; i < n; ++i)
    for (index_t c = 0; c < C; ++c)
      for (index_t p = 0; p < P; ++p) out[(i * P + p) * C + c] = nchw[(i * C + c) * P + p];
  return out;
}

struct ImageGrid {
  int height = 0, width = 0;
  std::vector<std::uint8_t> pixels;  // [height, width, C]
};

// One grid row per entry of `rows` (each uint8 [cols, H, W, C]), a 2-pixel white border between tiles,
// every pixel repeated `scale` times in both directions (small images stay visible).
inline ImageGrid image_grid(const std::vector<std::vector<std::uint8_t>>& rows, index_t cols, index_t H, index_t W,
                            index_t C, int scale = 1) {
  IBQ_CHECK(scale >= 1 && cols >= 1, "image_grid: scale and cols must be >= 1");
  const index_t gap = 2, th = H * scale, tw = W * scale;
  ImageGrid g;
  g.height = int(gap + index_t(rows.size()) * (th + gap));
  g.width = int(gap + cols * (tw + gap));
  g.pixels.assign(std::size_t(g.height) * g.width * C, 255);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    IBQ_CHECK(index_t(rows[r].size()) >= cols * H * W * C, "image_grid: row " << r << " holds fewer than " << cols
                                                                               << " images");
    for (index_t i = 0; i < cols; ++i)
      for (index_t y = 0; y < th; ++y)
        for (index_t x = 0; x < tw; ++x)
          for (index_t c = 0; c < C; ++c) {
            const index_t gy = gap + index_t(r) * (th + gap) + y, gx = gap + i * (tw + gap) + x;
            g.pixels[(gy * g.width + gx) * C + c] = rows[r][((i * H + y / scale) * W + x / scale) * C + c];
          }
  }
  return g;
}

}  // namespace ibq
