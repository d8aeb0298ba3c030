// The one Catch2 main for every test executable: Kokkos lives for the whole session, so no View can
// outlive Kokkos::finalize (tests create their Views inside TEST_CASEs).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <Kokkos_Core.hpp>

int main(int argc, char** argv) {
  Kokkos::ScopeGuard kokkos(argc, argv);
  return Catch::Session().run(argc, argv);
}
