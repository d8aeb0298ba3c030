// Checkpoints: exact round trip of parameters, buffers and Adam state; precise errors on any mismatch.
#include "test_util.hpp"
#include "ibq/io/checkpoint.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
std::string ckpt_path(const std::string& name) { return std::string(IBQ_BINARY_DIR) + "/test_ckpt_" + name; }

struct Model {  // two parameters and a buffer, declared like a layer would
  ParamStore<double, Space> store;
  explicit Model(index_t width, std::uint64_t seed) {
    store.add("enc.weight", {width, 3}, Init::normal(0, 1));
    store.add("enc.bias", {width}, Init::uniform(-1, 1));
    store.add_buffer("bn.running_mean", {width}, Init::normal(0, 1));
    store.allocate(seed);
  }
};
}  // namespace

TEST_CASE("checkpoint: parameters, buffers and optimizer state round trip exactly", "[io][checkpoint]") {
  const auto path = ckpt_path("roundtrip.h5");
  Model a(4, 1);
  Adam<double, Space> opt_a(a.store, {});
  a.store.flat_grads().fill_(0.5);
  opt_a.step();
  opt_a.step();
  save_checkpoint(path, {"classifier", 2, 1, "[train]\nlr = 0.1\n", 1}, a.store, &opt_a, {{"loss", {3.0, 2.5}}});

  Model b(4, 99);  // different initial values
  Adam<double, Space> opt_b(b.store, {});
  const auto meta = load_checkpoint(path, "classifier", b.store, &opt_b);
  REQUIRE(meta.step == 2);
  REQUIRE(meta.config == "[train]\nlr = 0.1\n");
  REQUIRE(b.store.flat_values().to_host() == a.store.flat_values().to_host());
  REQUIRE(b.store.flat_buffers().to_host() == a.store.flat_buffers().to_host());
  REQUIRE(opt_b.first_moment().to_host() == opt_a.first_moment().to_host());
  REQUIRE(opt_b.second_moment().to_host() == opt_a.second_moment().to_host());
  REQUIRE(opt_b.steps() == 2);
  // Resuming continues the same trajectory: one more step on both gives identical parameters.
  a.store.flat_grads().fill_(0.25);
  b.store.flat_grads().fill_(0.25);
  opt_a.step();
  opt_b.step();
  REQUIRE(b.store.flat_values().to_host() == a.store.flat_values().to_host());
  h5::File f(path, h5::File::Mode::read);
  REQUIRE(f.read<double>("metrics/loss") == std::vector<double>{3.0, 2.5});
}

TEST_CASE("checkpoint: mismatches say exactly what differs", "[io][checkpoint]") {
  const auto path = ckpt_path("mismatch.h5");
  Model a(4, 1);
  save_checkpoint(path, {"classifier", 0, 0, "", 1}, a.store);
  Model wider(5, 1);
  REQUIRE_THROWS_WITH(load_checkpoint(path, "classifier", wider.store),
                      Catch::Contains("enc.weight") && Catch::Contains("[4, 3]") && Catch::Contains("[5, 3]"));
  REQUIRE_THROWS_WITH(load_checkpoint(path, "tokenizer", a.store),
                      Catch::Contains("classifier checkpoint, expected a tokenizer"));
  Adam<double, Space> opt(a.store, {});
  REQUIRE_THROWS_WITH(load_checkpoint(path, "classifier", a.store, &opt), Catch::Contains("no optimizer state"));
  ParamStore<double, Space> other;
  other.add("enc.weight", {4, 3}, Init::zeros());
  other.add("dec.bias", {4}, Init::zeros());
  other.add_buffer("bn.running_mean", {4}, Init::zeros());
  other.allocate(0);
  REQUIRE_THROWS_WITH(load_checkpoint(path, "", other), Catch::Contains("missing 'params/dec.bias'"));
  h5::write_atomic(ckpt_path("plain.h5"), [](h5::File& f) { f.set_attr("/", "x", std::int64_t(1)); });
  REQUIRE_THROWS_WITH(load_checkpoint(ckpt_path("plain.h5"), "", a.store), Catch::Contains("not an ibq checkpoint"));
}
