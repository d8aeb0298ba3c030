#!/usr/bin/env bash
# Quick start, part 1: set up, build, and run the main job on its built-in default: train the small IBQ
# tokenizer of experiments/quickstart.ini on Fashion-MNIST (CPU, under 10 minutes on 2 cores), then
# reconstruct the 10,000 test images (PSNR, SSIM, codebook utilisation, PNG grid).
#
#   hpc/run.sh [--section.key=value ...]     # overrides go to ibq-train-tokenizer
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$here/hpc/build.sh" default
cd "$here"
# Threads: every core (idle threads sleep, see drivers/common/runtime.hpp); OpenBLAS's autodetected kernel
# (OPENBLAS_CORETYPE would override it and halve GEMM speed on these CPUs, see the README).
unset OPENBLAS_CORETYPE
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
run=runs/quickstart
# A fresh run each time (train.resume=never + overwrite); resume an interrupted one with
# build/bin/ibq-train-tokenizer --config experiments/quickstart.ini (train.resume = auto).
build/bin/ibq-train-tokenizer --config experiments/quickstart.ini --output.dir="$run" --train.resume=never \
  --output.overwrite=true "$@"
ckpt=$(ls "$run"/ckpt-*.h5 | tail -1)
build/bin/ibq-reconstruct --input.checkpoint="$ckpt" --output.grid="$run/reconstructions.png" \
  --output.json="$run/reconstruct.json"
