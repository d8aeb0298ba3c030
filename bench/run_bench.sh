#!/bin/bash
# Runs a benchmark reproducibly: N OpenMP threads, one per core (spread), OpenBLAS's own CPU detection.
#
#   bench/run_bench.sh [THREADS] [BENCH] [extra bench args]   # default: 2 threads, bench_gemm_conv with its peer
#   bench/run_bench.sh 2 ibq_quantizer --k 1024,16384           # any binary of bench/ (they run their peers)
#   bench/run_bench.sh 2 inception --batch 50                  # FID Inception features against pytorch-fid's network
#   BUILD=build/h-mine bench/run_bench.sh 2 bench_gemm_conv --quick
#   IBQ_BENCH_MALLOC=default bench/run_bench.sh 2        # glibc's default malloc (see below)
#
# OPENBLAS_CORETYPE is unset on purpose: some environments export Haswell, which halves OpenBLAS (and
# PyTorch, which uses the same BLAS) on AVX-512 machines. The bench prints what it saw.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${BUILD:-$here/../build}"
threads="${1:-2}"
shift || true
name=bench_gemm_conv
if [[ $# -gt 0 && "$1" != -* ]]; then name=$1; shift; fi
bin="$build/bin/$name"
if [[ ! -x "$bin" ]]; then
  echo "run_bench.sh: $bin not found; configure with -DIBQ_BUILD_BENCH=ON and build the $name target" >&2
  exit 1
fi
if [[ -n "${OPENBLAS_CORETYPE:-}" ]]; then
  echo "run_bench.sh: unsetting OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (OpenBLAS autodetects the CPU instead)"
else
  echo "run_bench.sh: OPENBLAS_CORETYPE is not set (OpenBLAS autodetects the CPU)"
fi
unset OPENBLAS_CORETYPE
# Fresh large allocations are page-faulted in on first touch, which is slow in VMs (~10 us a page here);
# glibc returns freed blocks above 128 KiB (mmap) and a large heap top (trim) to the kernel. The drivers keep
# host memory warm (ibq::keep_host_memory_warm: no mmap, no trim); these are the same settings as glibc
# environment variables, so the torch peer gets them too. IBQ_BENCH_MALLOC=default measures plain glibc.
if [[ "${IBQ_BENCH_MALLOC:-warm}" == warm ]]; then
  export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=18446744073709551615
  echo "run_bench.sh: host memory kept warm for ibq and torch (MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_=max)"
else
  echo "run_bench.sh: glibc's default malloc (fresh large blocks are page-faulted in on every allocation)"
fi
# No pinning by default: measured on these 2-vCPU VMs, OMP_PROC_BIND=spread OMP_PLACES=threads halves the
# OpenBLAS sgemm rate (133 against 260 GFLOP/s for [1024, 256] x [256, 16384]). Export OMP_PROC_BIND to pin.
export OMP_NUM_THREADS="$threads" OMP_PROC_BIND=${OMP_PROC_BIND:-false} OMP_PLACES=${OMP_PLACES:-threads}
echo "run_bench.sh: OMP_NUM_THREADS=$OMP_NUM_THREADS OMP_PROC_BIND=$OMP_PROC_BIND OMP_PLACES=$OMP_PLACES"
if [[ $name == bench_gemm_conv ]]; then set -- --peer "$@"; fi
exec "$bin" "$@"
