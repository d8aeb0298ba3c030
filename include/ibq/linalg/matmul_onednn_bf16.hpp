// ibq/linalg/matmul_onednn_bf16.hpp — host C = alpha op(A) op(B) + beta C with bf16 A, B and fp32 C, through
// oneDNN's matmul primitive (the kernel torch.autocast("cpu", bfloat16) reaches). On AVX512-BF16 and AMX
// CPUs it runs the bf16 dot-product instructions at about twice the fp32 GEMM rate; products of two bf16
// values are exact in fp32 and the sums are fp32.
//
//   onednn::matmul_bf16_for(key).run(a, b, c);   // a, b: dense bf16 as stored (op() applied by strides)
//
// The operands arrive densely packed (gemm_bf16 converts them, so it packs them too), which keeps every
// descriptor a plain or transposed layout, the cases oneDNN's brgemm kernels take. C may have a row stride
// (ldc) and a batch stride of its own. One primitive per shape, built on first use and kept.
#pragma once

#if defined(IBQ_HAVE_DNNL)

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "ibq/core/bf16.hpp"
#include "ibq/core/config.hpp"
#include "ibq/linalg/onednn_engine.hpp"

namespace ibq::onednn {

struct MatmulBf16Key {
  index_t batch_a, batch_b, batch, m, n, k;
  bool trans_a, trans_b;   // A stored [k, m] / B stored [n, k]
  index_t ldc, stride_c;   // C's row and batch strides
  float alpha, beta;
  auto tie() const { return std::tie(batch_a, batch_b, batch, m, n, k, trans_a, trans_b, ldc, stride_c, alpha, beta); }
  bool operator<(const MatmulBf16Key& o) const { return tie() < o.tie(); }
};

class MatmulBf16 {
 public:
  explicit MatmulBf16(const MatmulBf16Key& key) {
    using dt = dnnl::memory::data_type;
    const index_t m = key.m, n = key.n, k = key.k;
    // Logical shapes [batch, m, k] x [batch, k, n]; a transposed operand is the same shape with swapped strides.
    a_ = dnnl::memory::desc({key.batch_a, m, k}, dt::bf16,
                            key.trans_a ? dnnl::memory::dims{m * k, 1, m} : dnnl::memory::dims{m * k, k, 1});
    b_ = dnnl::memory::desc({key.batch_b, k, n}, dt::bf16,
                            key.trans_b ? dnnl::memory::dims{k * n, 1, k} : dnnl::memory::dims{k * n, n, 1});
    c_ = dnnl::memory::desc({key.batch, m, n}, dt::f32, dnnl::memory::dims{key.stride_c, key.ldc, 1});
    dnnl::primitive_attr attr;
    if (key.alpha != 1.0f) attr.set_output_scales(0, {key.alpha});
    if (key.beta != 0.0f) {
      dnnl::post_ops ops;
      ops.append_sum(key.beta);
      attr.set_post_ops(ops);
    }
    pd_ = dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_, b_, c_), attr, engine());
    prim_ = dnnl::matmul(pd_);
  }

  void run(const bf16* a, const bf16* b, float* c) const {
    auto& s = stream();
    prim_.execute(s, {{DNNL_ARG_SRC, dnnl::memory(a_, engine(), const_cast<bf16*>(a))},
                      {DNNL_ARG_WEIGHTS, dnnl::memory(b_, engine(), const_cast<bf16*>(b))},
                      {DNNL_ARG_DST, dnnl::memory(c_, engine(), c)}});
    s.wait();
  }
  // oneDNN's name for the kernel it chose ("brg:avx512_core_bf16", "gemm:jit", "ref:any", ...).
  std::string kernel() const { return pd_.impl_info_str(); }

 private:
  dnnl::memory::desc a_, b_, c_;
  dnnl::matmul::primitive_desc pd_;
  dnnl::matmul prim_;
};

inline const MatmulBf16& matmul_bf16_for(const MatmulBf16Key& key) { return cached_primitive<MatmulBf16>(key); }

}  // namespace ibq::onednn

#endif  // IBQ_HAVE_DNNL
