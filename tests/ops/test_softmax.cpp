// softmax, log_softmax, cross_entropy: values against host loops and known values, gradients in double.
#include <cmath>
#include <cstdint>

#include "test_util.hpp"
#include "ibq/ops/reduce.hpp"
#include "ibq/ops/softmax.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
using Labels = Tensor<std::int32_t, Space>;

// log_softmax (or softmax) along axis a, written the textbook way in long double.
std::vector<double> host_softmax(const std::vector<double>& x, const Shape& s, int a, bool log) {
  const index_t outer = s.prod(0, a), n = s.dims[a], inner = s.prod(a + 1, s.rank);
  std::vector<double> y(x.size());
  for (index_t o = 0; o < outer; ++o)
    for (index_t i = 0; i < inner; ++i) {
      long double z = 0;
      for (index_t k = 0; k < n; ++k) z += std::exp((long double)x[(o * n + k) * inner + i]);
      for (index_t k = 0; k < n; ++k) {
        const index_t j = (o * n + k) * inner + i;
        y[j] = log ? double(x[j] - std::log(z)) : double(std::exp((long double)x[j]) / z);
      }
    }
  return y;
}
// Mean over non-ignored positions of -log_softmax(x)[label] with the class axis 1.
double host_cross_entropy(const std::vector<double>& x, const Shape& s, const std::vector<std::int32_t>& labels,
                          int ignore) {
  const auto lp = host_softmax(x, s, 1, true);
  const index_t n = s.dims[1], inner = s.prod(2, s.rank);
  double total = 0;
  int count = 0;
  for (std::size_t p = 0; p < labels.size(); ++p) {
    if (labels[p] == ignore) continue;
    const index_t o = index_t(p) / inner, i = index_t(p) % inner;
    total -= lp[(o * n + labels[p]) * inner + i];
    ++count;
  }
  return total / count;
}
}  // namespace

TEST_CASE("softmax: values along last/middle/first axes, large logits stay finite", "[ops][softmax]") {
  TapeD tape;
  const Shape s{2, 3, 4};
  auto xt = random_tensor(s, 1, -3, 3);
  for (int axis : {-1, 1, 0}) {
    INFO("axis " << axis);
    require_close(softmax(tape.leaf(xt), axis).value().to_host(), host_softmax(xt.to_host(), s, (axis + 3) % 3, false),
                  1e-12);
  }
  // Naive exp overflows at 1000; the max shift makes this [e^-1, 1] / (1 + e^-1).
  auto big = softmax_forward(TensorD::from_host({1, 2}, {1000, 1001}), -1).to_host();
  require_close(big, std::vector<double>{1 / (1 + std::exp(1.0)), 1 / (1 + std::exp(-1.0))}, 1e-12);
  // A long float row (one team per row): rows sum to one.
  auto f = random_tensor<float>({3, 5000}, 2, -4, 4);
  auto y = softmax_forward(f, 1).to_host();
  std::vector<float> want(y.size());
  const auto fh = f.to_host();
  std::vector<double> fd(fh.begin(), fh.end());
  const auto ref = host_softmax(fd, f.shape(), 1, false);
  for (std::size_t i = 0; i < y.size(); ++i) want[i] = float(ref[i]);
  require_close(y, want, 1e-5);
  auto rows = sum_forward(softmax_forward(f, 1), 1).to_host();
  require_close(rows, std::vector<float>(3, 1.f), 1e-5);
}

TEST_CASE("softmax: gradient check along last/middle/first axes", "[ops][softmax][grad]") {
  auto x = random_tensor({2, 3, 4}, 3, -2, 2);
  for (int axis : {-1, 1, 0}) {
    INFO("axis " << axis);
    require_grad_ok([=](TapeD&, const VarsD& v) { return softmax(v[0], axis); }, {x}, {"x"});
  }
}

TEST_CASE("log_softmax: values, uniform logits give -log(C), large logits stay finite", "[ops][softmax]") {
  TapeD tape;
  const Shape s{2, 5, 3};
  auto xt = random_tensor(s, 4, -3, 3);
  for (int axis : {-1, 1, 0}) {
    INFO("axis " << axis);
    require_close(log_softmax(tape.leaf(xt), axis).value().to_host(),
                  host_softmax(xt.to_host(), s, (axis + 3) % 3, true), 1e-12);
  }
  require_close(log_softmax_forward(TensorD::full({2, 7}, 0.3), 1).to_host(), std::vector<double>(14, -std::log(7.0)),
                1e-12);
  // [1000, 1001, 1002] -> shift by logsumexp: -(2, 1, 0) - log(1 + e^-1 + e^-2)
  const double l = std::log(1 + std::exp(-1.0) + std::exp(-2.0));
  require_close(log_softmax_forward(TensorD::from_host({3}, {1000, 1001, 1002}), 0).to_host(),
                std::vector<double>{-2 - l, -1 - l, -l}, 1e-12);
  auto f = random_tensor<float>({2, 3000}, 5, -4, 4);
  const auto fh = f.to_host();
  const auto ref = host_softmax(std::vector<double>(fh.begin(), fh.end()), f.shape(), 1, true);
  require_close(log_softmax_forward(f, -1).to_host(), std::vector<float>(ref.begin(), ref.end()), 1e-5);
}

TEST_CASE("log_softmax: gradient check along last/middle/first axes", "[ops][softmax][grad]") {
  auto x = random_tensor({2, 3, 4}, 6, -2, 2);
  for (int axis : {-1, 1, 0}) {
    INFO("axis " << axis);
    require_grad_ok([=](TapeD&, const VarsD& v) { return log_softmax(v[0], axis); }, {x}, {"x"});
  }
}

TEST_CASE("cross_entropy: values against a host loop and known values, ignored rows", "[ops][softmax]") {
  TapeD tape;
  // Uniform logits: log(C) whatever the labels.
  auto uni = cross_entropy(tape.leaf(TensorD::full({3, 6}, 0.7)), Labels::from_host({3}, {0, 5, 2}));
  REQUIRE(uni.shape() == Shape{1});
  REQUIRE(uni.value().item() == Approx(std::log(6.0)).epsilon(1e-12));
  // torch.nn.functional.cross_entropy(tensor([[1., 2., 3.]]), tensor([2])) = log(1 + e^-1 + e^-2)
  auto known = cross_entropy_forward(TensorD::from_host({1, 3}, {1, 2, 3}), Labels::from_host({1}, {2}));
  REQUIRE(known.loss.item() == Approx(0.40760596444438).epsilon(1e-12));
  // Random logits with an ignored row (default ignore_index -100), and a custom ignore_index.
  const Shape s{4, 5};
  auto xt = random_tensor(s, 7, -3, 3);
  const std::vector<std::int32_t> lab{3, -100, 0, 4};
  auto loss = cross_entropy(tape.leaf(xt), Labels::from_host({4}, lab));
  REQUIRE(loss.value().item() == Approx(host_cross_entropy(xt.to_host(), s, lab, -100)).epsilon(1e-12));
  const std::vector<std::int32_t> lab2{1, 2, -1, -1};
  auto loss2 = cross_entropy_forward(xt, Labels::from_host({4}, lab2), -1);
  REQUIRE(loss2.valid == 2);
  REQUIRE(loss2.loss.item() == Approx(host_cross_entropy(xt.to_host(), s, lab2, -1)).epsilon(1e-12));
  // Class axis 1 of [N, C, L] logits with [N, L] labels.
  const Shape s3{2, 4, 3};
  auto x3 = random_tensor(s3, 8, -3, 3);
  const std::vector<std::int32_t> lab3{0, 3, 1, 2, -100, 3};
  REQUIRE(cross_entropy_forward(x3, Labels::from_host({2, 3}, lab3)).loss.item() ==
          Approx(host_cross_entropy(x3.to_host(), s3, lab3, -100)).epsilon(1e-12));
  // Every row ignored: NaN, as PyTorch.
  REQUIRE(std::isnan(cross_entropy_forward(xt, Labels::full({4}, -100)).loss.item()));
  // float, long rows: a team per row
  auto f = random_tensor<float>({3, 4096}, 9, -5, 5);
  const auto fh = f.to_host();
  const std::vector<std::int32_t> labf{17, 4095, 2000};
  const double want = host_cross_entropy(std::vector<double>(fh.begin(), fh.end()), f.shape(), labf, -100);
  REQUIRE(cross_entropy_forward(f, Labels::from_host({3}, labf)).loss.item() == Approx(want).epsilon(1e-5));
}

TEST_CASE("cross_entropy: gradient check with an ignored row, rank 2 and rank 3 logits", "[ops][softmax][grad]") {
  const auto lab = Labels::from_host({4}, {2, -100, 0, 4});
  require_grad_ok([&](TapeD&, const VarsD& v) { return cross_entropy(v[0], lab); }, {random_tensor({4, 5}, 10, -2, 2)},
                  {"logits"});
  const auto lab3 = Labels::from_host({2, 3}, {1, 3, -100, 0, 2, 3});
  require_grad_ok([&](TapeD&, const VarsD& v) { return cross_entropy(v[0], lab3); },
                  {random_tensor({2, 4, 3}, 11, -2, 2)}, {"logits"});
  const auto lab_ign = Labels::from_host({3}, {7, 1, 0});
  require_grad_ok([&](TapeD&, const VarsD& v) { return cross_entropy(v[0], lab_ign, 7); },
                  {random_tensor({3, 3}, 12, -2, 2)}, {"logits"});
}

TEST_CASE("cross_entropy: bad labels and shapes name the op, the label and C", "[ops][softmax]") {
  TapeD tape;
  auto x = tape.leaf(TensorD({3, 5}));
  REQUIRE_THROWS_WITH(cross_entropy(x, Labels::from_host({3}, {0, 5, 1})),
                      Catch::Contains("cross_entropy") && Catch::Contains("label 5") && Catch::Contains("C = 5"));
  REQUIRE_THROWS_WITH(cross_entropy(x, Labels::from_host({3}, {0, -1, 1})),
                      Catch::Contains("cross_entropy") && Catch::Contains("label -1"));
  REQUIRE_THROWS_WITH(cross_entropy(x, Labels::from_host({2}, {0, 1})),
                      Catch::Contains("cross_entropy") && Catch::Contains("[2]") && Catch::Contains("[3, 5]"));
  REQUIRE_THROWS_WITH(cross_entropy(tape.leaf(TensorD({5})), Labels::from_host({1}, {0})),
                      Catch::Contains("cross_entropy") && Catch::Contains("[5]"));
  REQUIRE_THROWS_WITH(softmax(x, 2), Catch::Contains("softmax") && Catch::Contains("[3, 5]"));
  REQUIRE_THROWS_WITH(log_softmax(x, -3), Catch::Contains("log_softmax") && Catch::Contains("[3, 5]"));
}
