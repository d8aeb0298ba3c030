// The one Catch2 main for every test executable: Kokkos lives for the whole session, so no View can
// outlive Kokkos::finalize (tests create their Views inside TEST_CASEs).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <Kokkos_Core.hpp>
#include <cstdlib>

#include "ibq/core/host_memory.hpp"

int main(int argc, char** argv) {
  // Unit tests share 2 cores with other test processes: don't pin threads. Setting this also keeps
  // Kokkos's start-up advice off stdout, where ctest's test discovery would read it as test names.
  setenv("OMP_PROC_BIND", "false", /*overwrite=*/0);
  // Idle OpenMP threads sleep instead of spinning: on a loaded 2-core machine a spinning thread steals the
  // core from the one doing the work (measured: 3x slower training steps with the default policy).
  setenv("OMP_WAIT_POLICY", "passive", 0);
  ibq::keep_host_memory_warm();
  Kokkos::ScopeGuard kokkos(argc, argv);
  return Catch::Session().run(argc, argv);
}
