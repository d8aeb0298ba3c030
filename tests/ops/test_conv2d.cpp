// conv2d: values and gradients against PyTorch fixtures (3x3 same, taming Downsample, 1x1, PatchGAN 4x4/2),
// a direct-loop reference for the tiled column buffer (image chunks and row bands), finite-difference
// gradient checks of x, weight and bias for each configuration, and shape errors.
#include <string>

#include "test_util.hpp"
#include "ibq/io/hdf5.hpp"
#include "ibq/ops/conv2d.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
const std::string fixture_path = std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/conv.h5";

// Shrinks the column buffer for one scope so small images exercise the tiling paths.
struct WorkspaceGuard {
  index_t saved, saved_columns;
  explicit WorkspaceGuard(index_t elements)
      : saved(conv2d_workspace_elements()), saved_columns(conv2d_min_tile_columns()) {
    conv2d_workspace_elements() = elements;
    conv2d_min_tile_columns() = 1;
  }
  ~WorkspaceGuard() {
    conv2d_workspace_elements() = saved;
    conv2d_min_tile_columns() = saved_columns;
  }
};

Conv2dArgs fixture_args(const h5::File& f, const std::string& g) {
  return Conv2dArgs{f.attr<std::int64_t>(g, "stride"), f.attr<std::int64_t>(g, "pad_top"),
                    f.attr<std::int64_t>(g, "pad_bottom"), f.attr<std::int64_t>(g, "pad_left"),
                    f.attr<std::int64_t>(g, "pad_right")};
}

void check_conv_fixture(const std::string& group) {
  INFO("fixture " << group);
  h5::File f(fixture_path, h5::File::Mode::read);
  const bool bias = f.attr<std::int64_t>(group, "bias") != 0;
  const Conv2dArgs args = fixture_args(f, group);
  std::vector<std::string> names = {"x", "w"};
  if (bias) names.push_back("b");
  TapeD tape;
  VarsD in;
  for (const auto& n : names) in.push_back(tape.leaf(h5::read_tensor<double>(f, group + "/" + n), true));
  const auto out = bias ? conv2d(in[0], in[1], in[2], args) : conv2d(in[0], in[1], args);
  const auto want = h5::read_tensor<double>(f, group + "/out");
  REQUIRE(out.shape() == want.shape());
  require_close(out.value().to_host(), want.to_host(), 1e-10);
  tape.backward(out, h5::read_tensor<double>(f, group + "/r"));
  for (std::size_t i = 0; i < names.size(); ++i) {
    INFO("gradient of " << names[i]);
    require_close(in[i].grad().to_host(), h5::read_tensor<double>(f, group + "/grad_" + names[i]).to_host(), 1e-10);
  }
}

// Direct loops: y = conv(x, w) + b and, for an output direction r, the gradients of <r, y>.
struct RefConv {
  std::vector<double> y, gx, gw, gb;
};
RefConv reference_conv(const TensorD& xt, const TensorD& wt, const TensorD& bt, const Conv2dArgs& a,
                       const TensorD& rt) {
  const auto x = xt.to_host(), w = wt.to_host(), b = bt.to_host(), r = rt.to_host();
  const index_t N = xt.dim(0), C = xt.dim(1), H = xt.dim(2), W = xt.dim(3), O = wt.dim(0), KH = wt.dim(2),
                KW = wt.dim(3);
  const index_t HO = (H + a.pad_top + a.pad_bottom - KH) / a.stride + 1,
                WO = (W + a.pad_left + a.pad_right - KW) / a.stride + 1;
  RefConv ref{std::vector<double>(N * O * HO * WO), std::vector<double>(x.size()), std::vector<double>(w.size()),
              std::vector<double>(O)};
  for (index_t n = 0; n < N; ++n)
    for (index_t o = 0; o < O; ++o)
      for (index_t oh = 0; oh < HO; ++oh)
        for (index_t ow = 0; ow < WO; ++ow) {
          const index_t yi = ((n * O + o) * HO + oh) * WO + ow;
          double acc = b[o];
          for (index_t c = 0; c < C; ++c)
            for (index_t ki = 0; ki < KH; ++ki)
              for (index_t kj = 0; kj < KW; ++kj) {
                const index_t ih = oh * a.stride - a.pad_top + ki, iw = ow * a.stride - a.pad_left + kj;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const index_t xi = ((n * C + c) * H + ih) * W + iw, wi = ((o * C + c) * KH + ki) * KW + kj;
                acc += x[xi] * w[wi];
                ref.gx[xi] += r[yi] * w[wi];
                ref.gw[wi] += r[yi] * x[xi];
              }
          ref.y[yi] = acc;
          ref.gb[o] += r[yi];
        }
  return ref;
}

struct ConvCase {
  const char* name;
  index_t n, cin, cout, h, w, k;
  Conv2dArgs args;
};
const std::vector<ConvCase>& grad_cases() {
  static const std::vector<ConvCase> c = {
      {"3x3 stride 1 pad 1", 2, 3, 4, 6, 5, 3, Conv2dArgs::symmetric(1, 1)},
      {"3x3 stride 2 downsample pad (0,1,0,1)", 2, 3, 4, 6, 5, 3, Conv2dArgs{2, 0, 1, 0, 1}},
      {"1x1", 2, 3, 4, 5, 6, 1, Conv2dArgs{}},
      {"4x4 stride 2 pad 1", 2, 3, 4, 6, 6, 4, Conv2dArgs::symmetric(2, 1)},
      {"3x3 stride 1 no padding", 2, 3, 2, 5, 6, 3, Conv2dArgs{}},
      {"1x1 stride 2 (not pointwise)", 2, 3, 2, 5, 6, 1, Conv2dArgs{2, 0, 0, 0, 0}},
  };
  return c;
}
void grad_check_case(const ConvCase& c, std::uint64_t seed) {
  INFO(c.name);
  const TensorD x = random_tensor({c.n, c.cin, c.h, c.w}, seed), w = random_tensor({c.cout, c.cin, c.k, c.k}, seed + 1),
                b = random_tensor({c.cout}, seed + 2);
  const Conv2dArgs args = c.args;
  require_grad_ok([args](TapeD&, const VarsD& v) { return conv2d(v[0], v[1], v[2], args); }, {x, w, b},
                  {"x", "weight", "bias"});
  require_grad_ok([args](TapeD&, const VarsD& v) { return conv2d(v[0], v[1], args); }, {x, w}, {"x", "weight"});
}
}  // namespace

TEST_CASE("conv2d: 3x3 stride 1 pad 1 matches PyTorch", "[ops][conv2d]") { check_conv_fixture("conv/k3_s1_p1"); }
TEST_CASE("conv2d: taming Downsample (pad right/bottom 1, 3x3 stride 2) matches PyTorch", "[ops][conv2d]") {
  check_conv_fixture("conv/downsample");
}
TEST_CASE("conv2d: 1x1 matches PyTorch", "[ops][conv2d]") { check_conv_fixture("conv/k1"); }
TEST_CASE("conv2d: 4x4 stride 2 pad 1 without bias (PatchGAN) matches PyTorch", "[ops][conv2d]") {
  check_conv_fixture("conv/k4_s2_p1");
}

TEST_CASE("conv2d: gradient check of x, weight and bias for each configuration", "[ops][conv2d][grad]") {
  std::uint64_t seed = 100;
  for (const auto& c : grad_cases()) grad_check_case(c, seed += 10);
}

TEST_CASE("conv2d: gradient check with the column buffer split into row bands", "[ops][conv2d][grad]") {
  const WorkspaceGuard small(3 * 9 * 5 * 2);  // two output rows of one image per tile
  grad_check_case(grad_cases()[0], 200);
  grad_check_case(grad_cases()[1], 210);
}

TEST_CASE("conv2d: tiled column buffer (image chunks, row bands) matches direct loops", "[ops][conv2d]") {
  struct TileCase {
    const char* name;
    index_t n, cin, cout, h, w, kh, kw;
    Conv2dArgs args;
  };
  const std::vector<TileCase> cases = {
      {"3x3 same", 3, 4, 5, 9, 8, 3, 3, Conv2dArgs::symmetric(1, 1)},
      {"downsample", 3, 4, 5, 9, 8, 3, 3, Conv2dArgs{2, 0, 1, 0, 1}},
      {"4x4 stride 2 pad 1", 3, 4, 5, 9, 8, 4, 4, Conv2dArgs::symmetric(2, 1)},
      {"5x3 kernel, asymmetric pads", 3, 2, 3, 7, 8, 5, 3, Conv2dArgs{1, 2, 0, 1, 3}},
      {"3x2 kernel, stride 3", 2, 2, 3, 10, 11, 3, 2, Conv2dArgs{3, 1, 1, 0, 2}},
  };
  for (const auto& c : cases) {
    const TensorD x = random_tensor({c.n, c.cin, c.h, c.w}, 1), w = random_tensor({c.cout, c.cin, c.kh, c.kw}, 2),
                  b = random_tensor({c.cout}, 3);
    const auto geom = conv2d_geom(x.shape(), w.shape(), c.args);
    const TensorD r = random_tensor(conv2d_out_shape(geom), 4);
    const RefConv ref = reference_conv(x, w, b, c.args, r);
    const index_t per_image = geom.k() * geom.p(), per_row = geom.k() * geom.wo;
    for (const index_t ws : {index_t(1) << 22, 2 * per_image, per_image - 1, 2 * per_row, per_row, index_t(1)}) {
      INFO(c.name << ", workspace " << ws << " elements (one image: " << per_image << ")");
      const WorkspaceGuard guard(ws);
      index_t tiles = 0;
      for_each_conv_tile(geom, [&](const ConvTile&) { ++tiles; });
      if (ws < per_image) REQUIRE(tiles >= c.n * 2);  // row bands really are exercised
      if (ws == 2 * per_image) REQUIRE(tiles == (c.n + 1) / 2);
      require_close(conv2d_forward(x, w, b, c.args).to_host(), ref.y, 1e-12);
      TensorD gx(x.shape()), gw(w.shape()), gb(b.shape());
      conv2d_backward(x, w, r, c.args, gx, gw, gb);
      require_close(gx.to_host(), ref.gx, 1e-12);
      require_close(gw.to_host(), ref.gw, 1e-12);
      require_close(gb.to_host(), ref.gb, 1e-12);
      conv2d_backward(x, w, r, c.args, gx, TensorD(), TensorD());  // accumulates: gx is now twice the reference
      std::vector<double> twice(ref.gx);
      for (auto& v : twice) v *= 2;
      require_close(gx.to_host(), twice, 1e-12);
    }
  }
}

// Float convolutions on the host run on oneDNN when the build has it, im2col + GEMM otherwise (or with
// IBQ_CONV=im2col); both are checked here against the double loops, gradients accumulating onto what the
// buffers already hold, over strides, asymmetric pads, odd kernels, 1x1 and channel counts that are not
// multiples of oneDNN's 16-channel blocks.
TEST_CASE("conv2d: float forward and backward agree with double direct loops on each host backend", "[ops][conv2d]") {
  struct FloatCase {
    const char* name;
    index_t n, cin, cout, h, w, kh, kw;
    Conv2dArgs args;
    bool bias;
  };
  const std::vector<FloatCase> cases = {
      {"3x3 same", 2, 8, 6, 10, 12, 3, 3, Conv2dArgs::symmetric(1, 1), true},
      {"3x3 same, 32 channels", 3, 32, 32, 8, 8, 3, 3, Conv2dArgs::symmetric(1, 1), true},
      {"downsample", 3, 5, 7, 9, 8, 3, 3, Conv2dArgs{2, 0, 1, 0, 1}, true},
      {"4x4 stride 2 pad 1, no bias", 2, 3, 17, 9, 8, 4, 4, Conv2dArgs::symmetric(2, 1), false},
      {"5x3 kernel, asymmetric pads", 3, 2, 3, 7, 8, 5, 3, Conv2dArgs{1, 2, 0, 1, 3}, true},
      {"3x2 kernel, stride 3", 2, 2, 3, 10, 11, 3, 2, Conv2dArgs{3, 1, 1, 0, 2}, true},
      {"1x1", 2, 19, 4, 5, 6, 1, 1, Conv2dArgs{}, true},
      {"1 input channel (conv_in)", 4, 1, 16, 12, 12, 3, 3, Conv2dArgs::symmetric(1, 1), true},
  };
  auto to_f = [](const std::vector<double>& v, const Shape& s) {
    return TensorF::from_host(s, std::vector<float>(v.begin(), v.end()));
  };
  auto to_d = [](const TensorF& t) {
    const auto v = t.to_host();
    return std::vector<double>(v.begin(), v.end());
  };
  auto plus = [](std::vector<double> a, const std::vector<double>& b) {
    for (std::size_t i = 0; i < a.size(); ++i) a[i] += b[i];
    return a;
  };
  const bool saved = conv2d_use_onednn();
  std::vector<bool> backends{false};
#if defined(IBQ_HAVE_DNNL)
  backends.push_back(true);
#endif
  for (const bool onednn : backends) {
    conv2d_use_onednn() = onednn;
    for (const auto& c : cases) {
      INFO(c.name << " on " << conv2d_host_backend());
      const TensorD x = random_tensor({c.n, c.cin, c.h, c.w}, 5), w = random_tensor({c.cout, c.cin, c.kh, c.kw}, 6),
                    b = c.bias ? random_tensor({c.cout}, 7) : TensorD(Shape{c.cout});
      const auto geom = conv2d_geom(x.shape(), w.shape(), c.args);
      const TensorD r = random_tensor(conv2d_out_shape(geom), 8);
      const RefConv ref = reference_conv(x, w, b, c.args, r);
      const TensorF xf = to_f(x.to_host(), x.shape()), wf = to_f(w.to_host(), w.shape()),
                    bf = to_f(b.to_host(), b.shape()), rf = to_f(r.to_host(), r.shape());
      require_close(to_d(c.bias ? conv2d_forward(xf, wf, bf, c.args) : conv2d_forward(xf, wf, TensorF(), c.args)),
                    ref.y, 1e-5);
      // Gradients add onto buffers that already hold something.
      const auto gx0 = random_tensor(x.shape(), 9).to_host(), gw0 = random_tensor(w.shape(), 10).to_host(),
                 gb0 = random_tensor(b.shape(), 11).to_host();
      TensorF gx = to_f(gx0, x.shape()), gw = to_f(gw0, w.shape()), gb = to_f(gb0, b.shape());
      conv2d_backward(xf, wf, rf, c.args, gx, gw, c.bias ? gb : TensorF());
      require_close(to_d(gx), plus(gx0, ref.gx), 1e-5);
      require_close(to_d(gw), plus(gw0, ref.gw), 1e-5);
      if (c.bias) require_close(to_d(gb), plus(gb0, ref.gb), 1e-5);
      TensorF gx_only = to_f(gx0, x.shape()), gw_only = to_f(gw0, w.shape());  // one gradient at a time
      conv2d_backward(xf, wf, rf, c.args, gx_only, TensorF(), TensorF());
      conv2d_backward(xf, wf, rf, c.args, TensorF(), gw_only, TensorF());
      require_close(to_d(gx_only), plus(gx0, ref.gx), 1e-5);
      require_close(to_d(gw_only), plus(gw0, ref.gw), 1e-5);
    }
  }
  conv2d_use_onednn() = saved;
}

TEST_CASE("conv2d: bad shapes and arguments name the op and the shapes", "[ops][conv2d]") {
  TapeD tape;
  auto x = tape.leaf(TensorD({2, 3, 5, 5}));
  auto w_bad_c = tape.leaf(TensorD({4, 2, 3, 3}));
  auto w_big = tape.leaf(TensorD({4, 3, 7, 7}));
  auto w = tape.leaf(TensorD({4, 3, 3, 3}));
  auto b_bad = tape.leaf(TensorD({5}));
  auto x3 = tape.leaf(TensorD({3, 5, 5}));
  REQUIRE_THROWS_WITH(conv2d(x, w_bad_c), Catch::Contains("conv2d") && Catch::Contains("[2, 3, 5, 5]") &&
                                              Catch::Contains("[4, 2, 3, 3]"));
  REQUIRE_THROWS_WITH(conv2d(x, w_big), Catch::Contains("conv2d") && Catch::Contains("[4, 3, 7, 7]") &&
                                            Catch::Contains("padding"));
  REQUIRE_THROWS_WITH(conv2d(x, w, b_bad), Catch::Contains("conv2d") && Catch::Contains("[5]"));
  REQUIRE_THROWS_WITH(conv2d(x3, w), Catch::Contains("conv2d") && Catch::Contains("[3, 5, 5]"));
  REQUIRE_THROWS_WITH(conv2d(x, w, Conv2dArgs{0, 0, 0, 0, 0}), Catch::Contains("conv2d") && Catch::Contains("stride"));
}
