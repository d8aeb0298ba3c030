// reshape, permute/transpose, slice, concat: values against host index loops, gradients by finite differences.
#include <cstdint>

#include "test_util.hpp"
#include "ibq/ops/binary.hpp"
#include "ibq/ops/shape_ops.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
std::vector<index_t> strides_of(const Shape& s) {
  std::vector<index_t> st(s.rank);
  index_t m = 1;
  for (int k = s.rank - 1; k >= 0; --k) st[k] = m, m *= s.dims[k];
  return st;
}
// out[c0..c_{r-1}] = in[c permuted back]: output axis k reads input axis p[k].
std::vector<double> host_permute(const std::vector<double>& x, const Shape& in, const std::vector<int>& p) {
  Shape out = in;
  for (int k = 0; k < in.rank; ++k) out.dims[k] = in.dims[p[k]];
  const auto is = strides_of(in);
  std::vector<double> y(x.size());
  for (index_t i = 0; i < out.numel(); ++i) {
    index_t rem = i, src = 0;
    for (int k = out.rank - 1; k >= 0; --k) {
      src += (rem % out.dims[k]) * is[p[k]];
      rem /= out.dims[k];
    }
    y[i] = x[src];
  }
  return y;
}
// x[:, ..., begin:end, ...] along axis a.
std::vector<double> host_slice(const std::vector<double>& x, const Shape& s, int a, index_t b, index_t e) {
  const index_t outer = s.prod(0, a), n = s.dims[a], inner = s.prod(a + 1, s.rank);
  std::vector<double> y;
  for (index_t o = 0; o < outer; ++o)
    for (index_t k = b; k < e; ++k)
      for (index_t i = 0; i < inner; ++i) y.push_back(x[(o * n + k) * inner + i]);
  return y;
}
}  // namespace

TEST_CASE("reshape: shares storage, keeps row-major order, and gradient check", "[ops][shape_ops][grad]") {
  TapeD tape;
  auto xt = random_tensor({2, 3, 4}, 1);
  auto y = reshape(tape.leaf(xt), {6, 4});
  REQUIRE(y.shape() == Shape{6, 4});
  REQUIRE(y.value().data() == xt.data());
  require_close(y.value().to_host(), xt.to_host(), 0.0);
  require_grad_ok([](TapeD&, const VarsD& v) { return reshape(v[0], {4, 6}); }, {random_tensor({2, 3, 4}, 2)}, {"x"});
  require_grad_ok([](TapeD&, const VarsD& v) { return reshape(v[0], {24}); }, {random_tensor({2, 3, 4}, 3)}, {"x"});
  REQUIRE_THROWS_WITH(reshape(tape.leaf(xt), {5, 5}),
                      Catch::Contains("reshape") && Catch::Contains("[2, 3, 4]") && Catch::Contains("[5, 5]"));
}

TEST_CASE("permute: rank-4 values against a host loop, and gradient check", "[ops][shape_ops][grad]") {
  TapeD tape;
  const Shape s{2, 3, 4, 5};
  auto xt = random_tensor(s, 4);
  for (const std::vector<int>& p : {std::vector<int>{0, 2, 3, 1}, {3, 1, 0, 2}, {0, 1, 3, 2}, {0, 1, 2, 3}}) {
    INFO("perm " << p[0] << p[1] << p[2] << p[3]);
    auto y = permute(tape.leaf(xt), p);
    REQUIRE(y.shape() == Shape{s.dims[p[0]], s.dims[p[1]], s.dims[p[2]], s.dims[p[3]]});
    require_close(y.value().to_host(), host_permute(xt.to_host(), s, p), 0.0);
  }
  auto small = random_tensor({2, 3, 2, 4}, 5);
  require_grad_ok([](TapeD&, const VarsD& v) { return permute(v[0], {3, 0, 2, 1}); }, {small}, {"x"});
  require_grad_ok([](TapeD&, const VarsD& v) { return permute(v[0], {0, -1, 1, 2}); }, {small}, {"x"});
  // rank 5 and rank 2
  auto r5 = random_tensor({2, 1, 3, 2, 2}, 6);
  require_close(permute(tape.leaf(r5), {4, 2, 0, 3, 1}).value().to_host(),
                host_permute(r5.to_host(), r5.shape(), {4, 2, 0, 3, 1}), 0.0);
  require_grad_ok([](TapeD&, const VarsD& v) { return permute(v[0], {4, 2, 0, 3, 1}); }, {r5}, {"x"});
}

TEST_CASE("permute: a bad permutation names the op and the shape", "[ops][shape_ops]") {
  TapeD tape;
  auto x = tape.leaf(TensorD({2, 3, 4}));
  REQUIRE_THROWS_WITH(permute(x, {0, 1}), Catch::Contains("permute") && Catch::Contains("[2, 3, 4]"));
  REQUIRE_THROWS_WITH(permute(x, {0, 1, 1}), Catch::Contains("permute") && Catch::Contains("twice"));
  REQUIRE_THROWS_WITH(permute(x, {0, 1, 3}), Catch::Contains("permute") && Catch::Contains("axis 3"));
}

TEST_CASE("transpose: values and gradient check", "[ops][shape_ops][grad]") {
  TapeD tape;
  auto xt = random_tensor({2, 3, 4}, 7);
  auto y = transpose(tape.leaf(xt), -2, -1);
  REQUIRE(y.shape() == Shape{2, 4, 3});
  require_close(y.value().to_host(), host_permute(xt.to_host(), xt.shape(), {0, 2, 1}), 0.0);
  auto z = transpose(tape.leaf(xt), 0, 2);
  require_close(z.value().to_host(), host_permute(xt.to_host(), xt.shape(), {2, 1, 0}), 0.0);
  require_grad_ok([](TapeD&, const VarsD& v) { return transpose(v[0], 1, 2); }, {xt}, {"x"});
  require_grad_ok([](TapeD&, const VarsD& v) { return transpose(v[0], 0, -1); }, {xt}, {"x"});
  REQUIRE_THROWS_WITH(transpose(tape.leaf(xt), 0, 3), Catch::Contains("transpose") && Catch::Contains("[2, 3, 4]"));
}

TEST_CASE("slice: values on first/middle/last axes, negative bounds, and gradient check", "[ops][shape_ops][grad]") {
  TapeD tape;
  const Shape s{3, 5, 4};
  auto xt = random_tensor(s, 8);
  const auto x = xt.to_host();
  auto mid = slice(tape.leaf(xt), 1, 1, 4);
  REQUIRE(mid.shape() == Shape{3, 3, 4});
  require_close(mid.value().to_host(), host_slice(x, s, 1, 1, 4), 0.0);
  require_close(slice(tape.leaf(xt), 0, 2, 3).value().to_host(), host_slice(x, s, 0, 2, 3), 0.0);
  require_close(slice(tape.leaf(xt), -1, -3, -1).value().to_host(), host_slice(x, s, 2, 1, 3), 0.0);
  REQUIRE(slice(tape.leaf(xt), 1, 2, 2).size() == 0);
  require_grad_ok([](TapeD&, const VarsD& v) { return slice(v[0], 1, 1, 4); }, {xt}, {"x"});
  require_grad_ok([](TapeD&, const VarsD& v) { return slice(v[0], -1, -2, 4); }, {xt}, {"x"});
  require_grad_ok([](TapeD&, const VarsD& v) { return slice(v[0], 0, 0, 2); }, {xt}, {"x"});
  REQUIRE_THROWS_WITH(slice(tape.leaf(xt), 1, 2, 6),
                      Catch::Contains("slice") && Catch::Contains("[3, 5, 4]") && Catch::Contains("length 5"));
  REQUIRE_THROWS_WITH(slice(tape.leaf(xt), 1, 3, 2), Catch::Contains("slice"));
}

TEST_CASE("concat: values of three tensors on each axis, and gradient check", "[ops][shape_ops][grad]") {
  TapeD tape;
  auto a = random_tensor({2, 1, 3}, 9), b = random_tensor({2, 2, 3}, 10), c = random_tensor({2, 3, 3}, 11);
  auto y = concat({tape.leaf(a), tape.leaf(b), tape.leaf(c)}, 1);
  REQUIRE(y.shape() == Shape{2, 6, 3});
  // y[:, 0:1] = a, y[:, 1:3] = b, y[:, 3:6] = c
  const auto yh = y.value().to_host();
  require_close(host_slice(yh, y.shape(), 1, 0, 1), a.to_host(), 0.0);
  require_close(host_slice(yh, y.shape(), 1, 1, 3), b.to_host(), 0.0);
  require_close(host_slice(yh, y.shape(), 1, 3, 6), c.to_host(), 0.0);
  // axis 0 is plain concatenation of the flat data; axis -1 interleaves rows
  auto p = random_tensor({2, 3}, 12), q = random_tensor({1, 3}, 13);
  auto y0 = concat(std::vector<VarD>{tape.leaf(p), tape.leaf(q)}, 0).value().to_host();
  auto want0 = p.to_host();
  for (double v : q.to_host()) want0.push_back(v);
  require_close(y0, want0, 0.0);
  auto r = random_tensor({2, 2}, 14);
  auto y1 = concat({tape.leaf(p), tape.leaf(r)}, -1).value().to_host();
  const auto ph = p.to_host(), rh = r.to_host();
  require_close(y1, std::vector<double>{ph[0], ph[1], ph[2], rh[0], rh[1], ph[3], ph[4], ph[5], rh[2], rh[3]}, 0.0);

  require_grad_ok([](TapeD&, const VarsD& v) { return concat({v[0], v[1], v[2]}, 1); }, {a, b, c}, {"a", "b", "c"});
  require_grad_ok([](TapeD&, const VarsD& v) { return concat(VarsD{v[0], v[1]}, -1); }, {p, r}, {"p", "r"});
  // The same input twice gets both gradient blocks.
  require_grad_ok([](TapeD&, const VarsD& v) { return concat({v[0], v[1], v[0]}, 0); }, {p, q}, {"p", "q"});
}

TEST_CASE("concat: only a later input needs a gradient", "[ops][shape_ops]") {
  TapeD tape;
  auto a = tape.leaf(TensorD::from_host({1, 2}, {1, 2}));
  auto b = tape.leaf(TensorD::from_host({1, 2}, {3, 4}), true);
  auto y = concat({a, b}, 0);
  REQUIRE(y.requires_grad());
  tape.backward(y, TensorD::from_host({2, 2}, {10, 20, 30, 40}));
  REQUIRE_FALSE(a.grad().defined());
  require_close(b.grad().to_host(), std::vector<double>{30, 40}, 0.0);
}

TEST_CASE("concat: mismatched shapes name the op and both shapes", "[ops][shape_ops]") {
  TapeD tape;
  auto a = tape.leaf(TensorD({2, 3})), b = tape.leaf(TensorD({3, 4}));
  REQUIRE_THROWS_WITH(concat({a, b}, 1),
                      Catch::Contains("concat") && Catch::Contains("[2, 3]") && Catch::Contains("[3, 4]"));
  REQUIRE_THROWS_WITH(concat({a, tape.leaf(TensorD({2, 3, 1}))}, 0), Catch::Contains("concat"));
  REQUIRE_THROWS_WITH(concat({a, a}, 2), Catch::Contains("concat") && Catch::Contains("axis 2"));
  TapeD other;
  REQUIRE_THROWS_WITH(concat({a, other.leaf(TensorD({2, 3}))}, 0), Catch::Contains("different tapes"));
}

TEST_CASE("reshape: its input takes the output's gradient buffer when it has none yet, and adds to it otherwise",
          "[ops][shape]") {
  // x feeds a reshape and a multiply, recorded in both orders: x's gradient must be the sum either way.
  for (bool reshape_first : {true, false}) {
    TapeD t;
    auto x = t.leaf(random_tensor({2, 6}, 1), true);
    auto w = t.leaf(random_tensor({3, 4}, 2)), u = t.leaf(random_tensor({2, 6}, 3));
    VarD loss;
    if (reshape_first) loss = sum(reshape(x, {3, 4}) * w) + sum(x * u);
    else loss = sum(x * u) + sum(reshape(x, {3, 4}) * w);
    t.backward(loss);
    const auto g = x.grad().to_host(), wv = w.value().to_host(), uv = u.value().to_host();
    INFO("reshape recorded " << (reshape_first ? "first" : "second"));
    for (std::size_t i = 0; i < g.size(); ++i) REQUIRE(g[i] == Approx(wv[i] + uv[i]).epsilon(1e-14));
  }
  // A chain of reshapes hands one buffer down; the leaf's gradient is the seed's values.
  TapeD t;
  auto x = t.leaf(random_tensor({4, 3}, 4), true);
  auto seed = random_tensor({2, 6}, 5);
  t.backward(reshape(reshape(x, {12}), {2, 6}), seed);
  REQUIRE(x.grad().shape() == Shape{4, 3});
  REQUIRE(x.grad().to_host() == seed.to_host());
}
