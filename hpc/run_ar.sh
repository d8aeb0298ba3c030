#!/usr/bin/env bash
# Quick start, second stage: class-conditional generation on the quick start's tokens. Needs the quick
# start's tokenizer (runs/quickstart, from hpc/run.sh: run first if missing). Then:
#   1. ibq-tokenize encodes the 60,000 training images into 8x8 grids of codes (runs/tokens/fmnist-train.h5);
#   2. ibq-train-classifier trains the order-1 classifier that judges the samples (if not there yet);
#   3. ibq-train-ar trains experiments/fashion_mnist_ar.ini (one epoch of a 1.5 M-parameter model);
#   4. ibq-sample draws 50 images of every class without and with classifier-free guidance (cfg 3):
#      PNG grids (one row per class) and ADM-layout .npz files in runs/fmnist-ar, and the share of samples
#      the classifier assigns to their requested class.
#
#   hpc/run_ar.sh [--section.key=value ...]     # overrides go to ibq-train-ar
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
if ! ls runs/quickstart/ckpt-*.h5 > /dev/null 2>&1; then
  echo "[run_ar] no quick-start tokenizer in runs/quickstart: running hpc/run.sh first"
  bash hpc/run.sh
fi
bash hpc/build.sh default
unset OPENBLAS_CORETYPE
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
tok_ckpt=$(ls runs/quickstart/ckpt-*.h5 | tail -1)
mkdir -p runs/tokens
build/bin/ibq-tokenize --input.checkpoint="$tok_ckpt" --data.split=train --output.path=runs/tokens/fmnist-train.h5 \
  --output.overwrite=true
clf=runs/fashion_mnist_classifier.h5
[ -f "$clf" ] || build/bin/ibq-train-classifier --config experiments/fashion_mnist_classifier.ini --output.path="$clf"
run=runs/fmnist-ar
build/bin/ibq-train-ar --config experiments/fashion_mnist_ar.ini --output.dir="$run" --train.resume=never \
  --output.overwrite=true "$@"
ckpt=$(ls "$run"/ckpt-*.h5 | tail -1)
for cfg in 1 3; do
  build/bin/ibq-sample --input.checkpoint="$ckpt" --sample.per_class=50 --sample.cfg=$cfg --eval.classifier="$clf" \
    --output.png="$run/samples_cfg$cfg.png" --output.npz="$run/samples_cfg$cfg.npz" --output.overwrite=true
done
