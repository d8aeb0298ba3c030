// The PatchGAN discriminator: parity with the PyTorch reference (tests/reference/discriminator_reference.py:
// logits in training and eval mode, running statistics, gradients of the input and of every parameter),
// the reference's names, sizes and initialisation, and finite-difference gradient checks in double.
#include <cmath>
#include <set>

#include "ibq/gan/discriminator.hpp"
#include "ibq/io/hdf5.hpp"
#include "ibq/ops/binary.hpp"
#include "ibq/ops/reduce.hpp"
#include "test_util.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
const std::string fixture = std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/discriminator.h5";

DiscriminatorConfig fixture_config(const h5::File& f) {
  DiscriminatorConfig cfg;
  cfg.in_channels = f.attr<std::int64_t>("/", "in_channels");
  cfg.ndf = f.attr<std::int64_t>("/", "ndf");
  cfg.n_layers = f.attr<std::int64_t>("/", "n_layers");
  return cfg;
}
}  // namespace

TEST_CASE("discriminator: matches the PyTorch NLayerDiscriminator (train and eval logits, running stats, gradients)",
          "[gan]") {
  h5::File f(fixture, h5::File::Mode::read);
  PatchDiscriminator<double> disc(fixture_config(f), 1);
  auto& store = disc.store();
  std::set<std::string> ours, theirs;
  for (const auto& e : store.params()) ours.insert(e.name);
  for (const auto& n : f.datasets("params")) theirs.insert(n);
  REQUIRE(ours == theirs);  // the reference's state-dict names, no more, no fewer
  for (const auto* group : {&store.params(), &store.buffers()})
    for (const auto& e : *group) {
      const std::string where = (group == &store.params() ? "params/" : "buffers/") + e.name;
      INFO(where);
      auto w = h5::read_tensor<double>(f, where);
      REQUIRE(w.shape() == e.shape);
      Kokkos::deep_copy(e.value.view(), w.view());
    }

  Tape<double> tape;
  auto x = tape.leaf(h5::read_tensor<double>(f, "x"), /*requires_grad=*/true);
  auto logits = disc.forward(x, /*training=*/true);
  require_rel_close("logits", logits.value(), h5::read_tensor<double>(f, "logits"), 1e-10);
  tape.backward(sum(logits * tape.leaf(h5::read_tensor<double>(f, "r"))));
  require_rel_close("grad x", tape.grad(x.id()), h5::read_tensor<double>(f, "grad_x"), 1e-9);
  for (const auto& e : store.params())
    require_rel_close("grad " + e.name, e.grad, h5::read_tensor<double>(f, "grads/" + e.name), 1e-9);
  for (const auto& e : store.buffers())
    require_rel_close("running " + e.name, e.value, h5::read_tensor<double>(f, "running/" + e.name), 1e-10);

  Tape<double> eval;
  auto guard = eval.no_grad();
  auto logits_eval = disc.forward(eval.leaf(h5::read_tensor<double>(f, "x")), /*training=*/false);
  require_rel_close("logits (eval)", logits_eval.value(), h5::read_tensor<double>(f, "logits_eval"), 1e-10);
}

TEST_CASE("discriminator: reference layer stack, patch size and initialisation", "[gan]") {
  DiscriminatorConfig cfg;  // the reference: 3 -> 64, n_layers 3
  REQUIRE(cfg.output_size(256) == 30);
  REQUIRE(cfg.output_size(32) == 2);
  PatchDiscriminator<float> disc(cfg, 7);
  index_t n = 0;
  for (const auto& e : disc.store().params()) n += e.shape.numel();
  // 3*64*16 + 64 + 64*128*16 + 2*128 + 128*256*16 + 2*256 + 256*512*16 + 2*512 + 512*16 + 1 (taming's count)
  REQUIRE(n == 2765633);
  const auto& s = disc.store();
  auto stats = [](const Tensor<float>& t) {
    const auto v = t.to_host();
    double m = 0, q = 0;
    for (float x : v) m += x, q += double(x) * x;
    m /= double(v.size());
    return std::make_pair(m, std::sqrt(q / double(v.size()) - m * m));
  };
  const auto w = stats(s.value(s.find("loss.discriminator.main.8.weight")));  // 256 -> 512
  CHECK(std::fabs(w.first) < 1e-3);
  CHECK(w.second == Approx(0.02).epsilon(0.01));
  const auto g = stats(s.value(s.find("loss.discriminator.main.9.weight")));
  CHECK(g.first == Approx(1.0).epsilon(0.01));
  CHECK(g.second == Approx(0.02).epsilon(0.2));
  const auto b = s.value(s.find("loss.discriminator.main.9.bias")).to_host();
  CHECK(*std::max_element(b.begin(), b.end()) == 0.0f);
  Tape<float> tape;
  auto y = disc.forward(tape.leaf(Tensor<float>::full({2, 3, 64, 64}, 0.0f)), true);
  REQUIRE(y.shape() == Shape{2, 1, 6, 6});
  REQUIRE_THROWS_WITH(disc.forward(tape.leaf(Tensor<float>::full({2, 1, 64, 64}, 0.0f)), true),
                      Catch::Contains("[N, 3, H, W]"));
}

TEST_CASE("discriminator: gradient check in double (input and every parameter, training mode)", "[gan][grad]") {
  DiscriminatorConfig cfg;
  cfg.in_channels = 2, cfg.ndf = 2, cfg.n_layers = 2;
  PatchDiscriminator<double> disc(cfg, 3);
  const auto x = random_tensor({3, 2, 16, 16}, 5);
  require_grad_ok([&](TapeD&, const VarsD& in) { return disc.forward(in[0], true); }, {x}, {"x"});
  GradCheckOptions opt;
  opt.max_elements = 40;
  require_params_grad_ok(disc.store(), [&](TapeD& t) { return disc.forward(t.leaf(x), true); }, opt);
}
