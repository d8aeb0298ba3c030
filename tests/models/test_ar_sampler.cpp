// Sampling: temperature, top-k and top-p as the reference filters them, categorical draws at their
// probabilities, greedy and guided sampling against the model's own recomputed logits, reproducibility.
#include <cmath>

#include "test_util.hpp"
#include "ibq/models/ar_sampler.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
ArConfig small() {
  ArConfig c;
  c.vocab_size = 13, c.num_classes = 4, c.grid = 3, c.n_layer = 2, c.dim = 16, c.n_head = 2, c.multiple_of = 8;
  c.class_dropout = c.token_dropout = c.resid_dropout = c.ffn_dropout = 0;
  return c;
}
void randomize(ArTransformer<double>& m, std::uint64_t seed) {
  auto& values = m.store().flat_values();
  auto r = random_tensor({values.size()}, seed).to_host();
  for (auto& x : r) x *= 0.3;
  values.copy_from_(TensorD::from_host(values.shape(), r));
  m.store().mark_values_modified();
}
using Ints = Tensor<std::int32_t, Space>;
}  // namespace

TEST_CASE("sampling_probabilities: temperature, then top-k and top-p as the reference filters", "[models][sample]") {
  const std::vector<double> l = {std::log(0.5), std::log(0.3), std::log(0.15), std::log(0.05)};
  SampleConfig sc;
  auto p = sampling_probabilities(l, sc);
  CHECK(p[0] == Approx(0.5));
  CHECK(p[3] == Approx(0.05));
  sc.top_p = 0.7;  // 0.5 + 0.3 crosses 0.7: the first two stay
  p = sampling_probabilities(l, sc);
  CHECK(p[0] == Approx(0.625));
  CHECK(p[1] == Approx(0.375));
  CHECK(p[2] == 0.0);
  CHECK(p[3] == 0.0);
  sc.top_p = 0.4;  // the most likely token always stays
  p = sampling_probabilities(l, sc);
  CHECK(p[0] == 1.0);
  sc.top_p = 1.0, sc.top_k = 3;
  p = sampling_probabilities(l, sc);
  CHECK(p[3] == 0.0);
  CHECK(p[0] == Approx(0.5 / 0.95));
  sc.top_k = 0, sc.temperature = 2.0;  // p ~ sqrt(p0)
  p = sampling_probabilities(l, sc);
  const double z = std::sqrt(0.5) + std::sqrt(0.3) + std::sqrt(0.15) + std::sqrt(0.05);
  CHECK(p[1] == Approx(std::sqrt(0.3) / z));
  sc.temperature = 0;
  REQUIRE_THROWS_WITH(sampling_probabilities(l, sc), Catch::Contains("sample.temperature > 0"));
}

TEST_CASE("draw_categorical: counter-based draws follow the probabilities", "[models][sample]") {
  const std::vector<double> p = {0.1, 0.0, 0.6, 0.3};
  const Rng rng{7, 3};
  std::vector<int> counts(4, 0);
  const int n = 100000;
  for (int i = 0; i < n; ++i) ++counts[std::size_t(draw_categorical(p, rng.uniform(std::uint64_t(i))))];
  CHECK(counts[1] == 0);
  for (int k : {0, 2, 3}) CHECK(std::fabs(double(counts[std::size_t(k)]) / n - p[std::size_t(k)]) < 0.005);
  CHECK(draw_categorical(p, 0.999999999999) == 3);
}

TEST_CASE("sample_tokens: greedy and guided draws follow the model's recomputed logits; same seed, same tokens",
          "[models][sample]") {
  ArTransformer<double> m(small(), 1);
  randomize(m, 3);
  const std::vector<std::int32_t> labels = {0, 3, 1};
  const index_t B = 3, L = 9, V = 13;
  for (const double cfg : {1.0, 3.0}) {
    INFO("cfg " << cfg);
    SampleConfig sc;
    sc.top_k = 1;  // greedy: the argmax of the (guided) logits of the whole prefix
    sc.cfg_scale = cfg;
    const auto tokens = sample_tokens(m, labels, sc, 0);
    REQUIRE(tokens.size() == std::size_t(B * L));
    TapeD tape;
    for (index_t pos = 0; pos < L; ++pos) {
      std::vector<std::int32_t> prefix;
      for (index_t b = 0; b < B; ++b)
        for (index_t t = 0; t < pos; ++t) prefix.push_back(tokens[std::size_t(b * L + t)]);
      const auto cond = m.forward(tape, Ints::from_host({B, pos}, prefix), Ints::from_host({B}, labels), false, Rng{})
                            .value().to_host();
      const auto uncond = m.forward(tape, Ints::from_host({B, pos}, prefix), Ints::from_host({B}, {4, 4, 4}), false, Rng{})
                              .value().to_host();
      for (index_t b = 0; b < B; ++b) {
        index_t best = 0;
        double best_l = -1e300;
        for (index_t v = 0; v < V; ++v) {
          const std::size_t i = std::size_t((b * (pos + 1) + pos) * V + v);
          const double l = cfg > 1 ? uncond[i] + cfg * (cond[i] - uncond[i]) : cond[i];
          if (l > best_l) best_l = l, best = v;
        }
        INFO("image " << b << " position " << pos);
        REQUIRE(tokens[std::size_t(b * L + pos)] == best);
      }
      tape.clear();
    }
  }
  SampleConfig sc;
  sc.cfg_scale = 2.0, sc.temperature = 1.2, sc.seed = 5;
  const auto a = sample_tokens(m, labels, sc, 0), b = sample_tokens(m, labels, sc, 0);
  CHECK(a == b);
  sc.seed = 6;
  CHECK(sample_tokens(m, labels, sc, 0) != a);
  CHECK(sample_tokens(m, labels, SampleConfig{2.0, 1.2, 0, 1.0, 5}, 10) != a);  // other images of the run
  REQUIRE_THROWS_WITH(sample_tokens(m, {4}, sc, 0), Catch::Contains("class 4 is outside [0, 4)"));
}
