#!/usr/bin/env bash
# One entry of an ablation sweep: train, then evaluate (and, for an AR entry, tokenize and sample between).
#
#   experiments/ablations/entry.sh SWEEP_FILE NAME
#   sbatch --array=0-N ... experiments/ablations/entry.sh SWEEP_FILE     # NAME: the array task's entry
#
# Outputs go to $IBQ_ABLATION_DIR/<sweep>/<NAME> (default runs/ablations): run/ (checkpoints), STAGE.log,
# a `trained` marker, eval.json and eval.md. A stage whose output exists is skipped, so running an entry
# again continues it (training resumes from its newest checkpoint) and a finished entry costs nothing.
# Under SLURM, training runs as a job step (hpc/slurm/common.sh): a time-limit warning or a preemption
# ends it in a checkpoint and a requeue, and the requeued task carries on from there.
#
# Environment: IBQ_ROOT (the checkout), IBQ_BIN (the drivers), IBQ_ABLATION_DIR, IBQ_CLASSIFIER (the judge's
# checkpoint; default $IBQ_ABLATION_DIR/classifier.h5, which run.sh trains when it is missing).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# sbatch runs a copy of this script from the spool: find the checkout through IBQ_ROOT or the submit dir.
[ -f "$here/sweep.py" ] || here=${IBQ_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}/experiments/ablations
root=${IBQ_ROOT:-$(cd "$here/../.." && pwd)}
bin=${IBQ_BIN:-$root/build/bin}
out=${IBQ_ABLATION_DIR:-$root/runs/ablations}
clf=${IBQ_CLASSIFIER:-$out/classifier.h5}
sweep_py() { python3 "$here/sweep.py" "$@"; }

file=${1:?usage: entry.sh SWEEP_FILE [NAME]}
if [ $# -ge 2 ]; then
  name=$2
else
  [ -n "${SLURM_ARRAY_TASK_ID:-}" ] || { echo "entry.sh: no NAME and not in a SLURM job array" >&2; exit 2; }
  mapfile -t names < <(sweep_py names "$file")
  name=${names[$SLURM_ARRAY_TASK_ID]:?array task $SLURM_ARRAY_TASK_ID is past the last entry of $file}
fi
sweep=$(basename "$file" .sweep)
kind=$(sweep_py kind "$file" "$name")
dir=$out/$sweep/$name
mkdir -p "$dir"
cd "$root"

say() { echo "[ablation $(date +%H:%M:%S)] $sweep/$name: $*"; }
fail() { echo "[ablation] $sweep/$name: $*" >&2; exit 1; }
stage_args() { mapfile -t "$1" < <(sweep_py args "$file" "$name" "$2"); }
newest() { ls "$1"/ckpt-*.h5 2>/dev/null | tail -1; }
# run STAGE DRIVER ARGS...: the driver with its output appended to STAGE.log; a failure quotes its end.
run() {
  local stage=$1 exe=$bin/$2
  shift 2
  [ -x "$exe" ] || fail "no driver '$exe': build ibq first (bash hpc/build.sh) or set IBQ_BIN"
  say "$stage: $(basename "$exe") $*"
  echo "# $(date -u +%FT%TZ) $(basename "$exe") $*" >> "$dir/$stage.log"
  "$exe" "$@" >> "$dir/$stage.log" 2>&1 || fail "$stage failed (status $?): $(grep -v '^# ' "$dir/$stage.log" | tail -2 | tr '\n' ' ')"
}
# train DRIVER ARGS...: as run, but as a job step under SLURM (checkpoint and requeue on a warning signal).
train() {
  if [ -n "${SLURM_JOB_ID:-}" ]; then
    # shellcheck source=../../hpc/slurm/common.sh
    IBQ_ROOT=$root IBQ_BIN=$bin source "$root/hpc/slurm/common.sh"
    echo "# $(date -u +%FT%TZ) srun $1 ${*:2}" >> "$dir/train.log"
    ibq_step "$@" >> "$dir/train.log" 2>&1 || fail "train failed: $(grep -v '^# ' "$dir/train.log" | tail -2 | tr '\n' ' ')"
  else
    run train "$@"
  fi
}

[ -f "$clf" ] || fail "no judge classifier at '$clf': run experiments/ablations/run.sh (it trains one) or set IBQ_CLASSIFIER"
stage_args targs train
stage_args eargs eval

if [ "$kind" = tokenizer ]; then
  if [ ! -f "$dir/trained" ]; then
    train ibq-train-tokenizer "${targs[@]}" --output.dir="$dir/run" --train.resume=auto
    touch "$dir/trained"
  fi
  if [ ! -f "$dir/eval.json" ]; then
    ckpt=$(newest "$dir/run")
    [ -n "$ckpt" ] || fail "no checkpoint in $dir/run"
    run eval ibq-eval --eval.mode=tokenizer --input.checkpoint="$ckpt" --eval.classifier="$clf" "${eargs[@]}" \
      --output.json="$dir/eval.json.part" --output.markdown="$dir/eval.md" --output.overwrite=true
    mv "$dir/eval.json.part" "$dir/eval.json"
  fi
else
  src=$(sweep_py get "$file" "$name" tokenizer)
  [ -n "$src" ] || fail "an ar entry needs tokenizer=SWEEP/NAME (the tokenizer entry whose tokens it models)"
  tok_ckpt=$(newest "$out/$src/run")
  [ -n "$tok_ckpt" ] && [ -f "$out/$src/trained" ] || fail "tokenizer entry '$src' has not been trained: run its sweep first"
  tokens=$out/tokens/${src//\//_}.h5
  mkdir -p "$out/tokens"
  stage_args kargs tokenize
  (  # one tokenization per tokenizer, whichever array task comes first
    flock 9
    if [ ! -f "$tokens" ]; then
      run tokenize ibq-tokenize --input.checkpoint="$tok_ckpt" --data.split=train "${kargs[@]}" \
        --output.path="$tokens.part.h5" --output.overwrite=true
      mv "$tokens.part.h5" "$tokens"
    fi
  ) 9> "$tokens.lock"
  if [ ! -f "$dir/trained" ]; then
    train ibq-train-ar "${targs[@]}" --data.tokens="$tokens" --output.dir="$dir/run" --train.resume=auto
    touch "$dir/trained"
  fi
  if [ ! -f "$dir/samples.npz" ]; then
    stage_args sargs sample
    run sample ibq-sample --input.checkpoint="$(newest "$dir/run")" --input.tokenizer="$tok_ckpt" "${sargs[@]}" \
      --output.npz="$dir/samples.part.npz" --output.png="$dir/samples.png" --output.overwrite=true
    mv "$dir/samples.part.npz" "$dir/samples.npz"
  fi
  if [ ! -f "$dir/eval.json" ]; then
    run eval ibq-eval --eval.mode=samples --input.samples="$dir/samples.npz" --eval.classifier="$clf" "${eargs[@]}" \
      --output.json="$dir/eval.json.part" --output.markdown="$dir/eval.md" --output.overwrite=true
    mv "$dir/eval.json.part" "$dir/eval.json"
  fi
fi
say "done: $(tail -1 "$dir/eval.md")"
