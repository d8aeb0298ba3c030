// ibq/metrics/gaussian_moments.hpp — the sums a Gaussian fit needs, accumulated batch by batch and merged
// across ranks by one allreduce: FID over 50,000 images without keeping their features.
//
//   ibq::metrics::GaussianMoments m(2048);
//   m.add(features.data(), n);                          // row-major [n, 2048], any number of times
//   comm.allreduce_sum(m.data(), m.size());             // every rank's share
//   auto g = m.gaussian();                              // mean and unbiased covariance, as fit_gaussian
//
// Kept: the count, sum_i x_i and sum_i x_i x_i^T, in double. Then mean = s / n and
// cov = (S - n mean mean^T) / (n - 1). Inception's pool3 features are O(1) and non-negative, so the
// cancellation in S - n mean mean^T costs about n * 1e-16 relative: far below the features' own float
// rounding. The outer products go through Eigen's blocked rank-k update (a GEMM), one batch at a time.
#pragma once

#include <vector>

#include "ibq/metrics/frechet.hpp"

namespace ibq::metrics {

class GaussianMoments {
 public:
  explicit GaussianMoments(index_t dim) : dim_(dim), buf_(std::size_t(1 + dim + dim * dim), 0.0) {
    IBQ_CHECK(dim >= 1, "GaussianMoments: dimension must be >= 1");
  }

  template <class T>
  void add(const T* rows, index_t n) {
    if (n <= 0) return;
    const Eigen::MatrixXd x = feature_matrix(rows, n, dim_, "GaussianMoments");
    buf_[0] += double(n);
    Eigen::Map<Eigen::VectorXd>(buf_.data() + 1, dim_) += x.colwise().sum().transpose();
    Eigen::Map<Eigen::MatrixXd> outer(buf_.data() + 1 + dim_, dim_, dim_);
    outer.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose());  // lower triangle += x^T x
  }

  index_t count() const { return index_t(buf_[0]); }
  index_t dim() const { return dim_; }
  // The flat state (count, sum, outer products): what an allreduce adds across ranks.
  double* data() { return buf_.data(); }
  std::size_t size() const { return buf_.size(); }

  Gaussian gaussian() const {
    const double n = buf_[0];
    IBQ_CHECK(n >= 2, "GaussianMoments: need at least 2 feature vectors, got " << n);
    Gaussian g;
    g.count = index_t(n);
    g.mean = Eigen::Map<const Eigen::VectorXd>(buf_.data() + 1, dim_) / n;
    const Eigen::MatrixXd outer =
        Eigen::Map<const Eigen::MatrixXd>(buf_.data() + 1 + dim_, dim_, dim_).selfadjointView<Eigen::Lower>();
    g.cov = (outer - n * g.mean * g.mean.transpose()) / (n - 1);
    return g;
  }

 private:
  index_t dim_;
  std::vector<double> buf_;
};

}  // namespace ibq::metrics
