// ibq/linalg/gemm_bf16.hpp — GEMM in a chosen precision: fp32, or bf16 operands with fp32 accumulation.
//
//   ibq::gemm_as<Space>(p, Trans::N, Trans::T, m, n, k, 1.0f, A, k, B, k, 0.0f, C, n);
//   ibq::gemm_strided_batched_as<Space>(p, ..., batch, strideA, strideB, strideC);
//
// Precision::bf16 is autocast's GEMM: A and B are rounded to bf16 (nearest even), multiplied exactly, summed in
// fp32, and alpha op(A) op(B) + beta C is written in fp32. Where it runs:
// - host with AVX512-BF16 or AMX (and oneDNN): oneDNN's bf16 matmul, ~2x the fp32 rate;
// - CUDA: cuBLAS's GemmStridedBatchedEx on bf16 with CUBLAS_COMPUTE_32F (tensor cores);
// - any other host: emulated. The operands are rounded to bf16 values held in fp32 and the fp32 GEMM runs on
//   them, which gives the same products and fp32 sums (only the summation order differs), so results do not
//   depend on the CPU, only the speed does. bf16_host_backend() says which one a process uses.
// Operands are converted (and packed dense) on every call: O(mk + kn) work beside the O(mkn) product, the
// price autocast pays as well.
#pragma once

#include <cstdlib>
#include <string>
#include <type_traits>

#include "ibq/core/bf16.hpp"
#include "ibq/core/precision.hpp"
#include "ibq/linalg/gemm.hpp"
#include "ibq/linalg/matmul_onednn_bf16.hpp"

namespace ibq {

// Whether this CPU has bf16 dot-product instructions (AVX512-BF16; every AMX CPU has them too).
inline bool cpu_has_bf16_dot() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDA_ARCH__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

enum class Bf16Kernels { native, emulated };

// Which host bf16 kernels run: native where the CPU and the build allow, else emulated; IBQ_BF16=emulated in
// the environment asks for the emulation (to compare the two). Tests and benchmarks may also set it.
inline Bf16Kernels& bf16_host_kernels() {
#if defined(IBQ_HAVE_DNNL)
  static Bf16Kernels k = [] {
    const char* v = std::getenv("IBQ_BF16");
    return cpu_has_bf16_dot() && !(v && std::string(v) == "emulated") ? Bf16Kernels::native : Bf16Kernels::emulated;
  }();
#else
  static Bf16Kernels k = Bf16Kernels::emulated;
#endif
  return k;
}

// For log and benchmark lines.
inline std::string bf16_host_backend() {
  if (bf16_host_kernels() == Bf16Kernels::native) return "oneDNN bf16 (AVX512-BF16)";
  return cpu_has_bf16_dot() ? "emulated (fp32 GEMM on bf16-rounded operands)"
                            : "emulated (fp32 GEMM on bf16-rounded operands: this CPU has no AVX512-BF16/AMX)";
}

namespace detail {
// A packed element as the kernels read it: bf16 itself, or its value in fp32 (overloads, not `if constexpr`:
// nvcc's extended lambdas may not capture inside a constexpr-if).
KOKKOS_INLINE_FUNCTION void store_packed(bf16* p, bf16 h) { *p = h; }
KOKKOS_INLINE_FUNCTION void store_packed(float* p, bf16 h) { *p = h.to_float(); }

// dst[b][r][c] = convert(src[b * stride + r * ld + c]) for b < batch, r < rows, c < cols: an operand as stored,
// packed dense and converted to bf16 (Out = bf16) or rounded to bf16 values kept in fp32 (Out = float).
template <class Space, class Out>
void pack_bf16(const float* src, index_t batch, index_t rows, index_t cols, index_t ld, index_t stride, Out* dst) {
  parallel_for_2d<Space>("ibq::pack_bf16", batch * rows, cols, KOKKOS_LAMBDA(index_t br, index_t c) {
    const index_t b = br / rows, r = br % rows;
    store_packed(dst + br * cols + c, bf16::from_float(src[b * stride + r * ld + c]));
  });
}
}  // namespace detail

// One GEMM operand converted for the bf16 GEMM, densely packed in its stored orientation (a transposed
// operand stays transposed; the GEMM's flags say so). Packing once and reusing it saves the conversion when
// one matrix meets many products (the quantizer's codebook against every tile of rows). It holds bf16 for
// the native kernels or bf16-rounded floats for the emulated ones, whichever this process runs.
template <class Space>
struct Bf16Matrix {
  index_t rows = 0, cols = 0, batch = 1;     // batch 1 with several GEMMs: shared by all of them
  Kokkos::View<bf16*, Space> native;         // set when the native kernels run
  Kokkos::View<float*, Space> rounded;       // set when the emulated kernels run

  static bool emulated() { return host_accessible_v<Space> && bf16_host_kernels() == Bf16Kernels::emulated; }
  // The operand op(X) of an (outer x inner) product as stored: rows x cols with leading dimension ld, one
  // per batch item every `stride` elements (stride 0: one for all).
  static Bf16Matrix pack(const float* src, Trans t, index_t outer, index_t inner, index_t ld, index_t stride = 0,
                         index_t batch = 1) {
    Bf16Matrix m;
    m.rows = t == Trans::N ? outer : inner;
    m.cols = t == Trans::N ? inner : outer;
    m.batch = stride == 0 ? 1 : batch;
    const index_t n = m.batch * m.rows * m.cols;
    if (emulated()) {
      m.rounded = Kokkos::View<float*, Space>(Kokkos::view_alloc(Kokkos::WithoutInitializing, "ibq::bf16_operand"), n);
      detail::pack_bf16<Space>(src, m.batch, m.rows, m.cols, ld, stride, m.rounded.data());
    } else {
      m.native = Kokkos::View<bf16*, Space>(Kokkos::view_alloc(Kokkos::WithoutInitializing, "ibq::bf16_operand"), n);
      detail::pack_bf16<Space>(src, m.batch, m.rows, m.cols, ld, stride, m.native.data());
    }
    return m;
  }
  index_t ld() const { return cols; }
  index_t stride() const { return batch > 1 ? rows * cols : 0; }
};

// C = alpha op(A) op(B) + beta C on packed operands (see Bf16Matrix::pack for their geometry).
template <class Space>
void gemm_bf16(Trans ta, Trans tb, index_t m, index_t n, index_t k, float alpha, const Bf16Matrix<Space>& a,
               const Bf16Matrix<Space>& b, float beta, float* c, index_t ldc, index_t stride_c, index_t batch) {
  if (m == 0 || n == 0 || batch == 0) return;
  if (Bf16Matrix<Space>::emulated() || k == 0) {
    IBQ_CHECK(a.rounded.data() || k == 0, "gemm_bf16: operand packed for the other bf16 kernels");
    gemm_strided_batched<Space>(ta, tb, m, n, k, alpha, a.rounded.data(), a.ld(), a.stride(), b.rounded.data(), b.ld(),
                                b.stride(), beta, c, ldc, stride_c, batch);  // counts its flops
    return;
  }
  count_product_flops(double(m), double(n), double(k), double(batch));
#if defined(KOKKOS_ENABLE_CUDA)
  if constexpr (!host_accessible_v<Space>) {
    gemm_cuda_bf16(ta, tb, m, n, k, alpha, a.native.data(), a.ld(), a.stride(), b.native.data(), b.ld(), b.stride(),
                   beta, c, ldc, stride_c, batch);
    return;
  } else
#endif
  {
#if defined(IBQ_HAVE_DNNL)
    const onednn::MatmulBf16Key key{a.batch, b.batch, batch, m, n, k, ta == Trans::T, tb == Trans::T,
                                    ldc, batch > 1 ? stride_c : m * ldc, alpha, beta};
    onednn::matmul_bf16_for(key).run(a.native.data(), b.native.data(), c);
#else
    IBQ_THROW("gemm_bf16: native host kernels need oneDNN (this build has none)");
#endif
  }
}

template <class Space>
void gemm_bf16(Trans ta, Trans tb, index_t m, index_t n, index_t k, float alpha, const float* a, index_t lda,
               index_t stride_a, const float* b, index_t ldb, index_t stride_b, float beta, float* c, index_t ldc,
               index_t stride_c, index_t batch) {
  if (m == 0 || n == 0 || batch == 0) return;
  gemm_bf16<Space>(ta, tb, m, n, k, alpha, Bf16Matrix<Space>::pack(a, ta, m, k, lda, stride_a, batch),
                   Bf16Matrix<Space>::pack(b, tb, k, n, ldb, stride_b, batch), beta, c, ldc, stride_c, batch);
}

// C = alpha op(A) op(B) + beta C in precision p (bf16 applies to float only; double is always double).
template <class Space, class T>
void gemm_strided_batched_as(Precision p, Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* a,
                             index_t lda, index_t stride_a, const T* b, index_t ldb, index_t stride_b, T beta, T* c,
                             index_t ldc, index_t stride_c, index_t batch) {
  if constexpr (std::is_same_v<T, float>) {
    if (p == Precision::bf16) {
      gemm_bf16<Space>(ta, tb, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c, ldc, stride_c, batch);
      return;
    }
  }
  gemm_strided_batched<Space>(ta, tb, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c, ldc, stride_c,
                              batch);
}

template <class Space, class T>
void gemm_as(Precision p, Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
             const T* b, index_t ldb, T beta, T* c, index_t ldc) {
  gemm_strided_batched_as<Space>(p, ta, tb, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1);
}

}  // namespace ibq
