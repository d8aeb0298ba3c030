// Laplacian variance: zero on flat and linear images, the closed form on a checkerboard, and lower for a
// blurred copy of an image than for the image.
#include <catch2/catch.hpp>

#include <vector>

#include "ibq/metrics/sharpness.hpp"

using ibq::index_t;

TEST_CASE("sharpness: Laplacian variance of flat, ramp, checkerboard and blurred images", "[metrics]") {
  const index_t h = 8, w = 9;
  std::vector<std::uint8_t> flat(h * w, 77), ramp(h * w), board(h * w);
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x) {
      ramp[y * w + x] = std::uint8_t(10 * x + 5 * y);  // linear: Laplacian 0 everywhere
      board[y * w + x] = (x + y) % 2 ? 255 : 0;
    }
  CHECK(ibq::metrics::laplacian_variance(flat.data(), h, w, 1) == Approx(0.0).margin(1e-15));
  CHECK(ibq::metrics::laplacian_variance(ramp.data(), h, w, 1) == Approx(0.0).margin(1e-15));
  // Checkerboard in [0, 1]: the Laplacian is +4 on white and -4 on black pixels; interior 6x7 = 42 pixels,
  // 21 of each, so the mean is 0 and the variance 16.
  CHECK(ibq::metrics::laplacian_variance(board.data(), h, w, 1) == Approx(16.0));
  // A 3-tap box blur of the board along x lowers the variance.
  std::vector<std::uint8_t> blurred(board);
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 1; x + 1 < w; ++x)
      blurred[y * w + x] = std::uint8_t((board[y * w + x - 1] + board[y * w + x] + board[y * w + x + 1]) / 3);
  CHECK(ibq::metrics::laplacian_variance(blurred.data(), h, w, 1) < 0.5 * 16.0);
  // Channels are measured separately: an RGB image of three copies scores as one copy.
  std::vector<std::uint8_t> rgb(h * w * 3);
  for (index_t i = 0; i < h * w; ++i) rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = board[i];
  CHECK(ibq::metrics::laplacian_variance(rgb.data(), h, w, 3) == Approx(16.0));
  REQUIRE_THROWS(ibq::metrics::laplacian_variance(board.data(), 2, 9, 1));
}
