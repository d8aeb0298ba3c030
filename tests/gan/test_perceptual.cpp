// LPIPS: a narrow VGG16 (torchvision topology and names) with random weights against the PyTorch reference
// (tests/reference/lpips_reference.py): distance and input gradient; the dropout switch; a gradient check in
// double; and the errors for missing or mismatched weight files.
#include <cmath>

#include "ibq/gan/perceptual.hpp"
#include "test_util.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
const std::string perceptual_fixture = std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/lpips.h5";

}  // namespace

TEST_CASE("lpips: matches the PyTorch reference (distance and input gradient)", "[gan][lpips]") {
  h5::File f(perceptual_fixture, h5::File::Mode::read);
  LpipsConfig cfg;
  cfg.widths = {4, 8, 8, 16, 16};
  Lpips<double> lpips(cfg, 1);
  load_lpips_weights(lpips, perceptual_fixture, "params/");
  TapeD tape;
  auto x0 = tape.leaf(h5::read_tensor<double>(f, "x0"));
  auto x1 = tape.leaf(h5::read_tensor<double>(f, "x1"), true);
  auto d = lpips.forward(x0, x1, Rng{}, /*training=*/false);
  require_rel_close("lpips", d.value(), h5::read_tensor<double>(f, "d"), 1e-10);
  tape.backward(d, h5::read_tensor<double>(f, "r"));
  require_rel_close("grad x1", x1.grad(), h5::read_tensor<double>(f, "grad_x1"), 1e-9);
  // Identical images are at distance 0.
  TapeD t2;
  auto same = lpips.forward(t2.leaf(h5::read_tensor<double>(f, "x0")), t2.leaf(h5::read_tensor<double>(f, "x0")), Rng{}, false);
  for (double v : same.value().to_host()) CHECK(v == Approx(0.0).margin(1e-12));
}

TEST_CASE("lpips: dropout before the heads is off in training (the reference) unless switched on", "[gan][lpips]") {
  h5::File f(perceptual_fixture, h5::File::Mode::read);
  LpipsConfig cfg;
  cfg.widths = {4, 8, 8, 16, 16};
  Lpips<double> off(cfg, 1);
  REQUIRE_FALSE(cfg.dropout_in_training);
  cfg.dropout_in_training = true;
  Lpips<double> on(cfg, 1);
  load_lpips_weights(on, perceptual_fixture, "params/");
  load_lpips_weights(off, perceptual_fixture, "params/");
  auto run = [&](const Lpips<double>& m, const Rng& rng, bool training) {
    TapeD t;
    return m.forward(t.leaf(h5::read_tensor<double>(f, "x0")), t.leaf(h5::read_tensor<double>(f, "x1")), rng, training)
        .value()
        .to_host();
  };
  const auto eval = run(on, Rng{3, 0}, false);
  CHECK(run(off, Rng{3, 0}, true) == eval);
  const auto a = run(on, Rng{3, 0}, true), b = run(on, Rng{3, 0}, true), c = run(on, Rng{4, 0}, true);
  CHECK(a == b);  // the counter-based RNG: same seed, same mask
  CHECK(a != eval);
  CHECK(a != c);
}

TEST_CASE("lpips: gradient check in double", "[gan][lpips][grad]") {
  LpipsConfig cfg;
  cfg.widths = {2, 3, 3, 4, 4};
  Lpips<double> lpips(cfg, 5);
  const auto x0 = random_tensor({2, 3, 16, 16}, 1), x1 = random_tensor({2, 3, 16, 16}, 2);
  GradCheckOptions opt;
  opt.max_elements = 60;
  require_grad_ok([&](TapeD&, const VarsD& v) { return lpips.forward(v[0], v[1], Rng{}, false); }, {x0, x1},
                  {"x0", "x1"}, opt);
}

TEST_CASE("lpips: missing or mismatched weights say how to make the file", "[gan][lpips]") {
  Lpips<float> lpips({}, 1);
  REQUIRE_THROWS_WITH(load_lpips_weights(lpips, "/nonexistent/lpips.h5"),
                      Catch::Contains("/nonexistent/lpips.h5") && Catch::Contains("hpc/make_lpips_weights.py"));
  REQUIRE_THROWS_WITH(load_lpips_weights(lpips, ""), Catch::Contains("loss.lpips_weights") &&
                                                         Catch::Contains("loss.perceptual_weight = 0"));
  // The narrow fixture has torchvision's names but not its widths.
  REQUIRE_THROWS_WITH(load_lpips_weights(lpips, perceptual_fixture, "params/"),
                      Catch::Contains("'params/features.0.weight' has shape [4, 3, 3, 3], expected [64, 3, 3, 3]"));
  TapeD tape;
  REQUIRE_THROWS_WITH(Lpips<double>(LpipsConfig{{2, 3, 3, 4, 4}, true, 0.5}, 1)
                          .forward(tape.leaf(TensorD({1, 1, 8, 8})), tape.leaf(TensorD({1, 1, 8, 8})), Rng{}, false),
                      Catch::Contains("[N, 3, H, W]"));
}
