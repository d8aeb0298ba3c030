#!/usr/bin/env bash
# Exact resume: a run stopped after step k and resumed to 2k ends with the same parameters, EMA, Adam
# moments and logged losses as an uninterrupted 2k-step run (bitwise: the batches, the dropout masks and
# the schedule are pure functions of (seed, step)). Also: a checkpoint of another configuration is refused
# with a message that names the first mismatching tensor. An optional 4th argument sets train.precision
# (bf16: the bf16 kernels are deterministic too, so resume stays bitwise). The images are padded to 36x36
# and trained on through random 32x32 crops mirrored half the time: each epoch (40 images, 5 steps of 8) draws
# new crops, a pure function of (seed, epoch, image), so the resumed run crops as the uninterrupted one did.
set -eu
tok=$1 dir=$2 src=$3 precision=${4:-fp32}
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
tiny=(--config "$src/experiments/quickstart.ini" --data.train_limit=40 --model.ch=8 --model.ch_mult=1,2,2
      --model.norm_groups=4 --model.z_channels=8 --model.embed_dim=8 --model.codebook_size=64 --model.dropout=0.1
      --train.batch_size=8 --train.steps=12 --train.warmup_steps=3 --train.time_limit=0 --log.every=2
      --output.checkpoint_every=100 --runtime.threads=2 --train.precision="$precision"
      --data.pad_to=36 --data.crop=random --data.flip=true)
"$tok" "${tiny[@]}" --output.dir="$dir/full" > "$dir/full.log" 2>&1 || fail "full run: $(cat "$dir/full.log")"
"$tok" "${tiny[@]}" --output.dir="$dir/split" --train.stop_after=6 > "$dir/a.log" 2>&1 || fail "first half: $(cat "$dir/a.log")"
grep -q "stopped at step 6/12" "$dir/a.log" || fail "first half did not stop at 6: $(cat "$dir/a.log")"
grep -q "40 training images 1x32x32 (random crops of 36x36 images, mirrored half the time)" "$dir/a.log" \
  || fail "no random crops: $(cat "$dir/a.log")"
"$tok" "${tiny[@]}" --output.dir="$dir/split" > "$dir/b.log" 2>&1 || fail "second half: $(cat "$dir/b.log")"
grep -q "resumed from $dir/split/ckpt-00000006.h5 at step 6" "$dir/b.log" || fail "no resume: $(cat "$dir/b.log")"
full=$dir/full/ckpt-00000012.h5 split=$dir/split/ckpt-00000012.h5
for g in params ema optim metrics; do
  h5diff -r "$full" "$split" "/$g" "/$g" > "$dir/diff-$g" || fail "/$g differs after resume: $(head -20 "$dir/diff-$g")"
done
# The logged loss lines of steps 8..12 are identical too.
diff <(grep "^step \(8\|10\|12\)/" "$dir/full.log" | sed 's/ img_per_s.*//') \
     <(grep "^step \(8\|10\|12\)/" "$dir/b.log" | sed 's/ img_per_s.*//') || fail "logged losses differ"
grep -q "^step 12/12" "$dir/b.log" || fail "no log line for step 12"
# Resuming with another model configuration names the first tensor that differs.
out=$("$tok" "${tiny[@]}" --output.dir="$dir/split" --model.num_res_blocks=2 2>&1) && fail "wider model resumed: $out"
echo "$out" | grep -q "missing 'params/encoder.down.0.block.1.norm1.weight' (the checkpoint was written by a different model configuration)" \
  || fail "mismatch message does not name the tensor: $out"
echo "resume is exact ($precision); mismatch reported: $(echo "$out" | tail -1)"
