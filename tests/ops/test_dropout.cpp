// Dropout: mask reproducibility, keep rate, expectation, identity modes, and a gradient check with a
// fixed mask (the same Rng on every evaluation).
#include <cmath>

#include "test_util.hpp"
#include "ibq/ops/dropout.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
std::vector<bool> kept(const std::vector<double>& y) {
  std::vector<bool> k(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) k[i] = y[i] != 0.0;
  return k;
}
}  // namespace

TEST_CASE("dropout: masks follow the rng, keep rate and mean", "[ops][dropout]") {
  const index_t n = 100000;
  const double p = 0.3;
  const auto x = TensorD::full({n}, 1.0);  // nonzero everywhere, so zeros in y are exactly the dropped
  const Rng rng{42, 5};
  const auto y1 = dropout_forward(x, p, rng).to_host();
  const auto y2 = dropout_forward(x, p, rng).to_host();
  const auto y3 = dropout_forward(x, p, Rng{42, 6}).to_host();
  REQUIRE(y1 == y2);                   // same rng -> same mask
  REQUIRE(kept(y1) != kept(y3));       // different stream -> different mask
  index_t nk = 0;
  double sum = 0;
  for (std::size_t i = 0; i < y1.size(); ++i) {
    const bool keep = rng.uniform(i) >= p;  // the documented rule
    REQUIRE((y1[i] != 0) == keep);
    if (keep) REQUIRE(y1[i] == Approx(1.0 / (1 - p)).epsilon(1e-15));
    nk += keep;
    sum += y1[i];
  }
  // binomial: sd of the kept fraction is sqrt(p (1 - p) / n) ~ 0.0015
  REQUIRE(std::fabs(double(nk) / n - (1 - p)) < 0.01);
  REQUIRE(std::fabs(sum / n - 1.0) < 0.015);  // inverted scaling preserves the mean
}

TEST_CASE("dropout: identity when not training or p == 0, and p outside 0 <= p < 1 is an error", "[ops][dropout]") {
  TapeD tape;
  auto x = tape.leaf(random_tensor({4, 5}, 1), true);
  const auto nodes = tape.num_nodes();
  auto a = dropout(x, 0.5, Rng{1, 2}, false);
  auto b = dropout(x, 0.0, Rng{1, 2}, true);
  REQUIRE(tape.num_nodes() == nodes);
  require_close(a.value().to_host(), x.value().to_host(), 0.0);
  require_close(b.value().to_host(), x.value().to_host(), 0.0);
  REQUIRE_THROWS_WITH(dropout(x, 1.0, Rng{1, 2}, true), Catch::Contains("dropout") && Catch::Contains("[0, 1)"));
  REQUIRE_THROWS_WITH(dropout(x, -0.1, Rng{1, 2}, false), Catch::Contains("dropout"));
}

TEST_CASE("dropout: gradient check with a fixed mask", "[ops][dropout][grad]") {
  const Rng rng{7, 3};
  require_grad_ok([&](TapeD&, const VarsD& v) { return dropout(v[0], 0.4, rng, true); }, {random_tensor({3, 7}, 1)},
                  {"x"});
  // the gradient is exactly the scaled mask
  TapeD tape;
  auto x = tape.leaf(random_tensor({50}, 2), true);
  tape.backward(dropout(x, 0.4, rng, true), TensorD::full({50}, 1.0));
  const auto g = x.grad().to_host();
  for (std::size_t i = 0; i < g.size(); ++i) REQUIRE(g[i] == (rng.uniform(i) >= 0.4 ? 1.0 / (1.0 - 0.4) : 0.0));
}
