// l1_loss and mse_loss: values against host loops, gradients for both inputs, shape errors.
#include <cmath>
#include <utility>

#include "test_util.hpp"
#include "ibq/ops/losses.hpp"
#include "ibq/ops/unary.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
double host_loss(const std::vector<double>& a, const std::vector<double>& b, bool squared) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = a[i] - b[i];
    s += squared ? d * d : std::fabs(d);
  }
  return s / double(a.size());
}
// b = a + an offset at least 0.05 from zero, so |a - b| stays away from its kink.
std::pair<TensorD, TensorD> inputs(const Shape& s, std::uint64_t seed) {
  auto a = random_tensor(s, seed);
  auto off = random_away_from_zero(s, seed + 1).to_host();
  auto ah = a.to_host();
  for (std::size_t i = 0; i < off.size(); ++i) off[i] += ah[i];
  return {a, TensorD::from_host(s, off)};
}
}  // namespace

TEST_CASE("l1_loss: values against a host loop", "[ops][losses]") {
  TapeD tape;
  auto [a, b] = inputs({2, 3, 4}, 1);
  auto y = l1_loss(tape.leaf(a), tape.leaf(b));
  REQUIRE(y.shape() == Shape{1});
  REQUIRE(y.value().item() == Approx(host_loss(a.to_host(), b.to_host(), false)).epsilon(1e-12));
  REQUIRE(l1_loss_forward(TensorD::from_host({2}, {1, -2}), TensorD::from_host({2}, {0, 1})).item() == Approx(2.0));
  auto fa = random_tensor<float>({1000, 300}, 3), fb = random_tensor<float>({1000, 300}, 4);
  const auto ha = fa.to_host(), hb = fb.to_host();
  const double want = host_loss(std::vector<double>(ha.begin(), ha.end()), std::vector<double>(hb.begin(), hb.end()), false);
  REQUIRE(l1_loss_forward(fa, fb).item() == Approx(want).epsilon(1e-5));
}

TEST_CASE("l1_loss: gradient check for both inputs", "[ops][losses][grad]") {
  auto [a, b] = inputs({3, 5}, 5);
  require_grad_ok([](TapeD&, const VarsD& v) { return l1_loss(v[0], v[1]); }, {a, b}, {"a", "b"});
  // Only the prediction needs a gradient: sign(a - b) / n; exact zeros get zero, as PyTorch.
  TapeD tape;
  auto p = tape.leaf(TensorD::from_host({4}, {1, 2, 3, 4}), true);
  tape.backward(l1_loss(p, tape.leaf(TensorD::from_host({4}, {0, 2, 5, 4}))));
  require_close(p.grad().to_host(), std::vector<double>{0.25, 0, -0.25, 0}, 1e-15);
}

TEST_CASE("mse_loss: values against a host loop", "[ops][losses]") {
  TapeD tape;
  auto [a, b] = inputs({2, 3, 4}, 6);
  auto y = mse_loss(tape.leaf(a), tape.leaf(b));
  REQUIRE(y.shape() == Shape{1});
  REQUIRE(y.value().item() == Approx(host_loss(a.to_host(), b.to_host(), true)).epsilon(1e-12));
  REQUIRE(mse_loss_forward(TensorD::from_host({2}, {1, -2}), TensorD::from_host({2}, {0, 1})).item() == Approx(5.0));
}

TEST_CASE("mse_loss: gradient check for both inputs", "[ops][losses][grad]") {
  auto [a, b] = inputs({3, 5}, 7);
  require_grad_ok([](TapeD&, const VarsD& v) { return mse_loss(v[0], v[1]); }, {a, b}, {"a", "b"});
  require_grad_ok([](TapeD&, const VarsD& v) { return mse_loss(v[0], v[0] * 0.5); }, {a}, {"a"});
}

TEST_CASE("losses: different shapes name the op and both shapes", "[ops][losses]") {
  TapeD tape;
  auto a = tape.leaf(TensorD({2, 3})), b = tape.leaf(TensorD({2, 1}));
  REQUIRE_THROWS_WITH(l1_loss(a, b), Catch::Contains("l1_loss") && Catch::Contains("[2, 3]") && Catch::Contains("[2, 1]"));
  REQUIRE_THROWS_WITH(mse_loss(b, a), Catch::Contains("mse_loss") && Catch::Contains("[2, 1]") && Catch::Contains("[2, 3]"));
}
