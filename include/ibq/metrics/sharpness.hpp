// ibq/metrics/sharpness.hpp — how much fine detail an image holds: the variance of its Laplacian.
//
//   double s = ibq::metrics::laplacian_variance(img, H, W, C);   // host uint8, H x W x C (HWC)
//
// The 4-neighbour Laplacian 4 p(y, x) - p(y-1, x) - p(y+1, x) - p(y, x-1) - p(y, x+1) on pixels in [0, 1],
// over the interior pixels of every channel; its variance is the usual focus/blur measure (a blurred copy
// of an image scores lower than the image). Reconstructions are compared with their originals by the ratio
// of the means over a set: 1 keeps the originals' detail, below 1 is blurrier. PSNR and SSIM reward the
// mean prediction, which is blurry; this is the number that tells whether adversarial training sharpens.
#pragma once

#include <cstdint>

#include "ibq/core/config.hpp"
#include "ibq/core/error.hpp"

namespace ibq::metrics {

inline double laplacian_variance(const std::uint8_t* img, index_t h, index_t w, index_t c) {
  IBQ_CHECK(h >= 3 && w >= 3 && c >= 1, "laplacian_variance: the image must be at least 3x3, got " << h << "x" << w);
  double sum = 0, sq = 0;
  const double n = double((h - 2) * (w - 2) * c);
  auto p = [&](index_t y, index_t x, index_t k) { return double(img[(y * w + x) * c + k]) / 255.0; };
  for (index_t k = 0; k < c; ++k)
    for (index_t y = 1; y + 1 < h; ++y)
      for (index_t x = 1; x + 1 < w; ++x) {
        const double l = 4 * p(y, x, k) - p(y - 1, x, k) - p(y + 1, x, k) - p(y, x - 1, k) - p(y, x + 1, k);
        sum += l;
        sq += l * l;
      }
  const double mean = sum / n;
  return sq / n - mean * mean;
}

}  // namespace ibq::metrics
