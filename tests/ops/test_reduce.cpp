// Reductions: values against host loops over (outer, n, inner), gradients by finite differences in double.
#include <algorithm>
#include <cstdint>
#include <numeric>

#include "test_util.hpp"
#include "ibq/ops/reduce.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
// Host reference: reduce `x` of shape s over axis a with op(acc, v, k) -> acc, starting from init.
struct Split {
  index_t outer, n, inner;
};
Split split(const Shape& s, int a) { return {s.prod(0, a), s.dims[a], s.prod(a + 1, s.rank)}; }

std::vector<double> host_sum(const std::vector<double>& x, const Shape& s, int a, bool mean) {
  const Split sp = split(s, a);
  std::vector<double> y(sp.outer * sp.inner, 0.0);
  for (index_t o = 0; o < sp.outer; ++o)
    for (index_t k = 0; k < sp.n; ++k)
      for (index_t i = 0; i < sp.inner; ++i) y[o * sp.inner + i] += x[(o * sp.n + k) * sp.inner + i];
  if (mean)
    for (auto& v : y) v /= double(sp.n);
  return y;
}
// Max and first argmax along axis a.
void host_max(const std::vector<double>& x, const Shape& s, int a, std::vector<double>& val,
              std::vector<std::int32_t>& idx) {
  const Split sp = split(s, a);
  val.assign(sp.outer * sp.inner, 0.0);
  idx.assign(sp.outer * sp.inner, 0);
  for (index_t o = 0; o < sp.outer; ++o)
    for (index_t i = 0; i < sp.inner; ++i) {
      double best = x[o * sp.n * sp.inner + i];
      std::int32_t arg = 0;
      for (index_t k = 1; k < sp.n; ++k) {
        const double v = x[(o * sp.n + k) * sp.inner + i];
        if (v > best) best = v, arg = std::int32_t(k);
      }
      val[o * sp.inner + i] = best;
      idx[o * sp.inner + i] = arg;
    }
}
// Distinct values 0.05 apart in a shuffled order: a maximum never changes under a finite-difference step.
TensorD distinct_values(const Shape& s, std::uint64_t seed) {
  std::vector<double> v(s.numel());
  std::iota(v.begin(), v.end(), 0.0);
  const Rng rng{seed, 3};
  for (std::size_t k = v.size(); k > 1; --k) std::swap(v[k - 1], v[std::size_t(rng.uniform(k) * double(k))]);
  for (auto& x : v) x = 0.05 * x - 1.0;
  return TensorD::from_host(s, v);
}
const Shape kShape3{2, 3, 4};
}  // namespace

TEST_CASE("sum: values over all elements and over each axis", "[ops][reduce]") {
  TapeD tape;
  auto xt = random_tensor(kShape3, 1);
  const auto x = xt.to_host();
  auto xv = tape.leaf(xt);
  auto total = sum(xv);
  REQUIRE(total.shape() == Shape{1});
  REQUIRE(total.value().item() == Approx(std::accumulate(x.begin(), x.end(), 0.0)).epsilon(1e-12));
  for (int axis : {0, 1, 2, -1, -3}) {
    INFO("axis " << axis);
    const int a = axis < 0 ? axis + 3 : axis;
    const auto want = host_sum(x, kShape3, a, false);
    auto y = sum(xv, axis);
    Shape expect = kShape3;
    expect.dims[a] = 1;
    REQUIRE(sum(xv, axis, true).shape() == expect);
    REQUIRE(y.shape().rank == 2);
    REQUIRE(y.size() == index_t(want.size()));
    require_close(y.value().to_host(), want, 1e-12);
    require_close(sum(xv, axis, true).value().to_host(), want, 1e-12);
  }
  // A long last axis (one team per row) and a rank-1 tensor (reduces to shape [1]).
  // Wide columns (several CPU column blocks, the last one partial).
  auto wide = random_tensor({3, 5, 150}, 11);
  require_close(sum_forward(wide, 1).to_host(), host_sum(wide.to_host(), wide.shape(), 1, false), 1e-12);
  require_close(sum_forward(wide, 0, true).to_host(), host_sum(wide.to_host(), wide.shape(), 0, false), 1e-12);
  auto long_rows = random_tensor({3, 1000}, 2);
  require_close(sum_forward(long_rows, -1).to_host(), host_sum(long_rows.to_host(), {3, 1000}, 1, false), 1e-12);
  auto v = TensorD::from_host({4}, {1, 2, 3, 4});
  REQUIRE(sum_forward(v, 0).shape() == Shape{1});
  REQUIRE(sum_forward(v, 0).item() == Approx(10.0));
}

TEST_CASE("mean: values over all elements and over each axis", "[ops][reduce]") {
  TapeD tape;
  auto xt = random_tensor(kShape3, 3);
  const auto x = xt.to_host();
  auto xv = tape.leaf(xt);
  REQUIRE(mean(xv).shape() == Shape{1});
  REQUIRE(mean(xv).value().item() == Approx(std::accumulate(x.begin(), x.end(), 0.0) / 24.0).epsilon(1e-12));
  for (int axis : {0, 1, 2, -2}) {
    INFO("axis " << axis);
    const int a = axis < 0 ? axis + 3 : axis;
    require_close(mean(xv, axis).value().to_host(), host_sum(x, kShape3, a, true), 1e-12);
    require_close(mean(xv, axis, true).value().to_host(), host_sum(x, kShape3, a, true), 1e-12);
  }
  auto long_rows = random_tensor({2, 700}, 4);
  require_close(mean_forward(long_rows, 1).to_host(), host_sum(long_rows.to_host(), {2, 700}, 1, true), 1e-12);
  // float: a large full reduction stays accurate (tree-summed).
  auto ones = TensorF::full({1 << 20}, 0.5f);
  REQUIRE(mean_forward(ones).item() == Approx(0.5).epsilon(1e-6));
}

TEST_CASE("sum: gradient check (all elements, first/middle/last axis, keepdim, negative axis)", "[ops][reduce][grad]") {
  auto x = random_tensor(kShape3, 5);
  require_grad_ok([](TapeD&, const VarsD& v) { return sum(v[0]); }, {x}, {"x"});
  for (int axis : {0, 1, 2, -1})
    for (bool keep : {false, true}) {
      INFO("axis " << axis << " keepdim " << keep);
      require_grad_ok([=](TapeD&, const VarsD& v) { return sum(v[0], axis, keep); }, {x}, {"x"});
    }
}

TEST_CASE("mean: gradient check (all elements, first/middle/last axis, keepdim, negative axis)", "[ops][reduce][grad]") {
  auto x = random_tensor(kShape3, 6);
  require_grad_ok([](TapeD&, const VarsD& v) { return mean(v[0]); }, {x}, {"x"});
  for (int axis : {0, 1, 2, -2})
    for (bool keep : {false, true}) {
      INFO("axis " << axis << " keepdim " << keep);
      require_grad_ok([=](TapeD&, const VarsD& v) { return mean(v[0], axis, keep); }, {x}, {"x"});
    }
}

TEST_CASE("max: values and indices along each axis, ties go to the first", "[ops][reduce]") {
  TapeD tape;
  auto xt = random_tensor(kShape3, 7);
  const auto x = xt.to_host();
  for (int axis : {0, 1, 2, -1}) {
    INFO("axis " << axis);
    const int a = axis < 0 ? axis + 3 : axis;
    std::vector<double> val;
    std::vector<std::int32_t> idx;
    host_max(x, kShape3, a, val, idx);
    auto r = max_forward(xt, axis);
    require_close(r.values.to_host(), val, 0.0);
    REQUIRE(r.indices.to_host() == idx);
    auto y = max(tape.leaf(xt), axis, true);
    Shape expect = kShape3;
    expect.dims[a] = 1;
    REQUIRE(y.shape() == expect);
    require_close(y.value().to_host(), val, 0.0);
  }
  // Ties: rows [3, 1, 3] -> index 0, columns of a [3, 2] with ties -> first row.
  auto ties = TensorD::from_host({2, 3}, {3, 1, 3, -1, 2, 2});
  REQUIRE(max_forward(ties, 1).indices.to_host() == std::vector<std::int32_t>{0, 1});
  auto col_ties = TensorD::from_host({3, 2}, {1, 5, 4, 5, 4, 0});
  REQUIRE(max_forward(col_ties, 0).indices.to_host() == std::vector<std::int32_t>{1, 0});
}

TEST_CASE("max: gradient check (distinct values, each axis, keepdim)", "[ops][reduce][grad]") {
  auto x = distinct_values(kShape3, 8);
  for (int axis : {0, 1, 2, -1})
    for (bool keep : {false, true}) {
      INFO("axis " << axis << " keepdim " << keep);
      require_grad_ok([=](TapeD&, const VarsD& v) { return max(v[0], axis, keep); }, {x}, {"x"});
    }
  // The gradient lands on the maximum only.
  TapeD tape;
  auto xv = tape.leaf(TensorD::from_host({2, 3}, {1, 4, 2, 7, 0, 7}), true);
  tape.backward(sum(max(xv, 1)));
  require_close(xv.grad().to_host(), std::vector<double>{0, 1, 0, 1, 0, 0}, 0.0);
}

TEST_CASE("argmax: int32 positions along each axis, first index on ties, long rows", "[ops][reduce]") {
  auto xt = random_tensor(kShape3, 9);
  const auto x = xt.to_host();
  for (int axis : {0, 1, 2, -2}) {
    INFO("axis " << axis);
    std::vector<double> val;
    std::vector<std::int32_t> idx;
    host_max(x, kShape3, axis < 0 ? axis + 3 : axis, val, idx);
    Tensor<std::int32_t, Space> got = argmax(xt, axis);
    REQUIRE(got.to_host() == idx);
  }
  // Long rows (a team per row) with the maximum repeated late in the row: the first copy wins.
  const Shape s{3, 2000};
  auto v = random_tensor(s, 10).to_host();
  v[0 * 2000 + 1500] = 5, v[0 * 2000 + 1999] = 5;
  v[1 * 2000 + 7] = 3, v[1 * 2000 + 8] = 3, v[1 * 2000 + 1000] = 3;
  v[2 * 2000 + 1999] = 2;
  auto got = argmax(TensorD::from_host(s, v), -1);
  REQUIRE(got.shape() == Shape{3});
  REQUIRE(got.to_host() == std::vector<std::int32_t>{1500, 7, 1999});
  REQUIRE(argmax(TensorD::from_host(s, v), 1, true).shape() == Shape{3, 1});
  // float input, Var overload
  TapeD tape;
  REQUIRE(argmax(tape.leaf(TensorD::from_host({1, 4}, {0, 2, 9, 1})), 1).to_host() == std::vector<std::int32_t>{2});
  REQUIRE(argmax(TensorF::from_host({4}, {0.f, 2.f, 9.f, 9.f}), 0).to_host() == std::vector<std::int32_t>{2});
}

TEST_CASE("reductions: a bad axis names the op, the axis and the shape", "[ops][reduce]") {
  TapeD tape;
  auto x = tape.leaf(TensorD({2, 3}));
  REQUIRE_THROWS_WITH(sum(x, 2), Catch::Contains("sum") && Catch::Contains("axis 2") && Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(mean(x, -3), Catch::Contains("mean") && Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(max(x, 5), Catch::Contains("max") && Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(argmax(x.value(), 2), Catch::Contains("argmax") && Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(max_forward(TensorD({2, 0}), 1), Catch::Contains("max") && Catch::Contains("empty"));
}
