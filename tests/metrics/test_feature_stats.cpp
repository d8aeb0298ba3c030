// The mergeable FID and IS statistics (gaussian_moments.hpp, inception_score_parts.hpp) against the
// one-shot formulas: moments accumulated in uneven batches and merged as an allreduce would (summing two
// halves' states) give fit_gaussian's mean and covariance; per-split sums give inception_score()'s mean
// and std on the same rows; and a set against itself has FID 0.
#include <cmath>
#include <random>
#include <vector>

#include "test_util.hpp"
#include "ibq/metrics/gaussian_moments.hpp"
#include "ibq/metrics/inception_score_parts.hpp"

using namespace ibq;
using namespace ibq::metrics;

namespace {
std::vector<float> features(index_t n, index_t d, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> z(0.5f, 0.3f);
  std::vector<float> x(std::size_t(n * d));
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < d; ++j) x[std::size_t(i * d + j)] = z(gen) + (j > 0 ? 0.5f * x[std::size_t(i * d + j - 1)] : 0.f);
  return x;
}
}  // namespace

TEST_CASE("GaussianMoments merged from batches on two ranks equals fit_gaussian", "[metrics][frechet]") {
  const index_t n = 157, d = 12;
  const auto x = features(n, d, 3);
  GaussianMoments a(d), b(d);
  a.add(x.data(), 40), a.add(x.data() + 40 * d, 37);      // "rank 0": rows [0, 77) in two batches
  b.add(x.data() + 77 * d, 80);                            // "rank 1": rows [77, 157)
  for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] += b.data()[i];  // the allreduce
  const Gaussian got = a.gaussian(), want = fit_gaussian(x.data(), n, d);
  REQUIRE(got.count == n);
  CHECK((got.mean - want.mean).cwiseAbs().maxCoeff() < 1e-12);
  CHECK((got.cov - want.cov).cwiseAbs().maxCoeff() < 1e-10);
  CHECK(frechet_distance(got, want) == Approx(0.0).margin(1e-9));
  GaussianMoments one(d);
  one.add(x.data(), 1);
  CHECK_THROWS_WITH(one.gaussian(), Catch::Contains("at least 2 feature vectors"));
}

TEST_CASE("InceptionScoreParts equals inception_score split by split", "[metrics][inception]") {
  const index_t n = 103, k = 7, splits = 4;
  std::mt19937 gen(11);
  std::normal_distribution<double> z(0.0, 2.0);
  std::vector<double> logits(std::size_t(n * k)), probs(logits.size());
  for (auto& v : logits) v = z(gen);
  for (index_t i = 0; i < n; ++i) {
    double s = 0;
    for (index_t c = 0; c < k; ++c) s += probs[std::size_t(i * k + c)] = std::exp(logits[std::size_t(i * k + c)]);
    for (index_t c = 0; c < k; ++c) probs[std::size_t(i * k + c)] /= s;
  }
  const auto split = split_of_positions(n, splits);
  InceptionScoreParts a(splits, k), b(splits, k);
  a.add_logits(logits.data(), 50, [&](index_t i) { return split[std::size_t(i)]; });
  b.add_logits(logits.data() + 50 * k, n - 50, [&](index_t i) { return split[std::size_t(50 + i)]; });
  for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] += b.data()[i];
  const auto got = a.score(), want = inception_score(probs.data(), n, k, splits);
  CHECK(got.mean == Approx(want.mean).epsilon(1e-12));
  CHECK(got.std == Approx(want.std).epsilon(1e-9));
  CHECK(got.mean > 1.0);
  InceptionScoreParts empty(2, k);
  empty.add_logits(logits.data(), 1, [](index_t) { return index_t(0); });
  CHECK_THROWS_WITH(empty.score(), Catch::Contains("split 1 is empty"));
}
