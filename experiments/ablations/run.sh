#!/usr/bin/env bash
# Runs ablation sweeps, locally one entry after another or as SLURM job arrays, then tabulates them.
#
#   experiments/ablations/run.sh experiments/ablations/codebook.sweep [more.sweep ...]
#   experiments/ablations/run.sh --slurm codebook.sweep ar.sweep -- --partition=gpu --time=01:00:00 %4
#
# Locally, each entry runs through entry.sh in file order; a finished entry is skipped, so an interrupted
# sweep is continued by running the same command again. Then tabulate.py writes experiments/results/.
# With --slurm, each sweep file becomes one job array (task i = entry i) submitted with the sbatch options
# after `--`; a bare %N there limits how many of its tasks run at once. Each sweep's array waits for the
# previous one (afterok), so an AR sweep can follow the tokenizer sweep it reads. Tabulate when they end:
#   python3 experiments/ablations/tabulate.py SWEEP_FILE...
#
# Before anything runs: the drivers are built if missing (hpc/build.sh), and the judge classifier whose
# features and softmax the scores use is trained if missing (experiments/fashion_mnist_classifier.ini).
# Environment: as entry.sh (IBQ_BIN, IBQ_ABLATION_DIR, IBQ_CLASSIFIER); IBQ_RESULTS (default experiments/results).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
export IBQ_ROOT=${IBQ_ROOT:-$root}
bin=${IBQ_BIN:-$root/build/bin}
out=${IBQ_ABLATION_DIR:-$root/runs/ablations}
export IBQ_ABLATION_DIR=$out IBQ_CLASSIFIER=${IBQ_CLASSIFIER:-$out/classifier.h5}

slurm=0 files=() sbatch_args=() limit=""
while [ $# -gt 0 ]; do
  case "$1" in
    --slurm) slurm=1 ;;
    --) shift; for a in "$@"; do case "$a" in %[0-9]*) limit=$a ;; *) sbatch_args+=("$a") ;; esac; done; break ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) [ -f "$1" ] || { echo "run.sh: no sweep file '$1' (they live in experiments/ablations/)" >&2; exit 2; }
       files+=("$(cd "$(dirname "$1")" && pwd)/$(basename "$1")") ;;
  esac
  shift
done
[ ${#files[@]} -gt 0 ] || { echo "run.sh: name at least one sweep file (see --help)" >&2; exit 2; }
for f in "${files[@]}"; do python3 "$here/sweep.py" names "$f" > /dev/null; done  # syntax errors first

if [ ! -x "$bin/ibq-eval" ]; then
  [ -z "${IBQ_BIN:-}" ] || { echo "run.sh: no drivers in IBQ_BIN='$bin'" >&2; exit 2; }
  bash "$root/hpc/build.sh" default
fi
export IBQ_BIN=$bin
if [ ! -f "$IBQ_CLASSIFIER" ]; then
  echo "[ablation] training the judge classifier into $IBQ_CLASSIFIER"
  mkdir -p "$(dirname "$IBQ_CLASSIFIER")"
  "$bin/ibq-train-classifier" --config "$root/experiments/fashion_mnist_classifier.ini" \
    --output.path="$IBQ_CLASSIFIER" > "$IBQ_CLASSIFIER.log" 2>&1 \
    || { echo "run.sh: training the classifier failed: $(tail -3 "$IBQ_CLASSIFIER.log")" >&2; exit 1; }
  tail -1 "$IBQ_CLASSIFIER.log"
fi

if [ "$slurm" = 1 ]; then
  dep=()
  for f in "${files[@]}"; do
    n=$(python3 "$here/sweep.py" names "$f" | wc -l)
    sweep=$(basename "$f" .sweep)
    mkdir -p "$out/$sweep"
    job=$(sbatch --parsable --job-name="ibq-$sweep" --array="0-$((n - 1))$limit" --requeue --signal=B:USR1@120 \
      --output="$out/$sweep/slurm-%A_%a.out" --chdir="$root" "${dep[@]}" "${sbatch_args[@]}" \
      "$here/entry.sh" "$f")
    echo "[ablation] $sweep: job array $job ($n entries)"
    dep=(--dependency="afterok:${job%%;*}")
  done
  exit 0
fi

for f in "${files[@]}"; do
  mapfile -t names < <(python3 "$here/sweep.py" names "$f")
  for name in "${names[@]}"; do bash "$here/entry.sh" "$f" "$name" < /dev/null; done
done
python3 "$here/tabulate.py" "${files[@]}"
