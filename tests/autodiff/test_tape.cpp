// The tape itself: accumulation, no_grad, stop_gradient, version checks, error messages.
#include <functional>

#include "ibq/core/kokkos_compat.hpp"
#include "test_util.hpp"
#include "ibq/ops/binary.hpp"
#include "ibq/ops/matmul.hpp"
#include "ibq/ops/swiglu.hpp"
#include "ibq/ops/unary.hpp"

using namespace ibq;
using namespace ibq::test;

TEST_CASE("tape: a value used twice accumulates both gradient paths", "[autodiff]") {
  TapeD tape;
  auto x = tape.leaf(TensorD::from_host({3}, {1, 2, 3}), true);
  auto y = x * x + x * 3.0;  // dy/dx = 2x + 3
  tape.backward(y, TensorD::full({3}, 1.0));
  require_close(x.grad().to_host(), std::vector<double>{5, 7, 9}, 1e-12);
}

TEST_CASE("tape: params accumulate into the caller's gradient buffer across steps", "[autodiff]") {
  TensorD w = TensorD::from_host({2}, {1, -1});
  TensorD gw({2});
  for (int step = 0; step < 2; ++step) {
    TapeD tape;
    auto wv = tape.param(w, gw);
    tape.backward(wv * 2.0, TensorD::full({2}, 1.0));
  }
  require_close(gw.to_host(), std::vector<double>{4, 4}, 1e-12);
}

TEST_CASE("tape: no_grad records nothing and stop_gradient blocks the path", "[autodiff]") {
  TapeD tape;
  auto x = tape.leaf(TensorD::from_host({2}, {1, 2}), true);
  {
    auto guard = tape.no_grad();
    auto y = exp(x);
    REQUIRE_FALSE(y.requires_grad());
  }
  REQUIRE(tape.num_nodes() == 0);
  auto z = x * stop_gradient(x);  // d/dx = sg(x) only
  tape.backward(z, TensorD::full({2}, 1.0));
  require_close(x.grad().to_host(), std::vector<double>{1, 2}, 1e-12);
}

TEST_CASE("tape: modifying a saved value before backward is an error naming the op", "[autodiff]") {
  TapeD tape;
  TensorD xv = TensorD::from_host({2}, {1, 2});
  auto x = tape.leaf(xv, true);
  auto y = exp(x);
  xv.fill_(0.0);  // in-place change of a value exp saved
  REQUIRE_THROWS_WITH(tape.backward(y, TensorD::full({2}, 1.0)),
                      Catch::Contains("exp") && Catch::Contains("modified in place"));
}

TEST_CASE("tape: shape mismatches name both shapes and the op", "[autodiff]") {
  TapeD tape;
  auto a = tape.leaf(TensorD({2, 3}));
  auto b = tape.leaf(TensorD({4, 3}));
  REQUIRE_THROWS_WITH(a + b, Catch::Contains("add") && Catch::Contains("[2, 3]") && Catch::Contains("[4, 3]"));
}

TEST_CASE("tape: backward needs a scalar or a seed, runs once, and Vars die with clear()", "[autodiff]") {
  TapeD tape;
  auto x = tape.leaf(TensorD::from_host({2}, {1, 2}), true);
  auto y = exp(x);
  REQUIRE_THROWS_WITH(tape.backward(y), Catch::Contains("[2]"));
  tape.backward(y, TensorD::full({2}, 1.0));
  REQUIRE_THROWS_WITH(tape.backward(y, TensorD::full({2}, 1.0)), Catch::Contains("already"));
  tape.clear();
  REQUIRE_THROWS_WITH(x.value(), Catch::Contains("cleared"));
}

TEST_CASE("tape: Vars from two tapes cannot be mixed", "[autodiff]") {
  TapeD t1, t2;
  auto a = t1.leaf(TensorD({2}), true);
  auto b = t2.leaf(TensorD({2}), true);
  REQUIRE_THROWS_WITH(a * b, Catch::Contains("different tapes"));
}

namespace {
// A deliberately wrong derivative (1% off): the checker must reject it, or it proves nothing.
struct WrongExp {
  template <class T> KOKKOS_INLINE_FUNCTION T f(T x) const { return ibq::kmath::exp(x); }
  template <class T> KOKKOS_INLINE_FUNCTION T df(T, T y) const { return T(1.01) * y; }
};
}  // namespace

TEST_CASE("grad_check: catches a wrong backward formula", "[autodiff]") {
  const auto r = grad_check<Space>([](TapeD&, const VarsD& in) { return unary("wrong_exp", WrongExp{}, in[0]); },
                                   {random_tensor({5}, 3)});
  REQUIRE_FALSE(r.ok);
  REQUIRE_THAT(r.report, Catch::Contains("FAIL"));
}

// Products and SwiGLU store into a gradient buffer no op wrote yet instead of adding onto zeros
// (Tape::grad_dest). An op whose two inputs are the same Var must then store once and add once: its
// gradient equals the sum of the two gradients it gets with two distinct (equal-valued) inputs. Also in
// float, where the products may run on oneDNN, and with a gradient that another op wrote first.
template <class T>
void check_same_input_twice() {
  using Ten = Tensor<T, Space>;
  const Ten a = random_tensor<T>({6, 6}, 21), w = random_tensor<T>({6, 6}, 22);
  const Ten seed = random_tensor<T>({6, 6}, 23);
  using Op = std::function<Var<T, Space>(const Var<T, Space>&, const Var<T, Space>&)>;
  const std::vector<std::pair<const char*, Op>> ops{
      {"matmul a b^T", [](auto& x, auto& y) { return matmul(x, y, false, true); }},
      {"matmul a^T b", [](auto& x, auto& y) { return matmul(x, y, true, false); }},
      {"linear", [](auto& x, auto& y) { return linear(x, y); }},
      {"swiglu", [](auto& x, auto& y) { return swiglu(x, y); }}};
  for (const auto& [name, op] : ops)
    for (const bool written_first : {false, true}) {
      INFO(name << (written_first ? ", after another op wrote the gradient" : ""));
      auto run = [&](bool same) {
        Tape<T, Space> tape;
        auto x = tape.leaf(a, true);
        auto y = same ? x : tape.leaf(a, true);
        auto out = op(x, y);
        if (written_first) out = out + x * tape.leaf(w);  // the multiply's backward writes x's gradient first
        tape.backward(out, seed);
        auto g = x.grad().to_host();
        if (!same) {
          const auto gy = y.grad().to_host();
          for (std::size_t i = 0; i < g.size(); ++i) g[i] += gy[i];
        }
        return g;
      };
      const auto g_same = run(true), g_two = run(false);
      for (std::size_t i = 0; i < g_two.size(); ++i)
        REQUIRE(double(g_same[i]) == Approx(double(g_two[i])).epsilon(std::is_same_v<T, float> ? 1e-5 : 1e-12).margin(1e-6));
    }
}

TEST_CASE("tape: an op with the same Var as both inputs stores its first gradient and adds the second",
          "[autodiff]") {
  check_same_input_twice<double>();
  check_same_input_twice<float>();
}
