// ibq/metrics/psnr.hpp — PSNR of uint8 images exactly as the reference evaluation computes it.
//
//   double p = ibq::metrics::psnr(a, b, H, W, C);              // a, b: host uint8, H x W x C (HWC)
//   double m = ibq::metrics::psnr_batch(a, b, N, H, W, C);     // mean over N images of [N, H, W, C]
//   double t = ibq::metrics::psnr_batch(ta, tb);               // Tensor<uint8_t, Space> [N, H, W, C]
//
// The reference (docs/math.md) quantises to uint8, rescales to [0, 1] as float64 and calls
// skimage.metrics.peak_signal_noise_ratio(a, b, data_range=1) = 10 log10(1 / mse). We divide by 255 the
// same way, so values agree with skimage to rounding.
//
// Identical images: mse = 0 and skimage returns +inf (numpy divides by zero with a warning). psnr() returns
// +inf too, on purpose, and psnr_batch() is the plain mean, so one identical pair makes the batch mean +inf,
// which is what the reference's np.mean over a batch reports. A caller that wants a finite summary must
// decide what to do with such pairs itself (count them, or skip them and say so).
//
// The reference averages per batch and then over batches; with a short last batch that differs from the
// mean over all images. To reproduce it, call psnr_batch() per evaluation batch and average the results.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "ibq/core/error.hpp"
#include "ibq/core/tensor.hpp"

namespace ibq::metrics {

namespace detail {

// Shared with ssim.hpp: argument checks for the raw-pointer entry points.
inline void check_image_dims(const char* fn, index_t N, index_t H, index_t W, index_t C) {
  IBQ_CHECK(N > 0 && H > 0 && W > 0 && C > 0, fn << ": empty image batch (N=" << N << ", H=" << H << ", W=" << W
                                                  << ", C=" << C << "); pass at least one image of at least 1x1x1");
}

// Both tensors [N, H, W, C] (batch) or [H, W, C] (one image), the same shape; returns {N, H, W, C}.
template <class Space>
Shape image_batch_shape(const char* fn, const Tensor<std::uint8_t, Space>& a, const Tensor<std::uint8_t, Space>& b,
                        int rank) {
  IBQ_CHECK(a.shape() == b.shape(), fn << ": image shapes differ: " << a.shape() << " vs " << b.shape()
                                       << "; compare images of equal shape");
  IBQ_CHECK(a.rank() == rank, fn << ": expected " << (rank == 4 ? "[N, H, W, C]" : "[H, W, C]") << " uint8 images, got "
                                 << a.shape() << (rank == 4 ? "; use the single-image overload for [H, W, C]"
                                                            : "; use the _batch overload for [N, H, W, C]"));
  const Shape s = a.shape();
  return rank == 4 ? Shape{s.dims[0], s.dims[1], s.dims[2], s.dims[3]} : Shape{1, s.dims[0], s.dims[1], s.dims[2]};
}

// mean((a/255 - b/255)^2) over n values: the rescaling of the reference, then skimage's float64 MSE.
inline double mse_unit(const std::uint8_t* a, const std::uint8_t* b, index_t n) {
  double sum = 0.0;
  for (index_t i = 0; i < n; ++i) {
    const double d = double(a[i]) / 255.0 - double(b[i]) / 255.0;
    sum += d * d;
  }
  return sum / double(n);
}

}  // namespace detail

// PSNR in dB of one H x W x C uint8 image pair (host memory, HWC), data range 1 after dividing by 255.
// +inf when the images are identical (see the header comment).
inline double psnr(const std::uint8_t* a, const std::uint8_t* b, index_t H, index_t W, index_t C) {
  detail::check_image_dims("psnr", 1, H, W, C);
  const double mse = detail::mse_unit(a, b, H * W * C);
  if (mse == 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(1.0 / mse);
}

// Mean PSNR over the N images of an [N, H, W, C] batch (+inf if any pair is identical).
inline double psnr_batch(const std::uint8_t* a, const std::uint8_t* b, index_t N, index_t H, index_t W, index_t C) {
  detail::check_image_dims("psnr_batch", N, H, W, C);
  const index_t stride = H * W * C;
  double sum = 0.0;
  for (index_t n = 0; n < N; ++n) sum += psnr(a + n * stride, b + n * stride, H, W, C);
  return sum / double(N);
}

// Tensor forms (any space; copied to the host): one [H, W, C] image, or an [N, H, W, C] batch.
template <class Space>
double psnr(const Tensor<std::uint8_t, Space>& a, const Tensor<std::uint8_t, Space>& b) {
  const Shape s = detail::image_batch_shape("psnr", a, b, 3);
  const std::vector<std::uint8_t> ah = a.to_host(), bh = b.to_host();
  return psnr(ah.data(), bh.data(), s.dims[1], s.dims[2], s.dims[3]);
}
template <class Space>
double psnr_batch(const Tensor<std::uint8_t, Space>& a, const Tensor<std::uint8_t, Space>& b) {
  const Shape s = detail::image_batch_shape("psnr_batch", a, b, 4);
  const std::vector<std::uint8_t> ah = a.to_host(), bh = b.to_host();
  return psnr_batch(ah.data(), bh.data(), s.dims[0], s.dims[1], s.dims[2], s.dims[3]);
}

}  // namespace ibq::metrics
