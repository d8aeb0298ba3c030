// ibq/ops/conv2d.hpp — 2-D convolution (NCHW, zero padding) as im2col + GEMM, and its backward.
//
//   auto h = conv2d(x, w, b, Conv2dArgs::symmetric(1, 1));     // 3x3 "same" conv, w [Cout, Cin, 3, 3]
//   auto d = conv2d(x, w, b, Conv2dArgs{2, 0, 1, 0, 1});       // taming Downsample: pad right/bottom by 1
//   auto q = conv2d(z, w1x1, b);                               // 1x1: a plain GEMM, no column buffer
//
// y_n [Cout, P] = W [Cout, Cin*kh*kw] col(x_n) [Cin*kh*kw, P] for each image (P = Ho*Wo). The column
// buffer of a whole 256x256x128 image is ~300 MB, so work proceeds in tiles bounded by
// conv2d_workspace_elements(): several small images per tile, or a band of output rows of one large
// image (the GEMM writes the band in place through ldc = P). Backward recomputes the columns from the
// saved input instead of keeping them: dW += dY col^T, dcol = W^T dY, and col2im gathers dcol into dx so
// each input row is owned by one thread (no atomics). Bias is a fill in forward and a per-channel team
// reduction in backward.
#pragma once

#include <algorithm>

#include "ibq/autodiff/tape.hpp"
#include "ibq/linalg/conv_onednn.hpp"
#include "ibq/linalg/gemm_bf16.hpp"

namespace ibq {

struct Conv2dArgs {
  index_t stride = 1;
  index_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;

  static Conv2dArgs symmetric(index_t stride, index_t pad) { return Conv2dArgs{stride, pad, pad, pad, pad}; }
};

// Target size of the column buffer (elements): small enough to stay in the last-level cache between
// im2col and the GEMM that reads it. A tile never gets fewer than conv2d_min_tile_columns GEMM columns
// (or one whole image), so wide layers still make efficient GEMMs. Both are mutable for benchmarks and
// tests (set them before recording ops, not while a backward is pending).
inline index_t& conv2d_workspace_elements() {
  static index_t limit = index_t(1) << 21;  // 8 MB of float: ~best of 0.5-8M on the 2-core dev VM
  return limit;
}
inline index_t& conv2d_min_tile_columns() {
  static index_t columns = 256;
  return columns;
}

// Everything a kernel needs about one convolution, by value (POD).
struct ConvGeom {
  index_t n, cin, h, w, cout, kh, kw, stride, pt, pl, ho, wo;
  index_t k() const { return cin * kh * kw; }
  index_t p() const { return ho * wo; }
  bool pointwise() const { return kh == 1 && kw == 1 && stride == 1 && pt == 0 && pl == 0 && ho == h && wo == w; }
};

// A tile: images [n0, n0 + nimg), output rows [oh0, oh0 + rows). Either nimg == 1 or rows == Ho.
struct ConvTile {
  index_t n0, nimg, oh0, rows;
};

inline ConvGeom conv2d_geom(const Shape& x, const Shape& w, const Conv2dArgs& a) {
  IBQ_CHECK(x.rank == 4 && w.rank == 4, "conv2d: expects x [N, Cin, H, W] and weight [Cout, Cin, kh, kw], got "
                                            << x << " and " << w);
  IBQ_CHECK(x.dims[1] == w.dims[1], "conv2d: input " << x << " has " << x.dims[1] << " channels but weight " << w
                                                      << " expects " << w.dims[1]);
  IBQ_CHECK(a.stride >= 1 && a.pad_top >= 0 && a.pad_bottom >= 0 && a.pad_left >= 0 && a.pad_right >= 0,
            "conv2d: stride must be >= 1 and paddings >= 0, got stride " << a.stride << " pads (t,b,l,r) ("
                                                                        << a.pad_top << "," << a.pad_bottom << ","
                                                                        << a.pad_left << "," << a.pad_right << ")");
  ConvGeom g{x.dims[0], x.dims[1], x.dims[2], x.dims[3], w.dims[0], w.dims[2], w.dims[3], a.stride,
             a.pad_top, a.pad_left, 0, 0};
  const index_t hp = g.h + a.pad_top + a.pad_bottom, wp = g.w + a.pad_left + a.pad_right;
  IBQ_CHECK(hp >= g.kh && wp >= g.kw && g.kh >= 1 && g.kw >= 1,
            "conv2d: kernel " << w << " is larger than the padded input " << x << " (" << hp << "x" << wp
                              << "); add padding or use a smaller kernel");
  g.ho = (hp - g.kh) / g.stride + 1;
  g.wo = (wp - g.kw) / g.stride + 1;
  return g;
}

inline Shape conv2d_out_shape(const ConvGeom& g) { return Shape{g.n, g.cout, g.ho, g.wo}; }

// Calls f(tile) for every tile, in order. Rows are split evenly so the last band is not a sliver.
template <class F>
void for_each_conv_tile(const ConvGeom& g, F&& f) {
  const index_t budget = std::max<index_t>(conv2d_workspace_elements(), g.k() * conv2d_min_tile_columns());
  const index_t per_image = g.k() * g.p();
  if (per_image <= budget) {
    const index_t nimg = std::max<index_t>(1, std::min(g.n, budget / std::max<index_t>(per_image, 1)));
    for (index_t n0 = 0; n0 < g.n; n0 += nimg) f(ConvTile{n0, std::min(nimg, g.n - n0), 0, g.ho});
    return;
  }
  const index_t max_rows = std::max<index_t>(1, budget / (g.k() * g.wo));
  const index_t bands = (g.ho + max_rows - 1) / max_rows, rows = (g.ho + bands - 1) / bands;
  for (index_t n = 0; n < g.n; ++n)
    for (index_t oh0 = 0; oh0 < g.ho; oh0 += rows) f(ConvTile{n, 1, oh0, std::min(rows, g.ho - oh0)});
}

// ---- column kernels -------------------------------------------------------------------------------------
namespace detail {
template <class Space>
using conv_team_t = typename Kokkos::TeamPolicy<exec_space_t<Space>>::member_type;

// ow range [lo, hi) whose input column iw = ow*s - pl + kj lies inside [0, W).
KOKKOS_INLINE_FUNCTION void conv_valid_cols(const ConvGeom& g, index_t kj, index_t& lo, index_t& hi) {
  const index_t first = g.pl - kj, last = g.w - 1 + g.pl - kj;
  lo = first <= 0 ? 0 : (first + g.stride - 1) / g.stride;
  hi = last < 0 ? 0 : last / g.stride + 1;
  hi = hi < g.wo ? hi : g.wo;
  lo = lo < hi ? lo : hi;
}
}  // namespace detail

// col [nimg][K][rows*Wo] for one tile. Host: a thread per (image, column-buffer row k), looping over the
// tile's output rows with branch-free copy loops (the index arithmetic, five divisions, is paid once per
// k rather than once per 32-float line: it was most of the kernel's time at 32x32); device: a team per
// line, lanes along Wo (coalesced).
template <class T, class Space>
void im2col_host(const Tensor<T, Space>& x, const ConvGeom g, const ConvTile t, const Tensor<T, Space>& col) {
  auto xv = x.view();
  auto cv = col.view();
  const index_t K = g.k();
  Kokkos::parallel_for("ibq::ops::im2col_fwd", range<Space>(t.nimg * K), KOKKOS_LAMBDA(index_t ik) {
    const index_t k = ik % K, i = ik / K;
    const index_t c = k / (g.kh * g.kw), ki = (k / g.kw) % g.kh, kj = k % g.kw;
    index_t lo = 0, hi = 0;
    detail::conv_valid_cols(g, kj, lo, hi);
    const T* plane = xv.data() + ((t.n0 + i) * g.cin + c) * g.h * g.w + (lo * g.stride + kj - g.pl);
    T* dst = cv.data() + ik * t.rows * g.wo;
    for (index_t ol = 0; ol < t.rows; ++ol, dst += g.wo) {
      const index_t ih = (t.oh0 + ol) * g.stride - g.pt + ki;
      if (ih < 0 || ih >= g.h || lo >= hi) {
        for (index_t ow = 0; ow < g.wo; ++ow) dst[ow] = T(0);
        continue;
      }
      for (index_t ow = 0; ow < lo; ++ow) dst[ow] = T(0);
      const T* src = plane + ih * g.w;  // src[(ow - lo) * stride] is input column ow * stride - pl + kj
      if (g.stride == 1)
        for (index_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow - lo];
      else
        for (index_t ow = lo; ow < hi; ++ow) dst[ow] = src[(ow - lo) * g.stride];
      for (index_t ow = hi; ow < g.wo; ++ow) dst[ow] = T(0);
    }
  });
}

template <class T, class Space>
void im2col_device(const Tensor<T, Space>& x, const ConvGeom g, const ConvTile t, const Tensor<T, Space>& col) {
  auto xv = x.view();
  auto cv = col.view();
  const index_t K = g.k(), lines = t.nimg * K * t.rows;
  Kokkos::parallel_for(
      "ibq::ops::im2col_fwd", Kokkos::TeamPolicy<exec_space_t<Space>>(int(lines), 32),
      KOKKOS_LAMBDA(const detail::conv_team_t<Space>& team) {
        const index_t r = team.league_rank();
        const index_t ol = r % t.rows, k = (r / t.rows) % K, i = r / (t.rows * K);
        const index_t c = k / (g.kh * g.kw), ki = (k / g.kw) % g.kh, kj = k % g.kw;
        const index_t ih = (t.oh0 + ol) * g.stride - g.pt + ki;
        index_t lo = 0, hi = 0;
        if (ih >= 0 && ih < g.h) detail::conv_valid_cols(g, kj, lo, hi);
        const index_t base = (((t.n0 + i) * g.cin + c) * g.h + ih) * g.w + kj - g.pl;
        Kokkos::parallel_for(Kokkos::TeamThreadRange(team, g.wo), [&](index_t ow) {
          cv(r * g.wo + ow) = ow >= lo && ow < hi ? xv(base + ow * g.stride) : T(0);
        });
      });
}

// dx += col2im(dcol) over the input rows the tile touches. Host: a thread per input row adds every
// contribution to that row (its own memory, no atomics). Device: a thread per input pixel gathers.
template <class T, class Space>
void col2im_host(const Tensor<T, Space>& dcol, const ConvGeom g, const ConvTile t, index_t ih_lo, index_t nih,
                 const Tensor<T, Space>& dx) {
  auto cv = dcol.view();
  auto xv = dx.view();
  const index_t K = g.k();
  Kokkos::parallel_for("ibq::ops::col2im_bwd", range<Space>(t.nimg * g.cin * nih), KOKKOS_LAMBDA(index_t r) {
    const index_t ih = ih_lo + r % nih, c = (r / nih) % g.cin, i = r / (nih * g.cin);
    T* dst = xv.data() + (((t.n0 + i) * g.cin + c) * g.h + ih) * g.w;
    for (index_t ki = 0; ki < g.kh; ++ki) {
      const index_t num = ih + g.pt - ki;
      if (num < 0 || num % g.stride != 0) continue;
      const index_t ol = num / g.stride - t.oh0;
      if (ol < 0 || ol >= t.rows) continue;
      for (index_t kj = 0; kj < g.kw; ++kj) {
        index_t lo = 0, hi = 0;
        detail::conv_valid_cols(g, kj, lo, hi);
        if (lo >= hi) continue;
        const T* src = cv.data() + ((i * K + (c * g.kh + ki) * g.kw + kj) * t.rows + ol) * g.wo + lo;
        T* d = dst + (lo * g.stride + kj - g.pl);  // input column of output column lo
        if (g.stride == 1)
          for (index_t j = 0; j < hi - lo; ++j) d[j] += src[j];
        else
          for (index_t j = 0; j < hi - lo; ++j) d[j * g.stride] += src[j];
      }
    }
  });
}

template <class T, class Space>
void col2im_device(const Tensor<T, Space>& dcol, const ConvGeom g, const ConvTile t, index_t ih_lo, index_t nih,
                   const Tensor<T, Space>& dx) {
  auto cv = dcol.view();
  auto xv = dx.view();
  const index_t K = g.k();
  Kokkos::parallel_for(
      "ibq::ops::col2im_bwd", Kokkos::TeamPolicy<exec_space_t<Space>>(int(t.nimg * g.cin * nih), 32),
      KOKKOS_LAMBDA(const detail::conv_team_t<Space>& team) {
        const index_t r = team.league_rank();
        const index_t ih = ih_lo + r % nih, c = (r / nih) % g.cin, i = r / (nih * g.cin);
        const index_t row = (((t.n0 + i) * g.cin + c) * g.h + ih) * g.w;
        Kokkos::parallel_for(Kokkos::TeamThreadRange(team, g.w), [&](index_t iw) {
          const index_t u = iw + g.pl, q = u / g.stride, rem = u % g.stride;
          T acc = 0;
          for (index_t ki = 0; ki < g.kh; ++ki) {
            const index_t num = ih + g.pt - ki;
            if (num < 0 || num % g.stride != 0) continue;
            const index_t ol = num / g.stride - t.oh0;
            if (ol < 0 || ol >= t.rows) continue;
            for (index_t kj = rem, ow = q; kj < g.kw; kj += g.stride, --ow)
              if (ow >= 0 && ow < g.wo) acc += cv(((i * K + (c * g.kh + ki) * g.kw + kj) * t.rows + ol) * g.wo + ow);
          }
          xv(row + iw) += acc;
        });
      });
}

template <class T, class Space>
void im2col(const Tensor<T, Space>& x, const ConvGeom& g, const ConvTile& t, const Tensor<T, Space>& col) {
  if constexpr (host_accessible_v<Space>) im2col_host(x, g, t, col);
  else im2col_device(x, g, t, col);
}

template <class T, class Space>
void col2im_accumulate(const Tensor<T, Space>& dcol, const ConvGeom& g, const ConvTile& t, const Tensor<T, Space>& dx) {
  // Input rows that some output row of the band reads.
  const index_t ih_lo = std::max<index_t>(0, t.oh0 * g.stride - g.pt);
  const index_t ih_hi = std::min<index_t>(g.h, (t.oh0 + t.rows - 1) * g.stride - g.pt + g.kh);
  if (ih_hi <= ih_lo) return;
  if constexpr (host_accessible_v<Space>) col2im_host(dcol, g, t, ih_lo, ih_hi - ih_lo, dx);
  else col2im_device(dcol, g, t, ih_lo, ih_hi - ih_lo, dx);
}

// gb[c] += sum over n, p of gy[n, c, p]: a team per channel.
template <class T, class Space>
void channel_sum_accumulate(const Tensor<T, Space>& gy, index_t n, index_t c, index_t p, const Tensor<T, Space>& gb) {
  auto gyv = gy.view();
  auto gbv = gb.view();
  Kokkos::parallel_for(
      "ibq::ops::conv2d_bias_bwd", Kokkos::TeamPolicy<exec_space_t<Space>>(int(c), Kokkos::AUTO),
      KOKKOS_LAMBDA(const detail::conv_team_t<Space>& team) {
        const index_t ch = team.league_rank();
        T total = 0;
        for (index_t img = 0; img < n; ++img) {
          T part = 0;
          const index_t base = (img * c + ch) * p;
          Kokkos::parallel_reduce(
              Kokkos::TeamThreadRange(team, p), [&](index_t j, T& acc) { acc += gyv(base + j); }, part);
          total += part;
        }
        Kokkos::single(Kokkos::PerTeam(team), [&]() { gbv(ch) += total; });
      });
}

// ---- forward / backward -----------------------------------------------------------------------------------
namespace detail {
// Host float convolutions run on oneDNN when the build has it (ibq/linalg/conv_onednn.hpp); double (the
// gradient checks) and device tensors keep im2col + GEMM.
template <class T, class Space>
constexpr bool conv2d_onednn_capable_v = std::is_same_v<T, float> && host_accessible_v<Space>;

#if defined(IBQ_HAVE_DNNL)
inline onednn::Conv& onednn_conv(const ConvGeom& g, const Conv2dArgs& a, bool bias, bool bf16) {
  return onednn::conv_for(onednn::ConvKey{g.n, g.cin, g.h, g.w, g.cout, g.kh, g.kw, g.stride, a.pad_top,
                                          a.pad_bottom, a.pad_left, a.pad_right, bias, bf16});
}
#endif

// Under bf16, oneDNN's bf16 kernels where the host has them; elsewhere the operands are rounded to bf16
// values (copies, in fp32) and the fp32 kernels run on them: the same products and fp32 sums.
template <class T, class Space>
bool conv2d_native_bf16(Precision p) {
  return p == Precision::bf16 && conv2d_onednn_capable_v<T, Space> && conv2d_use_onednn() &&
         bf16_host_kernels() == Bf16Kernels::native;
}
template <class T, class Space>
Tensor<T, Space> rounded_to_bf16(const Tensor<T, Space>& t) {
  auto out = Tensor<T, Space>::empty(t.shape(), "ibq::conv2d_bf16_operand");
  auto src = t.view();
  auto dst = out.view();
  Kokkos::parallel_for("ibq::ops::round_to_bf16", range<Space>(t.size()),
                       KOKKOS_LAMBDA(index_t i) { dst(i) = round_to_bf16(float(src(i))); });
  return out;
}
}  // namespace detail

template <class T, class Space>
Tensor<T, Space> conv2d_forward(const Tensor<T, Space>& x, const Tensor<T, Space>& w, const Tensor<T, Space>& bias,
                                const Conv2dArgs& args, Precision p = Precision::fp32) {
  if constexpr (std::is_same_v<T, float>) {
    if (p == Precision::bf16 && !detail::conv2d_native_bf16<T, Space>(p))
      return conv2d_forward(detail::rounded_to_bf16(x), detail::rounded_to_bf16(w), bias, args);
  }
  const ConvGeom g = conv2d_geom(x.shape(), w.shape(), args);
  if (bias.defined())
    IBQ_CHECK(bias.rank() == 1 && bias.dim(0) == g.cout,
              "conv2d: bias " << bias.shape() << " does not match weight " << w.shape() << "; expected [" << g.cout
                              << "]");
  auto y = Tensor<T, Space>::empty(conv2d_out_shape(g));
#if defined(IBQ_HAVE_DNNL)
  if constexpr (detail::conv2d_onednn_capable_v<T, Space>) {
    if (conv2d_use_onednn()) {
      count_product_flops(double(g.cout), double(g.n * g.p()), double(g.k()));
      detail::onednn_conv(g, args, bias.defined(), p == Precision::bf16).forward(x.data(), w.data(), bias.data(), y.data());
      return y;
    }
  }
#endif
  const index_t K = g.k(), P = g.p();
  T beta(0);
  if (bias.defined()) {  // y[n, c, :] = b[c], then the GEMMs add onto it
    auto yv = y.view();
    auto bv = bias.view();
    const index_t cout = g.cout;
    parallel_for_2d<Space>("ibq::ops::conv2d_bias_fwd", g.n * cout, P,
                           KOKKOS_LAMBDA(index_t row, index_t p) { yv(row * P + p) = bv(row % cout); });
    beta = T(1);
  }
  if (g.pointwise()) {
    gemm_strided_batched<Space>(Trans::N, Trans::N, g.cout, P, g.cin, T(1), w.data(), g.cin, 0, x.data(), P,
                                g.cin * P, beta, y.data(), P, g.cout * P, g.n);
    return y;
  }
  Tensor<T, Space> col;
  for_each_conv_tile(g, [&](const ConvTile& t) {
    const index_t bp = t.rows * g.wo;
    if (col.size() < t.nimg * K * bp) col = Tensor<T, Space>::empty(Shape{t.nimg * K * bp}, "ibq::conv2d_col");
    im2col(x, g, t, col);
    gemm_strided_batched<Space>(Trans::N, Trans::N, g.cout, bp, K, T(1), w.data(), K, 0, col.data(), bp, K * bp, beta,
                                y.data() + t.n0 * g.cout * P + t.oh0 * g.wo, P, g.cout * P, t.nimg);
  });
  return y;
}

// gx += dconv/dx, gw += dconv/dw, gb += dconv/db for the output gradient gy; undefined ones are skipped.
template <class T, class Space>
void conv2d_backward(const Tensor<T, Space>& x, const Tensor<T, Space>& w, const Tensor<T, Space>& gy,
                     const Conv2dArgs& args, const Tensor<T, Space>& gx, const Tensor<T, Space>& gw,
                     const Tensor<T, Space>& gb, Precision p = Precision::fp32) {
  if constexpr (std::is_same_v<T, float>) {
    if (p == Precision::bf16 && !detail::conv2d_native_bf16<T, Space>(p)) {
      // dx reads w and dy, dw reads x and dy: all three as bf16; the bias gradient sums dy as it is (fp32).
      if (gb.defined()) conv2d_backward(x, w, gy, args, Tensor<T, Space>(), Tensor<T, Space>(), gb);
      if (gx.defined() || gw.defined())
        conv2d_backward(detail::rounded_to_bf16(x), detail::rounded_to_bf16(w), detail::rounded_to_bf16(gy), args,
                        gx, gw, Tensor<T, Space>());
      return;
    }
  }
  const ConvGeom g = conv2d_geom(x.shape(), w.shape(), args);
  IBQ_CHECK(gy.shape() == conv2d_out_shape(g),
            "conv2d backward: output gradient " << gy.shape() << " does not match the output " << conv2d_out_shape(g));
#if defined(IBQ_HAVE_DNNL)
  if constexpr (detail::conv2d_onednn_capable_v<T, Space>) {
    if (conv2d_use_onednn()) {
      auto ptr = [](const Tensor<T, Space>& t) { return t.defined() ? t.data() : nullptr; };
      const double passes = double(gx.defined()) + double(gw.defined());  // dx and dW: one product each
      count_product_flops(double(g.cout), double(g.n * g.p()), double(g.k()), passes);
      if (p == Precision::bf16) {  // oneDNN would sum the bf16 dy for the bias; autocast's bias sums stay fp32
        if (gb.defined()) channel_sum_accumulate(gy, g.n, g.cout, g.p(), gb);
        detail::onednn_conv(g, args, false, true).backward(x.data(), w.data(), gy.data(), ptr(gx), ptr(gw), nullptr);
        return;
      }
      detail::onednn_conv(g, args, gb.defined(), false)
          .backward(x.data(), w.data(), gy.data(), ptr(gx), ptr(gw), ptr(gb));
      return;
    }
  }
#endif
  const index_t K = g.k(), P = g.p();
  const T one(1);
  if (gb.defined()) channel_sum_accumulate(gy, g.n, g.cout, P, gb);
  if (g.pointwise()) {
    if (gx.defined())  // dx_n = W^T dy_n
      gemm_strided_batched<Space>(Trans::T, Trans::N, g.cin, P, g.cout, one, w.data(), g.cin, 0, gy.data(), P,
                                  g.cout * P, one, gx.data(), P, g.cin * P, g.n);
    if (gw.defined())  // dW += dy_n x_n^T, one image at a time into the shared buffer
      for (index_t n = 0; n < g.n; ++n)
        gemm<Space>(Trans::N, Trans::T, g.cout, g.cin, P, one, gy.data() + n * g.cout * P, P, x.data() + n * g.cin * P,
                    P, one, gw.data(), g.cin);
    return;
  }
  if (!gx.defined() && !gw.defined()) return;
  Tensor<T, Space> col;  // columns of x for dW, then reused for dcol
  for_each_conv_tile(g, [&](const ConvTile& t) {
    const index_t bp = t.rows * g.wo;
    if (col.size() < t.nimg * K * bp) col = Tensor<T, Space>::empty(Shape{t.nimg * K * bp}, "ibq::conv2d_col");
    const T* gy_tile = gy.data() + t.n0 * g.cout * P + t.oh0 * g.wo;
    if (gw.defined()) {
      im2col(x, g, t, col);
      for (index_t i = 0; i < t.nimg; ++i)
        gemm<Space>(Trans::N, Trans::T, g.cout, K, bp, one, gy_tile + i * g.cout * P, P, col.data() + i * K * bp, bp,
                    one, gw.data(), K);
    }
    if (gx.defined()) {
      gemm_strided_batched<Space>(Trans::T, Trans::N, K, bp, g.cout, one, w.data(), K, 0, gy_tile, P, g.cout * P,
                                  T(0), col.data(), bp, K * bp, t.nimg);
      col2im_accumulate(col, g, t, gx);
    }
  });
}

// ---- differentiable wrappers ----------------------------------------------------------------------------
template <class T, class Space>
Var<T, Space> conv2d(const Var<T, Space>& x, const Var<T, Space>& w, const Var<T, Space>& b,
                     const Conv2dArgs& args = {}) {
  auto& tape = x.tape();
  const Precision p = autocast_precision<T>();
  auto y = conv2d_forward(x.value(), w.value(), b.value(), args, p);
  return tape.record("conv2d", y, {x, w, b},
                     [ix = x.id(), iw = w.id(), ib = b.id(), sx = tape.save(x.value()), sw = tape.save(w.value()),
                      args, p](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       conv2d_backward(sx.get("conv2d"), sw.get("conv2d"), gy, args, t.grad_for(ix), t.grad_for(iw),
                                       t.grad_for(ib), p);
                     });
}

template <class T, class Space>
Var<T, Space> conv2d(const Var<T, Space>& x, const Var<T, Space>& w, const Conv2dArgs& args = {}) {
  auto& tape = x.tape();
  const Precision p = autocast_precision<T>();
  auto y = conv2d_forward(x.value(), w.value(), Tensor<T, Space>(), args, p);
  return tape.record("conv2d", y, {x, w},
                     [ix = x.id(), iw = w.id(), sx = tape.save(x.value()), sw = tape.save(w.value()), args, p](
                         Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       conv2d_backward(sx.get("conv2d"), sw.get("conv2d"), gy, args, t.grad_for(ix), t.grad_for(iw),
                                       Tensor<T, Space>(), p);
                     });
}

}  // namespace ibq
