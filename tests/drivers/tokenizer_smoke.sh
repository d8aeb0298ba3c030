#!/usr/bin/env bash
# A short real run on Fashion-MNIST, then ibq-reconstruct on its checkpoint: the checkpoint has the
# documented layout and config, the losses fall, and reconstruct prints PSNR/SSIM/utilisation and a PNG.
set -eu
tok=$1 rec=$2 dir=$3 src=$4
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
"$tok" --config "$src/experiments/quickstart.ini" --data.train_limit=2048 --model.ch=16 --train.steps=60 \
  --train.batch_size=16 --train.time_limit=0 --log.every=20 --output.dir="$dir/run" --output.checkpoint_every=40 \
  > "$dir/log" 2>&1 || fail "training failed: $(cat "$dir/log")"
grep -q "^step 60/60" "$dir/log" || fail "no log line for step 60: $(cat "$dir/log")"
first=$(sed -n 's/^step 20\/60 .* l1 \([0-9.e-]*\) .*/\1/p' "$dir/log") last=$(sed -n 's/^step 60\/60 .* l1 \([0-9.e-]*\) .*/\1/p' "$dir/log")
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || fail "L1 did not fall: $first -> $last"
ls "$dir/run" | grep -q "ckpt-00000040.h5" || fail "no checkpoint at step 40"
ck=$dir/run/ckpt-00000060.h5
h5dump -a /kind "$ck" | grep -q '"tokenizer"' || fail "kind attribute"
h5dump -a /config "$ck" | grep -q "ch = 16" || fail "config does not record the override"
for d in "params/quantize.embedding.weight *Dataset {1024, 64}" "ema/encoder.conv_in.weight" "optim/m/decoder.conv_out.bias" \
         "rng/seed" "metrics/usage_window *Dataset {3}"; do
  h5ls -r "$ck" | grep -q "/$d" || fail "checkpoint lacks /$d: $(h5ls -r "$ck" | head)"
done
ls "$dir/run" | grep -q tmp && fail "temporary file left behind"
"$rec" --input.checkpoint="$ck" --data.limit=200 --output.grid="$dir/grid.png" --output.json="$dir/m.json" \
  > "$dir/rec.log" 2>&1 || fail "reconstruct failed: $(cat "$dir/rec.log")"
grep -q "images 200 (test, ema weights)  PSNR [0-9.]* dB  SSIM 0\.[0-9]*  utilisation 0\.[0-9]*" "$dir/rec.log" \
  || fail "reconstruct summary: $(cat "$dir/rec.log")"
head -c 8 "$dir/grid.png" | od -An -c | grep -q "P   N   G" || fail "grid is not a PNG"
grep -q '"psnr": [0-9]' "$dir/m.json" || fail "json: $(cat "$dir/m.json")"
# quant.fused selects the quantizer's implementation: the fused default and the plain reference path log
# the same first step (same weights, same batch) up to float rounding.
for impl in true false; do
  "$tok" --config "$src/experiments/quickstart.ini" --data.train_limit=256 --model.ch=16 --train.steps=1 \
    --train.time_limit=0 --log.every=1 --quant.fused=$impl --output.dir="$dir/fused_$impl" > "$dir/fused_$impl.log" 2>&1 \
    || fail "quant.fused=$impl failed: $(cat "$dir/fused_$impl.log")"
done
python3 - "$dir/fused_true.log" "$dir/fused_false.log" <<'PY' || fail "fused and plain first steps differ"
import sys
def step(path):
    line = next(l for l in open(path) if l.startswith("step 1/1 "))
    f = line.split(" img_per_s")[0].split()[2:]
    return dict(zip(f[::2], map(float, f[1::2])))
a, b = step(sys.argv[1]), step(sys.argv[2])
assert a.keys() == b.keys() and "quant" in a and "H_sample" in a, (a, b)
bad = {k: (a[k], b[k]) for k in a if abs(a[k] - b[k]) > 1e-4 * max(abs(b[k]), 1e-3)}
print("fused vs plain, step 1:", ", ".join("%s %.6g/%.6g" % (k, a[k], b[k]) for k in a))
sys.exit(1 if bad else 0)
PY
echo "train + reconstruct ok: L1 $first -> $last; $(grep PSNR "$dir/rec.log")"
