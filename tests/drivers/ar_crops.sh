#!/usr/bin/env bash
# The AR stage on tokens of random crops, as the reference (which encodes a new random crop of every image
# each epoch). A tiny tokenizer trains on Fashion-MNIST padded to 36x36 through random 32x32 crops; then:
# - ibq-tokenize --data.crops=3 stores 3 random crops' grids per image beside the centre crops, which equal
#   those of a plain run; the crops differ from each other;
# - ibq-train-ar with data.crop = center on that file ends bitwise where a run on the plain file does
#   (today's behaviour), and with random crops (the default) differently, resuming exactly;
# - data.encode_on_the_fly = true encodes the crops every step with the tokenizer; its centre-crop run follows
#   the stored centre tokens' run, and its random-crop run resumes exactly.
set -eu
tok=$1 tkz=$2 ar=$3 dir=$4 src=$5
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
"$tok" --config "$src/experiments/quickstart.ini" --data.train_limit=48 --data.pad_to=36 --model.ch=8 \
  --model.ch_mult=1,2,2 --model.norm_groups=4 --model.z_channels=8 --model.embed_dim=8 --model.codebook_size=64 \
  --train.batch_size=8 --train.steps=4 --train.time_limit=0 --log.every=2 --output.dir="$dir/tok" \
  --runtime.threads=2 > "$dir/tok.log" 2>&1 || fail "tokenizer: $(cat "$dir/tok.log")"
ckpt=$dir/tok/ckpt-00000004.h5
"$tkz" --input.checkpoint="$ckpt" --output.path="$dir/plain.h5" > "$dir/plain.log" 2>&1 || fail "tokenize: $(cat "$dir/plain.log")"
"$tkz" --input.checkpoint="$ckpt" --output.path="$dir/crops.h5" --data.crops=3 > "$dir/crops.log" 2>&1 \
  || fail "tokenize with crops: $(cat "$dir/crops.log")"
grep -q "3 random crops per image (seed 1) besides the centre crop, random crops of 36x36 images" "$dir/crops.log" \
  || fail "crops line: $(cat "$dir/crops.log")"
h5ls "$dir/crops.h5" | grep -q "^crop_tokens *Dataset {48/Inf, 3, 8, 8}" || fail "crop_tokens: $(h5ls "$dir/crops.h5")"
h5diff "$dir/plain.h5" "$dir/crops.h5" /tokens /tokens > /dev/null || fail "the centre crops' tokens changed"
/usr/bin/python3 - "$dir/crops.h5" <<'PY' || fail "the stored crops do not differ"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
c, t = f["crop_tokens"][()], f["tokens"][()]
pairs = np.mean([(c[:, a] != c[:, b]).any(axis=(1, 2)).mean() for a, b in [(0, 1), (0, 2), (1, 2)]])
centre = (c[:, 0] != t).any(axis=(1, 2)).mean()
print("images whose crops' grids differ: %.2f between crops, %.2f from the centre" % (pairs, centre))
sys.exit(0 if pairs > 0.5 and centre > 0.5 else 1)
PY
out=$("$tkz" --input.checkpoint="$ckpt" --output.path="$dir/plain.h5" --output.append=true --data.crops=2 2>&1) \
  && fail "appended crops to a file without them: $out"
echo "$out" | grep -q "holds tokens of another tokenizer or crop setting" || fail "append message: $out"

tiny=(--config "$src/experiments/fashion_mnist_ar.ini" --model.vocab_size=64 --model.layers=2 --model.dim=32
      --model.heads=2 --train.steps=12 --train.warmup_epochs=0.2 --train.batch_size=8 --log.every=2
      --output.checkpoint_every=100 --runtime.threads=2)
params() { echo "$dir/$1/ckpt-00000012.h5"; }
"$ar" "${tiny[@]}" --data.tokens="$dir/plain.h5" --output.dir="$dir/plain" > "$dir/plain_ar.log" 2>&1 || fail "AR plain: $(cat "$dir/plain_ar.log")"
grep -q "the centre crops (the file stores no random crops)" "$dir/plain_ar.log" || fail "plain line: $(head -3 "$dir/plain_ar.log")"
"$ar" "${tiny[@]}" --data.tokens="$dir/crops.h5" --data.crop=center --output.dir="$dir/center" > "$dir/center.log" 2>&1 \
  || fail "AR center: $(cat "$dir/center.log")"
h5diff "$(params plain)" "$(params center)" /params /params > /dev/null || fail "data.crop=center is not the plain run"
"$ar" "${tiny[@]}" --data.tokens="$dir/crops.h5" --output.dir="$dir/random" > "$dir/random.log" 2>&1 || fail "AR random: $(cat "$dir/random.log")"
grep -q "one of 3 stored random crops per image and epoch" "$dir/random.log" || fail "random line: $(head -3 "$dir/random.log")"
h5diff -q "$(params plain)" "$(params random)" /params /params > /dev/null && fail "random crops trained like the centre crops"
"$ar" "${tiny[@]}" --data.tokens="$dir/crops.h5" --output.dir="$dir/split" --train.stop_after=7 > "$dir/a.log" 2>&1 || fail "first half: $(cat "$dir/a.log")"
"$ar" "${tiny[@]}" --data.tokens="$dir/crops.h5" --output.dir="$dir/split" > "$dir/b.log" 2>&1 || fail "second half: $(cat "$dir/b.log")"
for g in params optim; do
  h5diff -r "$(params random)" "$(params split)" "/$g" "/$g" > "$dir/diff-$g" || fail "/$g differs after resume: $(head "$dir/diff-$g")"
done
echo "stored crops: centre = plain run, random crops differ, resume exact"

fly=(--data.encode_on_the_fly=true --data.tokenizer="$ckpt")
"$ar" "${tiny[@]}" "${fly[@]}" --data.crop=center --output.dir="$dir/fly_center" > "$dir/fly_center.log" 2>&1 \
  || fail "on the fly, centre: $(cat "$dir/fly_center.log")"
grep -q "48 token grids 8x8 (K = 64, tokenizer $ckpt; encoded on the fly from center crops)" "$dir/fly_center.log" || fail "on-the-fly line: $(head -3 "$dir/fly_center.log")"
# The same images and weights as ibq-tokenize's centre crops: the logged losses agree (to float rounding of
# encoder passes over other batch shapes).
paste <(grep "^step " "$dir/plain_ar.log" | sed 's/.* loss \([0-9.e-]*\).*/\1/') \
      <(grep "^step " "$dir/fly_center.log" | sed 's/.* loss \([0-9.e-]*\).*/\1/') |
  awk '{ n++; d = $1 - $2; if (d < 0) d = -d; if (d > 1e-3 * $1) { print "loss " $1 " vs " $2; bad = 1 } }
       END { exit bad || n != 6 }' || fail "on-the-fly centre crops do not follow the stored centre tokens"
grep -q " data_ms [0-9.e+-]* compute_ms" "$dir/fly_center.log" || fail "no data_ms: $(grep ^step "$dir/fly_center.log")"
"$ar" "${tiny[@]}" "${fly[@]}" --output.dir="$dir/fly" > "$dir/fly.log" 2>&1 || fail "on the fly: $(cat "$dir/fly.log")"
grep -q "encoded on the fly from random crops" "$dir/fly.log" || fail "on-the-fly random line: $(head -3 "$dir/fly.log")"
"$ar" "${tiny[@]}" "${fly[@]}" --output.dir="$dir/fly_split" --train.stop_after=7 > "$dir/fa.log" 2>&1 || fail "fly first half: $(cat "$dir/fa.log")"
"$ar" "${tiny[@]}" "${fly[@]}" --output.dir="$dir/fly_split" > "$dir/fb.log" 2>&1 || fail "fly second half: $(cat "$dir/fb.log")"
h5diff -r "$(params fly)" "$(params fly_split)" /params /params > "$dir/diff-fly" || fail "on-the-fly resume differs: $(head "$dir/diff-fly")"
h5diff -q "$(params fly)" "$(params fly_center)" /params /params > /dev/null && fail "on-the-fly random crops trained like the centre"
out=$("$ar" "${tiny[@]}" --data.encode_on_the_fly=true --output.dir="$dir/none" 2>&1) && fail "on the fly without a tokenizer: $out"
echo "$out" | grep -q "data.encode_on_the_fly needs data.tokenizer" || fail "missing tokenizer message: $out"
echo "on the fly: centre crops follow the stored tokens, random crops resume exactly"
