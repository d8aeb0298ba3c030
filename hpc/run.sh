#!/usr/bin/env bash
# Quick start, part 1: set up, build, and run the main job on its built-in default.
# Today's main job trains the Fashion-MNIST classifier on the CPU (later: the IBQ tokenizer quickstart).
#
#   hpc/run.sh [--section.key=value ...]     # overrides go to the driver
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$here/hpc/build.sh" default
cd "$here"
# Threads: every core (idle threads sleep, see drivers/common/runtime.hpp); OpenBLAS's autodetected kernel (OPENBLAS_CORETYPE would override it and
# halve GEMM speed on these CPUs, see the README).
unset OPENBLAS_CORETYPE
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
exec build/bin/ibq-train-classifier --config experiments/fashion_mnist_classifier.ini --output.overwrite=true "$@"
