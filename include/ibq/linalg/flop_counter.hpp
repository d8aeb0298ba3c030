// ibq/linalg/flop_counter.hpp — the floating-point operations the products performed, for benchmarks.
//
//   ibq::product_flops() = 0;  step();  double f = ibq::product_flops();   // GEMM + convolution flops of a step
//
// Every GEMM (2 m n k per product, any precision) and every convolution pass (2 N Cout Ho Wo Cin kh kw) adds
// its count when it is issued; a benchmark divides by the step's time to state the share of the machine's
// GEMM peak it reached. Elementwise work is not counted: at these sizes it is the part that cannot reach a
// GEMM's rate, which is exactly what the share shows. Host bookkeeping only (one add per call).
#pragma once

namespace ibq {

inline double& product_flops() {
  static double flops = 0;
  return flops;
}

inline void count_product_flops(double m, double n, double k, double batch = 1) {
  product_flops() += 2.0 * m * n * k * batch;
}

}  // namespace ibq
