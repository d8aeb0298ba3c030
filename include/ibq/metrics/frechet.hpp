// ibq/metrics/frechet.hpp — the Fréchet distance between Gaussians fitted to two sets of feature vectors,
// the statistic behind FID:
//
//   d^2 = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))
//
//   auto a = ibq::metrics::fit_gaussian(features_a.data(), n_a, dim);   // row-major [n, dim]
//   double fd = ibq::metrics::frechet_distance(a, ibq::metrics::fit_gaussian(features_b.data(), n_b, dim));
//
// The reference evaluators (pytorch-fid, ADM's evaluator) take scipy.linalg.sqrtm of the non-symmetric
// product S_a S_b. Its trace is the same as that of the symmetric (A S_b A)^(1/2) with A = S_a^(1/2), since
// S_a S_b = A (A S_b A) A^-1 is similar to A S_b A; both square roots here come from Eigen's symmetric
// eigen-decomposition, which stays real and stable where sqrtm needs an offset for near-singular
// covariances. Eigenvalues that round to below zero (a rank-deficient covariance: fewer samples than
// dimensions) are clamped to zero. Everything is double precision.
#pragma once

#include <Eigen/Dense>

#include <cmath>

#include "ibq/core/config.hpp"
#include "ibq/core/error.hpp"

namespace ibq::metrics {

struct Gaussian {
  Eigen::VectorXd mean;
  Eigen::MatrixXd cov;  // unbiased (divides by n - 1), as numpy.cov
  index_t count = 0;
};

// Mean and covariance of n feature rows of dim values each (row-major).
template <class T>
Gaussian fit_gaussian(const T* rows, index_t n, index_t dim) {
  IBQ_CHECK(n >= 2 && dim >= 1, "fit_gaussian: need at least 2 feature vectors of dimension >= 1, got " << n << " of " << dim);
  Eigen::MatrixXd x(n, dim);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < dim; ++j) {
      const double v = double(rows[i * dim + j]);
      IBQ_CHECK(std::isfinite(v), "fit_gaussian: feature " << j << " of vector " << i << " is " << v);
      x(i, j) = v;
    }
  Gaussian g;
  g.count = n;
  g.mean = x.colwise().mean().transpose();
  x.rowwise() -= g.mean.transpose();
  g.cov = (x.transpose() * x) / double(n - 1);
  return g;
}

// The symmetric square root of a symmetric positive semi-definite matrix.
inline Eigen::MatrixXd sqrt_psd(const Eigen::MatrixXd& m) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(0.5 * (m + m.transpose()));
  IBQ_CHECK(eig.info() == Eigen::Success, "sqrt_psd: the eigen-decomposition did not converge");
  const Eigen::VectorXd r = eig.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return eig.eigenvectors() * r.asDiagonal() * eig.eigenvectors().transpose();
}

// tr((S_a S_b)^(1/2)), through the symmetric form tr((A S_b A)^(1/2)), A = S_a^(1/2).
inline double trace_sqrt_product(const Eigen::MatrixXd& sa, const Eigen::MatrixXd& sb) {
  const Eigen::MatrixXd a = sqrt_psd(sa);
  const Eigen::MatrixXd m = a * sb * a;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(0.5 * (m + m.transpose()), Eigen::EigenvaluesOnly);
  IBQ_CHECK(eig.info() == Eigen::Success, "frechet_distance: the eigen-decomposition did not converge");
  return eig.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
}

inline double frechet_distance(const Gaussian& a, const Gaussian& b) {
  IBQ_CHECK(a.mean.size() == b.mean.size(), "frechet_distance: feature dimensions differ (" << a.mean.size() << " vs "
                                                                                         << b.mean.size() << ")");
  const double d = (a.mean - b.mean).squaredNorm() + a.cov.trace() + b.cov.trace() - 2.0 * trace_sqrt_product(a.cov, b.cov);
  return std::max(d, 0.0);  // rounding can leave -1e-12 for identical sets
}

}  // namespace ibq::metrics
