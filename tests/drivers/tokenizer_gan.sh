#!/usr/bin/env bash
# The tokenizer with the adversarial terms: a short real run logs bounded discriminator/generator losses
# and writes the discriminator (params, BatchNorm buffers, Adam moments, EMA, LeCam anchors) under disc/;
# a run stopped after step k and resumed to 2k equals an uninterrupted one bitwise, discriminator
# included, with disc_start inside the run; GAN and non-GAN checkpoints refuse to resume each other.
set -eu
tok=$1 dir=$2 src=$3 make_lpips=$4
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
tiny=(--config "$src/experiments/quickstart.ini" --data.train_limit=256 --model.ch=8 --model.ch_mult=1,2,2
      --model.norm_groups=4 --model.z_channels=8 --model.embed_dim=8 --model.codebook_size=64
      --train.batch_size=8 --train.steps=12 --train.warmup_steps=3 --train.time_limit=0 --log.every=2
      --output.checkpoint_every=100 --runtime.threads=2 --loss.disc_start=3 --disc.ndf=8 --disc.n_layers=2)
gan=(--loss.gen_loss_weight=0.1)
"$tok" "${tiny[@]}" "${gan[@]}" --output.dir="$dir/full" > "$dir/full.log" 2>&1 || fail "full run: $(cat "$dir/full.log")"
grep -q "GAN: PatchGAN discriminator with [0-9]* parameters (2 layers, ndf 8), hinge loss" "$dir/full.log" \
  || fail "no GAN start-up line: $(cat "$dir/full.log")"
# Step 2 is before disc_start (no adversarial terms), step 12 after: d_loss in (0, 2], g_loss finite.
grep -q "^step 2/12 .* d_loss 0 lecam 0 .* g_loss 0 g_weight 0 " "$dir/full.log" || fail "adversarial terms before disc_start: $(grep '^step 2/' "$dir/full.log")"
line=$(grep "^step 12/12 " "$dir/full.log")
d=$(echo "$line" | sed -n 's/.* d_loss \([-0-9.e+]*\) .*/\1/p') g=$(echo "$line" | sed -n 's/.* g_loss \([-0-9.e+]*\) .*/\1/p')
w=$(echo "$line" | sed -n 's/.* g_weight \([-0-9.e+]*\) .*/\1/p')
awk -v d="$d" -v g="$g" -v w="$w" 'BEGIN { exit !(d > 0 && d <= 2 && g > 0 && g < 10 && w == 0.1) }' \
  || fail "adversarial losses out of bounds: $line"
ck=$dir/full/ckpt-00000012.h5
for t in "disc/params/loss.discriminator.main.0.weight" "disc/buffers/loss.discriminator.main.3.running_mean" \
         "disc/optim/m/loss.discriminator.main.5.weight" "disc/ema/loss.discriminator.main.6.bias" "params/decoder.conv_out.weight"; do
  h5ls -r "$ck" | grep -q "^/$t " || fail "checkpoint lacks /$t"
done
h5dump -a /disc/lecam_real "$ck" | grep -q "(0): -*[0-9]" || fail "no LeCam anchor attribute"

"$tok" "${tiny[@]}" "${gan[@]}" --output.dir="$dir/split" --train.stop_after=6 > "$dir/a.log" 2>&1 || fail "first half: $(cat "$dir/a.log")"
"$tok" "${tiny[@]}" "${gan[@]}" --output.dir="$dir/split" > "$dir/b.log" 2>&1 || fail "second half: $(cat "$dir/b.log")"
grep -q "resumed from $dir/split/ckpt-00000006.h5 at step 6" "$dir/b.log" || fail "no resume: $(cat "$dir/b.log")"
split=$dir/split/ckpt-00000012.h5
for g in params ema optim metrics disc; do
  h5diff -r "$ck" "$split" "/$g" "/$g" > "$dir/diff-$g" || fail "/$g differs after resume: $(head -20 "$dir/diff-$g")"
done
h5diff "$ck" "$split" /disc /disc > /dev/null || fail "disc attributes differ"
diff <(grep "^step \(8\|10\|12\)/" "$dir/full.log" | sed 's/ img_per_s.*//') \
     <(grep "^step \(8\|10\|12\)/" "$dir/b.log" | sed 's/ img_per_s.*//') || fail "logged losses differ"

# A GAN checkpoint does not resume without the GAN, nor a plain one with it.
out=$("$tok" "${tiny[@]}" --output.dir="$dir/split" --loss.gen_loss_weight=0 2>&1) && fail "GAN checkpoint resumed without the GAN: $out"
echo "$out" | grep -q "holds a discriminator (disc/)" || fail "message: $out"
"$tok" "${tiny[@]}" --output.dir="$dir/plain" --loss.gen_loss_weight=0 --train.stop_after=2 > "$dir/plain.log" 2>&1 || fail "plain run: $(cat "$dir/plain.log")"
out=$("$tok" "${tiny[@]}" "${gan[@]}" --output.dir="$dir/plain" 2>&1) && fail "plain checkpoint resumed with the GAN: $out"
echo "$out" | grep -q "has no discriminator (disc/)" || fail "message: $out"
# The options: one joint discriminator call for real and fake, and the adaptive generator weight (a
# gradient-norm ratio: positive, not the constant 0.1).
"$tok" "${tiny[@]}" "${gan[@]}" --output.dir="$dir/joint" --disc.joint_call=true --loss.adaptive_weight=true \
  --loss.disc_weight=0.4 > "$dir/joint.log" 2>&1 || fail "joint/adaptive run: $(cat "$dir/joint.log")"
grep -q "generator weight adaptive" "$dir/joint.log" || fail "no adaptive weight in the start-up line"
jl=$(grep "^step 12/12 " "$dir/joint.log")
jw=$(echo "$jl" | sed -n 's/.* g_weight \([-0-9.e+]*\) .*/\1/p') jd=$(echo "$jl" | sed -n 's/.* d_loss \([-0-9.e+]*\) .*/\1/p')
awk -v w="$jw" -v d="$jd" 'BEGIN { exit !(w > 0 && w != 0.1 && w <= 4000 && d > 0 && d <= 2) }' || fail "joint/adaptive: $jl"
# LPIPS: without weights (or with a missing file) the run stops and says how to make them; with a weight
# file of the right layout (random weights, as no download is possible here) it trains and logs it.
out=$("$tok" "${tiny[@]}" --output.dir="$dir/lp0" --loss.perceptual_weight=1.0 2>&1) && fail "LPIPS without weights ran"
echo "$out" | grep -q "loss.perceptual_weight > 0 needs LPIPS weights: set loss.lpips_weights" || fail "message: $out"
out=$("$tok" "${tiny[@]}" --output.dir="$dir/lp1" --loss.perceptual_weight=1.0 --loss.lpips_weights="$dir/none.h5" 2>&1) \
  && fail "LPIPS with a missing file ran"
echo "$out" | grep -q "$dir/none.h5.*hpc/make_lpips_weights.py" || fail "message: $out"
"$make_lpips" "$dir/lpips.h5" || fail "could not write the LPIPS file"
"$tok" "${tiny[@]}" "${gan[@]}" --output.dir="$dir/lp" --loss.perceptual_weight=1.0 --loss.lpips_weights="$dir/lpips.h5" \
  --train.stop_after=4 > "$dir/lp.log" 2>&1 || fail "LPIPS run: $(cat "$dir/lp.log")"
lp=$(grep "^step 4/12 " "$dir/lp.log" | sed -n 's/.* lpips \([-0-9.e+]*\) .*/\1/p')
awk -v p="$lp" 'BEGIN { exit !(p > 0 && p < 100) }' || fail "LPIPS value '$lp': $(grep '^step 4/' "$dir/lp.log")"
echo "GAN ok: $line; joint + adaptive: g_weight $jw; LPIPS $lp"
