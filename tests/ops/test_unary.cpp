// Every unary elementwise op: values against the C library, gradients by finite differences in double.
#include <algorithm>
#include <cmath>
#include <limits>

#include "test_util.hpp"
#include "ibq/ops/reduce.hpp"
#include "ibq/ops/binary.hpp"
#include "ibq/ops/swiglu.hpp"
#include "ibq/ops/unary.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
struct Case {
  const char* name;
  std::function<VarD(const VarD&)> op;
  std::function<double(double)> ref;
  double lo, hi;  // input range (positive for log/sqrt/rsqrt)
};
const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {"neg", [](const VarD& x) { return -x; }, [](double x) { return -x; }, -2, 2},
      {"exp", [](const VarD& x) { return exp(x); }, [](double x) { return std::exp(x); }, -2, 2},
      {"log", [](const VarD& x) { return log(x); }, [](double x) { return std::log(x); }, 0.2, 3},
      {"sqrt", [](const VarD& x) { return sqrt(x); }, [](double x) { return std::sqrt(x); }, 0.2, 3},
      {"rsqrt", [](const VarD& x) { return rsqrt(x); }, [](double x) { return 1 / std::sqrt(x); }, 0.2, 3},
      {"square", [](const VarD& x) { return square(x); }, [](double x) { return x * x; }, -2, 2},
      {"abs", [](const VarD& x) { return abs(x); }, [](double x) { return std::fabs(x); }, -2, 2},
      {"relu", [](const VarD& x) { return relu(x); }, [](double x) { return x > 0 ? x : 0; }, -2, 2},
      {"leaky_relu", [](const VarD& x) { return leaky_relu(x, 0.2); },
       [](double x) { return x > 0 ? x : 0.2 * x; }, -2, 2},
      {"sigmoid", [](const VarD& x) { return sigmoid(x); }, [](double x) { return 1 / (1 + std::exp(-x)); }, -4, 4},
      {"tanh", [](const VarD& x) { return tanh(x); }, [](double x) { return std::tanh(x); }, -2, 2},
      {"silu", [](const VarD& x) { return silu(x); }, [](double x) { return x / (1 + std::exp(-x)); }, -3, 3},
      {"softplus", [](const VarD& x) { return softplus(x); }, [](double x) { return std::log1p(std::exp(x)); }, -4, 4},
      {"scale", [](const VarD& x) { return 2.5 * x; }, [](double x) { return 2.5 * x; }, -2, 2},
      {"add_scalar", [](const VarD& x) { return x + 1.5; }, [](double x) { return x + 1.5; }, -2, 2},
      {"rsub_scalar", [](const VarD& x) { return 1.5 - x; }, [](double x) { return 1.5 - x; }, -2, 2},
      {"rdiv_scalar", [](const VarD& x) { return 2.0 / x; }, [](double x) { return 2.0 / x; }, 0.5, 2},
  };
  return c;
}
// Inputs in [lo, hi) kept 0.05 away from the kink at zero.
TensorD inputs_for(const Case& c, const Shape& s, std::uint64_t seed) {
  auto v = random_tensor(s, seed, c.lo, c.hi).to_host();
  for (auto& x : v)
    if (std::fabs(x) < 0.05) x = x < 0 ? -0.05 : 0.05;
  return TensorD::from_host(s, v);
}
// One test case per op, so ctest lists a value test and a gradient check for each.
void check_unary(const char* name) {
  const auto& all = cases();
  const auto it = std::find_if(all.begin(), all.end(), [&](const Case& c) { return std::string(c.name) == name; });
  REQUIRE(it != all.end());
  const Case& c = *it;
  {  // values against the C library
    TapeD tape;
    auto xt = inputs_for(c, {3, 7}, 1);
    auto y = c.op(tape.leaf(xt)).value().to_host();
    auto x = xt.to_host();
    std::vector<double> want(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) want[i] = c.ref(x[i]);
    require_close(y, want, 1e-12);
  }
  require_grad_ok([&](TapeD&, const VarsD& in) { return c.op(in[0]); }, {inputs_for(c, {2, 3, 5}, 2)}, {"x"});
}
}  // namespace

#define UNARY_TEST(op) \
  TEST_CASE(#op ": values and gradient check", "[ops][unary][grad]") { check_unary(#op); }
UNARY_TEST(neg)
UNARY_TEST(exp)
UNARY_TEST(log)
UNARY_TEST(sqrt)
UNARY_TEST(rsqrt)
UNARY_TEST(square)
UNARY_TEST(abs)
UNARY_TEST(relu)
UNARY_TEST(leaky_relu)
UNARY_TEST(sigmoid)
UNARY_TEST(tanh)
UNARY_TEST(silu)
UNARY_TEST(softplus)
UNARY_TEST(scale)
UNARY_TEST(add_scalar)
UNARY_TEST(rsub_scalar)
UNARY_TEST(rdiv_scalar)

TEST_CASE("unary ops: sigmoid and silu stay finite for large inputs", "[ops][unary]") {
  Tape<float> tape;
  auto x = tape.leaf(Tensor<float>::from_host({2}, {-200.f, 200.f}));
  auto s = sigmoid(x).value().to_host();
  REQUIRE(s[0] == Approx(0.0f).margin(1e-30));
  REQUIRE(s[1] == 1.0f);
  REQUIRE(std::isfinite(silu(x).value().to_host()[0]));
}

TEST_CASE("unary ops: softplus is finite for large inputs; silu's derivative from its output is exact near 0",
          "[ops][unary]") {
  Tape<float> tape;
  auto x = tape.leaf(Tensor<float>::from_host({2}, {-200.f, 200.f}));
  auto s = softplus(x).value().to_host();
  REQUIRE(s[0] == Approx(0.0f).margin(1e-30));
  REQUIRE(s[1] == 200.0f);
  // d silu / dx = s (1 + x (1 - s)), s = sigmoid(x); at and around x = 0 the backward uses 1/2 + x/4.
  for (double v : {0.0, 1e-9, -1e-7, 2e-6, -0.3, 5.0, -30.0}) {
    TapeD t;
    auto xv = t.leaf(TensorD::from_host({1}, {v}), /*requires_grad=*/true);
    auto y = silu(xv);
    t.backward(sum(y));
    const double sg = 1 / (1 + std::exp(-v)), want = sg * (1 + v * (1 - sg));
    INFO("x = " << v);
    CHECK(xv.grad().to_host()[0] == Approx(want).epsilon(1e-12).margin(1e-15));
  }
}

TEST_CASE("exp_nonpositive: within 2 ulp of exp in float over [-87, 0]; 0 below FLT_MIN and at -inf; NaN stays NaN",
          "[ops][unary]") {
  // The vectorisable exponential behind sigmoid, softmax, cross-entropy and attention (core/fast_exp.hpp).
  float worst = 0;
  for (int i = 0; i <= 200000; ++i) {
    const float x = -87.0f * float(i) / 200000.0f;
    const double want = std::exp(double(x));
    const float got = kmath::exp_nonpositive(x);
    const double ulp = double(std::nextafter(float(want), 1e30f)) - double(float(want));
    worst = std::max(worst, float(std::fabs(double(got) - want) / ulp));
  }
  INFO("largest error: " << worst << " ulp");
  CHECK(worst <= 2.0f);
  CHECK(kmath::exp_nonpositive(0.0f) == 1.0f);
  CHECK(kmath::exp_nonpositive(-90.0f) == 0.0f);
  CHECK(kmath::exp_nonpositive(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(std::isnan(kmath::exp_nonpositive(std::numeric_limits<float>::quiet_NaN())));
  // sigmoid in float from it: within 3e-7 relative of the double formula across its range
  float sworst = 0;
  for (int i = 0; i <= 20000; ++i) {
    const float x = -40.0f + 80.0f * float(i) / 20000.0f;
    const double want = 1 / (1 + std::exp(-double(x)));
    sworst = std::max(sworst, float(std::fabs(fn::Sigmoid{}.f(x) - want) / want));
  }
  INFO("sigmoid's largest relative error: " << sworst);
  CHECK(sworst < 3e-7f);
}

TEST_CASE("swiglu: silu(a) * b to the bit in float, gradients by finite differences in double", "[ops][unary][grad]") {
  Tape<float> tf;
  const Shape s{3, 5, 7};
  auto af = tf.leaf(random_tensor<float>(s, 11, -6, 6)), bf = tf.leaf(random_tensor<float>(s, 12));
  REQUIRE(swiglu(af, bf).value().to_host() == (silu(af) * bf).value().to_host());
  require_grad_ok([](TapeD&, const VarsD& v) { return sum(swiglu(v[0], v[1]) * v[0]); },
                  {random_tensor(s, 13, -4, 4), random_tensor(s, 14)}, {"a", "b"});
  TapeD t;  // against the unfused ops, whole gradients
  auto a = t.leaf(random_tensor(s, 15, -4, 4), true), b = t.leaf(random_tensor(s, 16), true);
  auto a2 = t.leaf(a.value().clone(), true), b2 = t.leaf(b.value().clone(), true);
  t.backward(sum(swiglu(a, b) * swiglu(a, b)) + sum(silu(a2) * b2 * (silu(a2) * b2)));
  require_close(a.grad().to_host(), a2.grad().to_host(), 1e-12);
  require_close(b.grad().to_host(), b2.grad().to_host(), 1e-12);
  REQUIRE_THROWS_WITH(swiglu(af, tf.leaf(random_tensor<float>({3, 5, 6}, 1))),
                      Catch::Contains("swiglu") && Catch::Contains("[3, 5, 7]"));
}
