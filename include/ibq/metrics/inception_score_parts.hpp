// ibq/metrics/inception_score_parts.hpp — the Inception Score split by split from per-split sums, so ranks
// (or batches) can score their samples separately and merge with one allreduce.
//
//   ibq::metrics::InceptionScoreParts is(10, 1008);
//   is.add_logits(logits.data(), n, split_of);    // split_of(i): the split of row i (a fixed shuffle's part)
//   comm.allreduce_sum(is.data(), is.size());
//   auto score = is.score();                       // mean and population std over the splits
//
// For split s with n_s samples of class probabilities p_i (softmax of the logits, in double):
//   IS_s = exp( (1/n_s) sum_i sum_y p_iy log p_iy  -  sum_y pbar_y log pbar_y ),  pbar = (1/n_s) sum_i p_i
// which is ADM's (and Salimans et al.'s) mean over i of KL(p_i || pbar) rearranged: only n_s,
// sum_i sum_y p log p and sum_i p_i are needed. Gives inception_score() of the same rows to rounding.
#pragma once

#include <cmath>
#include <functional>
#include <vector>

#include "ibq/metrics/inception_score.hpp"

namespace ibq::metrics {

class InceptionScoreParts {
 public:
  InceptionScoreParts(index_t splits, index_t classes)
      : splits_(splits), k_(classes), buf_(std::size_t(splits * (2 + classes)), 0.0) {
    IBQ_CHECK(splits >= 1 && classes >= 2, "InceptionScoreParts: need >= 1 split and >= 2 classes");
  }

  // One sample's probabilities (summing to 1) into split s.
  template <class T>
  void add_probs(const T* p, index_t s) {
    IBQ_CHECK(s >= 0 && s < splits_, "InceptionScoreParts: split " << s << " outside [0, " << splits_ << ")");
    double plogp = 0;
    double* marginal = buf_.data() + 2 * splits_ + s * k_;
    for (index_t c = 0; c < k_; ++c) {
      const double v = double(p[c]);
      IBQ_CHECK(std::isfinite(v) && v >= 0, "InceptionScoreParts: probability " << c << " is " << v);
      if (v > 0) plogp += v * std::log(v);
      marginal[c] += v;
    }
    buf_[std::size_t(s)] += 1.0;
    buf_[std::size_t(splits_ + s)] += plogp;
  }

  // n rows of logits [n, classes]: a numerically safe softmax per row (in double), then add_probs.
  template <class T>
  void add_logits(const T* logits, index_t n, const std::function<index_t(index_t)>& split_of) {
    std::vector<double> p(static_cast<std::size_t>(k_));
    for (index_t i = 0; i < n; ++i) {
      const T* l = logits + i * k_;
      double top = double(l[0]), z = 0;
      for (index_t c = 1; c < k_; ++c) top = std::max(top, double(l[c]));
      for (index_t c = 0; c < k_; ++c) z += (p[std::size_t(c)] = std::exp(double(l[c]) - top));
      for (auto& v : p) v /= z;
      add_probs(p.data(), split_of(i));
    }
  }

  double* data() { return buf_.data(); }
  std::size_t size() const { return buf_.size(); }

  InceptionScore score() const {
    std::vector<double> scores;
    for (index_t s = 0; s < splits_; ++s) {
      const double n = buf_[std::size_t(s)];
      IBQ_CHECK(n >= 1, "InceptionScoreParts: split " << s << " is empty (fewer samples than splits?)");
      const double* marginal = buf_.data() + 2 * splits_ + s * k_;
      double cross = 0;
      for (index_t c = 0; c < k_; ++c)
        if (marginal[c] > 0) cross += (marginal[c] / n) * std::log(marginal[c] / n);
      scores.push_back(std::exp(buf_[std::size_t(splits_ + s)] / n - cross));
    }
    InceptionScore r;
    for (double v : scores) r.mean += v / double(splits_);
    for (double v : scores) r.std += (v - r.mean) * (v - r.mean) / double(splits_);
    r.std = std::sqrt(r.std);
    return r;
  }

 private:
  index_t splits_, k_;
  std::vector<double> buf_;  // counts [splits], sum p log p [splits], marginal sums [splits, classes]
};

// The split of each position of a fixed shuffle of n samples into `splits` consecutive parts, as
// inception_score() cuts them: part s holds positions [s n / splits, (s + 1) n / splits).
inline std::vector<index_t> split_of_positions(index_t n, index_t splits) {
  IBQ_CHECK(splits >= 1 && n >= splits, n << " samples cannot make " << splits << " splits");
  std::vector<index_t> out(static_cast<std::size_t>(n));
  for (index_t s = 0; s < splits; ++s)
    for (index_t i = s * n / splits; i < (s + 1) * n / splits; ++i) out[std::size_t(i)] = s;
  return out;
}

}  // namespace ibq::metrics
