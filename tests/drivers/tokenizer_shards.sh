#!/usr/bin/env bash
# Training from HDF5 image shards: the same 96 Fashion-MNIST images as three shards (40 + 40 + 16), read a
# batch at a time (data.preload = false, the default) and preloaded, give exactly the losses of training
# on the IDX files; ibq-reconstruct streams the shards too and reports the same metrics for both runs.
set -eu
tok=$1 rec=$2 make_shards=$3 dir=$4 src=$5
rm -rf "$dir" && mkdir -p "$dir/shards"
fail() { echo "FAIL: $*"; exit 1; }
"$make_shards" "$dir/shards/fm.h5" 96 40 || fail "could not write the shards"
[ "$(ls "$dir/shards" | tr '\n' ' ')" = "fm-00000.h5 fm-00001.h5 fm-00002.h5 " ] || fail "shards: $(ls "$dir/shards")"
common=(--config "$src/experiments/quickstart.ini" --model.ch=16 --train.steps=8 --train.batch_size=8
        --train.time_limit=0 --log.every=2 --output.checkpoint_every=8)
train() {  # train NAME ARGS...: the log's step lines without their wall-clock field
  local name=$1; shift
  "$tok" "${common[@]}" --output.dir="$dir/$name" "$@" > "$dir/$name.log" 2>&1 || fail "$name: $(cat "$dir/$name.log")"
  grep "^step " "$dir/$name.log" | sed 's/ img_per_s .*//' > "$dir/$name.steps"
  [ "$(wc -l < "$dir/$name.steps")" = 4 ] || fail "$name logged $(wc -l < "$dir/$name.steps") step lines: $(cat "$dir/$name.log")"
}
shards=(--data.source=shards --data.train="$dir/shards/fm.h5" --data.test="$dir/shards/fm.h5")
train idx --data.train_limit=96
train streamed "${shards[@]}"
train preloaded "${shards[@]}" --data.preload=true
grep -q "96 training images 1x32x32" "$dir/streamed.log" || fail "streamed run did not see 96 images: $(cat "$dir/streamed.log")"
diff "$dir/idx.steps" "$dir/streamed.steps" > "$dir/diff1" || fail "streamed shards differ from the IDX run: $(cat "$dir/diff1")"
diff "$dir/idx.steps" "$dir/preloaded.steps" > "$dir/diff2" || fail "preloaded shards differ from the IDX run: $(cat "$dir/diff2")"
for name in streamed preloaded; do
  "$rec" --input.checkpoint="$dir/$name/ckpt-00000008.h5" --output.grid="$dir/$name.png" > "$dir/$name.rec" 2>&1 \
    || fail "reconstruct $name: $(cat "$dir/$name.rec")"
  grep -q "^images 96 (test, ema weights)  PSNR" "$dir/$name.rec" || fail "reconstruct $name: $(cat "$dir/$name.rec")"
done
diff <(grep PSNR "$dir/streamed.rec") <(grep PSNR "$dir/preloaded.rec") || fail "reconstruct metrics differ"
echo "shards ok: $(tail -1 "$dir/streamed.steps"); $(grep PSNR "$dir/streamed.rec")"
