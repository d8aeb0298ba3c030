// The one Catch2 main for every test executable: Kokkos lives for the whole session, so no View can
// outlive Kokkos::finalize (tests create their Views inside TEST_CASEs).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <Kokkos_Core.hpp>
#include <cstdlib>

#include "ibq/core/host_memory.hpp"
#include "ibq/core/process_env.hpp"

int main(int argc, char** argv) {
  // Unit tests share 2 cores with other test processes: don't pin threads. Setting this also keeps
  // Kokkos's start-up advice off stdout, where ctest's test discovery would read it as test names.
  setenv("OMP_PROC_BIND", "false", /*overwrite=*/0);
  // OpenBLAS's kernel and a short OpenMP spin (idle threads soon sleep, so test processes sharing 2 cores
  // don't steal each other's core): set before the libraries read them, by re-executing once.
  ibq::settle_process_environment(argv);
  ibq::keep_host_memory_warm();
  Kokkos::ScopeGuard kokkos(argc, argv);
  return Catch::Session().run(argc, argv);
}
