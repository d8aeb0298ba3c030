#!/usr/bin/env bash
# The quick start's main job with its shipped config: test accuracy must reach the target.
set -eu
cls=$1 dir=$2 src=$3 target=$4
rm -rf "$dir" && mkdir -p "$dir"
start=$(date +%s)
"$cls" --config "$src/experiments/fashion_mnist_classifier.ini" --output.path="$dir/model.h5" | tee "$dir/stdout"
acc=$(sed -n 's/^test accuracy \(0\.[0-9]*\).*/\1/p' "$dir/stdout")
echo "test accuracy $acc (target $target) in $(( $(date +%s) - start )) s"
awk -v a="$acc" -v t="$target" 'BEGIN { exit !(a >= t) }'
