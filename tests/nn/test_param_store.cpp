// ParamStore: one flat buffer, named slices, order-independent initialisation, gradient routing.
#include <cmath>

#include "test_util.hpp"
#include "ibq/nn/param_store.hpp"
#include "ibq/ops/binary.hpp"
#include "ibq/ops/unary.hpp"

using namespace ibq;
using namespace ibq::test;

TEST_CASE("param_store: parameters are contiguous named slices of one buffer", "[nn]") {
  ParamStore<double, Space> store;
  auto w = store.add("fc.weight", {2, 3}, Init::constant(2.0));
  auto b = store.add("fc.bias", {3}, Init::constant(-1.0));
  auto rm = store.add_buffer("bn.running_mean", {4}, Init::zeros());
  store.allocate(7);
  REQUIRE(store.num_params() == 9);
  REQUIRE(store.flat_values().to_host() == std::vector<double>{2, 2, 2, 2, 2, 2, -1, -1, -1});
  REQUIRE(store.value(rm).size() == 4);
  REQUIRE(store.find("fc.bias").index == b.index);
  REQUIRE_THROWS_WITH(store.find("fc.nope"), Catch::Contains("fc.nope"));
  REQUIRE_THROWS_WITH(store.grad(rm), Catch::Contains("buffer"));

  TapeD tape;  // gradients of a Var made from the store land in the flat gradient buffer
  auto y = store.param(tape, w) * 3.0;
  tape.backward(y, TensorD::full({2, 3}, 1.0));
  REQUIRE(store.flat_grads().to_host() == std::vector<double>{3, 3, 3, 3, 3, 3, 0, 0, 0});
  store.zero_grad();
  REQUIRE(store.flat_grads().to_host() == std::vector<double>(9, 0.0));
}

TEST_CASE("param_store: initialisation depends on (seed, name), not on declaration order", "[nn]") {
  ParamStore<double, Space> s1, s2;
  s1.add("a", {100}, Init::normal(0, 1));
  s1.add("b", {50}, Init::uniform(-0.5, 0.5));
  s2.add("b", {50}, Init::uniform(-0.5, 0.5));
  s2.add("a", {100}, Init::normal(0, 1));
  s1.allocate(3);
  s2.allocate(3);
  REQUIRE(s1.value(s1.find("a")).to_host() == s2.value(s2.find("a")).to_host());
  auto b = s1.value(s1.find("b")).to_host();
  for (double v : b) REQUIRE((v >= -0.5 && v < 0.5));
  REQUIRE_THROWS_WITH(s1.add("c", {1}, Init::zeros()), Catch::Contains("after allocate"));
}

TEST_CASE("init: normal and uniform have the requested moments", "[nn]") {
  ParamStore<double, Space> s;
  auto n = s.add("n", {20000}, Init::normal(0.5, 2.0));
  auto u = s.add("u", {20000}, Init::kaiming_uniform_default(16));
  s.allocate(11);
  auto moments = [](const std::vector<double>& v) {
    double m = 0, q = 0;
    for (double x : v) m += x;
    m /= v.size();
    for (double x : v) q += (x - m) * (x - m);
    return std::make_pair(m, std::sqrt(q / v.size()));
  };
  auto [mn, sn] = moments(s.value(n).to_host());
  REQUIRE(mn == Approx(0.5).margin(0.05));
  REQUIRE(sn == Approx(2.0).epsilon(0.03));
  auto [mu, su] = moments(s.value(u).to_host());  // U(-1/4, 1/4): std = 0.25 / sqrt(3)
  REQUIRE(mu == Approx(0.0).margin(0.01));
  REQUIRE(su == Approx(0.25 / std::sqrt(3.0)).epsilon(0.03));
}

TEST_CASE("param_store: duplicate names are rejected", "[nn]") {
  ParamStore<double, Space> s;
  s.add("w", {1}, Init::zeros());
  REQUIRE_THROWS_WITH(s.add("w", {2}, Init::zeros()), Catch::Contains("declared twice"));
}
