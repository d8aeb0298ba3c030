// ibq/metrics/ssim.hpp — SSIM of uint8 images exactly as skimage.metrics.structural_similarity computes it.
//
//   double s = ibq::metrics::ssim(a, b, H, W, C);                        // the reference call (below)
//   double g = ibq::metrics::ssim(a, b, H, W, C, SsimOptions::wang2004()); // Gaussian window, Wang et al.
//   double m = ibq::metrics::ssim_batch(a, b, N, H, W, C);               // mean over N images [N, H, W, C]
//   double t = ibq::metrics::ssim_batch(ta, tb);                         // Tensor<uint8_t, Space> forms
//
// The reference (docs/math.md) rescales uint8 images to [0, 1] (float64) and calls
// structural_similarity(a, b, channel_axis=-1, data_range=1). With skimage's defaults that is a UNIFORM
// 7x7 window with sample covariance (N / (N - 1) with N = 49), not the Gaussian window of the SSIM paper;
// SsimOptions{} reproduces it. SsimOptions::wang2004() is gaussian_weights=True, sigma=1.5,
// use_sample_covariance=False (skimage's recipe for matching Wang et al.; window 11x11 from truncate=3.5).
//
// Per channel (skimage 0.19, metrics/_structural_similarity.py): the local means ux, uy and the second
// moments uxx, uyy, uxy are filtered with scipy.ndimage (uniform_filter or gaussian_filter) in mode
// 'reflect' (d c b a | a b c d | d c b a); v = cov_norm * (uxx - ux^2) etc.; S = (2 ux uy + C1)(2 vxy + C2) /
// ((ux^2 + uy^2 + C1)(vx + vy + C2)) with C1 = (K1 * 1)^2, C2 = (K2 * 1)^2; the mean of S is taken after
// cropping (win - 1) / 2 pixels on every side (so a 7x7 image averages one pixel). The result is the mean
// over channels. Images smaller than the window in H or W are an error, as in skimage.
//
// Host code in double: evaluation images are small and few enough that a device kernel is not worth it.
// Averaging per evaluation batch, then over batches, is the caller's business (see psnr.hpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "ibq/metrics/psnr.hpp"

namespace ibq::metrics {

struct SsimOptions {
  bool gaussian = false;               // skimage gaussian_weights: Gaussian instead of uniform window
  int win_size = 7;                    // uniform window side (odd); the Gaussian window is 2*int(3.5 sigma + .5)+1
  double sigma = 1.5;                  // Gaussian standard deviation (skimage's truncate is fixed at 3.5)
  bool use_sample_covariance = true;   // normalise covariances by N - 1 (N = window pixels), skimage's default
  double K1 = 0.01;
  double K2 = 0.03;

  // Wang et al. 2004 as skimage's documentation recommends.
  static SsimOptions wang2004() {
    SsimOptions o;
    o.gaussian = true;
    o.use_sample_covariance = false;
    return o;
  }
  // The window side used for the crop and the covariance normalisation (skimage's win_size).
  int window() const { return gaussian ? 2 * int(3.5 * sigma + 0.5) + 1 : win_size; }
};

namespace detail {

// scipy.ndimage mode 'reflect' (half-sample symmetric), periodic with period 2n beyond one reflection.
inline index_t reflect_index(index_t i, index_t n) {
  const index_t p = 2 * n;
  i %= p;
  if (i < 0) i += p;
  return i < n ? i : p - 1 - i;
}

inline void check_ssim_options(const char* fn, const SsimOptions& o) {
  IBQ_CHECK(o.K1 >= 0 && o.K2 >= 0, fn << ": K1 = " << o.K1 << ", K2 = " << o.K2 << " must be >= 0");
  if (o.gaussian) {
    IBQ_CHECK(o.sigma > 0 && std::isfinite(o.sigma),
              fn << ": SsimOptions::sigma = " << o.sigma << " must be positive and finite (skimage uses 1.5)");
  } else {
    IBQ_CHECK(o.win_size >= 1 && o.win_size % 2 == 1,
              fn << ": SsimOptions::win_size = " << o.win_size << " must be odd and positive (skimage uses 7)");
  }
  IBQ_CHECK(!o.use_sample_covariance || o.window() > 1,
            fn << ": a 1x1 window has no sample covariance (N - 1 = 0); use a larger window or set "
                  "SsimOptions::use_sample_covariance = false");
}

inline void check_ssim_extent(const char* fn, index_t H, index_t W, const SsimOptions& o) {
  const int win = o.window();
  IBQ_CHECK(H >= win && W >= win,
            fn << ": images of " << H << "x" << W << " (HxW) are smaller than the " << win << "x" << win
               << (o.gaussian ? " Gaussian" : " uniform") << " SSIM window; use images at least " << win << "x" << win
               << (o.gaussian ? " or a smaller SsimOptions::sigma"
                              : " or set SsimOptions::win_size to an odd value <= the smaller side"));
}

// The 1-D filter taps of scipy's uniform_filter1d (1/size) or gaussian_filter1d (normalised
// exp(-x^2 / (2 sigma^2)) on [-r, r], r = int(truncate * sigma + 0.5)); both are symmetric.
inline std::vector<double> ssim_taps(const SsimOptions& o) {
  const int win = o.window(), r = (win - 1) / 2;
  std::vector<double> w(win, 1.0 / win);
  if (o.gaussian) {
    double sum = 0.0;
    for (int k = -r; k <= r; ++k) sum += w[k + r] = std::exp(-0.5 / (o.sigma * o.sigma) * double(k * k));
    for (double& v : w) v /= sum;
  }
  return w;
}

// Separable correlation with reflect boundaries, computed only where the crop keeps it: rows
// [pad, H - pad) after filtering along H (scipy's axis 0 comes first), then columns [pad, W - pad).
// `in` is H x W; `out` gets (H - 2 pad) x (W - 2 pad); `tmp` is scratch.
inline void filter_cropped(const std::vector<double>& in, index_t H, index_t W, const std::vector<double>& taps,
                           std::vector<double>& tmp, std::vector<double>& out) {
  const index_t r = index_t(taps.size() - 1) / 2, Ho = H - 2 * r, Wo = W - 2 * r;
  tmp.assign(Ho * W, 0.0);
  for (index_t i = 0; i < Ho; ++i)
    for (index_t k = -r; k <= r; ++k) {
      const double t = taps[k + r];
      const double* src = &in[reflect_index(i + r + k, H) * W];
      double* dst = &tmp[i * W];
      for (index_t j = 0; j < W; ++j) dst[j] += t * src[j];
    }
  out.assign(Ho * Wo, 0.0);
  for (index_t i = 0; i < Ho; ++i)
    for (index_t j = 0; j < Wo; ++j) {
      double acc = 0.0;
      for (index_t k = -r; k <= r; ++k) acc += taps[k + r] * tmp[i * W + reflect_index(j + r + k, W)];
      out[i * Wo + j] = acc;
    }
}

// Mean SSIM of channel c of one H x W x C image pair (options already checked).
inline double ssim_channel(const std::uint8_t* a, const std::uint8_t* b, index_t H, index_t W, index_t C, index_t c,
                           const SsimOptions& o, const std::vector<double>& taps) {
  const index_t n = H * W;
  std::vector<double> x(n), y(n), xx(n), yy(n), xy(n);
  for (index_t p = 0; p < n; ++p) {
    x[p] = double(a[p * C + c]) / 255.0;  // the reference's uint8 -> [0, 1]
    y[p] = double(b[p * C + c]) / 255.0;
    xx[p] = x[p] * x[p];
    yy[p] = y[p] * y[p];
    xy[p] = x[p] * y[p];
  }
  std::vector<double> tmp, ux, uy, uxx, uyy, uxy;
  filter_cropped(x, H, W, taps, tmp, ux);
  filter_cropped(y, H, W, taps, tmp, uy);
  filter_cropped(xx, H, W, taps, tmp, uxx);
  filter_cropped(yy, H, W, taps, tmp, uyy);
  filter_cropped(xy, H, W, taps, tmp, uxy);

  const double np_win = double(o.window()) * double(o.window());
  const double cov_norm = o.use_sample_covariance ? np_win / (np_win - 1.0) : 1.0;
  const double C1 = o.K1 * o.K1, C2 = o.K2 * o.K2;  // data_range = 1
  double sum = 0.0;
  for (std::size_t p = 0; p < ux.size(); ++p) {
    const double vx = cov_norm * (uxx[p] - ux[p] * ux[p]);
    const double vy = cov_norm * (uyy[p] - uy[p] * uy[p]);
    const double vxy = cov_norm * (uxy[p] - ux[p] * uy[p]);
    const double A1 = 2.0 * ux[p] * uy[p] + C1, A2 = 2.0 * vxy + C2;
    const double B1 = ux[p] * ux[p] + uy[p] * uy[p] + C1, B2 = vx + vy + C2;
    sum += (A1 * A2) / (B1 * B2);
  }
  return sum / double(ux.size());
}

inline double ssim_unchecked(const std::uint8_t* a, const std::uint8_t* b, index_t H, index_t W, index_t C,
                             const SsimOptions& o, const std::vector<double>& taps) {
  double sum = 0.0;
  for (index_t c = 0; c < C; ++c) sum += ssim_channel(a, b, H, W, C, c, o, taps);
  return sum / double(C);
}

}  // namespace detail

// Mean SSIM of one H x W x C uint8 image pair (host memory, HWC): per channel, then the mean over channels.
// Identical images give exactly 1.
inline double ssim(const std::uint8_t* a, const std::uint8_t* b, index_t H, index_t W, index_t C,
                   const SsimOptions& opt = {}) {
  detail::check_image_dims("ssim", 1, H, W, C);
  detail::check_ssim_options("ssim", opt);
  detail::check_ssim_extent("ssim", H, W, opt);
  return detail::ssim_unchecked(a, b, H, W, C, opt, detail::ssim_taps(opt));
}

// Mean SSIM over the N images of an [N, H, W, C] batch.
inline double ssim_batch(const std::uint8_t* a, const std::uint8_t* b, index_t N, index_t H, index_t W, index_t C,
                         const SsimOptions& opt = {}) {
  detail::check_image_dims("ssim_batch", N, H, W, C);
  detail::check_ssim_options("ssim_batch", opt);
  detail::check_ssim_extent("ssim_batch", H, W, opt);
  const auto taps = detail::ssim_taps(opt);
  const index_t stride = H * W * C;
  double sum = 0.0;
  for (index_t n = 0; n < N; ++n) sum += detail::ssim_unchecked(a + n * stride, b + n * stride, H, W, C, opt, taps);
  return sum / double(N);
}

// Tensor forms (any space; copied to the host): one [H, W, C] image, or an [N, H, W, C] batch.
template <class Space>
double ssim(const Tensor<std::uint8_t, Space>& a, const Tensor<std::uint8_t, Space>& b, const SsimOptions& opt = {}) {
  const Shape s = detail::image_batch_shape("ssim", a, b, 3);
  const std::vector<std::uint8_t> ah = a.to_host(), bh = b.to_host();
  return ssim(ah.data(), bh.data(), s.dims[1], s.dims[2], s.dims[3], opt);
}
template <class Space>
double ssim_batch(const Tensor<std::uint8_t, Space>& a, const Tensor<std::uint8_t, Space>& b,
                  const SsimOptions& opt = {}) {
  const Shape s = detail::image_batch_shape("ssim_batch", a, b, 4);
  const std::vector<std::uint8_t> ah = a.to_host(), bh = b.to_host();
  return ssim_batch(ah.data(), bh.data(), s.dims[0], s.dims[1], s.dims[2], s.dims[3], opt);
}

}  // namespace ibq::metrics
