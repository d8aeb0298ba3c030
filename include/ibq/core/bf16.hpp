// ibq/core/bf16.hpp — bfloat16 storage: the upper 16 bits of an IEEE float (8 exponent bits, 7 stored
// mantissa bits), the format the reference's 16-bit GEMMs read.
//
//   ibq::bf16 h = ibq::bf16::from_float(x);     // round to nearest, ties to even (as PyTorch and oneDNN)
//   float y = h.to_float();                      // exact: every bf16 is a float
//   float r = ibq::round_to_bf16(x);             // x as it reaches a bf16 GEMM, still a float
//
// Kokkos 3.4 has no bf16 type and Kokkos 4's lives in Kokkos::Experimental with backend-specific storage,
// so ibq keeps its own: a plain 16-bit struct that every backend can hold in a View and that kernels convert
// with integer operations (vectorisable on the host, native on the device). Arithmetic is never done in
// bf16: values are widened to float first, which is what "fp32 accumulation" means.
#pragma once

#include <cstdint>
#include <cstring>

#include "ibq/core/config.hpp"

namespace ibq {

namespace detail {
KOKKOS_INLINE_FUNCTION std::uint32_t float_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
KOKKOS_INLINE_FUNCTION float bits_float(std::uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}
}  // namespace detail

struct bf16 {
  std::uint16_t bits;

  // Round to nearest even: add 0x7FFF plus the lowest kept bit, then truncate. NaNs stay NaNs (a NaN whose
  // payload sits only in the dropped bits would otherwise round to infinity), and their sign is kept.
  KOKKOS_INLINE_FUNCTION static bf16 from_float(float x) {
    const std::uint32_t u = detail::float_bits(x);
    bf16 h;
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu) != 0u)
      h.bits = std::uint16_t((u >> 16) | 0x0040u);
    else
      h.bits = std::uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    return h;
  }
  KOKKOS_INLINE_FUNCTION float to_float() const { return detail::bits_float(std::uint32_t(bits) << 16); }
};
static_assert(sizeof(bf16) == 2, "bf16 must be 16 bits");

// x rounded to the nearest bf16, kept as a float: what a bf16 GEMM sees of an fp32 operand.
KOKKOS_INLINE_FUNCTION float round_to_bf16(float x) { return bf16::from_float(x).to_float(); }

// Unit roundoff of bf16 (2^-8, half its 2^-7 spacing at 1): the relative error of one rounding.
inline constexpr double bf16_unit_roundoff = 1.0 / 256.0;

}  // namespace ibq
