// matmul and linear: values and gradients against PyTorch fixtures, finite-difference gradient checks for
// every transpose/batch/broadcast combination, and shape errors.
#include <string>

#include "test_util.hpp"
#include "ibq/io/hdf5.hpp"
#include "ibq/ops/matmul.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
const std::string conv_fixture = std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/conv.h5";

// Runs op on the fixture inputs of `group`, back-propagates its stored r, and compares out and grad_*.
void check_matmul_fixture(const std::string& group, const std::vector<std::string>& names,
                           const std::function<VarD(const VarsD&)>& op) {
  INFO("fixture " << group);
  h5::File f(conv_fixture, h5::File::Mode::read);
  TapeD tape;
  VarsD in;
  for (const auto& n : names) in.push_back(tape.leaf(h5::read_tensor<double>(f, group + "/" + n), true));
  const auto out = op(in);
  const auto want = h5::read_tensor<double>(f, group + "/out");
  REQUIRE(out.shape() == want.shape());
  require_close(out.value().to_host(), want.to_host(), 1e-10);
  tape.backward(out, h5::read_tensor<double>(f, group + "/r"));
  for (std::size_t i = 0; i < names.size(); ++i) {
    INFO("gradient of " << names[i]);
    REQUIRE(in[i].grad().defined());
    require_close(in[i].grad().to_host(), h5::read_tensor<double>(f, group + "/grad_" + names[i]).to_host(), 1e-10);
  }
}

// Operand shapes for C [M,N] = op(A) op(B), optionally batched and with a shared 2-D b.
Shape a_shape(index_t batch, index_t m, index_t k, bool ta) {
  return batch ? (ta ? Shape{batch, k, m} : Shape{batch, m, k}) : (ta ? Shape{k, m} : Shape{m, k});
}
Shape b_shape(index_t batch, index_t k, index_t n, bool tb) {
  return batch ? (tb ? Shape{batch, n, k} : Shape{batch, k, n}) : (tb ? Shape{n, k} : Shape{k, n});
}
}  // namespace

TEST_CASE("matmul: values and gradients match PyTorch", "[ops][matmul]") {
  for (const char* name : {"batched_nn", "batched_tn", "batched_nt", "batched_tt", "2d_nn", "shared_nn", "shared_tt"}) {
    h5::File f(conv_fixture, h5::File::Mode::read);
    const std::string group = std::string("matmul/") + name;
    const bool ta = f.attr<std::int64_t>(group, "trans_a") != 0, tb = f.attr<std::int64_t>(group, "trans_b") != 0;
    check_matmul_fixture(group, {"a", "b"}, [&](const VarsD& v) { return matmul(v[0], v[1], ta, tb); });
  }
}

TEST_CASE("matmul: values against a host loop for a shared weight with trans_a", "[ops][matmul]") {
  // [B,K,M]^T x [K,N]: the one layout that cannot fold the batch into M.
  const index_t B = 3, M = 4, K = 5, N = 2;
  auto a = random_tensor({B, K, M}, 1), b = random_tensor({K, N}, 2);
  const auto c = matmul_forward(a, b, true, false).to_host();
  const auto ah = a.to_host(), bh = b.to_host();
  std::vector<double> want(B * M * N, 0.0);
  for (index_t z = 0; z < B; ++z)
    for (index_t i = 0; i < M; ++i)
      for (index_t j = 0; j < N; ++j)
        for (index_t p = 0; p < K; ++p) want[(z * M + i) * N + j] += ah[(z * K + p) * M + i] * bh[p * N + j];
  require_close(c, want, 1e-12);
}

TEST_CASE("matmul: gradient check for every transpose, batch and broadcast layout", "[ops][matmul][grad]") {
  const index_t M = 3, K = 4, N = 5;
  for (int layout = 0; layout < 3; ++layout) {  // 2-D, batched 3-D, batched a with a shared 2-D b
    const index_t batch_a = layout == 0 ? 0 : 2, batch_b = layout == 1 ? 2 : 0;
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        INFO("layout " << layout << " trans_a " << ta << " trans_b " << tb);
        require_grad_ok([=](TapeD&, const VarsD& v) { return matmul(v[0], v[1], ta != 0, tb != 0); },
                        {random_tensor(a_shape(batch_a, M, K, ta), 10 + ta), random_tensor(b_shape(batch_b, K, N, tb), 20 + tb)},
                        {"a", "b"});
      }
  }
  // The same Var on both sides (a Gram matrix x x^T): both gradient paths accumulate into one buffer.
  require_grad_ok([](TapeD&, const VarsD& v) { return matmul(v[0], v[0], false, true); },
                  {random_tensor({2, 3, 4}, 30)}, {"x"});
}

TEST_CASE("matmul: mismatched shapes name the op and both shapes", "[ops][matmul]") {
  TapeD tape;
  auto a = tape.leaf(TensorD({2, 3}));
  auto b = tape.leaf(TensorD({4, 5}));
  REQUIRE_THROWS_WITH(matmul(a, b), Catch::Contains("matmul") && Catch::Contains("[2, 3]") && Catch::Contains("[4, 5]"));
  REQUIRE_THROWS_WITH(matmul(a, b, true, false), Catch::Contains("matmul") && Catch::Contains("transpose"));
}

TEST_CASE("matmul: bad ranks and batch sizes are rejected", "[ops][matmul]") {
  TapeD tape;
  auto a3 = tape.leaf(TensorD({2, 3, 4}));
  auto b3 = tape.leaf(TensorD({3, 4, 5}));
  auto b2 = tape.leaf(TensorD({4, 5}));
  auto v1 = tape.leaf(TensorD({4}));
  REQUIRE_THROWS_WITH(matmul(a3, b3), Catch::Contains("matmul") && Catch::Contains("batch"));
  REQUIRE_THROWS_WITH(matmul(b2, a3), Catch::Contains("matmul") && Catch::Contains("[4, 5]"));
  REQUIRE_THROWS_WITH(matmul(a3, v1), Catch::Contains("matmul") && Catch::Contains("[4]"));
}

TEST_CASE("linear: values and gradients match PyTorch", "[ops][linear]") {
  check_matmul_fixture("linear/bias", {"x", "w", "b"}, [](const VarsD& v) { return linear(v[0], v[1], v[2]); });
  check_matmul_fixture("linear/nobias", {"x", "w"}, [](const VarsD& v) { return linear(v[0], v[1]); });
}

TEST_CASE("linear: gradient check with and without bias, rank 1 to 4 inputs", "[ops][linear][grad]") {
  const std::vector<Shape> xs = {{5}, {3, 5}, {2, 3, 5}, {2, 1, 2, 5}};
  for (const auto& s : xs) {
    INFO("x " << s);
    require_grad_ok([](TapeD&, const VarsD& v) { return linear(v[0], v[1], v[2]); },
                    {random_tensor(s, 1), random_tensor({4, 5}, 2), random_tensor({4}, 3)}, {"x", "weight", "bias"});
    require_grad_ok([](TapeD&, const VarsD& v) { return linear(v[0], v[1]); },
                    {random_tensor(s, 4), random_tensor({4, 5}, 5)}, {"x", "weight"});
  }
}

TEST_CASE("linear: float output shape and values against a host loop", "[ops][linear]") {
  Tape<float> tape;
  auto x = tape.leaf(random_tensor<float>({2, 3, 4}, 7));
  auto w = tape.leaf(random_tensor<float>({6, 4}, 8));
  auto b = tape.leaf(random_tensor<float>({6}, 9));
  const auto y = linear(x, w, b);
  REQUIRE(y.shape() == Shape{2, 3, 6});
  const auto xh = x.value().to_host(), wh = w.value().to_host(), bh = b.value().to_host(), yh = y.value().to_host();
  std::vector<float> want(36);
  for (int r = 0; r < 6; ++r)
    for (int o = 0; o < 6; ++o) {
      double acc = bh[o];
      for (int i = 0; i < 4; ++i) acc += double(xh[r * 4 + i]) * wh[o * 4 + i];
      want[r * 6 + o] = float(acc);
    }
  require_close(yh, want, 1e-5);
}

TEST_CASE("linear: mismatched shapes name the op and both shapes", "[ops][linear]") {
  TapeD tape;
  auto x = tape.leaf(TensorD({2, 3}));
  auto w = tape.leaf(TensorD({4, 5}));
  auto w_ok = tape.leaf(TensorD({4, 3}));
  auto b = tape.leaf(TensorD({5}));
  REQUIRE_THROWS_WITH(linear(x, w), Catch::Contains("linear") && Catch::Contains("[2, 3]") && Catch::Contains("[4, 5]"));
  REQUIRE_THROWS_WITH(linear(x, w_ok, b), Catch::Contains("linear") && Catch::Contains("[5]") && Catch::Contains("[4, 3]"));
}
