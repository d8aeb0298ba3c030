// ibq/quant/codebook_products.hpp — the quantizers' products with the codebook E [K, D], in a precision.
//
//   CodebookProducts<T, Space> prod(p, e, K, D);   // under bf16, E is converted once here
//   prod.logits(x, rows, l);                       // l [rows, K]  = x [rows, D] E^T (times alpha)
//   prod.times_codebook(l, rows, gx);              // gx [rows, D] += l [rows, K] E
//   prod.codebook_grad(l, x, rows, ge);            // ge [K, D]    += l^T x
//
// The fused quantizers take N rows in tiles, so E meets one product per tile: under bf16 (the reference's
// einsums under autocast) converting E for every tile would cost as much as the product itself at
// K = 16384, so it is packed once per pass. In fp32 these are plain GEMMs.
#pragma once

#include <type_traits>

#include "ibq/linalg/gemm_bf16.hpp"

namespace ibq {

template <class T, class Space>
class CodebookProducts {
 public:
  CodebookProducts(Precision p, const T* e, index_t k, index_t d)
      : bf16_(std::is_same_v<T, float> && p == Precision::bf16), e_(e), k_(k), d_(d) {
    if constexpr (std::is_same_v<T, float>)
      if (bf16_) eb_ = Bf16Matrix<Space>::pack(e, Trans::T, d, k, d);  // stored [K, D]
  }

  void logits(const T* x, index_t rows, T* l, T alpha = T(1)) const {
    if constexpr (std::is_same_v<T, float>) {
      if (bf16_) {
        gemm_bf16<Space>(Trans::N, Trans::T, rows, k_, d_, alpha, Bf16Matrix<Space>::pack(x, Trans::N, rows, d_, d_),
                         eb_, 0.f, l, k_, 0, 1);
        return;
      }
    }
    gemm<Space>(Trans::N, Trans::T, rows, k_, d_, alpha, x, d_, e_, d_, T(0), l, k_);
  }

  void times_codebook(const T* l, index_t rows, T* gx) const {
    if constexpr (std::is_same_v<T, float>) {
      if (bf16_) {
        gemm_bf16<Space>(Trans::N, Trans::N, rows, d_, k_, 1.f, Bf16Matrix<Space>::pack(l, Trans::N, rows, k_, k_), eb_,
                         1.f, gx, d_, 0, 1);
        return;
      }
    }
    gemm<Space>(Trans::N, Trans::N, rows, d_, k_, T(1), l, k_, e_, d_, T(1), gx, d_);
  }

  void codebook_grad(const T* l, const T* x, index_t rows, T* ge) const {
    gemm_as<Space>(bf16_ ? Precision::bf16 : Precision::fp32, Trans::T, Trans::N, k_, d_, rows, T(1), l, k_, x, d_,
                   T(1), ge, d_);
  }

 private:
  bool bf16_;
  const T* e_;
  index_t k_, d_;
  Bf16Matrix<Space> eb_;
};

}  // namespace ibq
