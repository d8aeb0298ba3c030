#!/usr/bin/env bash
# ibq-train-tokenizer and ibq-reconstruct on bad input: one clear line, non-zero exit, nothing good lost.
set -u
tok=$1 rec=$2 dir=$3 src=$4
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
expect() {  # expect PROGRAM STATUS PATTERN -- ARGS...
  local prog=$1 want=$2 pattern=$3; shift 4
  out=$("$prog" "$@" 2>&1); rc=$?
  [ "$rc" = "$want" ] || fail "exit $rc (want $want) for: $* -> $out"
  echo "$out" | grep -q -- "$pattern" || fail "no '$pattern' in output for: $* -> $out"
  echo "ok: exit $rc: $(echo "$out" | grep -- "$pattern" | head -1)"
}
qs=(--config "$src/experiments/quickstart.ini" --output.dir="$dir/run")
expect "$tok" 2 "unrecognised option '--model.codebooksize=3'" -- "${qs[@]}" --model.codebooksize=3
expect "$tok" 1 "model.quantizer = 'lfq' is not a quantizer; use ibq or vq" -- "${qs[@]}" --model.quantizer=lfq
expect "$tok" 1 "model.ch_mult must be a comma-separated list" -- "${qs[@]}" --model.ch_mult=1,x
expect "$tok" 1 "model.resolution 30 must be divisible by 2^2" -- "${qs[@]}" --model.resolution=30
expect "$tok" 1 "norm_groups" -- "${qs[@]}" --model.ch=12
expect "$tok" 1 "model expects 3x32x32" -- "${qs[@]}" --model.in_channels=3
expect "$tok" 1 "train.lr_schedule = 'linear' is not a schedule" -- "${qs[@]}" --train.lr_schedule=linear
expect "$tok" 1 "quant.fused_block_rows must be >= 0" -- "${qs[@]}" --quant.fused_block_rows=-3
expect "$tok" 1 "cannot open '$dir/none/train-images-idx3-ubyte.gz'" -- "${qs[@]}" --data.dir="$dir/none"
expect "$tok" 1 "data.train lists no shard files" -- "${qs[@]}" --data.source=shards
expect "$tok" 1 "train.resume: checkpoint '$dir/nothing.h5' does not exist" -- "${qs[@]}" --train.resume="$dir/nothing.h5"
# A run directory with checkpoints is not silently restarted, and its checkpoint stays byte-identical.
mkdir -p "$dir/run" && echo precious > "$dir/run/ckpt-00000100.h5"
before=$(sha256sum "$dir/run/ckpt-00000100.h5")
expect "$tok" 1 "already holds checkpoints" -- "${qs[@]}" --train.resume=never
# resume=auto finds no intact checkpoint: it says so, and sets the file aside (renamed, bytes unchanged).
expect "$tok" 1 "none of the 1 checkpoints in '$dir/run' is intact" -- "${qs[@]}"
[ "$(sha256sum < "$dir/run/ckpt-00000100.h5.damaged")" = "$(echo "$before" | cut -d' ' -f1)  -" ] ||
  fail "the existing checkpoint was modified"
mv "$dir/run/ckpt-00000100.h5.damaged" "$dir/run/ckpt-00000100.h5"
expect "$rec" 1 "input.checkpoint is required" --
expect "$rec" 1 "input.checkpoint '$dir/missing.h5' does not exist" -- --input.checkpoint="$dir/missing.h5"
expect "$rec" 1 "input.weights must be ema or params" -- --input.checkpoint="$dir/run/ckpt-00000100.h5" --input.weights=best
# The ImageNet configs parse and build their models; they stop only at the missing data, naming it.
for K in 1024 8192 16384 262144; do
  expect "$tok" 1 "data.train: neither 'data/imagenet/train.h5' nor its shards" -- --config "$src/experiments/imagenet_ibq_$K.ini" \
    --output.dir="$dir/imagenet_$K"
done
echo "all error cases behaved"
