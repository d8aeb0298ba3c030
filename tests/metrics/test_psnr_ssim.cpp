// PSNR and SSIM against scikit-image 0.19 (tests/reference/metrics_reference.py -> tests/fixtures/metrics.h5):
// every case and window variant within 1e-9, the batch means and Tensor forms, identical images (SSIM
// exactly 1, PSNR +inf, also through the batch mean), and the errors: mismatched shapes, wrong ranks,
// images smaller than the window, bad options, empty batches.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "ibq/io/hdf5.hpp"
#include "ibq/metrics/psnr.hpp"
#include "ibq/metrics/ssim.hpp"

using namespace ibq;
using namespace ibq::metrics;
using Catch::Contains;
using U8Tensor = Tensor<std::uint8_t, test::Space>;

namespace {
const std::string psnr_ssim_fixture = std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/metrics.h5";
constexpr double ssim_tol = 1e-9;  // the issue asks 1e-3; observed <= 1e-13 (summation order; flat images cancel most)

struct Pair {
  std::string name;
  std::vector<std::uint8_t> a, b;
  index_t H, W, C;
};

std::vector<Pair> read_cases(const h5::File& f) {
  std::vector<Pair> out;
  for (const std::string& ds : f.datasets("cases")) {
    if (ds.size() < 2 || ds.compare(ds.size() - 2, 2, "/a") != 0) continue;
    const std::string name = ds.substr(0, ds.size() - 2);
    std::vector<hsize_t> dims;
    Pair p{name, f.read<std::uint8_t>("cases/" + name + "/a", &dims), f.read<std::uint8_t>("cases/" + name + "/b"),
           0, 0, 0};
    REQUIRE(dims.size() == 3);
    p.H = index_t(dims[0]);
    p.W = index_t(dims[1]);
    p.C = index_t(dims[2]);
    out.push_back(p);
  }
  REQUIRE(out.size() >= 10);
  return out;
}

SsimOptions variant(const std::string& key) {
  SsimOptions o;
  if (key == "ssim_uniform_pop") o.use_sample_covariance = false;
  if (key == "ssim_uniform_w3") o.win_size = 3;
  if (key == "ssim_gaussian") o = SsimOptions::wang2004();
  if (key == "ssim_gaussian_sample") o.gaussian = true;
  return o;
}

std::vector<std::uint8_t> ramp(index_t n, int mul) {
  std::vector<std::uint8_t> v(n);
  for (index_t i = 0; i < n; ++i) v[i] = std::uint8_t((i * mul + 7) % 256);
  return v;
}
}  // namespace

TEST_CASE("psnr: matches skimage peak_signal_noise_ratio on the fixture", "[metrics]") {
  h5::File f(psnr_ssim_fixture, h5::File::Mode::read);
  for (const Pair& p : read_cases(f)) {
    const double want = f.attr<double>("cases/" + p.name, "psnr");
    const double got = psnr(p.a.data(), p.b.data(), p.H, p.W, p.C);
    INFO(p.name << ": got " << got << " want " << want);
    if (std::isinf(want)) {
      REQUIRE(std::isinf(got));
      REQUIRE(got > 0);
    } else {
      REQUIRE(std::fabs(got - want) <= ssim_tol);
    }
  }
}

TEST_CASE("ssim: matches skimage structural_similarity, uniform and Gaussian windows", "[metrics]") {
  h5::File f(psnr_ssim_fixture, h5::File::Mode::read);
  const char* keys[] = {"ssim_uniform", "ssim_uniform_pop", "ssim_uniform_w3", "ssim_gaussian",
                        "ssim_gaussian_sample"};
  int compared = 0, refused = 0;
  for (const Pair& p : read_cases(f))
    for (const char* key : keys) {
      const double want = f.attr<double>("cases/" + p.name, key);
      const SsimOptions o = variant(key);
      INFO(p.name << " " << key);
      if (std::isnan(want)) {  // skimage refused: the image is smaller than the window
        REQUIRE_THROWS_WITH(ssim(p.a.data(), p.b.data(), p.H, p.W, p.C, o),
                            Contains("ssim") && Contains("smaller than the") && Contains("window"));
        ++refused;
        continue;
      }
      const double got = ssim(p.a.data(), p.b.data(), p.H, p.W, p.C, o);
      INFO("got " << got << " want " << want);
      REQUIRE(std::fabs(got - want) <= ssim_tol);
      ++compared;
    }
  REQUIRE(compared >= 45);
  REQUIRE(refused == 6);  // the 7x7 and 9x12 images under both Gaussian variants
}

TEST_CASE("psnr_batch, ssim_batch: per-image means, pointer and Tensor forms", "[metrics]") {
  h5::File f(psnr_ssim_fixture, h5::File::Mode::read);
  std::vector<hsize_t> d;
  const auto a = f.read<std::uint8_t>("batch/a", &d);
  const auto b = f.read<std::uint8_t>("batch/b");
  REQUIRE(d.size() == 4);
  const index_t N = index_t(d[0]), H = index_t(d[1]), W = index_t(d[2]), C = index_t(d[3]);
  const double want_psnr = f.attr<double>("batch", "psnr");
  const double want_u = f.attr<double>("batch", "ssim_uniform");
  const double want_g = f.attr<double>("batch", "ssim_gaussian");
  CHECK(std::fabs(psnr_batch(a.data(), b.data(), N, H, W, C) - want_psnr) <= ssim_tol);
  CHECK(std::fabs(ssim_batch(a.data(), b.data(), N, H, W, C) - want_u) <= ssim_tol);
  CHECK(std::fabs(ssim_batch(a.data(), b.data(), N, H, W, C, SsimOptions::wang2004()) - want_g) <= ssim_tol);

  const auto ta = h5::read_tensor<std::uint8_t>(f, "batch/a"), tb = h5::read_tensor<std::uint8_t>(f, "batch/b");
  CHECK(std::fabs(psnr_batch(ta, tb) - want_psnr) <= ssim_tol);
  CHECK(std::fabs(ssim_batch(ta, tb) - want_u) <= ssim_tol);
  CHECK(std::fabs(ssim_batch(ta, tb, SsimOptions::wang2004()) - want_g) <= ssim_tol);

  // The single-image Tensor forms agree with the pointer forms on image 0.
  const index_t img = H * W * C;
  const auto a0 = U8Tensor::from_host({H, W, C}, std::vector<std::uint8_t>(a.begin(), a.begin() + img));
  const auto b0 = U8Tensor::from_host({H, W, C}, std::vector<std::uint8_t>(b.begin(), b.begin() + img));
  CHECK(psnr(a0, b0) == psnr(a.data(), b.data(), H, W, C));
  CHECK(ssim(a0, b0) == ssim(a.data(), b.data(), H, W, C));
}

TEST_CASE("ssim, psnr: identical images give SSIM exactly 1 and PSNR +inf", "[metrics]") {
  const index_t H = 9, W = 13, C = 3;
  const auto a = ramp(H * W * C, 37);
  CHECK(ssim(a.data(), a.data(), H, W, C) == 1.0);
  CHECK(ssim(a.data(), a.data(), 11, 11, 1, SsimOptions::wang2004()) == 1.0);
  const double p = psnr(a.data(), a.data(), H, W, C);
  CHECK(std::isinf(p));
  CHECK(p > 0);

  // A batch holding one identical pair has a +inf mean, as np.mean over the reference's batch would.
  auto b = a;
  b.insert(b.end(), a.begin(), a.end());
  auto c = a;
  const auto other = ramp(H * W * C, 11);
  c.insert(c.end(), other.begin(), other.end());
  CHECK(std::isinf(psnr_batch(b.data(), c.data(), 2, H, W, C)));
  CHECK(std::isfinite(psnr_batch(other.data(), a.data(), 1, H, W, C)));
  CHECK(ssim_batch(b.data(), b.data(), 2, H, W, C) == 1.0);
}

TEST_CASE("psnr, ssim: errors name the function and the fix", "[metrics]") {
  const auto v = ramp(3 * 8 * 8 * 3, 5);
  const auto t4 = U8Tensor::from_host({3, 8, 8, 3}, v);
  const auto t4b = U8Tensor::from_host({3, 8, 8, 3}, ramp(3 * 8 * 8 * 3, 9));
  const auto t4other = U8Tensor::from_host({3, 8, 9, 3}, ramp(3 * 8 * 9 * 3, 9));
  const auto t3 = U8Tensor::from_host({8, 8, 3}, ramp(8 * 8 * 3, 3));

  SECTION("mismatched shapes") {
    REQUIRE_THROWS_WITH(psnr_batch(t4, t4other), Contains("psnr_batch") && Contains("[3, 8, 8, 3] vs [3, 8, 9, 3]"));
    REQUIRE_THROWS_WITH(ssim_batch(t4, t4other), Contains("ssim_batch") && Contains("[3, 8, 8, 3] vs [3, 8, 9, 3]"));
    REQUIRE_THROWS_WITH(ssim(t3, t4), Contains("ssim") && Contains("equal shape"));
  }
  SECTION("wrong rank") {
    REQUIRE_THROWS_WITH(psnr(t4, t4b), Contains("psnr") && Contains("[H, W, C]") && Contains("_batch"));
    REQUIRE_THROWS_WITH(ssim_batch(t3, t3), Contains("ssim_batch") && Contains("[N, H, W, C]"));
  }
  SECTION("images smaller than the window") {
    // 8x8 fits the 7x7 uniform window but not the 11x11 Gaussian one; 6x6 fits neither.
    CHECK_NOTHROW(ssim_batch(t4, t4b));
    REQUIRE_THROWS_WITH(ssim_batch(t4, t4b, SsimOptions::wang2004()),
                        Contains("ssim_batch") && Contains("8x8") && Contains("11x11 Gaussian") &&
                            Contains("SsimOptions::sigma"));
    REQUIRE_THROWS_WITH(ssim(v.data(), v.data(), 6, 40, 1),
                        Contains("ssim: images of 6x40") && Contains("7x7 uniform") && Contains("win_size"));
    SsimOptions small;
    small.win_size = 5;
    CHECK(ssim(v.data(), v.data(), 6, 40, 1, small) == 1.0);
  }
  SECTION("bad options") {
    SsimOptions even;
    even.win_size = 4;
    REQUIRE_THROWS_WITH(ssim(v.data(), v.data(), 8, 8, 3, even), Contains("ssim") && Contains("odd"));
    SsimOptions one;
    one.win_size = 1;
    REQUIRE_THROWS_WITH(ssim(v.data(), v.data(), 8, 8, 3, one), Contains("use_sample_covariance = false"));
    one.use_sample_covariance = false;
    CHECK(std::isfinite(ssim(v.data(), v.data(), 8, 8, 3, one)));
    SsimOptions neg = SsimOptions::wang2004();
    neg.sigma = -1;
    REQUIRE_THROWS_WITH(ssim(v.data(), v.data(), 8, 8, 3, neg), Contains("sigma"));
  }
  SECTION("empty batches") {
    REQUIRE_THROWS_WITH(psnr_batch(v.data(), v.data(), 0, 8, 8, 3), Contains("psnr_batch") && Contains("empty"));
    REQUIRE_THROWS_WITH(ssim(v.data(), v.data(), 8, 8, 0), Contains("ssim") && Contains("empty"));
  }
}
