#!/usr/bin/env bash
# The C++ trainer against an independent PyTorch run of the same recipe (tests/reference/train_reference.py):
# the same short IBQ/VQ runs on both sides, several seeds each, then the test metrics side by side.
#
#   experiments/crosscheck/run.sh [ENTRY ...]        # ENTRY: QUANTIZER_kK_dD_sSEED, e.g. ibq_k1024_d32_s2
#
# With no ENTRY: IBQ at K = 1024 and 4096, D = 32, seeds 1-3. Every entry is the quick-start autoencoder
# (experiments/quickstart.ini, Fashion-MNIST 32x32, 8x8 tokens) trained for 300 steps of 16 images with 30
# warm-up steps, as the codebook ablation (experiments/ablations/codebook.sweep), on one thread, and
# evaluated with EMA weights on the first 2000 test images: ibq-reconstruct on the C++ side, the script's
# own evaluation (the same rounding and metrics) on the PyTorch side.
# Outputs: $IBQ_CROSSCHECK_DIR (default runs/crosscheck)/{cpp,torch}/ENTRY.json; an entry whose JSON exists is
# skipped. Then tabulate.py writes experiments/results/crosscheck.md.
# Needs PyTorch under /usr/bin/python3 (hpc/setup.sh --with-torch) and the drivers (hpc/build.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${IBQ_BIN:-$root/build/bin}
out=${IBQ_CROSSCHECK_DIR:-$root/runs/crosscheck}
steps=300 warmup=30 limit=2000

entries=("$@")
if [ ${#entries[@]} -eq 0 ]; then
  for k in 1024 4096; do for s in 1 2 3; do entries+=("ibq_k${k}_d32_s$s"); done; done
fi
[ -x "$bin/ibq-train-tokenizer" ] || bash "$root/hpc/build.sh" default
/usr/bin/python3 -c 'import torch' 2> /dev/null \
  || { echo "run.sh: PyTorch is missing under /usr/bin/python3: run hpc/setup.sh --with-torch" >&2; exit 2; }
mkdir -p "$out/cpp" "$out/torch" "$out/logs"
cd "$root"

for e in "${entries[@]}"; do
  [[ $e =~ ^(ibq|vq)_k([0-9]+)_d([0-9]+)_s([0-9]+)$ ]] \
    || { echo "run.sh: entry '$e' is not QUANTIZER_kK_dD_sSEED (e.g. ibq_k1024_d32_s1)" >&2; exit 2; }
  q=${BASH_REMATCH[1]} k=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]} s=${BASH_REMATCH[4]}
  if [ ! -f "$out/cpp/$e.json" ]; then
    echo "[crosscheck $(date +%H:%M:%S)] C++ $e"
    run=$out/cpp/$e.run
    "$bin/ibq-train-tokenizer" --config=experiments/quickstart.ini --model.quantizer="$q" \
      --model.codebook_size="$k" --model.embed_dim="$d" --train.seed="$s" --train.steps=$steps \
      --train.warmup_steps=$warmup --train.time_limit=0 --log.every=25 --runtime.threads=1 \
      --output.dir="$run" --output.checkpoint_every=$steps --output.keep=1 --output.overwrite=true \
      > "$out/logs/cpp_$e.train.log" 2>&1
    "$bin/ibq-reconstruct" --input.checkpoint="$(ls "$run"/ckpt-*.h5 | tail -n 1)" --data.limit=$limit \
      --runtime.threads=1 --output.json="$out/cpp/$e.json.part" > "$out/logs/cpp_$e.eval.log" 2>&1
    mv "$out/cpp/$e.json.part" "$out/cpp/$e.json"
    rm -rf "$run"
  fi
  if [ ! -f "$out/torch/$e.json" ]; then
    echo "[crosscheck $(date +%H:%M:%S)] PyTorch $e"
    /usr/bin/python3 tests/reference/train_reference.py --quantizer "$q" --K "$k" --D "$d" --seed "$s" \
      --steps $steps --warmup $warmup --test-limit $limit --threads 1 --json "$out/torch/$e.json.part" \
      > "$out/logs/torch_$e.log" 2>&1
    mv "$out/torch/$e.json.part" "$out/torch/$e.json"
  fi
done
python3 "$here/tabulate.py" "$out"
