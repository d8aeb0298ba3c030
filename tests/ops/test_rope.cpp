// rope: the 2-D table (zero class rows, row/column halves, theta_j), the rotation against a host loop,
// norm preservation, KV-cache offsets, a finite-difference gradient check, and shape errors.
#include <cmath>

#include "test_util.hpp"
#include "ibq/ops/binary.hpp"
#include "ibq/ops/qkv_heads.hpp"
#include "ibq/ops/reduce.hpp"
#include "ibq/ops/rope.hpp"
#include "ibq/ops/shape_ops.hpp"

using namespace ibq;
using namespace ibq::test;

TEST_CASE("rope_table_2d: class rows are zero, grid rows rotate by row then column angles", "[ops][rope]") {
  const index_t grid = 3, dh = 8, prefix = 2;
  const auto t = rope_table_2d<double>(grid, dh, 10000.0, prefix).to_host();
  REQUIRE(t.size() == std::size_t((prefix + grid * grid) * dh));
  for (index_t i = 0; i < prefix * dh; ++i) REQUIRE(t[std::size_t(i)] == 0.0);
  // Head dim 8: 4 pairs, theta = 10000^(-j/2) for j = 0, 1; pairs 0-1 use the row, 2-3 the column.
  for (index_t p = 0; p < grid * grid; ++p)
    for (index_t j = 0; j < dh / 2; ++j) {
      const double theta = std::pow(10000.0, -double(j % 2) / 2.0), pos = double(j < 2 ? p / grid : p % grid);
      const std::size_t at = std::size_t(((prefix + p) * (dh / 2) + j) * 2);
      INFO("position " << p << " pair " << j);
      REQUIRE(std::fabs(t[at] - std::cos(pos * theta)) < 1e-15);
      REQUIRE(std::fabs(t[at + 1] - std::sin(pos * theta)) < 1e-15);
    }
}

TEST_CASE("rope: rotates each pair by its row's angle, keeps norms, zeroes class rows", "[ops][rope]") {
  const index_t B = 2, T = 5, H = 3, dh = 8;
  const auto table = rope_table_2d<double>(2, dh, 100.0, 1);  // 1 + 4 rows
  for (const index_t start : {index_t(0), index_t(1)}) {
    INFO("start " << start);
    const index_t len = T - start;
    const auto x = random_tensor({B, len, H, dh}, 3);
    const auto y = rope_forward(x, table, start).to_host();
    const auto xh = x.to_host(), th = table.to_host();
    for (index_t b = 0; b < B; ++b)
      for (index_t t = 0; t < len; ++t)
        for (index_t h = 0; h < H; ++h) {
          double nx = 0, ny = 0;
          for (index_t j = 0; j < dh / 2; ++j) {
            const std::size_t i = std::size_t((((b * len + t) * H + h) * dh) + 2 * j);
            const double c = th[std::size_t(((start + t) * (dh / 2) + j) * 2)],
                         s = th[std::size_t(((start + t) * (dh / 2) + j) * 2 + 1)];
            REQUIRE(std::fabs(y[i] - (xh[i] * c - xh[i + 1] * s)) < 1e-14);
            REQUIRE(std::fabs(y[i + 1] - (xh[i + 1] * c + xh[i] * s)) < 1e-14);
            nx += xh[i] * xh[i] + xh[i + 1] * xh[i + 1];
            ny += y[i] * y[i] + y[i + 1] * y[i + 1];
          }
          if (start + t == 0) REQUIRE(ny == 0.0);  // the class token's q and k vanish
          else REQUIRE(std::fabs(nx - ny) < 1e-12 * nx);
        }
  }
}

TEST_CASE("rope: gradient check, from the first row and from a cache offset", "[ops][rope][grad]") {
  const auto table = rope_table_2d<double>(3, 8, 10000.0, 1);
  for (const index_t start : {index_t(0), index_t(4)}) {
    INFO("start " << start);
    require_grad_ok([table, start](TapeD&, const VarsD& v) { return rope(v[0], table, start); },
                    {random_tensor({2, 4, 2, 8}, 5)}, {"x"});
  }
}

TEST_CASE("rope: bad shapes and positions name the op and the fix", "[ops][rope]") {
  const auto table = rope_table_2d<double>(2, 8, 10000.0, 1);
  REQUIRE_THROWS_WITH(rope_forward(random_tensor({2, 3, 8}, 1), table), Catch::Contains("expects x [B, T, H, Dh]"));
  REQUIRE_THROWS_WITH(rope_forward(random_tensor({1, 3, 2, 6}, 1), table),
                      Catch::Contains("does not match x") && Catch::Contains("[rows, 3, 2]"));
  REQUIRE_THROWS_WITH(rope_forward(random_tensor({1, 3, 2, 8}, 1), table, 3),
                      Catch::Contains("positions 3 .. 5 are outside the table's 5 rows"));
  REQUIRE_THROWS_WITH(rope_table_2d<double>(2, 6, 10000.0, 1), Catch::Contains("multiple of 4"));
}

TEST_CASE("qkv_heads: the slice/rope/permute chain to the bit in float, gradients by finite differences in double",
          "[ops][rope][grad]") {
  const index_t B = 2, Tn = 5, H = 3, Dh = 4, C = H * Dh;
  const auto table = rope_table_2d<double>(2, Dh, 10000.0, 1);  // 5 rows: the class row, then 2 x 2
  const auto table_f = rope_table_2d<float>(2, Dh, 10000.0, 1);
  Tape<float> tf;
  auto qf = tf.leaf(random_tensor<float>({B, Tn, 3 * C}, 1));
  for (int part = 0; part < 3; ++part) {
    auto chain = reshape(slice(qf, 2, part * C, (part + 1) * C), {B, Tn, H, Dh});
    if (part < 2) chain = rope(chain, table_f);
    INFO("part " << part);
    REQUIRE(qkv_heads(qf, part, H, part < 2 ? &table_f : nullptr).value().to_host() ==
            permute(chain, {0, 2, 1, 3}).value().to_host());
  }
  // The three parts together (q and k rotated from a cache offset), against finite differences and the chain.
  auto fused = [&](TapeD&, const VarsD& v) {
    const auto t1 = rope_table_2d<double>(2, Dh, 10000.0, 1);
    auto q = qkv_heads(v[0], 0, H, &t1, 0), k = qkv_heads(v[0], 1, H, &t1, 0), w = qkv_heads(v[0], 2, H);
    return sum(q * k * w * v[1]);
  };
  require_grad_ok(fused, {random_tensor({B, Tn, 3 * C}, 2), random_tensor({B, H, Tn, Dh}, 3)}, {"qkv", "w"});
  TapeD t;
  auto x = t.leaf(random_tensor({B, 1, 3 * C}, 4), true), x2 = t.leaf(x.value().clone(), true);
  auto y = t.leaf(random_tensor({B, H, 1, Dh}, 5));
  auto a = qkv_heads(x, 1, H, &table, 3) * y;
  auto b = permute(rope(reshape(slice(x2, 2, C, 2 * C), {B, 1, H, Dh}), table, 3), {0, 2, 1, 3}) * y;
  t.backward(sum(a * a) + sum(b * b));
  require_close(x.grad().to_host(), x2.grad().to_host(), 1e-12);
  REQUIRE_THROWS_WITH(qkv_heads(qf, 0, 5, &table_f), Catch::Contains("qkv_heads") && Catch::Contains("heads (5)"));
  REQUIRE_THROWS_WITH(qkv_heads(qf, 0, H, &table_f, 4), Catch::Contains("qkv_heads"));
}
