// CodebookUsage: per-batch and accumulated usage, dead codes and perplexity on hand-computed examples, a
// large random stream against a host histogram (the atomic counting), indices on the host space, reset, and
// out-of-range ids.
#include <cmath>
#include <cstdint>
#include <vector>

#include "test_util.hpp"
#include "ibq/quant/codebook_usage.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
Tensor<std::int32_t> ids(const Shape& s, const std::vector<std::int32_t>& v) {
  return Tensor<std::int32_t>::from_host(s, v);
}
}  // namespace

TEST_CASE("CodebookUsage: hand-computed usage, dead codes and perplexity over two batches", "[quant][usage]") {
  CodebookUsage<> u(5);
  REQUIRE(u.usage() == 0.0);
  REQUIRE(u.dead_codes() == 5);
  REQUIRE(u.perplexity() == 1.0);

  u.update(ids({4}, {0, 0, 1, 3}));  // counts 2 1 0 1 0
  REQUIRE(u.batch_usage() == Approx(3.0 / 5));
  REQUIRE(u.usage() == Approx(3.0 / 5));
  REQUIRE(u.distinct() == 3);
  REQUIRE(u.dead_codes() == 2);
  // p = (1/2, 1/4, 1/4): H = 1.5 ln 2, perplexity 2^1.5
  REQUIRE(u.perplexity() == Approx(std::pow(2.0, 1.5)).epsilon(1e-12));

  u.update(ids({1, 2}, {4, 4}));  // accumulated counts 2 1 0 1 2, n = 6
  REQUIRE(u.batch_usage() == Approx(1.0 / 5));
  REQUIRE(u.batch_distinct() == 1);
  REQUIRE(u.usage() == Approx(4.0 / 5));
  REQUIRE(u.dead_codes() == 1);
  REQUIRE(u.count() == 6);
  REQUIRE(u.batches() == 2);
  const double H = -(2 * (1.0 / 3) * std::log(1.0 / 3) + 2 * (1.0 / 6) * std::log(1.0 / 6));
  REQUIRE(u.perplexity() == Approx(std::exp(H)).epsilon(1e-12));
  REQUIRE(u.histogram() == std::vector<std::int64_t>{2, 1, 0, 1, 2});

  u.reset();
  REQUIRE(u.usage() == 0.0);
  REQUIRE(u.batch_usage() == 0.0);
  REQUIRE(u.dead_codes() == 5);
  REQUIRE(u.perplexity() == 1.0);
  REQUIRE(u.count() == 0);
  REQUIRE(u.histogram() == std::vector<std::int64_t>(5, 0));
}

TEST_CASE("CodebookUsage: uniform use gives perplexity K, one code gives 1", "[quant][usage]") {
  CodebookUsage<> u(8);
  u.update(ids({2, 2, 2}, {7, 6, 5, 4, 3, 2, 1, 0}));
  REQUIRE(u.usage() == 1.0);
  REQUIRE(u.dead_codes() == 0);
  REQUIRE(u.perplexity() == Approx(8.0).epsilon(1e-12));
  u.reset();
  u.update(ids({3}, {6, 6, 6}));
  REQUIRE(u.perplexity() == Approx(1.0).epsilon(1e-12));
  REQUIRE(u.dead_codes() == 7);
}

TEST_CASE("CodebookUsage: a large random stream matches a host histogram", "[quant][usage]") {
  const index_t K = 37, n = 20000;
  CodebookUsage<> u(K);
  std::vector<std::int64_t> want(K, 0);
  for (int batch = 0; batch < 3; ++batch) {
    std::vector<std::int32_t> v(n);
    const Rng rng{99, std::uint64_t(batch)};
    std::vector<bool> seen(K, false);
    for (index_t i = 0; i < n; ++i) {
      // skewed towards low codes; codes >= 30 never appear
      const double x = rng.uniform(i);
      v[i] = static_cast<std::int32_t>(x * x * 30);
      ++want[v[i]];
      seen[v[i]] = true;
    }
    u.update(ids({n}, v));
    index_t distinct = 0;
    for (bool s : seen) distinct += s;
    REQUIRE(u.batch_distinct() == distinct);
  }
  REQUIRE(u.histogram() == want);
  double H = 0;
  index_t used = 0;
  for (auto c : want)
    if (c > 0) {
      const double p = double(c) / double(3 * n);
      H -= p * std::log(p);
      ++used;
    }
  REQUIRE(u.distinct() == used);
  REQUIRE(u.dead_codes() == K - used);
  REQUIRE(u.perplexity() == Approx(std::exp(H)).epsilon(1e-10));
}

TEST_CASE("CodebookUsage: indices on the host space are counted into a device histogram", "[quant][usage]") {
  CodebookUsage<DefaultSpace> u(4);
  u.update(Tensor<std::int32_t, HostSpace>::from_host({3}, {1, 1, 2}));
  REQUIRE(u.histogram() == std::vector<std::int64_t>{0, 2, 1, 0});
  REQUIRE(u.batch_usage() == Approx(0.5));
}

TEST_CASE("CodebookUsage: out-of-range ids throw and leave the statistics untouched", "[quant][usage]") {
  CodebookUsage<> u(4);
  u.update(ids({2}, {0, 1}));
  REQUIRE_THROWS_WITH(u.update(ids({3}, {2, 4, -1})),
                      Catch::Contains("CodebookUsage") && Catch::Contains("2 of the 3") && Catch::Contains("[0, 4)"));
  REQUIRE(u.histogram() == std::vector<std::int64_t>{1, 1, 0, 0});
  REQUIRE(u.count() == 2);
  REQUIRE_THROWS_WITH(CodebookUsage<>(0), Catch::Contains("CodebookUsage"));
}
