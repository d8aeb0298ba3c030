#!/usr/bin/env bash
# ibq-train-ar and ibq-sample on the tokens of a short tokenizer run (real Fashion-MNIST):
# - a run stopped after k steps and resumed to 2k ends bitwise equal (params, AdamW moments, metrics) to
#   an uninterrupted 2k-step run, with the same logged losses, in fp32 and in bf16;
# - 2 ranks x batch 4 train (MPI: 2 ranks) and log the losses of 1 rank x batch 8 (dropouts off);
# - ibq-sample writes a PNG grid and an .npz of uint8 [N, 32, 32, 1]; the same seed gives the same bytes,
#   another seed other images;
# - bad input (a model of another grid/K, a missing token file, an unknown preset) fails with one line
#   that names the option, and a non-zero exit.
set -eu
tok=$1 tkz=$2 ar=$3 smp=$4 dir=$5 src=$6
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$tok" --config "$src/experiments/quickstart.ini" --data.train_limit=256 --model.ch=8 --model.ch_mult=1,2,2 \
  --model.norm_groups=4 --model.z_channels=8 --model.embed_dim=8 --model.codebook_size=64 --train.batch_size=8 \
  --train.steps=4 --train.time_limit=0 --log.every=2 --output.dir="$dir/tok" --runtime.threads=2 > "$dir/tok.log" 2>&1 \
  || fail "tokenizer: $(cat "$dir/tok.log")"
"$tkz" --input.checkpoint="$dir/tok/ckpt-00000004.h5" --data.limit=200 --output.path="$dir/tokens.h5" \
  > "$dir/tkz.log" 2>&1 || fail "tokenize: $(cat "$dir/tkz.log")"
tiny=(--config "$src/experiments/fashion_mnist_ar.ini"
      --model.layers=2 --model.dim=32 --model.heads=2 --train.steps=12 --train.warmup_epochs=0.2
      --log.every=2 --output.checkpoint_every=100)
one=(--train.batch_size=8 --runtime.threads=2)
data=(--data.tokens="$dir/tokens.h5")
# The quick-start tokenizer here has K = 64: the fmnist preset's K = 1024 must be refused by name.
out=$("$ar" "${tiny[@]}" "${data[@]}" "${one[@]}" --output.dir="$dir/bad" 2>&1) && fail "a K = 1024 model trained on K = 64 tokens: $out"
echo "$out" | grep -q "model expects 8x8 and K = 1024" || fail "grid/K mismatch message: $out"
echo "$out" | grep -q "model.vocab_size" || fail "mismatch message does not name the option: $out"
echo "refused: $(echo "$out" | tail -1)"
tiny+=(--model.vocab_size=64)
"$ar" "${tiny[@]}" "${data[@]}" "${one[@]}" --output.dir="$dir/full" > "$dir/full.log" 2>&1 || fail "full run: $(cat "$dir/full.log")"
"$ar" "${tiny[@]}" "${data[@]}" "${one[@]}" --output.dir="$dir/split" --train.stop_after=6 > "$dir/a.log" 2>&1 || fail "first half: $(cat "$dir/a.log")"
grep -q "stopped at step 6/12" "$dir/a.log" || fail "first half did not stop at 6: $(cat "$dir/a.log")"
"$ar" "${tiny[@]}" "${data[@]}" "${one[@]}" --output.dir="$dir/split" > "$dir/b.log" 2>&1 || fail "second half: $(cat "$dir/b.log")"
grep -q "resumed from $dir/split/ckpt-00000006.h5 at step 6" "$dir/b.log" || fail "no resume: $(cat "$dir/b.log")"
full=$dir/full/ckpt-00000012.h5 split=$dir/split/ckpt-00000012.h5
for g in params optim metrics; do
  h5diff -r "$full" "$split" "/$g" "/$g" > "$dir/diff-$g" || fail "/$g differs after resume: $(head -20 "$dir/diff-$g")"
done
# The same in bf16 mixed precision: its kernels are deterministic, so resume stays bitwise.
bf=(--train.precision=bf16)
"$ar" "${tiny[@]}" "${data[@]}" "${one[@]}" "${bf[@]}" --output.dir="$dir/full16" > "$dir/full16.log" 2>&1 || fail "bf16 full run: $(cat "$dir/full16.log")"
"$ar" "${tiny[@]}" "${data[@]}" "${one[@]}" "${bf[@]}" --output.dir="$dir/split16" --train.stop_after=6 > "$dir/a16.log" 2>&1 || fail "bf16 first half: $(cat "$dir/a16.log")"
"$ar" "${tiny[@]}" "${data[@]}" "${one[@]}" "${bf[@]}" --output.dir="$dir/split16" > "$dir/b16.log" 2>&1 || fail "bf16 second half: $(cat "$dir/b16.log")"
grep -q "precision bf16 mixed" "$dir/full16.log" || fail "bf16 start-up line: $(head -3 "$dir/full16.log")"
for g in params optim metrics; do
  h5diff -r "$dir/full16/ckpt-00000012.h5" "$dir/split16/ckpt-00000012.h5" "/$g" "/$g" > "$dir/diff16-$g" \
    || fail "/$g differs after a bf16 resume: $(head -20 "$dir/diff16-$g")"
done
h5diff -q "$full" "$dir/full16/ckpt-00000012.h5" /params /params > /dev/null && fail "bf16 and fp32 runs ended with equal weights"
diff <(grep "^step \(8\|10\|12\)/" "$dir/full.log" | sed 's/ seq_per_s.*//') \
     <(grep "^step \(8\|10\|12\)/" "$dir/b.log" | sed 's/ seq_per_s.*//') || fail "logged losses differ"
first=$(grep "^step 2/" "$dir/full.log" | sed 's/.* loss \([0-9.]*\).*/\1/')
last=$(grep "^step 12/" "$dir/full.log" | sed 's/.* loss \([0-9.]*\).*/\1/')
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || fail "the loss did not fall: $first -> $last"
echo "resume is exact; loss $first -> $last"

# Two ranks of 4 against one of 8, dropouts off (their masks are drawn per rank): the same global batches
# and the same mean gradients, so the logged losses agree to float rounding.
nodrop=(--model.class_dropout=0 --model.token_dropout=0 --model.resid_dropout=0 --model.ffn_dropout=0)
"$ar" "${tiny[@]}" "${data[@]}" "${nodrop[@]}" "${one[@]}" --output.dir="$dir/one8" > "$dir/one8.log" 2>&1 \
  || fail "1 x 8 without dropout: $(cat "$dir/one8.log")"
mpirun -np 2 "$ar" "${tiny[@]}" "${data[@]}" "${nodrop[@]}" --train.batch_size=4 --output.dir="$dir/mpi" \
  --runtime.threads=1 > "$dir/mpi.log" 2>&1 || fail "2 ranks: $(cat "$dir/mpi.log")"
grep -q "MPI: 2 ranks" "$dir/mpi.log" || fail "did not run on 2 ranks: $(head -5 "$dir/mpi.log")"
paste <(grep "^step " "$dir/one8.log" | sed 's/.* loss \([0-9.e-]*\).*/\1/') \
      <(grep "^step " "$dir/mpi.log" | sed 's/.* loss \([0-9.e-]*\).*/\1/') |
  awk '{ n++; d = $1 - $2; if (d < 0) d = -d; if (d > 2e-5 * $1) { print "loss " $1 " vs " $2; bad = 1 } }
       END { exit bad || n != 6 }' || fail "2-rank losses differ from 1 rank's"
echo "2 ranks x 4 log the losses of 1 x 8"

# Sampling: a PNG grid and the .npz; same seed, same bytes.
"$smp" --input.checkpoint="$full" --sample.per_class=2 --sample.classes=0,3,9 --sample.cfg=2.0 \
  --output.png="$dir/s.png" --output.npz="$dir/a.npz" > "$dir/s.log" 2>&1 || fail "sample: $(cat "$dir/s.log")"
grep -q "wrote $dir/a.npz (arr_0 uint8 \[6, 32, 32, 1\], arr_1 int64 labels)" "$dir/s.log" || fail "npz line: $(cat "$dir/s.log")"
/usr/bin/python3 -c "import numpy as n; a = n.load('$dir/a.npz'); assert a['arr_0'].shape == (6, 32, 32, 1); \
assert a['arr_1'].dtype == n.int64 and a['arr_1'].tolist() == [0, 0, 3, 3, 9, 9], a['arr_1']" || fail "numpy reads other labels"
grep -q "wrote $dir/s.png (3 rows of 2)" "$dir/s.log" || fail "png line: $(cat "$dir/s.log")"
"$smp" --input.checkpoint="$full" --sample.per_class=2 --sample.classes=0,3,9 --sample.cfg=2.0 --output.png="$dir/s2.png" \
  --output.npz="$dir/b.npz" > "$dir/s2.log" 2>&1 || fail "sample again: $(cat "$dir/s2.log")"
cmp -s "$dir/a.npz" "$dir/b.npz" || fail "the same seed gave other images"
(cd "$dir" && "$smp" --input.checkpoint="$full" --sample.per_class=1 --sample.classes=1 --output.png=none \
  --output.npz=only.npz > only.log 2>&1) || fail "output.png=none: $(cat "$dir/only.log")"
[ -f "$dir/only.npz" ] && [ ! -e "$dir/none" ] && ! grep -q "wrote.*png" "$dir/only.log" || fail "output.png=none wrote a grid"
"$smp" --input.checkpoint="$full" --sample.per_class=2 --sample.classes=0,3,9 --sample.cfg=2.0 --sample.seed=7 --output.png="$dir/s3.png" \
  --output.npz="$dir/c.npz" > "$dir/s3.log" 2>&1 || fail "sample seed 7: $(cat "$dir/s3.log")"
cmp -s "$dir/a.npz" "$dir/c.npz" && fail "another seed gave the same images"
out=$("$smp" --input.checkpoint="$full" --output.npz="$dir/a.npz" --output.png="$dir/s4.png" 2>&1) && fail "overwrote a.npz: $out"
echo "$out" | grep -q "exists; pass --output.overwrite=true" || fail "overwrite message: $out"
out=$("$ar" "${tiny[@]}" "${one[@]}" --data.tokens="$dir/none.h5" --output.dir="$dir/none" 2>&1) && fail "missing tokens: $out"
echo "$out" | grep -q "data.tokens: '$dir/none.h5' does not exist" || fail "missing-file message: $out"
out=$("$ar" "${tiny[@]}" "${data[@]}" "${one[@]}" --model.preset=huge --output.dir="$dir/none" 2>&1) && fail "unknown preset: $out"
echo "$out" | grep -q "unknown preset 'huge'" || fail "preset message: $out"
# The ImageNet configs parse (every key known, presets and schedule valid) up to their missing token file.
for m in B L XL XXL; do
  out=$("$ar" --config "$src/experiments/imagenet_ar_$m.ini" --output.dir="$dir/imagenet_$m" 2>&1) && fail "imagenet_ar_$m ran: $out"
  echo "$out" | grep -q "data.tokens: 'data/imagenet/tokens-train.h5' does not exist" || fail "imagenet_ar_$m.ini: $out"
done
echo "sampling is reproducible; bad input refused"
