// ibq/core/random.hpp — counter-based random numbers: a pure function of (seed, stream, counter).
//
//   ibq::Rng rng{seed, /*stream=*/layer_id};
//   float u = rng.uniform(i);       // in [0, 1), identical on every rank, backend and thread count
//   float g = rng.normal(i);        // standard normal (Box-Muller on two uniforms)
//
// There is no hidden state, so initialisation, dropout masks and sampling are reproducible across
// thread counts and resume exactly from a checkpoint that stores (seed, step).
#pragma once

#include "ibq/core/kokkos_compat.hpp"
#include <cstdint>
#include <utility>
#include <vector>

#include "ibq/core/config.hpp"

namespace ibq {

struct Rng {
  std::uint64_t seed = 0;
  std::uint64_t stream = 0;

  // SplitMix64's finaliser: a bijective avalanche mix, cheap on CPU and GPU.
  KOKKOS_INLINE_FUNCTION static std::uint64_t mix(std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  KOKKOS_INLINE_FUNCTION std::uint64_t bits(std::uint64_t counter) const {
    return mix(mix(mix(seed) ^ stream) ^ counter);
  }
  // 24 (float) or 53 (double) random mantissa bits, so the result is < 1 exactly.
  KOKKOS_INLINE_FUNCTION double uniform(std::uint64_t counter) const {
    return static_cast<double>(bits(counter) >> 11) * (1.0 / 9007199254740992.0);
  }
  KOKKOS_INLINE_FUNCTION double normal(std::uint64_t counter) const {
    const double u1 = 1.0 - uniform(2 * counter);  // (0, 1]: log stays finite
    const double u2 = uniform(2 * counter + 1);
    return ibq::kmath::sqrt(-2.0 * ibq::kmath::log(u1)) *
           ibq::kmath::cos(6.283185307179586 * u2);
  }
  Rng split(std::uint64_t sub) const { return Rng{seed, mix(stream ^ mix(sub + 0x632be59bd9b4e019ull))}; }
};

// An epoch's order of `count` items: Fisher-Yates with the counter-based RNG, a pure function of
// (seed, epoch), so every rank and every resumed run draws the same permutation.
inline std::vector<index_t> epoch_permutation(index_t count, std::uint64_t seed, std::uint64_t epoch) {
  std::vector<index_t> order(static_cast<std::size_t>(count));
  for (index_t i = 0; i < count; ++i) order[std::size_t(i)] = i;
  const Rng rng{seed, 0x5eed0000 + epoch};
  for (index_t i = count - 1; i > 0; --i)
    std::swap(order[std::size_t(i)], order[std::size_t(rng.uniform(std::uint64_t(i)) * double(i + 1))]);
  return order;
}

}  // namespace ibq
