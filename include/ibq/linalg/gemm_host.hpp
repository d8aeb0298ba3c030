// ibq/linalg/gemm_host.hpp — host GEMM backends: CBLAS (OpenBLAS) and Eigen, both row-major.
//
// gemm_host() picks CBLAS when the build found it (IBQ_HAVE_CBLAS) and Eigen otherwise; both backends
// stay callable by name so tests and benchmarks can compare them in one binary.
#pragma once

#include <Eigen/Core>

#include "ibq/core/config.hpp"

#if defined(IBQ_HAVE_CBLAS)
#include <cblas.h>
#endif

namespace ibq {

enum class Trans { N, T };

template <class T>
void gemm_eigen(Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b,
                index_t ldb, T beta, T* c, index_t ldc) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Stride = Eigen::OuterStride<>;
  using CMap = Eigen::Map<const Mat, 0, Stride>;
  Eigen::Map<Mat, 0, Stride> C(c, m, n, Stride(ldc));
  // op(A) is m x k: stored as m x k (N) or k x m (T).
  const CMap A(a, ta == Trans::N ? m : k, ta == Trans::N ? k : m, Stride(lda));
  const CMap B(b, tb == Trans::N ? k : n, tb == Trans::N ? n : k, Stride(ldb));
  if (beta == T(0)) C.setZero(); else if (beta != T(1)) C *= beta;
  if (ta == Trans::N && tb == Trans::N) C.noalias() += alpha * A * B;
  else if (ta == Trans::N) C.noalias() += alpha * A * B.transpose();
  else if (tb == Trans::N) C.noalias() += alpha * A.transpose() * B;
  else C.noalias() += alpha * A.transpose() * B.transpose();
}

#if defined(IBQ_HAVE_CBLAS)
inline void gemm_cblas(Trans ta, Trans tb, index_t m, index_t n, index_t k, float alpha, const float* a, index_t lda,
                       const float* b, index_t ldb, float beta, float* c, index_t ldc) {
  cblas_sgemm(CblasRowMajor, ta == Trans::N ? CblasNoTrans : CblasTrans, tb == Trans::N ? CblasNoTrans : CblasTrans,
              int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}
inline void gemm_cblas(Trans ta, Trans tb, index_t m, index_t n, index_t k, double alpha, const double* a,
                       index_t lda, const double* b, index_t ldb, double beta, double* c, index_t ldc) {
  cblas_dgemm(CblasRowMajor, ta == Trans::N ? CblasNoTrans : CblasTrans, tb == Trans::N ? CblasNoTrans : CblasTrans,
              int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}
#endif

// Which host kernel gemm() uses, for benchmark and log lines.
inline const char* gemm_host_backend() {
#if defined(IBQ_HAVE_CBLAS)
  return "OpenBLAS (CBLAS)";
#else
  return "Eigen";
#endif
}

template <class T>
void gemm_host(Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b,
               index_t ldb, T beta, T* c, index_t ldc) {
  if (k == 0) {  // BLAS would not touch C; the math says C = beta C
    for (index_t i = 0; i < m; ++i)
      for (index_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
#if defined(IBQ_HAVE_CBLAS)
  gemm_cblas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
  gemm_eigen(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

}  // namespace ibq
