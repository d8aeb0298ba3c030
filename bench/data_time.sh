#!/usr/bin/env bash
# How long a tokenizer step waits for its images, with the background reader (data.read_ahead = true, the
# default) and without it, on streamed shards (data.preload = false: every batch is read, inflated, cropped
# and normalised from the HDF5 files while training):
#   - the quick start (experiments/quickstart.ini) on Fashion-MNIST shards (60,000 32x32 images);
#   - the 64x64 colour configuration (experiments/photos_ibq_16384.ini) on the photo patches
#     (hpc/make_photo_patches.sh), when data/photos exists.
#
#   bench/data_time.sh [STEPS] [PHOTO_STEPS]   # default 300 and 100 steps a run; the first log window
#                                              # (25 steps, the warm-up) is left out
#
# Prints, per configuration and reader: median data_ms and compute_ms per step over the log windows, and
# data time as a share of the step. Threads: OMP_NUM_THREADS or every core.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
steps=${1:-300} photo_steps=${2:-100}
bin=$here/build/bin
out=$here/runs/bench-data
mkdir -p "$out"
unset OPENBLAS_CORETYPE
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
[ -x "$bin/make_fmnist_shards" ] || { echo "data_time.sh: build the suite first (hpc/build.sh)" >&2; exit 2; }
[ -f "$out/fmnist-00005.h5" ] || "$bin/make_fmnist_shards" "$out/fmnist" 60000 10000

# run NAME STEPS ARGS...: trains STEPS steps, logging every 25; prints the medians of the windows after the first.
run() {
  local name=$1 n=$2; shift 2
  "$bin/ibq-train-tokenizer" --train.steps="$n" "$@" --train.time_limit=0 --log.every=25 --train.resume=never \
    --output.overwrite=true --output.checkpoint_every=100000 --output.dir="$out/$name" > "$out/$name.log" 2>&1 ||
    { echo "data_time.sh: $name failed: $(tail -3 "$out/$name.log")" >&2; exit 1; }
  python3 - "$out/$name.log" "$name" <<'PY'
import re, statistics, sys
rows = [l for l in open(sys.argv[1]) if l.startswith("step ")][1:]  # the first window warms up
data = statistics.median(float(re.search(r" data_ms (\S+)", l).group(1)) for l in rows)
comp = statistics.median(float(re.search(r" compute_ms (\S+)", l).group(1)) for l in rows)
print("%-30s data_ms %8.3f  compute_ms %7.1f  data share %6.3f%%" % (sys.argv[2], data, comp, 100 * data / (data + comp)))
PY
}

echo "data_time.sh: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $OMP_NUM_THREADS threads"\
  "($(nproc) cores), $steps steps a run ($photo_steps for the photos)"
fm=(--config "$here/experiments/quickstart.ini" --data.source=shards --data.preload=false
    --data.train="$out/fmnist")
run quickstart-shards-read-ahead "$steps" "${fm[@]}" --data.read_ahead=true
run quickstart-shards-inline "$steps" "${fm[@]}" --data.read_ahead=false
if [ -f "$here/data/photos/train-256.h5" ]; then
  ph=(--config "$here/experiments/photos_ibq_16384.ini" --data.preload=false
      --data.train="$here/data/photos/train-256.h5,$here/data/photos/train-512.h5")
  run photos64-read-ahead "$photo_steps" "${ph[@]}" --data.read_ahead=true
  run photos64-inline "$photo_steps" "${ph[@]}" --data.read_ahead=false
else
  echo "data_time.sh: no data/photos (make it with hpc/make_photo_patches.sh): 64x64 configuration skipped"
fi
