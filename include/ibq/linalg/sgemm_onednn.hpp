// ibq/linalg/sgemm_onednn.hpp — host fp32 C = alpha op(A) op(B) + beta C through oneDNN's matmul primitive,
// for the thin products where its brgemm kernels beat OpenBLAS's sgemm.
//
//   if (onednn::sgemm_prefers(ta, m, n, k)) onednn::sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
//
// Why: a transformer at width 128-256 and a quantizer with D <= 128 multiply through a short dimension, and
// OpenBLAS runs those at 0.5-0.65 of its large-GEMM rate. Measured on AMD EPYC (2 threads, OpenBLAS 0.3.21
// Cooperlake kernel, oneDNN 2.6.3 brg:avx512_core), GFLOP/s OpenBLAS -> oneDNN:
//   [4160 x 128] x [128 x 384]    202 -> 255     (AR fmnist-s linears; every one of its shapes gains 10-50%)
//   [4160 x 384] x [384 x 128]    200 -> 309
//   [4096 x 64] x [64 x 16384]    208 -> 264     (quantizer logits, D = 64)
//   [4096 x 16384] x [16384 x 64] 184 -> 350     (its gradient to z)
//   [4096 x 32] x [32 x 4096]     116 -> 224
//   [4160 x 704] x [704 x 256]    255 -> 329     (AR fmnist-l: outputs 256 wide, inner dimension <= 1024)
// and it loses 1-25% once every dimension is 1024 or more (2048^3: 338 -> 316; [2816 x 2056] x [2056 x 1024],
// transposed A: 322 -> 240), for 256-wide outputs over long sums ([4096 x 16384] x [16384 x 256]: 306 -> 259)
// or a transposed A ([16384 x 4096] x [4096 x 256]: 286 -> 259), and on tiny products, where building and
// calling a primitive costs more than the product. Hence the rule, for products of at least 2^20
// multiply-adds: oneDNN when the shortest dimension is at most 128, or when A is not transposed, the output
// at most 256 wide and the inner dimension at most 1024; OpenBLAS otherwise. IBQ_SGEMM = openblas | onednn overrides it for the process (to
// compare the two). The choice depends only on the shape, so a run, its resume and every rank pick the same
// kernel for the same product. A shape oneDNN would not give a brgemm kernel (an odd stride) stays on
// OpenBLAS: that is decided once per shape, when its primitive is built.
#pragma once

#if defined(IBQ_HAVE_DNNL)

#include <algorithm>
#include <cstdlib>
#include <string>
#include <tuple>

#include "ibq/core/config.hpp"
#include "ibq/linalg/gemm_host.hpp"
#include "ibq/linalg/onednn_engine.hpp"

namespace ibq::onednn {

enum class SgemmChoice { automatic, openblas, onednn };

inline SgemmChoice sgemm_choice() {
  static const SgemmChoice c = [] {
    const char* v = std::getenv("IBQ_SGEMM");
    const std::string s = v ? v : "";
    return s == "openblas" ? SgemmChoice::openblas : s == "onednn" ? SgemmChoice::onednn : SgemmChoice::automatic;
  }();
  return c;
}

// The rule above: whether oneDNN runs an fp32 product of these extents faster.
inline bool sgemm_rule(Trans ta, index_t m, index_t n, index_t k) {
  if (k == 0 || double(m) * double(n) * double(k) < double(1 << 20)) return false;
  return std::min({m, n, k}) <= 128 || (ta == Trans::N && n <= 256 && k <= 1024);
}

// Whether this process runs an fp32 product of these extents on oneDNN (the rule, unless IBQ_SGEMM says).
inline bool sgemm_prefers(Trans ta, index_t m, index_t n, index_t k) {
  switch (sgemm_choice()) {
    case SgemmChoice::openblas: return false;
    case SgemmChoice::onednn: return k > 0;
    case SgemmChoice::automatic: break;
  }
  return sgemm_rule(ta, m, n, k);
}

struct SgemmKey {
  index_t m, n, k, lda, ldb, ldc;
  bool trans_a, trans_b;
  float alpha, beta;
  auto tie() const { return std::tie(m, n, k, lda, ldb, ldc, trans_a, trans_b, alpha, beta); }
  bool operator<(const SgemmKey& o) const { return tie() < o.tie(); }
};

class Sgemm {
 public:
  explicit Sgemm(const SgemmKey& key) {
    using dt = dnnl::memory::data_type;
    using dims = dnnl::memory::dims;
    // Logical [m, k] x [k, n]; a transposed operand is the same shape read with swapped strides.
    a_ = dnnl::memory::desc({key.m, key.k}, dt::f32, key.trans_a ? dims{1, key.lda} : dims{key.lda, 1});
    b_ = dnnl::memory::desc({key.k, key.n}, dt::f32, key.trans_b ? dims{1, key.ldb} : dims{key.ldb, 1});
    c_ = dnnl::memory::desc({key.m, key.n}, dt::f32, dims{key.ldc, 1});
    dnnl::primitive_attr attr;
    if (key.alpha != 1.0f) attr.set_output_scales(0, {key.alpha});
    if (key.beta != 0.0f) {
      dnnl::post_ops ops;
      ops.append_sum(key.beta);
      attr.set_post_ops(ops);
    }
    pd_ = dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_, b_, c_), attr, engine());
    brgemm_ = std::string(pd_.impl_info_str()).rfind("brg", 0) == 0;
    if (brgemm_) prim_ = dnnl::matmul(pd_);
  }
  // False when oneDNN would fall back to a generic kernel for this shape: OpenBLAS is faster then.
  bool usable() const { return brgemm_; }
  void run(const float* a, const float* b, float* c) const {
    auto& s = stream();
    prim_.execute(s, {{DNNL_ARG_SRC, dnnl::memory(a_, engine(), const_cast<float*>(a))},
                      {DNNL_ARG_WEIGHTS, dnnl::memory(b_, engine(), const_cast<float*>(b))},
                      {DNNL_ARG_DST, dnnl::memory(c_, engine(), c)}});
    s.wait();
  }

 private:
  dnnl::memory::desc a_, b_, c_;
  dnnl::matmul::primitive_desc pd_;
  dnnl::matmul prim_;
  bool brgemm_ = false;
};

// C = alpha op(A) op(B) + beta C on oneDNN if it has a brgemm kernel for the shape, else on gemm_host.
inline void sgemm(Trans ta, Trans tb, index_t m, index_t n, index_t k, float alpha, const float* a, index_t lda,
                  const float* b, index_t ldb, float beta, float* c, index_t ldc) {
  const Sgemm& p = cached_primitive<Sgemm>(SgemmKey{m, n, k, lda, ldb, ldc, ta == Trans::T, tb == Trans::T, alpha, beta});
  if (p.usable())
    p.run(a, b, c);
  else
    gemm_host(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace ibq::onednn

#endif  // IBQ_HAVE_DNNL
