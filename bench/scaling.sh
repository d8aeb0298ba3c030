#!/bin/bash
# Data-parallel scaling with the real driver: ibq-train-tokenizer on the quickstart config (Fashion-MNIST) at
# 1 rank x 1 thread, 2 ranks x 1 thread (a core each: the scaling figure), 1 rank x 2 threads (the same two
# cores used by threads instead), and 2 ranks at half the batch (the same global batch); then MPI_Allreduce
# against message size, one step of the reference tokenizer, and the projection to 64 and 512 ranks.
#
#   bench/scaling.sh [STEPS]          # default 100 steps a run; BUILD=build/other bench/scaling.sh
#   IBQ_SCALING_REFERENCE=0 bench/scaling.sh    # skip the reference-tokenizer step (several GiB, minutes)
#
# Throughput is the driver's own img_per_s (images over compute + communication time), median over its log
# windows after the first (warm-up); compute_ms and comm_ms are rank 0's split per step.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
build="${BUILD:-$root/build}"
steps="${1:-100}"
tok="$build/bin/ibq-train-tokenizer"
for b in "$tok" "$build/bin/bench_allreduce" "$build/bin/tokenizer_step"; do
  [[ -x $b ]] || { echo "scaling.sh: $b not found; build the default preset (bash hpc/build.sh default)" >&2; exit 1; }
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
unset OPENBLAS_CORETYPE
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_PROC_BIND=false
mpi=(mpirun --bind-to none --oversubscribe)

# name ranks threads batch
run() {
  echo "scaling.sh: $1: $2 rank(s) x $3 thread(s), batch $4 per rank, $steps steps" >&2
  "${mpi[@]}" -np "$2" -x OMP_NUM_THREADS="$3" -x OMP_PROC_BIND "$tok" --config "$root/experiments/quickstart.ini" \
    --train.steps="$steps" --train.warmup_steps=10 --train.batch_size="$4" --log.every=10 \
    --output.dir="$work/$1" --output.checkpoint_every=1000000 > "$work/$1.log" 2>&1 ||
    { echo "scaling.sh: the $1 run failed:" >&2; tail -5 "$work/$1.log" >&2; exit 1; }
  python3 - "$1" "$2" "$3" "$4" "$work/$1.log" <<'PY'
import json, re, statistics, sys
name, ranks, threads, batch, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rows = [l for l in open(log) if l.startswith("step ")][1:]  # the first window holds the warm-up
def col(key):
    return [float(re.search(r" %s ([0-9.e+-]+)" % key, l).group(1)) for l in rows if " %s " % key in l]
ips = statistics.median(col("img_per_s"))
comp = statistics.median(col("compute_ms")) if ranks > 1 else 1e3 * batch / ips
comm = statistics.median(col("comm_ms")) if ranks > 1 else 0.0
params = int(re.search(r", (\d+) parameters", open(log).read()).group(1))
print(json.dumps({"name": name, "ranks": ranks, "threads": threads, "batch": batch, "img_per_s": ips,
                  "compute_ms": comp, "comm_ms": comm, "params": params}))
PY
}
{
  run one-core 1 1 16
  run two-ranks 2 1 16
  run two-threads 1 2 16
  run two-ranks-half-batch 2 1 8
} > "$work/runs.jsonl"

echo "scaling.sh: MPI_Allreduce at 2 ranks" >&2
"${mpi[@]}" -np 2 -x OMP_NUM_THREADS=1 "$build/bin/bench_allreduce" > "$work/allreduce.jsonl"

ref_s=null
if [[ "${IBQ_SCALING_REFERENCE:-1}" != 0 ]]; then
  echo "scaling.sh: one step of the reference tokenizer (256x256 RGB, ch 128, K = 16384) at batch 1, 2 threads" >&2
  OMP_NUM_THREADS=2 "$build/bin/tokenizer_step" --child --reps 1 --ch 128 --mult 1,1,2,2,4 --blocks 4 --attn 16 \
    --res 256 --in 3 --z 256 --d 256 --k 16384 --batch 1 --groups 32 > "$work/reference.json" 2>/dev/null
  ref_s=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])['seconds'])" "$work/reference.json")
fi
python3 - "$work/runs.jsonl" "$ref_s" > "$work/runs.json" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
ref = None if sys.argv[2] == "null" else float(sys.argv[2])
print(json.dumps({"runs": runs, "params": runs[0]["params"], "reference_step_s": ref, "reference_batch": 1}))
PY
grep -h "Kokkos\|BLAS" "$work/one-core.log" | head -2 >&2 || true
python3 "$here/scaling_report.py" "$work/runs.json" "$work/allreduce.jsonl"
