// The Catch2 main of the MPI tests (run by ctest under mpirun at 1, 2 and 4 ranks): MPI first, Kokkos
// inside it, both down in reverse order. Each rank runs the same cases; collectives keep them in step.
// It prints "test_mpi: rank r of N" from every rank, and fails unless N is IBQ_EXPECT_RANKS, so a test
// cannot pass on fewer ranks than it claims (mpirun as root exits 0 without starting anything).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <Kokkos_Core.hpp>
#include <cstdio>
#include <cstdlib>

#include "ibq/core/process_env.hpp"
#include "ibq/dist/communicator.hpp"

int main(int argc, char** argv) {
  setenv("OMP_PROC_BIND", "false", /*overwrite=*/0);
  ibq::settle_process_environment(argv);
  ibq::dist::MpiSession mpi(argc, argv);
  const auto comm = ibq::dist::Communicator::world();
  std::printf("test_mpi: rank %d of %d\n", comm.rank(), comm.size());
  std::fflush(stdout);
  if (const char* want = std::getenv("IBQ_EXPECT_RANKS"); want && std::atoi(want) != comm.size()) {
    std::fprintf(stderr, "test_mpi: expected %s ranks, running on %d\n", want, comm.size());
    return 1;
  }
  int status = 0;
  {
    Kokkos::ScopeGuard kokkos(argc, argv);
    status = Catch::Session().run(argc, argv);
  }
  // Every rank's verdict: one failing rank fails the run on all.
  return comm.all(status == 0) ? 0 : 1;
}
