#!/usr/bin/env bash
# The paper's Fig. 2 on colour photographs: IBQ and VQ at K = 16384, D = 256 and D = 32, trained on the
# 64x64 photo patches (hpc/make_photo_patches.sh) with experiments/photos_ibq_16384.ini, and every checkpoint
# scored on the 2,100 test patches (7 photographs no run trains on): utilisation, perplexity, PSNR.
#
#   experiments/photos/run.sh [NAME ...]     # NAME: ibq_d256, vq_d256, ibq_d32, vq_d32 (default: all four)
#   experiments/photos/run.sh ibq_d32 & experiments/photos/run.sh vq_d32 &    # two at once, one thread each
#   experiments/photos/run.sh --diagnose ibq_d32    # then: how many codes can the data show (usage_diagnostics.py)
#
# Each run writes $IBQ_PHOTOS_DIR (default runs/photos)/NAME/: checkpoints every 250 steps (all kept),
# train.log, and eval/step-NNNNNNNN.json (ibq-reconstruct, EMA weights) for each checkpoint. Training
# resumes from the newest checkpoint and a scored checkpoint is not scored again, so an interrupted run
# is continued by running the same command. Then experiments/photos/tabulate.py writes the tables and plots.
# --diagnose: also tokenize both splits with the newest checkpoint (NAME/tokens-{train,test}.h5) and write
# NAME/usage.md: distinct codes against the number of patches and photographs seen.
# Environment: IBQ_THREADS (threads per run, default 1), IBQ_BIN, IBQ_PHOTOS_DIR; extra trainer options
# after `--` apply to every NAME given (with IBQ_PHOTOS_DIR naming a new folder: -- --train.steps=6000).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${IBQ_BIN:-$root/build/bin}
out=${IBQ_PHOTOS_DIR:-$root/runs/photos}
threads=${IBQ_THREADS:-1}
config=$root/experiments/photos_ibq_16384.ini

names=() extra=() diagnose=0
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; extra=("$@"); break ;;
    --diagnose) diagnose=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) names+=("$1") ;;
  esac
  shift
done
[ ${#names[@]} -gt 0 ] || names=(ibq_d256 vq_d256 ibq_d32 vq_d32)
for n in "${names[@]}"; do
  [[ $n =~ ^(ibq|vq)_d([0-9]+)$ ]] || { echo "run.sh: run '$n' is not QUANTIZER_dD (e.g. ibq_d32)" >&2; exit 2; }
done

cd "$root"
[ -x "$bin/ibq-train-tokenizer" ] || bash hpc/build.sh default
[ -f data/photos/train-256.h5 ] || bash hpc/make_photo_patches.sh data/photos

for n in "${names[@]}"; do
  [[ $n =~ ^(ibq|vq)_d([0-9]+)$ ]]
  q=${BASH_REMATCH[1]} d=${BASH_REMATCH[2]} dir=$out/$n
  mkdir -p "$dir/eval"
  echo "[photos $(date +%H:%M:%S)] $n: training (resumes from its newest checkpoint)"
  OMP_NUM_THREADS=$threads "$bin/ibq-train-tokenizer" --config="$config" --model.quantizer="$q" \
    --model.embed_dim="$d" --output.dir="$dir" --output.checkpoint_every=250 --output.keep=1000 \
    --train.resume=auto --runtime.threads="$threads" "${extra[@]}" >> "$dir/train.log" 2>&1 \
    || { echo "run.sh: training $n failed: $(tail -n 3 "$dir/train.log")" >&2; exit 1; }
  for ckpt in "$dir"/ckpt-*.h5; do
    step=$(basename "$ckpt" .h5); step=${step#ckpt-}
    json=$dir/eval/step-$step.json
    [ -f "$json" ] && continue
    echo "[photos $(date +%H:%M:%S)] $n: scoring step $((10#$step)) on the test patches"
    OMP_NUM_THREADS=$threads "$bin/ibq-reconstruct" --input.checkpoint="$ckpt" --runtime.threads="$threads" \
      --output.json="$json.part" >> "$dir/eval.log" 2>&1 \
      || { echo "run.sh: scoring $ckpt failed: $(tail -n 3 "$dir/eval.log")" >&2; exit 1; }
    mv "$json.part" "$json"
  done
  if [ "$diagnose" = 1 ]; then
    ckpt=$(ls "$dir"/ckpt-*.h5 | tail -n 1)
    for split in train test; do
      echo "[photos $(date +%H:%M:%S)] $n: tokenizing the $split patches with $(basename "$ckpt")"
      OMP_NUM_THREADS=$threads "$bin/ibq-tokenize" --input.checkpoint="$ckpt" --data.split=$split \
        --runtime.threads="$threads" --output.path="$dir/tokens-$split.h5" --output.overwrite=true \
        >> "$dir/eval.log" 2>&1 || { echo "run.sh: tokenizing $n failed: $(tail -n 3 "$dir/eval.log")" >&2; exit 1; }
    done
    /usr/bin/python3 "$here/usage_diagnostics.py" "$n" "$dir/tokens-train.h5" "$dir/tokens-test.h5" 16384 \
      > "$dir/usage.md"
    cat "$dir/usage.md"
  fi
done
echo "[photos] done; tables and plots: python3 experiments/photos/tabulate.py"
