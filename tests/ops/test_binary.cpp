// Broadcasting arithmetic: values against a hand-written loop, gradients for every broadcast pattern.
#include "test_util.hpp"
#include "ibq/ops/adaln.hpp"
#include "ibq/ops/binary.hpp"
#include "ibq/ops/reduce.hpp"
#include "ibq/ops/unary.hpp"

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
      {{2, 5, 3}, {2, 1, 3}},        // the AR model's AdaLN: [B, T, C] by [B, 1, C]
      {{2, 1, 3, 1}, {1, 4, 1, 2}},  // both broadcast, interleaved
      {{1, 3, 1, 4}, {2, 3, 1, 4}},  // unit axes on both sides
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

// Host loops run along rows of up to 1024 elements with the index maps evaluated once a run; rows longer
// than that, rows of one element and every broadcast kind must still read and sum exactly the right inputs.
TEST_CASE("binary ops: values and gradients equal per-element loops for long and short rows", "[ops][binary]") {
  const std::vector<std::pair<Shape, Shape>> patterns = {
      {{2, 3, 1500}, {2, 1, 1500}}, {{2, 3, 1500}, {1500}}, {{3000}, {1}}, {{2, 2500, 1}, {2, 1, 3}},
      {{4, 1, 3, 1}, {1, 2, 1, 1100}}, {{5, 7}, {5, 1}},
  };
  for (const auto& [sa, sb] : patterns) {
    INFO(to_string(sa) << " * " << to_string(sb));
    const Shape so = broadcast_shapes(sa, sb, "test");
    TapeD tape;
    const auto a0 = random_away_from_zero(sa, 5), b0 = random_away_from_zero(sb, 6), w0 = random_away_from_zero(so, 7);
    auto a = tape.leaf(a0, true), b = tape.leaf(b0, true);
    auto y = a * b;
    tape.backward(sum(y * tape.leaf(w0)));
    // Reference: the output's multi-index, and each input's by dropping its broadcast axes.
    const auto ah = a0.to_host(), bh = b0.to_host(), wh = w0.to_host();
    std::vector<double> y_ref(std::size_t(so.numel())), ga(ah.size(), 0.0), gb(bh.size(), 0.0);
    auto index_into = [&](const Shape& in, index_t i) {
      index_t j = 0, stride = 1;
      for (int k = so.rank - 1; k >= 0; --k) {
        const index_t c = i % so.dims[k];
        i /= so.dims[k];
        const int ik = in.rank - so.rank + k;
        if (ik < 0) continue;
        if (in.dims[ik] != 1) j += c * stride;
        stride *= in.dims[ik];
      }
      return std::size_t(j);
    };
    for (index_t i = 0; i < so.numel(); ++i) {
      const std::size_t ja = index_into(sa, i), jb = index_into(sb, i);
      y_ref[std::size_t(i)] = ah[ja] * bh[jb];
      ga[ja] += wh[std::size_t(i)] * bh[jb];
      gb[jb] += wh[std::size_t(i)] * ah[ja];
    }
    require_close(y.value().to_host(), y_ref, 1e-12);
    require_close(a.grad().to_host(), ga, 1e-12);
    require_close(b.grad().to_host(), gb, 1e-12);
  }
}

TEST_CASE("modulate and gated_add: the broadcast formulas to the bit, gradients by finite differences in double",
          "[ops][binary][grad]") {
  const Shape x{3, 5, 4}, row{3, 1, 4};
  Tape<float> tf;
  auto xf = tf.leaf(random_tensor<float>(x, 1)), hf = tf.leaf(random_tensor<float>(x, 2));
  auto sf = tf.leaf(random_tensor<float>(row, 3)), bf = tf.leaf(random_tensor<float>(row, 4));
  REQUIRE(modulate(xf, sf, bf).value().to_host() == (xf * (sf + 1.0) + bf).value().to_host());
  REQUIRE(gated_add(hf, xf, sf).value().to_host() == (hf + xf * sf).value().to_host());
  require_grad_ok([](TapeD&, const VarsD& v) { return sum(modulate(v[0], v[1], v[2]) * v[0]); },
                  {random_tensor(x, 5), random_tensor(row, 6), random_tensor(row, 7)}, {"x", "scale", "shift"});
  require_grad_ok([](TapeD&, const VarsD& v) { return sum(gated_add(v[0], v[1], v[2]) * v[1]); },
                  {random_tensor(x, 8), random_tensor(x, 9), random_tensor(row, 10)}, {"h", "x", "gate"});
  // A chunk boundary of the host's position sums (256 channels) and a single position (sampling).
  for (const Shape& xs : {Shape{2, 3, 300}, Shape{2, 1, 5}}) {
    const Shape rs{xs[0], 1, xs[2]};
    TapeD t;
    auto a = t.leaf(random_tensor(xs, 11), true), s = t.leaf(random_tensor(rs, 12), true);
    auto b = t.leaf(random_tensor(rs, 13), true), w = t.leaf(random_tensor(xs, 14));
    auto a2 = t.leaf(a.value().clone(), true), s2 = t.leaf(s.value().clone(), true);
    auto b2 = t.leaf(b.value().clone(), true);
    t.backward(sum(modulate(a, s, b) * w) + sum(gated_add(a, w, s) * w) + sum((a2 * (s2 + 1.0) + b2) * w) +
               sum((a2 + w * s2) * w));
    require_close(a.grad().to_host(), a2.grad().to_host(), 1e-12);
    require_close(s.grad().to_host(), s2.grad().to_host(), 1e-12);
    require_close(b.grad().to_host(), b2.grad().to_host(), 1e-12);
  }
  REQUIRE_THROWS_WITH(modulate(xf, tf.leaf(random_tensor<float>({3, 5, 4}, 1)), bf),
                      Catch::Contains("modulate") && Catch::Contains("[3, 1, 4]"));
}
