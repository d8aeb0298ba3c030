// Normalisation ops: values and gradients against PyTorch (tests/fixtures/norm.h5, made by
// make_norm_fixtures.py), float statistics against host loops, and finite-difference gradient checks.
#include <cmath>
#include <string>

#include "test_util.hpp"
#include "ibq/io/hdf5.hpp"
#include "ibq/ops/norm.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
h5::File fixture() {
  return h5::File(std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/norm.h5", h5::File::Mode::read);
}
TensorD get(const h5::File& f, const std::string& group, const std::string& name) {
  return h5::read_tensor<double>(f, group + "/" + name);
}
// Compares a Var's value to <group>/out, runs backward with seed <group>/r, and compares each leaf's
// gradient to <group>/grad_<name>.
void check_norm_fixture(const h5::File& f, const std::string& group, TapeD& tape, const VarD& out,
                           const std::vector<std::pair<std::string, VarD>>& leaves) {
  INFO("fixture group " << group);
  REQUIRE(out.shape() == get(f, group, "out").shape());
  require_close(out.value().to_host(), get(f, group, "out").to_host(), 1e-10);
  tape.backward(out, get(f, group, "r"));
  for (const auto& [name, v] : leaves) {
    INFO("gradient of " << name);
    REQUIRE(v.grad().defined());
    require_close(v.grad().to_host(), get(f, group, "grad_" + name).to_host(), 1e-10);
  }
}
// Gamma-like inputs in [0.5, 1.5): well away from zero so the output depends on every input.
TensorD positive(const Shape& s, std::uint64_t seed) { return random_tensor(s, seed, 0.5, 1.5); }

// Host reference for a normalisation over rows; center = false gives RMS norm. Computed in double.
std::vector<double> host_row_norm(const std::vector<float>& x, index_t rows, index_t len, bool center, double eps) {
  std::vector<double> xhat(x.size());
  for (index_t r = 0; r < rows; ++r) {
    double mu = 0, ss = 0;
    if (center) {
      for (index_t j = 0; j < len; ++j) mu += x[r * len + j];
      mu /= len;
    }
    for (index_t j = 0; j < len; ++j) ss += (x[r * len + j] - mu) * (x[r * len + j] - mu);
    const double rs = 1 / std::sqrt(ss / len + eps);
    for (index_t j = 0; j < len; ++j) xhat[r * len + j] = (x[r * len + j] - mu) * rs;
  }
  return xhat;
}
}  // namespace

// ---- group_norm ---------------------------------------------------------------------------------------
TEST_CASE("group_norm: values and gradients match PyTorch", "[ops][norm]") {
  const auto f = fixture();
  const std::string g = "group_norm";
  TapeD tape;
  auto x = tape.leaf(get(f, g, "x"), true);
  auto gamma = tape.leaf(get(f, g, "gamma"), true);
  auto beta = tape.leaf(get(f, g, "beta"), true);
  auto y = group_norm(x, f.attr<int>(g, "groups"), gamma, beta, f.attr<double>(g, "eps"));
  check_norm_fixture(f, g, tape, y, {{"x", x}, {"gamma", gamma}, {"beta", beta}});
}

TEST_CASE("group_norm: taming configuration (32 groups, eps 1e-6) in float against a host loop", "[ops][norm]") {
  const index_t N = 2, C = 64, HW = 9, G = 32;
  auto x = random_tensor<float>({N, C, 3, 3}, 1, -2, 3);
  auto gamma = random_tensor<float>({C}, 2, 0.5, 1.5), beta = random_tensor<float>({C}, 3);
  const auto r = group_norm_forward(x, int(G), gamma, beta, 1e-6);
  REQUIRE(r.mean.shape() == Shape{N * G});
  const auto xhat = host_row_norm(x.to_host(), N * G, (C / G) * HW, true, 1e-6);
  const auto gh = gamma.to_host(), bh = beta.to_host();
  std::vector<float> want(xhat.size());
  for (index_t i = 0; i < index_t(want.size()); ++i) {
    const index_t c = (i / HW) % C;
    want[i] = float(xhat[i] * gh[c] + bh[c]);
  }
  require_close(r.y.to_host(), want, 2e-5);
}

TEST_CASE("group_norm: gradient check", "[ops][norm][grad]") {
  const auto fn4 = [](TapeD&, const VarsD& v) { return group_norm(v[0], 2, v[1], v[2], 1e-5); };
  require_grad_ok(fn4, {random_tensor({2, 4, 3, 2}, 1, -2, 3), positive({4}, 2), random_tensor({4}, 3)},
                  {"x", "gamma", "beta"});
  // [N, C, L] with one channel per group, and [N, C] (no spatial axes)
  const auto fn3 = [](TapeD&, const VarsD& v) { return group_norm(v[0], 6, v[1], v[2], 1e-6); };
  require_grad_ok(fn3, {random_tensor({2, 6, 4}, 4, -2, 3), positive({6}, 5), random_tensor({6}, 6)},
                  {"x", "gamma", "beta"});
  const auto fn2 = [](TapeD&, const VarsD& v) { return group_norm(v[0], 2, v[1], v[2], 1e-6); };
  require_grad_ok(fn2, {random_tensor({3, 6}, 7, -2, 3), positive({6}, 8), random_tensor({6}, 9)},
                  {"x", "gamma", "beta"});
}

TEST_CASE("group_norm: bad shapes name the op and the shapes", "[ops][norm]") {
  TapeD tape;
  auto x = tape.leaf(TensorD({2, 6, 3, 3}));
  auto g6 = tape.leaf(TensorD::full({6}, 1.0)), g5 = tape.leaf(TensorD::full({5}, 1.0));
  REQUIRE_THROWS_WITH(group_norm(x, 4, g6, g6, 1e-6),
                      Catch::Contains("group_norm") && Catch::Contains("[2, 6, 3, 3]") && Catch::Contains("4 groups"));
  REQUIRE_THROWS_WITH(group_norm(x, 3, g5, g6, 1e-6),
                      Catch::Contains("group_norm") && Catch::Contains("gamma") && Catch::Contains("[5]") &&
                          Catch::Contains("[2, 6, 3, 3]"));
  REQUIRE_THROWS_WITH(group_norm(tape.leaf(TensorD({6})), 3, g6, g6, 1e-6),
                      Catch::Contains("group_norm") && Catch::Contains("[6]"));
}

// ---- layer_norm ---------------------------------------------------------------------------------------
TEST_CASE("layer_norm: values and gradients match PyTorch", "[ops][norm]") {
  const auto f = fixture();
  const std::string g = "layer_norm";
  TapeD tape;
  auto x = tape.leaf(get(f, g, "x"), true);
  auto gamma = tape.leaf(get(f, g, "gamma"), true);
  auto beta = tape.leaf(get(f, g, "beta"), true);
  auto y = layer_norm(x, gamma, beta, f.attr<double>(g, "eps"));
  check_norm_fixture(f, g, tape, y, {{"x", x}, {"gamma", gamma}, {"beta", beta}});
}

TEST_CASE("layer_norm: float values against a host loop", "[ops][norm]") {
  const index_t rows = 12, D = 40;
  auto x = random_tensor<float>({3, 4, D}, 1, -2, 3);
  auto gamma = random_tensor<float>({D}, 2, 0.5, 1.5), beta = random_tensor<float>({D}, 3);
  const auto r = layer_norm_forward(x, gamma, beta, 1e-5);
  REQUIRE(r.rstd.shape() == Shape{rows});
  const auto xhat = host_row_norm(x.to_host(), rows, D, true, 1e-5);
  const auto gh = gamma.to_host(), bh = beta.to_host();
  std::vector<float> want(xhat.size());
  for (index_t i = 0; i < index_t(want.size()); ++i) want[i] = float(xhat[i] * gh[i % D] + bh[i % D]);
  require_close(r.y.to_host(), want, 2e-5);
}

TEST_CASE("layer_norm: gradient check", "[ops][norm][grad]") {
  const auto fn = [](TapeD&, const VarsD& v) { return layer_norm(v[0], v[1], v[2], 1e-5); };
  require_grad_ok(fn, {random_tensor({2, 3, 5}, 1, -2, 3), positive({5}, 2), random_tensor({5}, 3)},
                  {"x", "gamma", "beta"});
  require_grad_ok(fn, {random_tensor({7}, 4, -2, 3), positive({7}, 5), random_tensor({7}, 6)}, {"x", "gamma", "beta"});
}

TEST_CASE("layer_norm: bad shapes name the op and the shapes", "[ops][norm]") {
  TapeD tape;
  auto x = tape.leaf(TensorD({2, 3, 5}));
  auto p5 = tape.leaf(TensorD::full({5}, 1.0)), p3 = tape.leaf(TensorD::full({3}, 1.0));
  REQUIRE_THROWS_WITH(layer_norm(x, p3, p5, 1e-5),
                      Catch::Contains("layer_norm") && Catch::Contains("[3]") && Catch::Contains("[2, 3, 5]"));
  REQUIRE_THROWS_WITH(layer_norm(x, p5, p3, 1e-5), Catch::Contains("layer_norm") && Catch::Contains("beta"));
}

// ---- rms_norm -----------------------------------------------------------------------------------------
TEST_CASE("rms_norm: values and gradients match PyTorch", "[ops][norm]") {
  const auto f = fixture();
  const std::string g = "rms_norm";
  TapeD tape;
  auto x = tape.leaf(get(f, g, "x"), true);
  auto w = tape.leaf(get(f, g, "weight"), true);
  auto y = rms_norm(x, w, f.attr<double>(g, "eps"));
  check_norm_fixture(f, g, tape, y, {{"x", x}, {"weight", w}});
}

TEST_CASE("rms_norm: float values against a host loop", "[ops][norm]") {
  const index_t rows = 6, D = 64;
  auto x = random_tensor<float>({rows, D}, 1, -2, 3);
  auto w = random_tensor<float>({D}, 2, 0.5, 1.5);
  const auto r = rms_norm_forward(x, w, 1e-6);
  REQUIRE_FALSE(r.mean.defined());
  const auto xhat = host_row_norm(x.to_host(), rows, D, false, 1e-6);
  const auto wh = w.to_host();
  std::vector<float> want(xhat.size());
  for (index_t i = 0; i < index_t(want.size()); ++i) want[i] = float(xhat[i] * wh[i % D]);
  require_close(r.y.to_host(), want, 2e-5);
}

TEST_CASE("rms_norm: gradient check", "[ops][norm][grad]") {
  const auto fn = [](TapeD&, const VarsD& v) { return rms_norm(v[0], v[1], 1e-6); };
  require_grad_ok(fn, {random_tensor({2, 3, 5}, 1, -2, 3), positive({5}, 2)}, {"x", "weight"});
}

TEST_CASE("rms_norm: bad shapes name the op and the shapes", "[ops][norm]") {
  TapeD tape;
  auto x = tape.leaf(TensorD({2, 3, 5}));
  REQUIRE_THROWS_WITH(rms_norm(x, tape.leaf(TensorD({3})), 1e-6),
                      Catch::Contains("rms_norm") && Catch::Contains("[3]") && Catch::Contains("[2, 3, 5]"));
}

// ---- batch_norm ---------------------------------------------------------------------------------------
TEST_CASE("batch_norm: training values, gradients and running stats match PyTorch", "[ops][norm]") {
  const auto f = fixture();
  const std::string g = "batch_norm_train";
  TapeD tape;
  auto x = tape.leaf(get(f, g, "x"), true);
  auto gamma = tape.leaf(get(f, g, "gamma"), true);
  auto beta = tape.leaf(get(f, g, "beta"), true);
  auto rm = get(f, g, "running_mean_in"), rv = get(f, g, "running_var_in");
  const auto v0 = rm.version(), w0 = rv.version();
  auto y = batch_norm(x, gamma, beta, rm, rv, true, f.attr<double>(g, "momentum"), f.attr<double>(g, "eps"));
  REQUIRE(rm.version() > v0);  // in-place update is visible to saved-value checks
  REQUIRE(rv.version() > w0);
  require_close(rm.to_host(), get(f, g, "running_mean_out").to_host(), 1e-12);
  require_close(rv.to_host(), get(f, g, "running_var_out").to_host(), 1e-12);
  check_norm_fixture(f, g, tape, y, {{"x", x}, {"gamma", gamma}, {"beta", beta}});
}

TEST_CASE("batch_norm: inference values and gradients match PyTorch", "[ops][norm]") {
  const auto f = fixture();
  const std::string g = "batch_norm_eval";
  TapeD tape;
  auto x = tape.leaf(get(f, g, "x"), true);
  auto gamma = tape.leaf(get(f, g, "gamma"), true);
  auto beta = tape.leaf(get(f, g, "beta"), true);
  auto rm = get(f, g, "running_mean_in"), rv = get(f, g, "running_var_in");
  const auto v0 = rm.version();
  auto y = batch_norm(x, gamma, beta, rm, rv, false, f.attr<double>(g, "momentum"), f.attr<double>(g, "eps"));
  REQUIRE(rm.version() == v0);  // inference leaves the running stats alone
  require_close(rm.to_host(), get(f, g, "running_mean_out").to_host(), 0.0);
  require_close(rv.to_host(), get(f, g, "running_var_out").to_host(), 0.0);
  check_norm_fixture(f, g, tape, y, {{"x", x}, {"gamma", gamma}, {"beta", beta}});
}

TEST_CASE("batch_norm: gradient check (training and inference)", "[ops][norm][grad]") {
  const std::vector<TensorD> in = {random_tensor({3, 2, 2, 2}, 1, -2, 3), positive({2}, 2), random_tensor({2}, 3)};
  // Training: the running stats do not affect the output; each evaluation updates private copies.
  const auto rm = random_tensor({2}, 4), rv = positive({2}, 5);
  require_grad_ok(
      [&](TapeD&, const VarsD& v) { return batch_norm(v[0], v[1], v[2], rm.clone(), rv.clone(), true); }, in,
      {"x", "gamma", "beta"});
  require_grad_ok(
      [](TapeD&, const VarsD& v) { return batch_norm(v[0], v[1], v[2], TensorD(), TensorD(), true, 0.1, 1e-3); },
      {random_tensor({4, 3}, 6, -2, 3), positive({3}, 7), random_tensor({3}, 8)}, {"x", "gamma", "beta"});
  require_grad_ok([&](TapeD&, const VarsD& v) { return batch_norm(v[0], v[1], v[2], rm, rv, false); }, in,
                  {"x", "gamma", "beta"});
}

TEST_CASE("batch_norm: bad arguments name the op", "[ops][norm]") {
  TapeD tape;
  auto x = tape.leaf(TensorD({2, 3, 4}));
  auto p3 = tape.leaf(TensorD::full({3}, 1.0)), p2 = tape.leaf(TensorD::full({2}, 1.0));
  REQUIRE_THROWS_WITH(batch_norm(x, p2, p3, TensorD(), TensorD(), true),
                      Catch::Contains("batch_norm") && Catch::Contains("[2]") && Catch::Contains("[2, 3, 4]"));
  REQUIRE_THROWS_WITH(batch_norm(x, p3, p3, TensorD(), TensorD(), false),
                      Catch::Contains("batch_norm") && Catch::Contains("running_mean"));
  REQUIRE_THROWS_WITH(batch_norm(x, p3, p3, TensorD({4}), TensorD({4}), true),
                      Catch::Contains("batch_norm") && Catch::Contains("running_mean") && Catch::Contains("[4]"));
  REQUIRE_THROWS_WITH(batch_norm(tape.leaf(TensorD({1, 3})), p3, p3, TensorD(), TensorD(), true),
                      Catch::Contains("batch_norm") && Catch::Contains("more than one value"));
}
