// ibq/core/config.hpp — the one place that names execution and memory spaces.
//
//   using T = ibq::Tensor<float>;                 // lives in ibq::DefaultSpace (CUDA if enabled, else host)
//   using H = ibq::Tensor<double, ibq::HostSpace>; // always on the host
//
// Every template in the library takes at most (scalar, memory space); the execution space is derived from
// the memory space so that a kernel always runs where its data lives.
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdint>

namespace ibq {

using index_t = std::int64_t;

using DefaultSpace = Kokkos::DefaultExecutionSpace::memory_space;
using HostSpace = Kokkos::HostSpace;

template <class Space>
using exec_space_t = typename Space::execution_space;

template <class Space>
using range_policy_t = Kokkos::RangePolicy<exec_space_t<Space>, Kokkos::IndexType<index_t>>;

template <class Space>
inline range_policy_t<Space> range(index_t n) {
  return range_policy_t<Space>(0, n);
}

// True when the memory space is directly readable from host code (Serial/OpenMP builds).
template <class Space>
inline constexpr bool host_accessible_v =
    Kokkos::SpaceAccessibility<Kokkos::HostSpace, Space>::accessible;

// f(o, e) for o in [0, outer), e in [0, inner): on the host a thread per o with e in a contiguous inner loop
// (no integer division per element, which costs more than the work of a fill or copy); on a device one
// thread per element of the flattened range.
template <class Space, class F>
void parallel_for_2d(const char* name, index_t outer, index_t inner, const F& f) {
  if constexpr (host_accessible_v<Space>) {
    Kokkos::parallel_for(name, range<Space>(outer), KOKKOS_LAMBDA(index_t o) {
      for (index_t e = 0; e < inner; ++e) f(o, e);
    });
  } else {
    Kokkos::parallel_for(name, range<Space>(outer * inner), KOKKOS_LAMBDA(index_t j) { f(j / inner, j % inner); });
  }
}

}  // namespace ibq
