// max_pool2x2: values and gradients against a host loop (odd sizes floor, ties go to the first maximum,
// NaN propagates), a finite-difference gradient check, and shape errors.
#include <cmath>
#include <limits>

#include "test_util.hpp"
#include "ibq/ops/pool.hpp"

using namespace ibq;
using namespace ibq::test;

TEST_CASE("max_pool2x2: values and routed gradients against a host loop (odd sizes floor)", "[ops][pool]") {
  const index_t N = 2, C = 3, H = 5, W = 7, Ho = 2, Wo = 3;
  auto x = random_tensor({N, C, H, W}, 4);
  TapeD tape;
  auto xv = tape.leaf(x, true);
  auto y = max_pool2x2(xv);
  REQUIRE(y.shape() == Shape{N, C, Ho, Wo});
  const auto gy = random_tensor({N, C, Ho, Wo}, 5);
  tape.backward(y, gy);
  const auto xh = x.to_host(), yh = y.value().to_host(), gyh = gy.to_host();
  std::vector<double> want(yh.size()), gwant(xh.size(), 0.0);
  for (index_t p = 0; p < N * C; ++p)
    for (index_t i = 0; i < Ho; ++i)
      for (index_t j = 0; j < Wo; ++j) {
        index_t arg = (p * H + 2 * i) * W + 2 * j;
        for (index_t a = 0; a < 2; ++a)
          for (index_t b = 0; b < 2; ++b) {
            const index_t k = (p * H + 2 * i + a) * W + 2 * j + b;
            if (xh[k] > xh[arg]) arg = k;
          }
        want[(p * Ho + i) * Wo + j] = xh[arg];
        gwant[arg] += gyh[(p * Ho + i) * Wo + j];
      }
  require_close(yh, want, 0.0);
  require_close(xv.grad().to_host(), gwant, 0.0);
}

TEST_CASE("max_pool2x2: ties route to the first maximum; NaN propagates", "[ops][pool]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  TapeD tape;
  auto x = tape.leaf(TensorD::from_host({1, 2, 2, 2}, {1, 3, 3, 0, /**/ 2, nan, 5, 1}), true);
  auto y = max_pool2x2(x);
  const auto yh = y.value().to_host();
  CHECK(yh[0] == 3);
  CHECK(std::isnan(yh[1]));
  tape.backward(y, TensorD::from_host({1, 2, 1, 1}, {1, 1}));
  const auto g = x.grad().to_host();
  CHECK(g == std::vector<double>{0, 1, 0, 0, 0, 1, 0, 0});
}

TEST_CASE("max_pool2x2: gradient check", "[ops][pool][grad]") {
  require_grad_ok([](TapeD&, const VarsD& v) { return max_pool2x2(v[0]); }, {random_tensor({2, 3, 4, 6}, 6)}, {"x"});
}

TEST_CASE("max_pool2x2: inputs that are not NCHW or smaller than 2x2 name the op and the shape", "[ops][pool]") {
  TapeD tape;
  REQUIRE_THROWS_WITH(max_pool2x2(tape.leaf(TensorD({3, 4, 5}))), Catch::Contains("max_pool2x2") && Catch::Contains("[3, 4, 5]"));
  REQUIRE_THROWS_WITH(max_pool2x2(tape.leaf(TensorD({1, 1, 1, 5}))), Catch::Contains("H, W >= 2"));
}
