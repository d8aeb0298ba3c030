#!/usr/bin/env bash
# A short real run (2560 training images, 1 epoch): the checkpoint must exist, be a valid HDF5 file with
# the documented layout, and carry the resolved configuration including command-line overrides.
set -eu
cls=$1 dir=$2 src=$3
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
"$cls" --config "$src/experiments/fashion_mnist_classifier.ini" --data.train_limit=2560 --data.test_limit=1000 \
  --train.epochs=1 --model.hidden=64 --output.path="$dir/out/model.h5" 2>"$dir/log" | tee "$dir/stdout"
grep -q "test accuracy 0\.[0-9]* (1000 images) after 1 epochs; model saved to $dir/out/model.h5" "$dir/stdout" \
  || fail "unexpected summary: $(cat "$dir/stdout")"
grep -q "epoch 1/1 20/20" "$dir/log" || fail "no progress lines in the log: $(cat "$dir/log")"
acc=$(sed -n 's/^test accuracy \(0\.[0-9]*\).*/\1/p' "$dir/stdout")
awk -v a="$acc" 'BEGIN { exit !(a > 0.5) }' || fail "accuracy $acc after 20 steps is not above chance"
h5=$dir/out/model.h5
h5dump -a /format "$h5" | grep -q '"ibq-checkpoint"' || fail "format attribute"
h5dump -a /kind "$h5" | grep -q '"classifier"' || fail "kind attribute"
h5dump -a /step "$h5" | grep -q "(0): 20" || fail "step attribute"
h5dump -a /config "$h5" | grep -q "hidden = 64" || fail "config does not record the override"
h5ls -r "$h5" | grep -q "/params/fc1.weight *Dataset {64, 6272}" || fail "params/fc1.weight shape"
h5ls -r "$h5" | grep -q "/buffers/features.0.bn.running_var *Dataset {32}" || fail "BatchNorm buffers"
h5ls -r "$h5" | grep -q "/metrics/test_accuracy *Dataset {1}" || fail "metrics"
ls "$dir/out" | grep -q tmp && fail "temporary file left behind"
echo "checkpoint layout ok, accuracy $acc"
