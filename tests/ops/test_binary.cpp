// Broadcasting arithmetic: values against a hand-written loop, gradients for every broadcast pattern.
#include "test_util.hpp"
#include "ibq/ops/binary.hpp"

using namespace ibq;
using namespace ibq::test;

TEST_CASE("binary ops: broadcast values", "[ops][binary]") {
  TapeD tape;
  auto a = tape.leaf(TensorD::from_host({2, 3}, {1, 2, 3, 4, 5, 6}));
  auto row = tape.leaf(TensorD::from_host({3}, {10, 20, 30}));
  auto col = tape.leaf(TensorD::from_host({2, 1}, {100, 200}));
  require_close((a + row).value().to_host(), std::vector<double>{11, 22, 33, 14, 25, 36}, 1e-12);
  require_close((a * col).value().to_host(), std::vector<double>{100, 200, 300, 800, 1000, 1200}, 1e-12);
  require_close((col - row).value().to_host(), std::vector<double>{90, 80, 70, 190, 180, 170}, 1e-12);
  REQUIRE((col - row).shape() == Shape{2, 3});
  require_close((a / a).value().to_host(), std::vector<double>(6, 1.0), 1e-12);
}

namespace {
void check_broadcast_grads(const GradFn& fn) {
  const std::vector<std::pair<Shape, Shape>> patterns = {
      {{2, 3, 4}, {2, 3, 4}},        // same shape
      {{2, 3, 4, 5}, {1, 3, 1, 1}},  // NCHW with a per-channel affine
      {{2, 3, 4}, {4}},              // trailing vector (bias)
      {{3, 1}, {1, 4}},              // outer product pattern
      {{2, 3}, {1}},                 // scalar tensor
  };
  for (const auto& [sa, sb] : patterns) {
    INFO(to_string(sa) << " op " << to_string(sb));
    require_grad_ok(fn, {random_away_from_zero(sa, 1, 0.3), random_away_from_zero(sb, 2, 0.3)}, {"a", "b"});
    require_grad_ok(fn, {random_away_from_zero(sb, 3, 0.3), random_away_from_zero(sa, 4, 0.3)}, {"b", "a"});
  }
}
}  // namespace

TEST_CASE("add: broadcast gradient check", "[ops][binary][grad]") {
  check_broadcast_grads([](TapeD&, const VarsD& v) { return v[0] + v[1]; });
}
TEST_CASE("sub: broadcast gradient check", "[ops][binary][grad]") {
  check_broadcast_grads([](TapeD&, const VarsD& v) { return v[0] - v[1]; });
}
TEST_CASE("mul: broadcast gradient check", "[ops][binary][grad]") {
  check_broadcast_grads([](TapeD&, const VarsD& v) { return v[0] * v[1]; });
}
TEST_CASE("div: broadcast gradient check", "[ops][binary][grad]") {
  check_broadcast_grads([](TapeD&, const VarsD& v) { return v[0] / v[1]; });
}

TEST_CASE("binary ops: incompatible shapes name both shapes and the op", "[ops][binary]") {
  TapeD tape;
  auto a = tape.leaf(TensorD({2, 3}));
  auto b = tape.leaf(TensorD({2, 4}));
  REQUIRE_THROWS_WITH(a * b, Catch::Contains("mul") && Catch::Contains("[2, 3]") && Catch::Contains("[2, 4]"));
}
