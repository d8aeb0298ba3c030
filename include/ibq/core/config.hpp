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

}  // namespace ibq
