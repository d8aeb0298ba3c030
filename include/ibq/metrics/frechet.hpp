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

#include <algorithm>
#include <cmath>
#include <vector>

#include "ibq/core/config.hpp"
#include "ibq/core/error.hpp"

#if defined(IBQ_HAVE_LAPACK)
extern "C" void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
                        double* work, const int* lwork, int* iwork, const int* liwork, int* info);
#endif

namespace ibq::metrics {

struct Gaussian {
  Eigen::VectorXd mean;
  Eigen::MatrixXd cov;  // unbiased (divides by n - 1), as numpy.cov
  index_t count = 0;
};

// n feature rows of dim values each (row-major) as a double matrix; a NaN or inf is an error naming `who`.
template <class T>
Eigen::MatrixXd feature_matrix(const T* rows, index_t n, index_t dim, const char* who) {
  Eigen::MatrixXd x(n, dim);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < dim; ++j) {
      const double v = double(rows[i * dim + j]);
      IBQ_CHECK(std::isfinite(v), who << ": feature " << j << " of vector " << i << " is " << v);
      x(i, j) = v;
    }
  return x;
}

// Mean and covariance of n feature rows of dim values each (row-major).
template <class T>
Gaussian fit_gaussian(const T* rows, index_t n, index_t dim) {
  IBQ_CHECK(n >= 2 && dim >= 1, "fit_gaussian: need at least 2 feature vectors of dimension >= 1, got " << n << " of " << dim);
  Eigen::MatrixXd x = feature_matrix(rows, n, dim, "fit_gaussian");
  Gaussian g;
  g.count = n;
  g.mean = x.colwise().mean().transpose();
  x.rowwise() -= g.mean.transpose();
  g.cov = (x.transpose() * x) / double(n - 1);
  return g;
}

// Eigenvalues of a symmetric matrix (its lower triangle is read), and with `vectors` its eigenvectors in
// *vectors. LAPACK's dsyevd (threaded, divide and conquer) where the BLAS provides it: at FID's 2048
// dimensions it takes a fraction of a second where Eigen's single-threaded solver takes seconds.
inline Eigen::VectorXd symmetric_eigen(const Eigen::MatrixXd& m, Eigen::MatrixXd* vectors = nullptr) {
#if defined(IBQ_HAVE_LAPACK)
  Eigen::MatrixXd a = 0.5 * (m + m.transpose());
  const int n = int(a.rows()), lda = std::max(1, n);
  Eigen::VectorXd w(n);
  const char jobz = vectors ? 'V' : 'N', uplo = 'L';
  int info = 0, lwork = -1, liwork = -1, iwork_query = 0;
  double work_query = 0;
  dsyevd_(&jobz, &uplo, &n, a.data(), &lda, w.data(), &work_query, &lwork, &iwork_query, &liwork, &info);
  lwork = int(work_query), liwork = iwork_query;
  std::vector<double> work(std::size_t(std::max(1, lwork)));
  std::vector<int> iwork(std::size_t(std::max(1, liwork)));
  dsyevd_(&jobz, &uplo, &n, a.data(), &lda, w.data(), work.data(), &lwork, iwork.data(), &liwork, &info);
  IBQ_CHECK(info == 0, "symmetric_eigen: LAPACK dsyevd failed (info " << info << ")");
  if (vectors) *vectors = std::move(a);
  return w;
#else
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(0.5 * (m + m.transpose()),
                                                     vectors ? Eigen::ComputeEigenvectors : Eigen::EigenvaluesOnly);
  IBQ_CHECK(eig.info() == Eigen::Success, "symmetric_eigen: the eigen-decomposition did not converge");
  if (vectors) *vectors = eig.eigenvectors();
  return eig.eigenvalues();
#endif
}

// The symmetric square root of a symmetric positive semi-definite matrix.
inline Eigen::MatrixXd sqrt_psd(const Eigen::MatrixXd& m) {
  Eigen::MatrixXd v;
  const Eigen::VectorXd r = symmetric_eigen(m, &v).cwiseMax(0.0).cwiseSqrt();
  return v * r.asDiagonal() * v.transpose();
}

// tr((S_a S_b)^(1/2)), through the symmetric form tr((A S_b A)^(1/2)), A = S_a^(1/2).
inline double trace_sqrt_product(const Eigen::MatrixXd& sa, const Eigen::MatrixXd& sb) {
  const Eigen::MatrixXd a = sqrt_psd(sa);
  return symmetric_eigen(a * sb * a).cwiseMax(0.0).cwiseSqrt().sum();
}

inline double frechet_distance(const Gaussian& a, const Gaussian& b) {
  IBQ_CHECK(a.mean.size() == b.mean.size(), "frechet_distance: feature dimensions differ (" << a.mean.size() << " vs "
                                                                                         << b.mean.size() << ")");
  const double d = (a.mean - b.mean).squaredNorm() + a.cov.trace() + b.cov.trace() - 2.0 * trace_sqrt_product(a.cov, b.cov);
  return std::max(d, 0.0);  // rounding can leave -1e-12 for identical sets
}

}  // namespace ibq::metrics
