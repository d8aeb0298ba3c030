// ibq/core/fast_exp.hpp — exp(x) for x <= 0 as straight-line arithmetic that vectorises.
//
//   const float e = ibq::kmath::exp_nonpositive(x - row_max);   // softmax, log-sum-exp, sigmoid(-|x|)
//
// Every hot exponential in the project has a non-positive argument: a logit minus its row's maximum, a
// log-probability, or -|x| inside the sigmoid. glibc's expf is a call per element that no loop vectorises;
// on the host the float version here is Cephes' expf (degree-6 polynomial on [-ln2/2, ln2/2], about 1 ulp)
// with the power of two built from its bits, so the loops around it run as wide as the vector unit. Below
// FLT_MIN it returns 0 (exp(-inf) = 0: masked attention keys); NaN stays NaN. On the device and in double
// (the finite-difference checks) it is the library's exp.
#pragma once

#include <cstdint>
#include <cstring>

#include "ibq/core/kokkos_compat.hpp"

namespace ibq::kmath {

KOKKOS_FORCEINLINE_FUNCTION float exp_nonpositive(float x) {
#if defined(__CUDA_ARCH__)
  return expf(x);
#else
  const bool under = x < -87.3365447504f;
  x = under ? 0.0f : x;
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x / ln 2), |x / ln 2| < 2^22
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  // 2^n, shifted as unsigned: for NaN the conversion gives INT_MIN on x86, and a signed shift of it would
  // be undefined (UBSan stops on it); the NaN then passes through p * r below.
  const std::uint32_t bits = std::uint32_t(std::int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float e = (p * r * r + r + 1.0f) * scale;
  return under ? 0.0f : e;  // a select, not a branch, under -fno-trapping-math (CMakeLists.txt says why)
#endif
}
KOKKOS_FORCEINLINE_FUNCTION double exp_nonpositive(double x) { return ibq::kmath::exp(x); }

}  // namespace ibq::kmath
