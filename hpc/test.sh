#!/usr/bin/env bash
# Quick start, part 2: set up, build, and run the whole test suite.
#
#   hpc/test.sh            # the suite on the OpenMP build (what the README and CI run)
#   hpc/test.sh asan       # the unit tests under AddressSanitizer + UBSan
#   hpc/test.sh cuda       # compile the library and the whole suite for CUDA (no GPU needed; nothing runs;
#                          # preset cuda-check: the cuda preset with host code at -O1)
#   hpc/test.sh serial     # the unit tests on Debian's Serial-only Kokkos
#   hpc/test.sh serial-asan  # both at once, in one build
#   IBQ_SETUP_ARGS="--kokkos4-src DIR|TARBALL" hpc/test.sh kokkos4-asan
#                          # the unit tests under the sanitizers on Kokkos 4.x (what CI runs with 4.6.01)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
preset=${1:-default}
# The suite starts a real single-node SLURM cluster: install SLURM and munge too (seconds from Debian).
# If SLURM cannot be installed, the build still goes on and that test reports itself skipped, with the reason.
# PyTorch (Debian's 1.13, CPU) makes the reference models the SEED-Voken import and Inception tests compare
# against, at test time; without it those tests fail and say so.
if [ "$preset" = default ]; then
  bash "$here/hpc/setup.sh" --with-slurm --with-torch ||
    bash "$here/hpc/setup.sh" --with-slurm ||
    echo "[test] SLURM could not be installed: the SLURM cluster test will be skipped"
fi
# The CUDA compile-only check builds the cuda-check preset: the cuda preset's sources and device code, with
# the host code at -O1 (a third of the compile time; nothing runs here, so -O3 would buy nothing).
build_preset=$preset
[ "$preset" = cuda ] && build_preset=cuda-check
bash "$here/hpc/build.sh" "$build_preset"
cd "$here"
unset OPENBLAS_CORETYPE
# As root, OpenMPI's mpirun refuses to start and exits 0: allow it so MPI tests really run.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
case "$preset" in
  cuda) echo "[test] CUDA build compiled (library, drivers and the whole suite); no GPU here, nothing to run" ;;
  asan|serial-asan|kokkos4-asan) ASAN_OPTIONS=detect_leaks=0 ctest --preset "$preset" -j 2 ;;
  *) ctest --preset "$preset" -j 2 ;;
esac
