// ArTransformer: the paper's parameter counts (counted without allocating), reference names and
// initialisation, KV-cache decoding against recomputing the prefix, label dropout, finite-difference
// gradient checks of AdaLN modulation and of whole blocks in double, and configuration errors.
#include <cmath>
#include <numeric>

#include "test_util.hpp"
#include "ibq/io/hdf5.hpp"
#include "ibq/models/ar_transformer.hpp"
#include "ibq/ops/reduce.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
using Ints = Tensor<std::int32_t, Space>;
using TapeF = Tape<float, Space>;

index_t total(const std::map<std::string, index_t>& counts) {
  index_t n = 0;
  for (const auto& [name, c] : counts) n += c;
  return n;
}

// A small configuration with every part present, dropouts off unless asked for.
ArConfig tiny(index_t layers = 2) {
  ArConfig c;
  c.vocab_size = 11, c.num_classes = 3, c.grid = 3, c.n_layer = layers, c.dim = 16, c.n_head = 2, c.multiple_of = 8;
  c.class_dropout = c.token_dropout = c.resid_dropout = c.ffn_dropout = 0;
  return c;
}

// The reference zero-initialises the head (all logits 0) and scales the gammas by 1e-3: give every
// parameter a random value instead, so that the tests see every path.
template <class T>
void randomize(ArTransformer<T>& m, std::uint64_t seed) {
  auto& values = m.store().flat_values();
  const auto r = random_tensor({values.size()}, seed).to_host();
  std::vector<T> v(r.begin(), r.end());
  for (auto& x : v) x *= T(0.3);
  Kokkos::deep_copy(values.view(), Tensor<T, Space>::from_host(values.shape(), v).view());
  m.store().mark_values_modified();
}

Ints ints(const Shape& s, const std::vector<std::int32_t>& v) { return Ints::from_host(s, v); }
}  // namespace

TEST_CASE("ArTransformer: B, L, XL and XXL have the paper's parameter counts", "[models][ar]") {
  CHECK(total(ArTransformer<float>::declared_counts(ArConfig::preset("B"))) == 342994944);
  CHECK(total(ArTransformer<float>::declared_counts(ArConfig::preset("L"))) == 649640960);
  CHECK(total(ArTransformer<float>::declared_counts(ArConfig::preset("XL"))) == 1076103168);
  CHECK(total(ArTransformer<float>::declared_counts(ArConfig::preset("XXL"))) == 2063331840);
  CHECK(ArConfig::preset("B").ffn_hidden() == 2816);
  CHECK(ArConfig::preset("XXL").ffn_hidden() == 5120);
  const auto b = ArTransformer<float>::declared_counts(ArConfig::preset("B"));
  CHECK(b.at("tok_emb") == 16384 * 1024);
  CHECK(b.at("class_emb") == 1001 * 1024);
  CHECK(b.at("head") == 16384 * 1024);
  CHECK(b.at("head_nm") == 1024 + 2 * 1024 * 1024 + 2 * 1024);
}

TEST_CASE("ArTransformer: reference names, shapes and initialisation", "[models][ar]") {
  ArConfig cfg = ArConfig::preset("fmnist-s");
  ArTransformer<float> m(cfg, 7);
  const index_t C = cfg.dim;
  auto host = [&](const std::string& n) { return m.store().value(m.store().find(n)).to_host(); };
  auto shape = [&](const std::string& n) { return m.store().value(m.store().find(n)).shape(); };
  CHECK(shape("tok_emb.weight") == Shape{1024, C});
  CHECK(shape("class_emb.embedding_table.weight") == Shape{11, C});
  CHECK(shape("blocks.0.attention.wqkv.weight") == Shape{3 * C, C});
  CHECK(shape("blocks.3.attention.wo.weight") == Shape{C, C});
  CHECK(shape("blocks.1.feed_forward.w1.weight") == Shape{cfg.ffn_hidden(), C});
  CHECK(shape("blocks.1.feed_forward.w2.weight") == Shape{C, cfg.ffn_hidden()});
  CHECK(shape("blocks.2.ada_lin.1.bias") == Shape{6 * C});
  CHECK(shape("head_nm.ada_lin.1.weight") == Shape{2 * C, C});
  CHECK(shape("head.weight") == Shape{1024, C});
  auto rms = [](const std::vector<float>& v, std::size_t a, std::size_t b) {
    double s = 0;
    for (std::size_t i = a; i < b; ++i) s += double(v[i]) * v[i];
    return std::sqrt(s / double(b - a));
  };
  const auto head = host("head.weight");
  CHECK(std::all_of(head.begin(), head.end(), [](float x) { return x == 0.0f; }));
  const auto ada = host("blocks.0.ada_lin.1.weight");
  const std::size_t c2 = std::size_t(2 * C * C);
  CHECK(std::fabs(rms(ada, 0, c2) / 0.02e-3 - 1) < 0.05);           // gammas: 0.02 x 1e-3
  CHECK(std::fabs(rms(ada, c2, ada.size()) / 0.01 - 1) < 0.05);     // scales and shifts: 0.02 x 0.5
  CHECK(std::fabs(rms(host("tok_emb.weight"), 0, std::size_t(1024 * C)) / 0.02 - 1) < 0.05);
  CHECK(std::fabs(rms(host("head_nm.ada_lin.1.weight"), 0, c2) / 0.01 - 1) < 0.05);
  const auto bias = host("blocks.0.ada_lin.1.bias"), norm = host("blocks.0.attention_norm.weight");
  CHECK(std::all_of(bias.begin(), bias.end(), [](float x) { return x == 0.0f; }));
  CHECK(std::all_of(norm.begin(), norm.end(), [](float x) { return x == 1.0f; }));
  // A zero head predicts the uniform distribution: the loss is log V.
  TapeF tape;
  const auto tokens = ints({2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), labels = ints({2}, {0, 9});
  const auto loss = m.loss(tape, tokens, labels, true, Rng{1, 2}).value().to_host();
  CHECK(std::fabs(loss[0] - std::log(1024.0)) < 1e-5);
}

TEST_CASE("ArTransformer: KV-cache decoding gives the logits of recomputing the whole prefix", "[models][ar]") {
  const ArConfig cfg = tiny(2);
  ArTransformer<double> m(cfg, 3);
  randomize(m, 11);
  const index_t B = 3, L = cfg.grid * cfg.grid;
  std::vector<std::int32_t> seq(std::size_t(B * L));
  for (std::size_t i = 0; i < seq.size(); ++i) seq[i] = std::int32_t((i * 7 + 3) % cfg.vocab_size);
  const auto labels = ints({B}, {0, 2, 3});  // 3: the null class
  TapeD tape;
  const TapeD::NoGradGuard no_grad(tape);
  auto cache = m.make_cache(B);
  CHECK(cache.max_len == 16);  // 1 + 9 rounded up to 8
  for (index_t pos = 0; pos < L; ++pos) {
    INFO("position " << pos);
    std::vector<std::int32_t> prefix, last;
    for (index_t b = 0; b < B; ++b) {
      for (index_t t = 0; t < pos; ++t) prefix.push_back(seq[std::size_t(b * L + t)]);
      if (pos > 0) last.push_back(seq[std::size_t(b * L + pos - 1)]);
    }
    const auto step = m.decode(tape, pos > 0 ? ints({B, 1}, last) : Ints(), labels, pos, cache).value().to_host();
    const auto full = m.forward(tape, ints({B, pos}, prefix), labels, false, Rng{}).value().to_host();  // [B, pos+1, V]
    std::vector<double> want;
    for (index_t b = 0; b < B; ++b)
      for (index_t v = 0; v < cfg.vocab_size; ++v)
        want.push_back(full[std::size_t((b * (pos + 1) + pos) * cfg.vocab_size + v)]);
    require_close(step, want, 1e-12);
  }
}

TEST_CASE("ArTransformer: label dropout draws the null class at its rate, only in training", "[models][ar]") {
  ArConfig cfg = tiny(1);
  cfg.class_dropout = 0.5;
  ArTransformer<double> m(cfg, 3);
  randomize(m, 5);
  const index_t B = 400;
  std::vector<std::int32_t> lab(B, 1), tok(B * 2, 4);
  const auto labels = ints({B}, lab), tokens = ints({B, 2}, tok);
  lab.assign(B, 3);
  const auto nulls = ints({B}, lab);
  TapeD tape;
  const auto trained = m.forward(tape, tokens, labels, true, Rng{9, 1}).value().to_host();
  const auto as_class = m.forward(tape, tokens, labels, false, Rng{}).value().to_host();
  const auto as_null = m.forward(tape, tokens, nulls, false, Rng{}).value().to_host();
  const std::size_t per = std::size_t(3 * cfg.vocab_size);
  index_t dropped = 0;
  for (index_t b = 0; b < B; ++b) {
    const std::size_t o = std::size_t(b) * per;
    const bool is_null = std::equal(trained.begin() + o, trained.begin() + o + per, as_null.begin() + o);
    const bool is_class = std::equal(trained.begin() + o, trained.begin() + o + per, as_class.begin() + o);
    REQUIRE(is_null != is_class);
    dropped += is_null;
  }
  CHECK(dropped > 160);  // 200 expected; 5 standard deviations are 50
  CHECK(dropped < 240);
}

TEST_CASE("ArTransformer: AdaLN modulation gradient check", "[models][ar][grad]") {
  require_grad_ok([](TapeD&, const VarsD& v) { return v[0] * (v[1] + 1.0) + v[2]; },
                  {random_tensor({2, 5, 4}, 1), random_tensor({2, 1, 4}, 2), random_tensor({2, 1, 4}, 3)},
                  {"x", "scale", "shift"});
}

TEST_CASE("ArTransformer: gradient check of every parameter through two blocks and the head", "[models][ar][grad]") {
  const ArConfig cfg = tiny(2);
  ArTransformer<double> m(cfg, 3);
  randomize(m, 17);
  const auto tokens = ints({2, 5}, {1, 2, 3, 4, 5, 10, 9, 8, 7, 6}), labels = ints({2}, {1, 3});
  GradCheckOptions opt;
  opt.max_elements = 40;
  require_params_grad_ok(m.store(), [&](TapeD& t) { return m.loss(t, tokens, labels, false, Rng{}); }, opt);
}

TEST_CASE("ArTransformer: bad configurations and inputs name the option", "[models][ar]") {
  ArConfig c = tiny();
  c.n_head = 3;
  REQUIRE_THROWS_WITH(ArTransformer<float>(c, 1), Catch::Contains("multiple of model.heads"));
  c = tiny();
  c.dim = 24, c.n_head = 4;  // head dim 6
  REQUIRE_THROWS_WITH(ArTransformer<float>(c, 1), Catch::Contains("multiple of 4 for 2-D RoPE"));
  REQUIRE_THROWS_WITH(ArConfig::preset("huge"), Catch::Contains("unknown preset 'huge'"));
  ArTransformer<float> m(tiny(), 1);
  TapeF tape;
  std::vector<std::int32_t> many(10, 1);
  REQUIRE_THROWS_WITH(m.forward(tape, ints({1, 10}, many), ints({1}, {0}), false, Rng{}),
                      Catch::Contains("exceed the sequence of 10"));
  REQUIRE_THROWS_WITH(m.forward(tape, ints({1, 2}, {1, 99}), ints({1}, {0}), false, Rng{}), Catch::Contains("99"));
}

TEST_CASE("ArTransformer: block and whole model match the PyTorch reference (logits, loss, every gradient)",
          "[models][ar]") {
  h5::File f(std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/ar_transformer.h5", h5::File::Mode::read);
  ArConfig cfg = tiny(index_t(f.attr<std::int64_t>("/", "layers")));
  REQUIRE(cfg.dim == f.attr<std::int64_t>("/", "dim"));
  REQUIRE(cfg.vocab_size == f.attr<std::int64_t>("/", "vocab"));
  ArTransformer<double> m(cfg, 1);
  for (const auto& e : m.store().params()) {
    INFO("parameter " << e.name);
    auto w = h5::read_tensor<double>(f, "params/" + e.name);
    REQUIRE(w.shape() == e.shape);
    Kokkos::deep_copy(e.value.view(), w.view());
  }
  m.store().mark_values_modified();
  // Both sides run in double, but the reference builds its rotary table in float32 (ours is double), which
  // moves outputs by ~1e-9 relative: the 1e-4 is asserted as 1e-6.
  require_rel_close("rope table", m.rope_table(), h5::read_tensor<double>(f, "rope_table"), 1e-6);

  SECTION("one block") {
    TapeD tape;
    auto x = tape.leaf(h5::read_tensor<double>(f, "block/x"), true), c = tape.leaf(h5::read_tensor<double>(f, "block/c"), true);
    auto out = m.block(tape, 0, x, c);
    require_rel_close("block out", out.value(), h5::read_tensor<double>(f, "block/out"), 1e-6);
    tape.backward(sum(out * tape.leaf(h5::read_tensor<double>(f, "block/r"))));
    require_rel_close("block grad x", tape.grad(x.id()), h5::read_tensor<double>(f, "block/grad_x"), 1e-6);
    require_rel_close("block grad c", tape.grad(c.id()), h5::read_tensor<double>(f, "block/grad_c"), 1e-6);
    for (const auto& e : m.store().params())
      if (e.name.rfind("blocks.0.", 0) == 0)
        require_rel_close("block grad " + e.name, e.grad, h5::read_tensor<double>(f, "block/grads/" + e.name), 1e-6);
  }
  SECTION("whole model") {
    const auto tokens = h5::read_tensor<std::int32_t>(f, "tokens"), labels = h5::read_tensor<std::int32_t>(f, "labels");
    TapeD tape;
    const index_t n = tokens.dim(1);
    std::vector<std::int32_t> in;
    const auto th = tokens.to_host();
    for (index_t b = 0; b < tokens.dim(0); ++b)
      for (index_t t = 0; t + 1 < n; ++t) in.push_back(th[std::size_t(b * n + t)]);
    auto logits = m.forward(tape, Ints::from_host({tokens.dim(0), n - 1}, in), labels, false, Rng{});
    require_rel_close("logits", logits.value(), h5::read_tensor<double>(f, "model/logits"), 1e-6);
    m.store().zero_grad();
    auto loss = m.loss(tape, tokens, labels, false, Rng{});
    const double want_loss = h5::read_tensor<double>(f, "model/loss").to_host().at(0);
    CHECK(std::fabs(loss.value().to_host().at(0) - want_loss) <= 1e-10 * want_loss);
    tape.backward(loss);
    for (const auto& e : m.store().params())
      require_rel_close("grad " + e.name, e.grad, h5::read_tensor<double>(f, "model/grads/" + e.name), 1e-6);
  }
}
