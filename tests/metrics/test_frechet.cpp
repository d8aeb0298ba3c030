// Fréchet distance and the Inception-Score formula against scipy/numpy (tests/reference/frechet_reference.py
// -> tests/fixtures/frechet.h5): the fitted mean and covariance as numpy.cov, the distance as pytorch-fid's
// sqrtm formula on well-conditioned, correlated, mean-shifted and rank-deficient (n < d) sets and identical
// sets (0); the IS over 1, 3 and 10 splits; and the errors.
#include <string>
#include <vector>

#include "test_util.hpp"
#include "ibq/io/hdf5.hpp"
#include "ibq/metrics/frechet.hpp"
#include "ibq/metrics/inception_score.hpp"

using namespace ibq;
using namespace ibq::metrics;
using Catch::Contains;

namespace {
const std::string fixture_path = std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/frechet.h5";

std::vector<double> read2(const h5::File& f, const std::string& name, index_t& rows, index_t& cols) {
  std::vector<hsize_t> dims;
  auto v = f.read<double>(name, &dims);
  REQUIRE(dims.size() == 2);
  rows = index_t(dims[0]), cols = index_t(dims[1]);
  return v;
}
}  // namespace

TEST_CASE("fit_gaussian gives numpy's mean and unbiased covariance", "[metrics][frechet]") {
  const h5::File f(fixture_path, h5::File::Mode::read);
  index_t n, d, r, c;
  const auto a = read2(f, "fd/correlated/a", n, d);
  const auto sigma = read2(f, "fd/correlated/sigma_a", r, c);
  const auto mu = f.read<double>("fd/correlated/mu_a");
  const Gaussian g = fit_gaussian(a.data(), n, d);
  REQUIRE(g.count == n);
  for (index_t i = 0; i < d; ++i) {
    CHECK(g.mean(i) == Approx(mu[std::size_t(i)]).margin(1e-12));
    for (index_t j = 0; j < d; ++j) CHECK(g.cov(i, j) == Approx(sigma[std::size_t(i * d + j)]).margin(1e-10));
  }
}

TEST_CASE("frechet_distance matches pytorch-fid's scipy formula", "[metrics][frechet]") {
  const h5::File f(fixture_path, h5::File::Mode::read);
  for (const std::string name : {"gaussian", "correlated", "mean_shift", "fewer_samples_than_dims", "identical"}) {
    INFO("case " << name);
    index_t na, nb, d, d2;
    const auto a = read2(f, "fd/" + name + "/a", na, d);
    const auto b = read2(f, "fd/" + name + "/b", nb, d2);
    REQUIRE(d == d2);
    const double expected = f.attr<double>("fd/" + name, "fd");
    const double got = frechet_distance(fit_gaussian(a.data(), na, d), fit_gaussian(b.data(), nb, d));
    if (name == "identical") {
      CHECK(got == Approx(0.0).margin(1e-9));  // scipy leaves -1.8e-14; ours is clamped at 0
    } else {
      // sqrtm of a rank-deficient product is accurate to ~1e-7 only; the full-rank cases agree to ~1e-12.
      CHECK(got == Approx(expected).epsilon(name == "fewer_samples_than_dims" ? 1e-6 : 1e-9));
    }
  }
  // Float features give the same distance as the double ones they round from, to float precision.
  index_t n, d;
  const auto a = read2(f, "fd/gaussian/a", n, d);
  const std::vector<float> af(a.begin(), a.end());
  CHECK(frechet_distance(fit_gaussian(af.data(), n, d), fit_gaussian(a.data(), n, d)) == Approx(0.0).margin(1e-9));
}

TEST_CASE("frechet_distance and fit_gaussian refuse bad input", "[metrics][frechet]") {
  const std::vector<double> one(4, 1.0), two = {0, 1, 2, 3, 4, 5};
  CHECK_THROWS_WITH(fit_gaussian(one.data(), 1, 4), Contains("at least 2 feature vectors"));
  std::vector<double> nan = two;
  nan[3] = std::nan("");
  CHECK_THROWS_WITH(fit_gaussian(nan.data(), 3, 2), Contains("feature 1 of vector 1 is nan"));
  CHECK_THROWS_WITH(frechet_distance(fit_gaussian(two.data(), 3, 2), fit_gaussian(two.data(), 2, 3)),
                    Contains("feature dimensions differ (2 vs 3)"));
}

TEST_CASE("inception_score matches the reference formula over splits", "[metrics][inception_score]") {
  const h5::File f(fixture_path, h5::File::Mode::read);
  for (const std::string name : {"confident", "flat", "one_split"}) {
    INFO("case " << name);
    index_t n, k;
    const auto p = read2(f, "is/" + name + "/probs", n, k);
    const auto splits = f.attr<long>("is/" + name, "splits");
    const auto s = inception_score(p.data(), n, k, splits);
    CHECK(s.mean == Approx(f.attr<double>("is/" + name, "is_mean")).epsilon(1e-9));
    CHECK(s.std == Approx(f.attr<double>("is/" + name, "is_std")).margin(1e-9));
  }
  // Bounds: one class for every sample -> 1; a confident, even spread over k classes -> k.
  std::vector<double> same(40, 0.0);
  for (int i = 0; i < 10; ++i) same[std::size_t(i * 4)] = 1.0;
  CHECK(inception_score(same.data(), 10, 4, 1).mean == Approx(1.0));
  std::vector<double> even(32, 0.0);
  for (int i = 0; i < 8; ++i) even[std::size_t(i * 4 + i % 4)] = 1.0;
  CHECK(inception_score(even.data(), 8, 4, 2).mean == Approx(4.0));
  CHECK_THROWS_WITH(inception_score(even.data(), 8, 4, 9), Contains("8 samples cannot make 9 splits"));
  even[1] = -0.5;
  CHECK_THROWS_WITH(inception_score(even.data(), 8, 4, 1), Contains("probability 1 of sample 0 is -0.5"));
}
