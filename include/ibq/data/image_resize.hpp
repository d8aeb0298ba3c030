// ibq/data/image_resize.hpp — resizing, centre cropping and channel conversion of 8-bit HWC images.
//
//   ibq::DecodedImage img = ibq::read_image("cat.jpeg");                    // any size, grey or RGB
//   auto square = ibq::resize_center_crop(img, 256, /*channels=*/3);        // 256 x 256 x 3
//   auto small = ibq::resize(img, 64, 96);                                  // exactly 64 x 96
//
// Resampling is PIL's BILINEAR resize: a triangle filter whose support grows with the reduction factor, so
// downscaling averages every source pixel (antialiasing) instead of sampling two. antialias=false keeps the
// support at one pixel, which is OpenCV's INTER_LINEAR (albumentations' default, the reference's training
// pipeline). Host code: images are prepared once, before training.
#pragma once

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "ibq/io/image_file.hpp"

namespace ibq {

namespace detail {

// For each output index: the first input index, how many follow, and their normalised weights.
struct ResampleTaps {
  std::vector<int> first, count;
  std::vector<double> weights;  // [out, max_taps]
  int max_taps = 0;
};

// Taps for outputs [out_first, out_first + out_count) of a resize from in_size to out_size samples, with
// pixel centres at i + 0.5 (PIL's precompute_coeffs, in double precision).
inline ResampleTaps resample_taps(int in_size, int out_size, int out_first, int out_count, bool antialias) {
  const double scale = double(in_size) / out_size;
  const double filter_scale = antialias ? std::max(scale, 1.0) : 1.0;
  const double support = filter_scale;  // the triangle filter reaches one (scaled) pixel either side
  ResampleTaps t;
  t.max_taps = int(std::ceil(support)) * 2 + 1;
  t.first.resize(std::size_t(out_count));
  t.count.resize(std::size_t(out_count));
  t.weights.assign(std::size_t(out_count) * std::size_t(t.max_taps), 0.0);
  for (int i = 0; i < out_count; ++i) {
    const double center = (out_first + i + 0.5) * scale;
    const int lo = std::max(int(center - support + 0.5), 0);
    const int hi = std::min(int(center + support + 0.5), in_size);
    double* w = t.weights.data() + std::size_t(i) * std::size_t(t.max_taps);
    double total = 0;
    for (int x = lo; x < hi; ++x) {
      const double d = std::fabs((x - center + 0.5) / filter_scale);
      w[x - lo] = d < 1 ? 1 - d : 0;
      total += w[x - lo];
    }
    for (int k = 0; k < hi - lo && total > 0; ++k) w[k] /= total;
    t.first[std::size_t(i)] = lo;
    t.count[std::size_t(i)] = hi - lo;
  }
  return t;
}

// Horizontal pass: source rows [row_lo, row_hi) resampled to the output columns, into mid [rows, out, C].
template <int C>
void resample_rows(const DecodedImage& img, const ResampleTaps& cols, int row_lo, int row_hi, double* mid) {
  const std::size_t out_w = cols.first.size();
  for (int y = row_lo; y < row_hi; ++y) {
    const std::uint8_t* row = img.pixels.data() + std::size_t(y) * std::size_t(img.width) * C;
    double* dst = mid + std::size_t(y - row_lo) * out_w * C;
    for (std::size_t j = 0; j < out_w; ++j) {
      const double* w = cols.weights.data() + j * std::size_t(cols.max_taps);
      const std::uint8_t* src = row + std::size_t(cols.first[j]) * C;
      double sum[C] = {};
      for (int k = 0; k < cols.count[j]; ++k)
        for (int ch = 0; ch < C; ++ch) sum[ch] += w[k] * src[k * C + ch];
      for (int ch = 0; ch < C; ++ch) dst[j * C + ch] = sum[ch];
    }
  }
}

inline std::uint8_t to_byte(double v) { return std::uint8_t(std::min(std::max(v, 0.0), 255.0) + 0.5); }

}  // namespace detail

// The window [top, top + out_h) x [left, left + out_w) of `img` resized to new_h x new_w, computed without
// resampling the pixels outside it (a centre crop of a large photo touches a fraction of the columns).
inline DecodedImage resize_window(const DecodedImage& img, int new_h, int new_w, int top, int left, int out_h,
                                  int out_w, bool antialias = true) {
  IBQ_CHECK(img.height > 0 && img.width > 0 && img.pixels.size() == img.size(),
            "resize: empty or inconsistent image " << img.height << "x" << img.width << "x" << img.channels);
  IBQ_CHECK(new_h > 0 && new_w > 0 && top >= 0 && left >= 0 && out_h > 0 && out_w > 0 && top + out_h <= new_h &&
                left + out_w <= new_w,
            "resize: window " << out_h << "x" << out_w << " at (" << top << ", " << left << ") is not inside "
                              << new_h << "x" << new_w);
  const auto rows = detail::resample_taps(img.height, new_h, top, out_h, antialias);
  const auto cols = detail::resample_taps(img.width, new_w, left, out_w, antialias);
  const int c = img.channels;
  IBQ_CHECK(c >= 1 && c <= 4, "resize: " << c << " channels; expected 1 to 4");
  // Horizontal pass over the source rows the vertical pass needs, in double, then vertical pass + rounding.
  const int row_lo = rows.first.front();
  const int row_hi = rows.first.back() + rows.count.back();
  std::vector<double> mid(std::size_t(row_hi - row_lo) * std::size_t(out_w) * std::size_t(c));
  switch (c) {  // a compile-time channel count keeps the per-pixel sums in registers
    case 1: detail::resample_rows<1>(img, cols, row_lo, row_hi, mid.data()); break;
    case 2: detail::resample_rows<2>(img, cols, row_lo, row_hi, mid.data()); break;
    case 3: detail::resample_rows<3>(img, cols, row_lo, row_hi, mid.data()); break;
    default: detail::resample_rows<4>(img, cols, row_lo, row_hi, mid.data());
  }
  DecodedImage out;
  out.height = out_h, out.width = out_w, out.channels = c;
  out.pixels.resize(out.size());
  std::vector<double> acc(std::size_t(out_w) * std::size_t(c));
  for (int i = 0; i < out_h; ++i) {
    std::fill(acc.begin(), acc.end(), 0.0);
    const double* w = rows.weights.data() + std::size_t(i) * std::size_t(rows.max_taps);
    for (int k = 0; k < rows.count[std::size_t(i)]; ++k) {
      const double wk = w[k];  // a local: the compiler cannot tell w from acc, and would reload it per element
      const double* src = mid.data() + std::size_t(rows.first[std::size_t(i)] - row_lo + k) * acc.size();
      double* sum = acc.data();
      for (std::size_t e = 0; e < acc.size(); ++e) sum[e] += wk * src[e];
    }
    for (std::size_t e = 0; e < acc.size(); ++e) out.pixels[std::size_t(i) * acc.size() + e] = detail::to_byte(acc[e]);
  }
  return out;
}

inline DecodedImage resize(const DecodedImage& img, int new_h, int new_w, bool antialias = true) {
  return resize_window(img, new_h, new_w, 0, 0, new_h, new_w, antialias);
}

// Grey -> RGB replicates; RGB -> grey is ITU-R 601 luma in PIL's fixed point (convert("L")).
inline DecodedImage convert_channels(const DecodedImage& img, int channels) {
  IBQ_CHECK(channels == 1 || channels == 3, "convert_channels: channels must be 1 or 3, got " << channels);
  IBQ_CHECK(img.channels == 1 || img.channels == 3, "convert_channels: image has " << img.channels << " channels");
  if (img.channels == channels) return img;
  DecodedImage out;
  out.height = img.height, out.width = img.width, out.channels = channels;
  out.pixels.resize(out.size());
  const std::size_t n = std::size_t(img.height) * std::size_t(img.width);
  for (std::size_t p = 0; p < n; ++p) {
    if (channels == 3) {
      out.pixels[3 * p] = out.pixels[3 * p + 1] = out.pixels[3 * p + 2] = img.pixels[p];
    } else {
      const std::uint8_t* rgb = img.pixels.data() + 3 * p;
      out.pixels[p] = std::uint8_t((19595u * rgb[0] + 38470u * rgb[1] + 7471u * rgb[2] + 0x8000u) >> 16);
    }
  }
  return out;
}

// The size with the shorter side scaled to `side` and the aspect ratio kept (albumentations' SmallestMaxSize,
// torchvision's Resize(int)), rounding the longer side to the nearest pixel.
inline std::pair<int, int> short_side_size(int height, int width, int side) {
  if (height <= width) return {side, std::max(1, int(std::lround(double(width) * side / height)))};
  return {std::max(1, int(std::lround(double(height) * side / width))), side};
}

// Short side to `resolution`, the aspect ratio kept up to a long side of `max_long` (longer images lose
// their ends: a centre crop along the long axis, offsets rounded down as albumentations' CenterCrop), with
// `channels` (1 or 3) channels. max_long = resolution gives the central square.
inline DecodedImage resize_short_side(const DecodedImage& img, int resolution, int max_long, int channels,
                                      bool antialias = true) {
  IBQ_CHECK(resolution > 0, "resize: the resolution must be positive, got " << resolution);
  IBQ_CHECK(max_long >= resolution, "resize: the long side's limit " << max_long << " is below the resolution " << resolution);
  // Fewer channels first, more channels last: the resampling always runs on the smaller image.
  DecodedImage fewer;
  if (channels < img.channels) fewer = convert_channels(img, channels);
  const DecodedImage& src = channels < img.channels ? fewer : img;
  const auto [new_h, new_w] = short_side_size(src.height, src.width, resolution);
  const int out_h = std::min(new_h, max_long), out_w = std::min(new_w, max_long);
  auto out = resize_window(src, new_h, new_w, (new_h - out_h) / 2, (new_w - out_w) / 2, out_h, out_w, antialias);
  return out.channels < channels ? convert_channels(out, channels) : out;
}

inline DecodedImage resize_center_crop(const DecodedImage& img, int resolution, int channels, bool antialias = true) {
  return resize_short_side(img, resolution, resolution, channels, antialias);
}

}  // namespace ibq
