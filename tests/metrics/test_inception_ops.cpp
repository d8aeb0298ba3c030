// The FID Inception's forward-only pieces, without its 95 MB of weights (the whole network is checked against
// PyTorch by tests/inception.cmake): the bilinear resize against F.interpolate(align_corners=False) up, down,
// with one axis kept and to 299x299; the 3x3 max and average pools (count_include_pad=False) against
// F.max_pool2d / F.avg_pool2d (tests/reference/inception_reference.py --ops-fixture ->
// tests/fixtures/resize_pool.h5, float32), in NCHW and NHWC; conv + bias + ReLU into a channel slice with the
// non-square kernels and strides of Inception (1x7, 7x1, 1x3, 3x1, 3x3 stride 2), NCHW and NHWC, on oneDNN and
// im2col, against double loops; the channel-slice copy; the input conversions; the layer table; and the weight
// loader's errors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "ibq/io/hdf5.hpp"
#include "ibq/metrics/inception.hpp"

using namespace ibq;
using namespace ibq::test;
using Catch::Contains;

namespace {
const std::string inception_fixture = std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/resize_pool.h5";
constexpr double tol = 1e-5;
const std::pair<std::string, Pool3x3Args> pool_cases[] = {{"s2p0", {2, 0}}, {"s1p1", {1, 1}}, {"s2p1", {2, 1}}};

TensorF read_f(const h5::File& f, const std::string& name) { return h5::read_tensor<float>(f, name); }
TensorF to_nhwc(const TensorF& x) { return permute_forward(x, Permutation(x.shape(), {0, 2, 3, 1}, "test")); }
TensorF to_nchw(const TensorF& x) { return permute_forward(x, Permutation(x.shape(), {0, 3, 1, 2}, "test")); }

// relu(conv2d(x, w) + b) in double loops, NCHW / OIHW, zero padding.
std::vector<double> conv_relu_reference(const std::vector<float>& x, const Shape& xs, const std::vector<float>& w,
                                        const Shape& ws, const std::vector<float>& b, const Conv2dArgs& a,
                                        index_t ho, index_t wo) {
  const index_t n = xs[0], cin = xs[1], h = xs[2], wd = xs[3], cout = ws[0], kh = ws[2], kw = ws[3];
  std::vector<double> y(std::size_t(n * cout * ho * wo));
  for (index_t i = 0; i < n; ++i)
    for (index_t o = 0; o < cout; ++o)
      for (index_t r = 0; r < ho; ++r)
        for (index_t c = 0; c < wo; ++c) {
          double s = b[std::size_t(o)];
          for (index_t ci = 0; ci < cin; ++ci)
            for (index_t u = 0; u < kh; ++u)
              for (index_t v = 0; v < kw; ++v) {
                const index_t ih = r * a.stride - a.pad_top + u, iw = c * a.stride - a.pad_left + v;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                s += double(x[std::size_t(((i * cin + ci) * h + ih) * wd + iw)]) *
                     double(w[std::size_t(((o * cin + ci) * kh + u) * kw + v)]);
              }
          y[std::size_t(((i * cout + o) * ho + r) * wo + c)] = s > 0 ? s : 0;
        }
  return y;
}
}  // namespace

TEST_CASE("inception ops: bilinear resize matches F.interpolate(align_corners=False) up, down, one axis kept and "
          "to 299x299",
          "[metrics][inception]") {
  const h5::File f(inception_fixture, h5::File::Mode::read);
  for (const std::string c : {"up", "down", "keep_rows"}) {
    INFO("case " << c);
    const auto want = read_f(f, "resize/" + c + "/y");
    const auto got = resize_bilinear_forward(read_f(f, "resize/" + c + "/x"), want.dim(2), want.dim(3));
    REQUIRE(got.shape() == want.shape());
    require_close(got.to_host(), want.to_host(), tol);
  }
  // The 299x299 output is stored only at the rows listed in `rows` (the whole one is 350 KB).
  const auto got = resize_bilinear_forward(read_f(f, "resize/to299/x"), 299, 299).to_host();
  const auto rows = f.read<std::int64_t>("resize/to299/rows");
  const auto want = f.read<float>("resize/to299/y");
  REQUIRE(want.size() == rows.size() * 299);
  std::vector<float> picked;
  for (const auto r : rows) picked.insert(picked.end(), got.begin() + r * 299, got.begin() + (r + 1) * 299);
  require_close(picked, want, tol);
  CHECK_THROWS_WITH(resize_bilinear_forward(TensorF({2, 3, 4}), 5, 5), Contains("expects x [N, C, H, W]"));
}

TEST_CASE("inception ops: 3x3 max pool matches F.max_pool2d at stride 2, stride 1 pad 1 and stride 2 pad 1, NaN "
          "included",
          "[metrics][inception]") {
  const h5::File f(inception_fixture, h5::File::Mode::read);
  for (const auto& [key, args] : pool_cases) {
    for (const auto layout : {ImageLayout::nchw, ImageLayout::nhwc}) {
      INFO("case " << key << ", " << layout_name(layout));
      const auto want_t = read_f(f, "max_pool/" + key + "/y"), x = read_f(f, "max_pool/" + key + "/x");
      auto got = layout == ImageLayout::nchw ? max_pool3x3_forward(x, args)
                                             : to_nchw(max_pool3x3_forward(to_nhwc(x), args, layout));
      REQUIRE(got.shape() == want_t.shape());
      const auto g = got.to_host(), want = want_t.to_host();
      int nans = 0;
      for (std::size_t i = 0; i < g.size(); ++i) {
        INFO("element " << i << ": got " << g[i] << " want " << want[i]);
        if (std::isnan(want[i])) {
          REQUIRE(std::isnan(g[i]));
          ++nans;
        } else {
          REQUIRE(g[i] == want[i]);  // a max is exact
        }
      }
      CHECK(nans > 0);
    }
  }
  CHECK_THROWS_WITH(max_pool3x3_forward(TensorF({1, 1, 2, 2}), {2, 0}), Contains("smaller than the 3x3 window"));
  CHECK_THROWS_WITH(max_pool3x3_forward(TensorF({1, 1, 5, 5}), {1, 2}), Contains("padding 0 or 1"));
  CHECK_THROWS_WITH(max_pool3x3_forward(TensorF({1, 5, 5}), {1, 1}), Contains("expects a 4-d NCHW image tensor"));
}

TEST_CASE("inception ops: 3x3 average pool leaves the padding out of the count, as "
          "F.avg_pool2d(count_include_pad=False)",
          "[metrics][inception]") {
  const h5::File f(inception_fixture, h5::File::Mode::read);
  for (const auto& [key, args] : pool_cases) {
    INFO("case " << key);
    const auto want = read_f(f, "avg_pool/" + key + "/y"), x = read_f(f, "avg_pool/" + key + "/x");
    const auto got = avg_pool3x3_forward(x, args);
    REQUIRE(got.shape() == want.shape());
    require_close(got.to_host(), want.to_host(), tol);
    // NHWC sums each window in the same order: the same bits.
    CHECK(to_nchw(avg_pool3x3_forward(to_nhwc(x), args, ImageLayout::nhwc)).to_host() == got.to_host());
  }
  // A corner of a constant image averages 4 pixels, not 4 pixels and 5 zeros.
  const auto ones = avg_pool3x3_forward(TensorF::full({1, 1, 4, 4}, 1.f), {1, 1}).to_host();
  for (float v : ones) CHECK(v == 1.f);
}

TEST_CASE("inception ops: conv + bias + ReLU into a channel slice: 1x7, 7x1, 1x3, 3x1, 3x3 stride 2, in NCHW and "
          "NHWC, on oneDNN and im2col",
          "[metrics][inception]") {
  struct Case {
    index_t kh, kw;
    Conv2dArgs args;
  };
  const Case cases[] = {{1, 7, {1, 0, 0, 3, 3}}, {7, 1, {1, 3, 3, 0, 0}}, {1, 3, {1, 0, 0, 1, 1}},
                        {3, 1, {1, 1, 1, 0, 0}}, {3, 3, {2, 0, 0, 0, 0}}, {5, 5, {1, 2, 2, 2, 2}}};
  const Shape xs{2, 5, 9, 11};
  const auto x = random_tensor<float>(xs, 1);
  std::uint64_t seed = 2;
  const bool saved = conv2d_use_onednn();
  for (const bool onednn : {true, false}) {
    conv2d_use_onednn() = onednn && saved;  // the im2col path everywhere; oneDNN where the build has it
    for (const auto layout : {ImageLayout::nchw, ImageLayout::nhwc})
      for (const auto& c : cases) {
        INFO((conv2d_use_onednn() ? "oneDNN " : "im2col ") << layout_name(layout) << " kernel " << c.kh << "x" << c.kw
                                                           << " stride " << c.args.stride);
        const Shape ws{8, 5, c.kh, c.kw};
        const auto w = random_tensor<float>(ws, seed++, -0.3, 0.3), b = random_tensor<float>({8}, seed++, -0.5, 0.5);
        const FrozenConvRelu<float> conv(w, b, c.args);
        const Shape os = conv.out_shape(xs);
        const auto xl = layout == ImageLayout::nchw ? x : to_nhwc(x);
        auto in_nchw = [&](const TensorF& t) { return layout == ImageLayout::nchw ? t : to_nchw(t); };
        // Channels [3, 11) of a 14-channel output; the channels around it must keep their value.
        const auto y = TensorF::full(image_shape({2, 14, os[2], os[3]}, layout), -7.f);
        conv.forward_into(xl, y, 3, layout);
        const auto want = conv_relu_reference(x.to_host(), xs, w.to_host(), ws, b.to_host(), c.args, os[2], os[3]);
        const auto got = in_nchw(y).to_host();
        const index_t plane = os[2] * os[3];
        for (index_t i = 0; i < 2; ++i)
          for (index_t ch = 0; ch < 14; ++ch)
            for (index_t p = 0; p < plane; ++p) {
              const float g = got[std::size_t((i * 14 + ch) * plane + p)];
              if (ch < 3 || ch >= 11) {
                REQUIRE(g == -7.f);
              } else {
                const double v = want[std::size_t((i * 8 + ch - 3) * plane + p)];
                INFO("image " << i << " channel " << ch << " pixel " << p << ": got " << g << " want " << v);
                REQUIRE(std::fabs(g - v) <= 1e-5 * (1 + std::fabs(v)));
              }
            }
        require_close(in_nchw(conv.forward(xl, layout)).to_host(), std::vector<float>(want.begin(), want.end()), 1e-5);
      }
  }
  conv2d_use_onednn() = saved;
  CHECK(FrozenConvRelu<float>::preferred_layout() == (saved && host_accessible_v<Space> ? ImageLayout::nhwc
                                                                                         : ImageLayout::nchw));
}

TEST_CASE("inception ops: copy_channels_into writes a channel range in NCHW and NHWC, with or without ReLU",
          "[metrics][inception]") {
  const auto a = random_tensor<float>({2, 3, 4, 5}, 9);
  for (const auto layout : {ImageLayout::nchw, ImageLayout::nhwc})
    for (const bool relu : {false, true}) {
      INFO(layout_name(layout) << (relu ? " with ReLU" : ""));
      const auto y = TensorF::full(image_shape({2, 7, 4, 5}, layout), 5.f);
      copy_channels_into(layout == ImageLayout::nchw ? a : to_nhwc(a), y, 2, relu, layout);
      const auto got = (layout == ImageLayout::nchw ? y : to_nchw(y)).to_host(), src = a.to_host();
      for (index_t n = 0; n < 2; ++n)
        for (index_t c = 0; c < 7; ++c)
          for (index_t p = 0; p < 20; ++p) {
            const float v = c < 2 || c >= 5 ? 5.f : src[std::size_t((n * 3 + c - 2) * 20 + p)];
            REQUIRE(got[std::size_t((n * 7 + c) * 20 + p)] == (relu && v < 0 ? 0.f : v));
          }
    }
  CHECK_THROWS_WITH(copy_channels_into(a, TensorF({2, 4, 4, 5}), 2), Contains("does not fit into channels [2, 5)"));
}

TEST_CASE("inception inputs: uint8 NHWC (RGB or grey) and [-1, 1] images become the [0, 1] NCHW images "
          "pytorch-fid sees",
          "[metrics][inception]") {
  // Two 1x2 RGB images: channel c of pixel p of image n is 10 n + 3 p + c.
  std::vector<std::uint8_t> rgb;
  for (int n = 0; n < 2; ++n)
    for (int p = 0; p < 2; ++p)
      for (int c = 0; c < 3; ++c) rgb.push_back(std::uint8_t(10 * n + 3 * p + c + 250 * (n == 1 && p == 1 && c == 2)));
  const auto u = metrics::detail::uint8_nhwc_to_unit(Tensor<std::uint8_t>::from_host({2, 1, 2, 3}, rgb)).to_host();
  REQUIRE(u.size() == 12);
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 2; ++p)
        CHECK(u[std::size_t((n * 3 + c) * 2 + p)] == float(rgb[std::size_t((n * 2 + p) * 3 + c)]) / 255.0f);
  const auto g = metrics::detail::uint8_nhwc_to_unit(Tensor<std::uint8_t>::from_host({1, 1, 2, 1}, {0, 255})).to_host();
  CHECK(g == std::vector<float>{0, 1, 0, 1, 0, 1});  // grey: the same plane three times
  CHECK_THROWS_WITH(metrics::detail::uint8_nhwc_to_unit(Tensor<std::uint8_t>({1, 2, 2, 4})),
                    Contains("expects uint8 images [N, H, W, 3]"));
  const auto s = metrics::detail::signed_to_unit(TensorF::from_host({4}, {-1.5f, -1.f, 0.5f, 3.f})).to_host();
  CHECK(s == std::vector<float>{0.f, 0.f, 0.75f, 1.f});
  const auto t = metrics::detail::unit_to_signed(TensorF::from_host({3}, {0.f, 0.25f, 1.f})).to_host();
  CHECK(t == std::vector<float>{-1.f, -0.5f, 1.f});
}

TEST_CASE("inception layers: the table lists pytorch-fid's 94 BasicConv2d with 21751136 conv weights, blocks chained",
          "[metrics][inception]") {
  const auto specs = metrics::fid_inception_convs();
  REQUIRE(specs.size() == 94);
  index_t weights = 0;
  for (const auto& s : specs) weights += s.cout * s.cin * s.kh * s.kw;
  CHECK(weights == 21751136);  // sum of the *.conv.weight sizes of fid_inception_v3()'s state dict
  // Each block's first 1x1 reads what the previous block wrote.
  const std::pair<std::string, index_t> inputs[] = {
      {"Mixed_5b.branch1x1", 192}, {"Mixed_5c.branch1x1", 256},   {"Mixed_5d.branch1x1", 288},
      {"Mixed_6a.branch3x3", 288}, {"Mixed_6b.branch1x1", 768},   {"Mixed_7a.branch3x3_1", 768},
      {"Mixed_7b.branch1x1", 1280}, {"Mixed_7c.branch1x1", 2048}};
  for (const auto& input : inputs) {  // no structured binding: a lambda may not capture one before C++20
    INFO(input.first);
    const auto it = std::find_if(specs.begin(), specs.end(), [&](const auto& s) { return s.name == input.first; });
    REQUIRE(it != specs.end());
    CHECK(it->cin == input.second);
  }
}

TEST_CASE("inception weights: a missing file, format, dataset or shape names the file, dataset and shapes",
          "[metrics][inception]") {
  const std::string dir = std::string(IBQ_BINARY_DIR) + "/";
  const std::string missing = dir + "no_such_inception.h5";
  std::remove(missing.c_str());
  CHECK_THROWS_WITH(metrics::load_fid_inception_weights(missing),
                    Contains("cannot read '" + missing + "'") && Contains("hpc/make_inception_weights.py"));
  const std::string noformat = dir + "inception_noformat.h5";
  h5::write_atomic(noformat, [](h5::File& f) { f.set_attr("/", "source", "test"); });
  CHECK_THROWS_WITH(metrics::load_fid_inception_weights(noformat),
                    Contains(noformat) && Contains("format = \"ibq-inception\""));
  const std::string empty = dir + "inception_empty.h5";
  h5::write_atomic(empty, [](h5::File& f) { f.set_attr("/", "format", "ibq-inception"); });
  CHECK_THROWS_WITH(metrics::load_fid_inception_weights(empty),
                    Contains(empty) && Contains("lack 'Conv2d_1a_3x3.conv.weight' (expected shape [32, 3, 3, 3])") &&
                        Contains("pt_inception-2015-12-05-6726825d.pth"));
  const std::string shape = dir + "inception_shape.h5";
  h5::write_atomic(shape, [](h5::File& f) {
    f.set_attr("/", "format", "ibq-inception");
    f.write("Conv2d_1a_3x3.conv.weight", std::vector<float>(32 * 3 * 5 * 5), {32, 3, 5, 5});
  });
  CHECK_THROWS_WITH(metrics::load_fid_inception_weights(shape),
                    Contains("'Conv2d_1a_3x3.conv.weight' has shape [32, 3, 5, 5], expected [32, 3, 3, 3]") &&
                        Contains("hpc/make_inception_weights.py"));
  for (const auto& p : {noformat, empty, shape}) std::remove(p.c_str());
}
