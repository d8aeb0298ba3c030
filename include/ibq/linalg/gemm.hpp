// ibq/linalg/gemm.hpp — one GEMM entry point for every space: C = alpha op(A) op(B) + beta C, row-major.
//
//   ibq::gemm<Space>(Trans::N, Trans::T, m, n, k, 1.0f, A, k, B, k, 0.0f, C, n);     // raw pointers
//   ibq::gemm_strided_batched<Space>(..., batch, strideA, strideB, strideC);         // attention
//
// Host spaces call CBLAS (OpenBLAS, built with IBQ_HAVE_CBLAS) or Eigen, and oneDNN's matmul for the thin
// fp32 products it runs faster (linalg/sgemm_onednn.hpp); CUDA calls cuBLAS. Operands are
// always contiguous row-major, the layout every vendor kernel accepts without a slow generic fallback.
#pragma once

#include <string>
#include <type_traits>

#include "ibq/core/config.hpp"
#include "ibq/core/error.hpp"
#include "ibq/linalg/flop_counter.hpp"
#include "ibq/linalg/gemm_cuda.hpp"
#include "ibq/linalg/gemm_host.hpp"
#include "ibq/linalg/sgemm_onednn.hpp"

namespace ibq {

// Host batches whose GEMMs are below this many flops run one GEMM per thread (mutable for benchmarks).
inline double& gemm_batch_parallel_flops() {
  static double limit = 1e9;
  return limit;
}

// The host fp32 GEMM kernels of this process, for log and benchmark lines.
inline std::string gemm_host_description() {
  std::string s = gemm_host_backend();
#if defined(IBQ_HAVE_DNNL)
  const auto isa = unsigned(dnnl::get_effective_cpu_isa()), avx512 = unsigned(dnnl::cpu_isa::avx512_core);
  if ((isa & avx512) != avx512 && onednn::sgemm_choice() != onednn::SgemmChoice::openblas)
    return s + " (oneDNN's fp32 matmul has no brgemm kernel without AVX-512: fp32 products stay on the BLAS)";
  switch (onednn::sgemm_choice()) {
    case onednn::SgemmChoice::automatic: s += " + oneDNN matmul for thin fp32 products"; break;
    case onednn::SgemmChoice::onednn: s += " + oneDNN matmul for every fp32 product (IBQ_SGEMM=onednn)"; break;
    case onednn::SgemmChoice::openblas: s += " only (IBQ_SGEMM=openblas)"; break;
  }
#endif
  return s;
}

// A host GEMM called from the top level (not from inside a parallel region, where the shared oneDNN stream
// must not be used): thin fp32 products go to oneDNN, the rest to gemm_host.
template <class T>
void gemm_host_top(Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b,
                   index_t ldb, T beta, T* c, index_t ldc) {
#if defined(IBQ_HAVE_DNNL)
  if constexpr (std::is_same_v<T, float>)
    if (onednn::sgemm_prefers(ta, m, n, k)) {
      onednn::sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
    }
#endif
  gemm_host(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <class Space, class T>
void gemm(Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b,
          index_t ldb, T beta, T* c, index_t ldc) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "gemm: float or double only");
  if (m == 0 || n == 0) return;
  count_product_flops(double(m), double(n), double(k));
#if defined(KOKKOS_ENABLE_CUDA)
  if constexpr (!host_accessible_v<Space>) {
    gemm_cuda(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, 1, 0, 0, 0);
    return;
  } else
#endif
  {
    gemm_host_top(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

template <class Space, class T>
void gemm_strided_batched(Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
                          index_t stride_a, const T* b, index_t ldb, index_t stride_b, T beta, T* c, index_t ldc,
                          index_t stride_c, index_t batch) {
  if (m == 0 || n == 0 || batch == 0) return;
  count_product_flops(double(m), double(n), double(k), double(batch));
#if defined(KOKKOS_ENABLE_CUDA)
  if constexpr (!host_accessible_v<Space>) {
    gemm_cuda(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, batch, stride_a, stride_b, stride_c);
    return;
  } else
#endif
  {
    // Few large GEMMs (attention over big images): each is threaded by BLAS itself. Many small ones (a conv
    // over a batch of 32x32 images): one GEMM per thread, which BLAS then runs single-threaded (OpenBLAS's
    // OpenMP build does inside a parallel region), without a fork/join per GEMM.
    using host_exec = Kokkos::DefaultHostExecutionSpace;
    const index_t threads = host_exec().concurrency();
    const double flops = 2.0 * double(m) * double(n) * double(k);
    const bool disjoint = stride_c >= m * ldc;  // every GEMM writes its own C (not one shared accumulator)
    if (threads > 1 && batch >= threads && disjoint && flops < gemm_batch_parallel_flops()) {
      Kokkos::parallel_for(
          "ibq::gemm_strided_batched", Kokkos::RangePolicy<host_exec, Kokkos::Schedule<Kokkos::Dynamic>>(0, batch),
          [=](index_t i) {
            gemm_host(ta, tb, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta, c + i * stride_c, ldc);
          });
      return;
    }
    for (index_t i = 0; i < batch; ++i)
      gemm_host_top(ta, tb, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta, c + i * stride_c, ldc);
  }
}

}  // namespace ibq
