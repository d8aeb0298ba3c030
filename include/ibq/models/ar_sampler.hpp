// ibq/models/ar_sampler.hpp — class-conditional sampling from the AR transformer with a static KV cache
// and constant classifier-free guidance (the reference's sample_IBQ).
//
//   ibq::SampleConfig sc;  sc.cfg_scale = 2.25;  sc.temperature = 1.1;  sc.seed = 42;
//   auto tokens = ibq::sample_tokens(model, labels, sc, /*first_index=*/0);   // int32 [B * grid^2]
//
// With cfg_scale > 1 the batch is [labels; null class] and every step's logits are
// l_u + cfg (l_c - l_u); then / temperature; then top-k (keep logits >= the k-th largest) and top-p (the
// smallest set of most likely tokens whose probability reaches p; the first always stays) when k > 0 or
// p < 1; then a multinomial draw. The draw for image i at position t uses the counter (i, t) of the
// seed's stream, so the same seed gives the same images whatever the batch size or the number of ranks.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <vector>

#include "ibq/core/random.hpp"
#include "ibq/models/ar_transformer.hpp"

namespace ibq {

struct SampleConfig {
  double cfg_scale = 1.0;  // > 1: classifier-free guidance with the null class
  double temperature = 1.0;
  index_t top_k = 0;       // 0: off
  double top_p = 1.0;      // 1: off
  std::uint64_t seed = 42;

  void validate() const {
    IBQ_CHECK(cfg_scale >= 0 && temperature > 0 && top_k >= 0 && top_p > 0 && top_p <= 1,
              "sample.cfg must be >= 0, sample.temperature > 0, sample.top_k >= 0 and sample.top_p in (0, 1], got "
                  << cfg_scale << ", " << temperature << ", " << top_k << ", " << top_p);
  }
};

// logits -> probabilities after the temperature and the filters (filtered entries exactly 0).
inline std::vector<double> sampling_probabilities(std::vector<double> logits, const SampleConfig& sc) {
  sc.validate();
  const std::size_t V = logits.size();
  for (auto& l : logits) l /= sc.temperature;
  const double neg = -std::numeric_limits<double>::infinity();
  if (sc.top_k > 0 && std::size_t(sc.top_k) < V) {
    std::vector<double> sorted(logits);
    std::nth_element(sorted.begin(), sorted.begin() + (sc.top_k - 1), sorted.end(), std::greater<double>());
    const double kth = sorted[std::size_t(sc.top_k - 1)];
    for (auto& l : logits)
      if (l < kth) l = neg;
  }
  auto softmax = [&](const std::vector<double>& l) {
    const double m = *std::max_element(l.begin(), l.end());
    std::vector<double> p(V);
    double s = 0;
    for (std::size_t i = 0; i < V; ++i) s += (p[i] = l[i] == neg ? 0.0 : std::exp(l[i] - m));
    for (auto& x : p) x /= s;
    return p;
  };
  auto p = softmax(logits);
  if (sc.top_p < 1.0) {
    std::vector<std::size_t> order(V);
    std::iota(order.begin(), order.end(), std::size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return logits[a] > logits[b]; });
    double cum = 0;
    for (std::size_t r = 0; r < V; ++r) {
      // The reference removes a token when the mass before and including it exceeds p, shifted by one so
      // that the token that crosses p stays: remove iff the mass strictly before it exceeds p.
      if (r > 0 && cum > sc.top_p) logits[order[r]] = neg;
      cum += p[order[r]];
    }
    p = softmax(logits);
  }
  return p;
}

// A draw from p with the uniform u in [0, 1): the first index whose cumulative probability exceeds u.
inline index_t draw_categorical(const std::vector<double>& p, double u) {
  double cum = 0;
  index_t last = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0) continue;
    last = index_t(i);
    cum += p[i];
    if (u < cum) return index_t(i);
  }
  return last;  // rounding left u above the total: the last possible token
}

// Samples grid^2 tokens for each label (in [0, num_classes)); image b of the call is image first_index + b
// of the run, for the draws. Returns int32 [B * grid^2] in raster order, on the host.
template <class T, class Space>
std::vector<std::int32_t> sample_tokens(const ArTransformer<T, Space>& model, const std::vector<std::int32_t>& labels,
                                        const SampleConfig& sc, std::uint64_t first_index) {
  sc.validate();
  const auto& cfg = model.config();
  const index_t B = index_t(labels.size()), L = cfg.grid * cfg.grid, V = cfg.vocab_size;
  for (auto l : labels)
    IBQ_CHECK(l >= 0 && l < cfg.num_classes, "sample: class " << l << " is outside [0, " << cfg.num_classes << ")");
  const bool guided = sc.cfg_scale > 1.0;
  const index_t rows = guided ? 2 * B : B;
  std::vector<std::int32_t> batch_labels(labels);
  if (guided) batch_labels.insert(batch_labels.end(), std::size_t(B), std::int32_t(cfg.num_classes));
  const Tensor<std::int32_t, Space> lab = Tensor<std::int32_t, Space>::from_host(Shape{rows}, batch_labels);
  auto cache = model.make_cache(rows);
  const Rng rng{sc.seed, 0x5a3e1e};
  std::vector<std::int32_t> out(static_cast<std::size_t>(B * L)), prev(static_cast<std::size_t>(rows));
  Tape<T, Space> tape;
  const typename Tape<T, Space>::NoGradGuard no_grad(tape);
  for (index_t pos = 0; pos < L; ++pos) {
    const auto step = pos > 0 ? Tensor<std::int32_t, Space>::from_host(Shape{rows, 1}, prev) : Tensor<std::int32_t, Space>();
    const auto logits = model.decode(tape, step, lab, pos, cache).value().to_host();  // [rows, V]
    tape.clear();
    for (index_t b = 0; b < B; ++b) {
      std::vector<double> l(static_cast<std::size_t>(V));
      for (index_t v = 0; v < V; ++v) {
        const double c = double(logits[std::size_t(b * V + v)]);
        l[std::size_t(v)] = guided ? double(logits[std::size_t((B + b) * V + v)]) + sc.cfg_scale * (c - double(logits[std::size_t((B + b) * V + v)])) : c;
      }
      const auto p = sampling_probabilities(std::move(l), sc);
      const std::uint64_t counter = (first_index + std::uint64_t(b)) * std::uint64_t(L) + std::uint64_t(pos);
      const auto tok = std::int32_t(draw_categorical(p, rng.uniform(counter)));
      out[std::size_t(b * L + pos)] = tok;
      prev[std::size_t(b)] = tok;
      if (guided) prev[std::size_t(B + b)] = tok;
    }
  }
  return out;
}

}  // namespace ibq
