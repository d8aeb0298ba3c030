// GAN losses of the reference (hinge and non-saturating D losses, the non-saturating generator loss on the
// per-image mean logit, LeCam with EMA anchors, the adaptive weight): values and gradients against the
// PyTorch reference fixture, and finite-difference gradient checks in double.
#include <cmath>

#include "ibq/gan/losses.hpp"
#include "ibq/io/hdf5.hpp"
#include "test_util.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
const std::string losses_fixture = std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/discriminator.h5";

// Logits kept `gap` away from the kinks of the hinge and LeCam terms (where the derivative jumps).
TensorD logits_away_from(const Shape& s, std::uint64_t seed, std::vector<double> kinks, double gap = 0.05) {
  auto v = random_tensor(s, seed, -2.0, 2.0).to_host();
  for (auto& x : v)
    for (double k : kinks)
      if (std::fabs(x - k) < gap) x = x < k ? k - gap : k + gap;
  return TensorD::from_host(s, v);
}
}  // namespace

TEST_CASE("gan losses: hinge, vanilla, generator and LeCam match the PyTorch reference", "[gan]") {
  h5::File f(losses_fixture, h5::File::Mode::read);
  LecamAnchors<Space> anchors;
  anchors.set(f.attr<double>("/", "ema_real"), f.attr<double>("/", "ema_fake"));
  using LossFn = std::function<VarD(const VarD&, const VarD&)>;
  const std::vector<std::pair<std::string, LossFn>> losses = {
      {"hinge_d", [](const VarD& r, const VarD& k) { return disc_loss(DiscLoss::hinge, r, k); }},
      {"vanilla_d", [](const VarD& r, const VarD& k) { return disc_loss(DiscLoss::vanilla, r, k); }},
      {"gen", [](const VarD& r, const VarD& k) { return generator_loss(k) + 0.0 * sum(r); }},
      {"lecam", [&](const VarD& r, const VarD& k) { return lecam_loss(r, k, anchors); }},
  };
  for (const auto& [name, fn] : losses) {
    INFO(name);
    TapeD tape;
    auto real = tape.leaf(h5::read_tensor<double>(f, "real"), true);
    auto fake = tape.leaf(h5::read_tensor<double>(f, "fake"), true);
    auto v = fn(real, fake);
    CHECK(v.value().item() == Approx(h5::read_tensor<double>(f, "losses/" + name).to_host().at(0)).epsilon(1e-12));
    tape.backward(v);
    require_rel_close(name + " grad real", real.grad(), h5::read_tensor<double>(f, "losses/" + name + "_grad_real"), 1e-12);
    require_rel_close(name + " grad fake", fake.grad(), h5::read_tensor<double>(f, "losses/" + name + "_grad_fake"), 1e-12);
  }
}

TEST_CASE("gan losses: gradient checks in double", "[gan][grad]") {
  LecamAnchors<Space> anchors;
  anchors.set(0.4, -0.3);
  const Shape s{3, 1, 4, 5};
  const auto real = logits_away_from(s, 1, {1.0, anchors.fake()}), fake = logits_away_from(s, 2, {-1.0, anchors.real()});
  require_grad_ok([](TapeD&, const VarsD& v) { return hinge_d_loss(v[0], v[1]); }, {real, fake}, {"real", "fake"});
  require_grad_ok([](TapeD&, const VarsD& v) { return vanilla_d_loss(v[0], v[1]); }, {real, fake}, {"real", "fake"});
  require_grad_ok([](TapeD&, const VarsD& v) { return generator_loss(v[0]); }, {fake}, {"fake"});
  require_grad_ok([&](TapeD&, const VarsD& v) { return lecam_loss(v[0], v[1], anchors); }, {real, fake},
                  {"real", "fake"});
}

TEST_CASE("gan losses: LeCam anchors are EMAs from 0; the adaptive weight is the clamped gradient-norm ratio",
          "[gan]") {
  LecamAnchors<Space> a;
  const auto means = TensorD::from_host({2}, {2.0, -1.0});
  a.update(means);
  CHECK(a.real() == Approx(0.002).epsilon(1e-12));
  CHECK(a.fake() == Approx(-0.001).epsilon(1e-12));
  a.update(TensorF::from_host({2}, {2.0f, -1.0f}));  // float logits move the double anchors too
  CHECK(a.real() == Approx(0.999 * 0.002 + 0.002).epsilon(1e-12));
  REQUIRE_THROWS_WITH(a.update(TensorD::from_host({1}, {1})), Catch::Contains("(real, fake)"));
  // Generator loss on hand-computed logits: images with mean logits 1 and -2.
  TapeD tape;
  auto l = tape.leaf(TensorD::from_host({2, 1, 1, 2}, {0.5, 1.5, -3.0, -1.0}));
  CHECK(generator_loss(l).value().item() == Approx(0.5 * (std::log1p(std::exp(-1.0)) + std::log1p(std::exp(2.0)))));

  const auto g1 = TensorD::from_host({4}, {3, 0, 0, 4});   // |g1| = 5
  const auto g2 = TensorD::from_host({4}, {0, 1, 0, 0});   // |g2| = 1
  CHECK(adaptive_generator_weight(g1, g2, 0.4) == Approx(0.4 * 5 / (1 + 1e-4)));
  // the device form: the same number, left in a [1] tensor
  CHECK(adaptive_generator_weight_device(g1, g2, 0.4).to_host().at(0) == Approx(0.4 * 5 / (1 + 1e-4)));
  const auto zero = TensorD::from_host({4}, {0, 0, 0, 0});
  CHECK(adaptive_generator_weight(g1, zero, 1.0) == Approx(1e4));  // clamped
  REQUIRE_THROWS_WITH(adaptive_generator_weight(g1, TensorD::from_host({1}, {1}), 1.0), Catch::Contains("sizes"));
  REQUIRE(parse_disc_loss("hinge") == DiscLoss::hinge);
  REQUIRE_THROWS_WITH(parse_disc_loss("wgan"), Catch::Contains("loss.disc_loss"));
}
