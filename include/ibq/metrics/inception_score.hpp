// ibq/metrics/inception_score.hpp — the Inception Score's formula, applied to any classifier's softmax:
//
//   IS = exp( E_x KL( p(y|x) || p(y) ) ),  p(y) = E_x p(y|x),
//
// computed on `splits` equal consecutive parts of the samples (the reference evaluators use 10), reported
// as the mean and the population standard deviation over the parts, as Salimans et al.'s code and ADM's
// evaluator do. With the Fashion-MNIST classifier's softmax it is an IS *analogue*: 1 (every sample the
// same class distribution) to 10 (confident and evenly spread over the 10 classes), not comparable to an
// ImageNet Inception Score. Callers shuffle class-ordered samples first (each part must mix the classes).
#pragma once

#include <cmath>
#include <vector>

#include "ibq/core/config.hpp"
#include "ibq/core/error.hpp"

namespace ibq::metrics {

struct InceptionScore {
  double mean = 0, std = 0;
};

// probs: n rows of k probabilities (row-major), each summing to 1.
template <class T>
InceptionScore inception_score(const T* probs, index_t n, index_t k, index_t splits) {
  IBQ_CHECK(splits >= 1 && n >= splits, "inception_score: " << n << " samples cannot make " << splits << " splits");
  constexpr double tiny = 1e-12;  // log(0) guard; a zero probability contributes 0 to the KL sum
  std::vector<double> scores;
  for (index_t s = 0; s < splits; ++s) {
    const index_t lo = s * n / splits, hi = (s + 1) * n / splits;
    std::vector<double> marginal(std::size_t(k), 0.0);
    for (index_t i = lo; i < hi; ++i)
      for (index_t c = 0; c < k; ++c) marginal[std::size_t(c)] += double(probs[i * k + c]) / double(hi - lo);
    double kl = 0;
    for (index_t i = lo; i < hi; ++i)
      for (index_t c = 0; c < k; ++c) {
        const double p = double(probs[i * k + c]);
        IBQ_CHECK(std::isfinite(p) && p >= 0, "inception_score: probability " << c << " of sample " << i << " is " << p);
        if (p > 0) kl += p * (std::log(p + tiny) - std::log(marginal[std::size_t(c)] + tiny));
      }
    scores.push_back(std::exp(kl / double(hi - lo)));
  }
  InceptionScore r;
  for (double v : scores) r.mean += v / double(splits);
  for (double v : scores) r.std += (v - r.mean) * (v - r.mean) / double(splits);
  r.std = std::sqrt(r.std);
  return r;
}

}  // namespace ibq::metrics
