#!/usr/bin/env bash
# Runs an MPI test executable on N ranks and checks that N ranks really ran and all passed.
#   run_mpi.sh N executable [catch args...]
set -u
n=$1; shift
out=$(IBQ_EXPECT_RANKS=$n OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 \
      mpirun --oversubscribe -np "$n" "$@" 2>&1)
rc=$?
echo "$out"
# Ranks' output interleaves, and a line from another rank (Kokkos' oversubscription warning has no
# newline) may precede a report on the same line, so count distinct reports wherever they stand.
ranks=$(echo "$out" | grep -o "test_mpi: rank [0-9]* of $n\b" | sort -u | wc -l)
[ "$rc" = 0 ] || { echo "FAIL: mpirun exited $rc"; exit 1; }
[ "$ranks" = "$n" ] || { echo "FAIL: $ranks of $n ranks reported in"; exit 1; }
echo "PASS: $n ranks ran and passed"
