// ibq/ops/matmul.hpp — matrix products on the tape: matmul (2-D, batched 3-D) and linear (PyTorch layout).
//
//   auto logits = matmul(h, codebook, false, /*trans_b=*/true);   // [N,D] x [K,D]^T -> [N,K]
//   auto att = matmul(q, k, false, true);                         // [B,T,D] x [B,T,D]^T -> [B,T,T]
//   auto y = linear(x, w, b);                                     // x [..., in], w [out, in], b [out]
//
// Transposes are GEMM flags, never copies. Every product, forward and backward, is one gemm or
// gemm_strided_batched call on the operands as stored; backward stores into a gradient buffer no op wrote
// yet (beta = 0, Tape::grad_dest) and accumulates into one that holds other ops' gradients (beta = 1).
// A 2-D b against a batched a is a shared weight: without trans_a the
// batch folds into M and it is a single GEMM. Under autocast (core/precision.hpp) the products, forward and
// backward, read bf16 operands; the bias gradient (a column sum) stays fp32.
#pragma once

#include "ibq/autodiff/tape.hpp"
#include "ibq/linalg/gemm_bf16.hpp"

namespace ibq {

// Extents of C = op(A) op(B) as GEMM sees them.
struct MatmulDims {
  index_t batch = 1, m = 0, k = 0, n = 0;
  index_t lda = 0, ldb = 0;                  // row lengths of A and B as stored
  index_t stride_a = 0, stride_b = 0;        // 0: shared across the batch
  bool loop_b = false;                       // b is shared and its gradient must be summed per batch item
  Shape out;
};

inline MatmulDims matmul_dims(const Shape& a, const Shape& b, bool ta, bool tb, const char* op) {
  IBQ_CHECK((a.rank == 2 && b.rank == 2) || (a.rank == 3 && (b.rank == 3 || b.rank == 2)),
            op << ": expects 2-D x 2-D, 3-D x 3-D or 3-D x 2-D operands, got " << a << " and " << b
               << "; reshape to [M,K] / [B,M,K]");
  MatmulDims d;
  const int ra = a.rank, rb = b.rank;
  d.m = ta ? a.dims[ra - 1] : a.dims[ra - 2];
  d.k = ta ? a.dims[ra - 2] : a.dims[ra - 1];
  const index_t kb = tb ? b.dims[rb - 1] : b.dims[rb - 2];
  d.n = tb ? b.dims[rb - 2] : b.dims[rb - 1];
  IBQ_CHECK(d.k == kb, op << ": inner dimensions differ: " << a << (ta ? "^T" : "") << " x " << b
                          << (tb ? "^T" : "") << " (" << d.k << " vs " << kb
                          << "); check the transpose flags and the operand order");
  d.lda = a.dims[ra - 1];
  d.ldb = b.dims[rb - 1];
  d.out = ra == 2 ? Shape{d.m, d.n} : Shape{a.dims[0], d.m, d.n};
  if (ra == 3) {
    d.batch = a.dims[0];
    if (rb == 3) {
      IBQ_CHECK(b.dims[0] == d.batch, op << ": batch sizes differ: " << a << " vs " << b);
      d.stride_a = d.m * d.k;
      d.stride_b = d.k * d.n;
    } else if (!ta) {  // [B,M,K] x [K,N] is [B*M,K] x [K,N]
      d.m *= d.batch;
      d.batch = 1;
    } else {
      d.stride_a = d.m * d.k;
      d.loop_b = true;
    }
  }
  return d;
}

// ---- kernels ------------------------------------------------------------------------------------------
template <class T, class Space>
Tensor<T, Space> matmul_forward(const Tensor<T, Space>& a, const Tensor<T, Space>& b, bool trans_a = false,
                                bool trans_b = false, Precision p = Precision::fp32) {
  const MatmulDims d = matmul_dims(a.shape(), b.shape(), trans_a, trans_b, "matmul");
  auto c = Tensor<T, Space>::empty(d.out);
  const Trans ta = trans_a ? Trans::T : Trans::N, tb = trans_b ? Trans::T : Trans::N;
  gemm_strided_batched_as<Space>(p, ta, tb, d.m, d.n, d.k, T(1), a.data(), d.lda, d.stride_a, b.data(), d.ldb,
                                 d.stride_b, T(0), c.data(), d.n, d.m * d.n, d.batch);
  return c;
}

// ga = beta_a ga + dC op(B)^T (as stored: transposed back when trans_a), gb = beta_b gb + op(A)^T dC
// (likewise); beta 0 stores into an unzeroed buffer (Tape::grad_dest), 1 accumulates. ga is written before
// gb. Either gradient may be undefined (not needed).
template <class T, class Space>
void matmul_backward(const Tensor<T, Space>& a, const Tensor<T, Space>& b, bool trans_a, bool trans_b,
                     const Tensor<T, Space>& gc, const Tensor<T, Space>& ga, const Tensor<T, Space>& gb,
                     Precision p = Precision::fp32, T beta_a = T(1), T beta_b = T(1)) {
  const MatmulDims d = matmul_dims(a.shape(), b.shape(), trans_a, trans_b, "matmul");
  const index_t sc = d.m * d.n;
  const T one(1);
  if (ga.defined()) {
    if (!trans_a)  // dA [M,K] = dC [M,N] op(B)^T
      gemm_strided_batched_as<Space>(p, Trans::N, trans_b ? Trans::N : Trans::T, d.m, d.k, d.n, one, gc.data(), d.n, sc,
                                  b.data(), d.ldb, d.stride_b, beta_a, ga.data(), d.lda, d.stride_a, d.batch);
    else  // A stored [K,M]: dA = op(B) dC^T
      gemm_strided_batched_as<Space>(p, trans_b ? Trans::T : Trans::N, Trans::T, d.k, d.m, d.n, one, b.data(), d.ldb,
                                  d.stride_b, gc.data(), d.n, sc, beta_a, ga.data(), d.lda, d.stride_a, d.batch);
  }
  if (gb.defined()) {
    // A shared b sums its gradient over the batch: sequential GEMMs into one buffer (a batched call with a
    // zero output stride would race on the device).
    const index_t calls = d.loop_b ? d.batch : 1, batch = d.loop_b ? 1 : d.batch;
    if (calls == 0 && beta_b == T(0)) gb.fill_(T(0));  // an empty batch: the gradient is zero, not unwritten
    for (index_t i = 0; i < calls; ++i) {
      const T* ai = a.data() + i * d.stride_a;
      const T* ci = gc.data() + i * sc;
      const T beta = i == 0 ? beta_b : one;  // the first call stores or adds as asked, the rest add
      if (!trans_b)  // dB [K,N] = op(A)^T dC
        gemm_strided_batched_as<Space>(p, trans_a ? Trans::N : Trans::T, Trans::N, d.k, d.n, d.m, one, ai, d.lda,
                                    d.stride_a, ci, d.n, sc, beta, gb.data(), d.ldb, d.stride_b, batch);
      else  // B stored [N,K]: dB = dC^T op(A)
        gemm_strided_batched_as<Space>(p, Trans::T, trans_a ? Trans::T : Trans::N, d.n, d.k, d.m, one, ci, d.n, sc, ai,
                                    d.lda, d.stride_a, beta, gb.data(), d.ldb, d.stride_b, batch);
    }
  }
}

// y of x [R, in] W^T, allocated, and holding the bias broadcast over its rows (if there is one) for a GEMM
// with beta = 1 to add onto.
template <class T, class Space>
Tensor<T, Space> linear_output(const Tensor<T, Space>& x, const Tensor<T, Space>& w, const Tensor<T, Space>& bias) {
  IBQ_CHECK(w.rank() == 2, "linear: weight must be [out, in], got " << w.shape() << " (input " << x.shape() << ")");
  IBQ_CHECK(x.rank() >= 1 && x.dim(-1) == w.dim(1),
            "linear: input " << x.shape() << " has " << (x.rank() ? x.dim(-1) : 0) << " features but weight "
                             << w.shape() << " expects " << w.dim(1) << " (PyTorch layout [out, in])");
  const index_t out = w.dim(0);
  if (bias.defined())
    IBQ_CHECK(bias.rank() == 1 && bias.dim(0) == out,
              "linear: bias " << bias.shape() << " does not match weight " << w.shape() << "; expected [" << out << "]");
  Shape ys = x.shape();
  ys.dims[ys.rank - 1] = out;
  auto y = Tensor<T, Space>::empty(ys);
  if (bias.defined()) {
    auto bv = bias.view();
    auto yv = y.view();
    Kokkos::parallel_for("ibq::ops::linear_fwd", range<Space>(y.size()),
                         KOKKOS_LAMBDA(index_t i) { yv(i) = bv(i % out); });
  }
  return y;
}

// y [R, out] = x [R, in] W^T (+ bias): the bias is broadcast into y first so the GEMM adds onto it.
template <class T, class Space>
Tensor<T, Space> linear_forward(const Tensor<T, Space>& x, const Tensor<T, Space>& w, const Tensor<T, Space>& bias,
                                Precision p = Precision::fp32) {
  auto y = linear_output(x, w, bias);
  const index_t in = w.dim(1), out = w.dim(0), rows = x.size() / (in ? in : 1);
  gemm_as<Space>(p, Trans::N, Trans::T, rows, out, in, T(1), x.data(), in, w.data(), in, T(bias.defined() ? 1 : 0),
                 y.data(), out);
  return y;
}

// g[j] += sum_r gy[r, j]: a GEMM of a row of ones against gy, so BLAS does the column reduction.
template <class T, class Space>
void column_sum_accumulate(const Tensor<T, Space>& gy, index_t rows, index_t cols, const Tensor<T, Space>& g) {
  const auto ones = Tensor<T, Space>::full(Shape{rows}, T(1));
  gemm<Space>(Trans::N, Trans::N, 1, cols, rows, T(1), ones.data(), rows, gy.data(), cols, T(1), g.data(), cols);
}

// gx = beta_x gx + gy W, gw = beta_w gw + gy^T x (beta 0: store, Tape::grad_dest; gx first), gb += column
// sums of gy. Undefined gradients are skipped.
template <class T, class Space>
void linear_backward(const Tensor<T, Space>& x, const Tensor<T, Space>& w, const Tensor<T, Space>& gy,
                     const Tensor<T, Space>& gx, const Tensor<T, Space>& gw, const Tensor<T, Space>& gb,
                     Precision p = Precision::fp32, T beta_x = T(1), T beta_w = T(1)) {
  const index_t in = w.dim(1), out = w.dim(0), rows = x.size() / (in ? in : 1);
  const T one(1);
  if (gx.defined())
    gemm_as<Space>(p, Trans::N, Trans::N, rows, in, out, one, gy.data(), out, w.data(), in, beta_x, gx.data(), in);
  if (gw.defined())
    gemm_as<Space>(p, Trans::T, Trans::N, out, in, rows, one, gy.data(), out, x.data(), in, beta_w, gw.data(), in);
  if (gb.defined()) column_sum_accumulate(gy, rows, out, gb);
}

// ---- differentiable wrappers ----------------------------------------------------------------------------
template <class T, class Space>
Var<T, Space> matmul(const Var<T, Space>& a, const Var<T, Space>& b, bool trans_a = false, bool trans_b = false) {
  auto& tape = a.tape();
  const Precision p = autocast_precision<T>();
  auto c = matmul_forward(a.value(), b.value(), trans_a, trans_b, p);
  return tape.record("matmul", c, {a, b},
                     [ia = a.id(), ib = b.id(), sa = tape.save(a.value()), sb = tape.save(b.value()), trans_a,
                      trans_b, p](Tape<T, Space>& t, const Tensor<T, Space>& gc) {
                       const auto da = t.grad_dest(ia);  // requested in the order written: a, then b
                       const auto db = t.grad_dest(ib);
                       matmul_backward(sa.get("matmul"), sb.get("matmul"), trans_a, trans_b, gc, da.grad, db.grad, p,
                                       da.beta(), db.beta());
                     });
}

namespace detail {
// linear under bf16: x and W are converted once, read by the forward product and kept (half the bytes of
// fp32) for the backward products, which read them as stored: dx = dy W and dW = dy^T x take the same packed
// buffers, and dy is converted once for both. Three conversions instead of six, and no fp32 copy saved.
// The packed operands are copies, so changing x or W in place after the forward pass cannot reach backward.
template <class Space>
Var<float, Space> linear_bf16(const Var<float, Space>& x, const Var<float, Space>& w, const Var<float, Space>& b) {
  const Tensor<float, Space>& xv = x.value();
  const Tensor<float, Space>& wv = w.value();
  const Tensor<float, Space> bias = b.defined() ? b.value() : Tensor<float, Space>();
  auto y = linear_output(xv, wv, bias);
  const index_t in = wv.dim(1), out = wv.dim(0), rows = xv.size() / (in ? in : 1);
  const auto xb = Bf16Matrix<Space>::pack(xv.data(), Trans::N, rows, in, in);
  const auto wb = Bf16Matrix<Space>::pack(wv.data(), Trans::T, in, out, in);  // stored [out, in]
  gemm_bf16<Space>(Trans::N, Trans::T, rows, out, in, 1.f, xb, wb, bias.defined() ? 1.f : 0.f, y.data(), out, 0, 1);
  std::vector<Var<float, Space>> inputs{x, w};
  if (b.defined()) inputs.push_back(b);
  return x.tape().record(
      "linear", y, inputs,
      [ix = x.id(), iw = w.id(), ib = b.defined() ? b.id() : -1, xb, wb, rows, in, out](
          Tape<float, Space>& t, const Tensor<float, Space>& gy) {
        const auto dx = t.grad_dest(ix);  // requested in the order written: x, then W
        const auto dw = t.grad_dest(iw);
        if (dx.defined() || dw.defined()) {
          const auto gyb = Bf16Matrix<Space>::pack(gy.data(), Trans::N, rows, out, out);
          if (dx.defined())
            gemm_bf16<Space>(Trans::N, Trans::N, rows, in, out, 1.f, gyb, wb, dx.beta(), dx.grad.data(), in, 0, 1);
          if (dw.defined())
            gemm_bf16<Space>(Trans::T, Trans::N, out, in, rows, 1.f, gyb, xb, dw.beta(), dw.grad.data(), in, 0, 1);
        }
        if (ib >= 0) {
          const auto gb = t.grad_for(ib);
          if (gb.defined()) column_sum_accumulate(gy, rows, out, gb);
        }
      });
}
}  // namespace detail

template <class T, class Space>
Var<T, Space> linear(const Var<T, Space>& x, const Var<T, Space>& w, const Var<T, Space>& b) {
  auto& tape = x.tape();
  const Precision p = autocast_precision<T>();
  if constexpr (std::is_same_v<T, float>)
    if (p == Precision::bf16) return detail::linear_bf16(x, w, b);
  auto y = linear_forward(x.value(), w.value(), b.value(), p);
  return tape.record("linear", y, {x, w, b},
                     [ix = x.id(), iw = w.id(), ib = b.id(), sx = tape.save(x.value()), sw = tape.save(w.value()), p](
                         Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       const auto dx = t.grad_dest(ix);  // requested in the order written: x, then W
                       const auto dw = t.grad_dest(iw);
                       linear_backward(sx.get("linear"), sw.get("linear"), gy, dx.grad, dw.grad, t.grad_for(ib), p,
                                       dx.beta(), dw.beta());
                     });
}

template <class T, class Space>
Var<T, Space> linear(const Var<T, Space>& x, const Var<T, Space>& w) {
  auto& tape = x.tape();
  const Precision p = autocast_precision<T>();
  if constexpr (std::is_same_v<T, float>)
    if (p == Precision::bf16) return detail::linear_bf16(x, w, Var<T, Space>());
  auto y = linear_forward(x.value(), w.value(), Tensor<T, Space>(), p);
  return tape.record("linear", y, {x, w},
                     [ix = x.id(), iw = w.id(), sx = tape.save(x.value()), sw = tape.save(w.value()), p](
                         Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       const auto dx = t.grad_dest(ix);  // requested in the order written: x, then W
                       const auto dw = t.grad_dest(iw);
                       linear_backward(sx.get("linear"), sw.get("linear"), gy, dx.grad, dw.grad, Tensor<T, Space>(), p,
                                       dx.beta(), dw.beta());
                     });
}

}  // namespace ibq
