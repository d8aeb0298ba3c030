#!/usr/bin/env bash
# Everything the GPU issue asks a GPU machine for, in one run, with every log kept:
#   1. the CUDA build for the GPU nvidia-smi reports (hpc/build_cuda.sh, tests and benchmarks included)
#   2. the whole suite on the CUDA backend (ctest)
#   3. the quick start trained and evaluated on the GPU
#   4. bench/ibq_quantizer at K = 16384 and 262144 and bench/tokenizer_step, each against PyTorch eager
#      on the same GPU in the same invocation (PyTorch 2.x with CUDA must be importable by python3)
#   5. with nsys on PATH: the device-to-host copies of the quick-start tokenizer steps, by the profiler
#
#   bash hpc/gpu_check.sh [--out DIR] [--kokkos-src DIR|TARBALL] [--only build,suite,quickstart,bench,nsys]
#   bash hpc/gpu_check.sh --dry-run      # print the commands, run nothing
#
# DIR (default $OUT if set, else runs/gpu-check) receives one log per stage and summary.txt with each
# stage's exit status and wall time. A failed stage does not stop the later ones; the exit status is
# non-zero if any stage failed.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUT:-$here/runs/gpu-check} src="" only="build,suite,quickstart,bench,nsys" dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift ;;
    --kokkos-src) src="$2"; shift ;;
    --only) only="$2"; shift ;;
    --dry-run) dry=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "hpc/gpu_check.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for s in ${only//,/ }; do
  case "$s" in
    build|suite|quickstart|bench|nsys) ;;
    *) echo "hpc/gpu_check.sh: --only $s: the stages are build, suite, quickstart, bench and nsys" >&2; exit 2 ;;
  esac
done
wanted() { [[ ",$only," == *",$1,"* ]]; }

cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .' || true)
if [ "$dry" = 0 ] && [ -z "$cap" ]; then
  echo "hpc/gpu_check.sh: nvidia-smi shows no GPU; run this on a GPU node (hpc/test.sh cuda compiles without one)" >&2
  exit 1
fi
preset=cuda; [ "$cap" = 80 ] && preset=cuda-sm80
bin="$here/build/$preset/bin"
summary="$out/summary.txt"
[ "$dry" = 1 ] || { mkdir -p "$out"; : > "$summary"; nvidia-smi > "$out/nvidia-smi.txt" 2>&1; }
failed=0

# stage NAME COMMAND...: runs it with its output in NAME.log, records status and seconds
stage() {
  local name=$1; shift
  wanted "$name" || return 0
  if [ "$dry" = 1 ]; then echo "[$name] $*"; return 0; fi
  echo "[gpu_check] $name: $*" | tee -a "$summary"
  local t0=$SECONDS rc=0
  (cd "$here" && "$@") > "$out/$name.log" 2>&1 || rc=$?
  echo "[gpu_check] $name: exit $rc after $((SECONDS - t0)) s (log: $out/$name.log)" | tee -a "$summary"
  [ "$rc" = 0 ] || failed=1
}

build_args=(); [ -n "$src" ] && build_args=(--kokkos-src "$src")
stage build bash hpc/build_cuda.sh ${cap:+--arch "$cap"} "${build_args[@]}"
stage suite ctest --test-dir "build/$preset" -j 4 --output-on-failure
stage quickstart bash -c "'$bin/ibq-train-tokenizer' --config experiments/quickstart.ini --output.dir=runs/quickstart-gpu \
  --train.resume=never --output.overwrite=true && '$bin/ibq-reconstruct' \
  --input.checkpoint=\$(ls runs/quickstart-gpu/ckpt-*.h5 | tail -1) --output.json=runs/quickstart-gpu/reconstruct.json"
stage bench bash -c "BUILD='build/$preset' bench/run_bench.sh $(nproc) ibq_quantizer --k 16384,262144 && \
  BUILD='build/$preset' bench/run_bench.sh $(nproc) tokenizer_step"
if command -v nsys > /dev/null || [ "$dry" = 1 ]; then
  stage nsys bash -c "nsys profile -t cuda -o '$out/tokenizer_step' --force-overwrite true \
    '$bin/tokenizer_step' --no-peer --reps 10 --preset quickstart && nsys stats -r cuda_gpu_mem_time_sum '$out/tokenizer_step.nsys-rep'"
elif wanted nsys; then
  echo "[gpu_check] nsys: not on PATH, skipped (the suite's host-read test still counts the copies)" | tee -a "$summary"
fi
[ "$dry" = 1 ] || echo "[gpu_check] $( [ "$failed" = 0 ] && echo "every stage passed" || echo "a stage failed" ); see $summary"
exit "$failed"
