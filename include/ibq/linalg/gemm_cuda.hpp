// ibq/linalg/gemm_cuda.hpp — cuBLAS for CUDA spaces (compiled only when Kokkos has CUDA).
//
// cuBLAS is column-major. A row-major C = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T, so we
// swap the operands and the m/n extents instead of transposing anything.
//
// fp32 GEMMs use TF32 tensor cores only when allow_tf32() (core/precision.hpp) is set.
// bf16 GEMMs (gemm_cuda_bf16) read bf16 operands and accumulate in fp32 (CUBLAS_COMPUTE_32F).
#pragma once

#include "ibq/core/bf16.hpp"
#include "ibq/core/config.hpp"
#include "ibq/core/error.hpp"
#include "ibq/core/precision.hpp"
#include "ibq/linalg/gemm_host.hpp"

#if defined(KOKKOS_ENABLE_CUDA)
#include <cublas_v2.h>

namespace ibq {

// One handle per process, created on first use. It holds no Kokkos memory, so outliving
// Kokkos::finalize is harmless; it is intentionally never destroyed (the driver may already be gone).
inline cublasHandle_t cublas_handle() {
  static cublasHandle_t handle = [] {
    cublasHandle_t h;
    IBQ_CHECK(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS, "cublasCreate failed: is a CUDA device visible?");
    return h;
  }();
  return handle;
}

inline cublasOperation_t cublas_op(Trans t) { return t == Trans::N ? CUBLAS_OP_N : CUBLAS_OP_T; }

inline void gemm_cuda(Trans ta, Trans tb, index_t m, index_t n, index_t k, float alpha, const float* a, index_t lda,
                      const float* b, index_t ldb, float beta, float* c, index_t ldc, index_t batch, index_t sa,
                      index_t sb, index_t sc) {
  cublasSetMathMode(cublas_handle(), allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
  const auto st = cublasSgemmStridedBatched(cublas_handle(), cublas_op(tb), cublas_op(ta), int(n), int(m), int(k),
                                            &alpha, b, int(ldb), sb, a, int(lda), sa, &beta, c, int(ldc), sc,
                                            int(batch));
  IBQ_CHECK(st == CUBLAS_STATUS_SUCCESS, "cublasSgemmStridedBatched failed with status " << int(st));
}
inline void gemm_cuda(Trans ta, Trans tb, index_t m, index_t n, index_t k, double alpha, const double* a,
                      index_t lda, const double* b, index_t ldb, double beta, double* c, index_t ldc, index_t batch,
                      index_t sa, index_t sb, index_t sc) {
  const auto st = cublasDgemmStridedBatched(cublas_handle(), cublas_op(tb), cublas_op(ta), int(n), int(m), int(k),
                                            &alpha, b, int(ldb), sb, a, int(lda), sa, &beta, c, int(ldc), sc,
                                            int(batch));
  IBQ_CHECK(st == CUBLAS_STATUS_SUCCESS, "cublasDgemmStridedBatched failed with status " << int(st));
}

// bf16 A and B (dense, leading dimensions lda/ldb), fp32 C, fp32 accumulation.
inline void gemm_cuda_bf16(Trans ta, Trans tb, index_t m, index_t n, index_t k, float alpha, const bf16* a,
                           index_t lda, index_t sa, const bf16* b, index_t ldb, index_t sb, float beta, float* c,
                           index_t ldc, index_t sc, index_t batch) {
  const auto st = cublasGemmStridedBatchedEx(cublas_handle(), cublas_op(tb), cublas_op(ta), int(n), int(m), int(k),
                                             &alpha, b, CUDA_R_16BF, int(ldb), sb, a, CUDA_R_16BF, int(lda), sa, &beta,
                                             c, CUDA_R_32F, int(ldc), sc, int(batch), CUBLAS_COMPUTE_32F,
                                             CUBLAS_GEMM_DEFAULT);
  IBQ_CHECK(st == CUBLAS_STATUS_SUCCESS, "cublasGemmStridedBatchedEx (bf16) failed with status " << int(st));
}

}  // namespace ibq
#endif
