// bench/gemm_peak.hpp — the machine's GEMM peaks, measured in the benchmark's own run, for the "share of peak"
// columns: fp32 (ibq::gemm, the host BLAS) and bf16 (ibq::gemm_bf16 on pre-converted operands: oneDNN's
// AVX512-BF16 kernels, or the emulation where the CPU has none), both at m = n = k = 2048, median of 5.
//
//   const auto peak = bench::measure_gemm_peaks();   // GFLOP/s
//   share = step_flops / step_seconds / 1e9 / (bf16 ? peak.bf16 : peak.fp32);
#pragma once

#include <cstdio>
#include <string>

#include "bench_util.hpp"
#include "ibq/linalg/gemm_bf16.hpp"

namespace bench {

struct GemmPeaks {
  double fp32 = 0, bf16 = 0;  // GFLOP/s
  std::string bf16_kernels;
};

inline GemmPeaks measure_gemm_peaks(ibq::index_t n = 2048, int reps = 5) {
  using Space = ibq::DefaultSpace;
  auto a = random_f<Space>({n, n}, 11), b = random_f<Space>({n, n}, 12), c = ibq::Tensor<float, Space>({n, n});
  const double flops = 2.0 * double(n) * double(n) * double(n);
  GemmPeaks p;
  p.fp32 = flops / 1e9 / median_seconds([&] {
             ibq::gemm<Space>(ibq::Trans::N, ibq::Trans::N, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
           }, reps);
  const auto ab = ibq::Bf16Matrix<Space>::pack(a.data(), ibq::Trans::N, n, n, n);
  const auto bb = ibq::Bf16Matrix<Space>::pack(b.data(), ibq::Trans::N, n, n, n);
  p.bf16 = flops / 1e9 / median_seconds([&] {
             ibq::gemm_bf16<Space>(ibq::Trans::N, ibq::Trans::N, n, n, n, 1.f, ab, bb, 0.f, c.data(), n, 0, 1);
           }, reps);
  p.bf16_kernels = ibq::bf16_host_backend();
  return p;
}

inline void print_gemm_peaks(const GemmPeaks& p) {
  std::printf("GEMM peaks in this run (2048^3, median of 5): fp32 %.0f GFLOP/s, bf16 %.0f GFLOP/s (%s)\n", p.fp32,
              p.bf16, p.bf16_kernels.c_str());
}

}  // namespace bench
