#!/usr/bin/env bash
# ibq-tokenize on a short tokenizer run: one file on 1 rank, shards on 2 ranks (gathered to rank 0) and
# an append all hold the same tokens; decoding the stored tokens with ibq-reconstruct --input.tokens gives
# exactly the images ibq-reconstruct makes from the pictures; the attributes name the checkpoint and its
# SHA-256; existing files are never overwritten without output.overwrite.
set -eu
tok=$1 rec=$2 tkz=$3 dir=$4 src=$5
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$tok" --config "$src/experiments/quickstart.ini" --data.train_limit=256 --model.ch=8 --model.ch_mult=1,2,2 \
  --model.norm_groups=4 --model.z_channels=8 --model.embed_dim=8 --model.codebook_size=64 --train.batch_size=8 \
  --train.steps=10 --train.time_limit=0 --log.every=5 --output.dir="$dir/run" --runtime.threads=2 > "$dir/train.log" 2>&1 \
  || fail "training: $(cat "$dir/train.log")"
ck=$dir/run/ckpt-00000010.h5
base=(--input.checkpoint="$ck" --data.split=test --eval.batch_size=32)
common=("${base[@]}" --data.limit=250)
"$tkz" "${common[@]}" --output.path="$dir/one.h5" > "$dir/one.log" 2>&1 || fail "tokenize: $(cat "$dir/one.log")"
grep -q "tokenized 250 images .* into 8x8 grids of K = 64 on 1 rank" "$dir/one.log" || fail "summary: $(cat "$dir/one.log")"
h5dump -H "$dir/one.h5" | grep -q 'DATASET "tokens"' || fail "no tokens dataset"
h5dump -H "$dir/one.h5" | grep -A3 'DATASET "tokens"' | grep -q "( 250, 8, 8 )" || fail "tokens are not [250, 8, 8]"
sum=$(sha256sum "$ck" | cut -d' ' -f1)
h5dump -a tokenizer_sha256 "$dir/one.h5" | grep -q "$sum" || fail "tokenizer_sha256 is not sha256sum's $sum"
h5dump -a tokenizer_checkpoint "$dir/one.h5" | grep -q "ckpt-00000010.h5" || fail "no checkpoint path"

# 2 ranks, shards of 100: three files, the same tokens in the same order.
mpirun -np 2 "$tkz" "${common[@]}" --output.path="$dir/shard.h5" --output.shard_size=100 --runtime.threads=1 \
  > "$dir/shard.log" 2>&1 || fail "2-rank tokenize: $(cat "$dir/shard.log")"
grep -q "on 2 rank(s); wrote 3 file(s)" "$dir/shard.log" || fail "shards: $(cat "$dir/shard.log")"
values() {  # FILE [first count]: the tokens (rows [first, first + count)) as one line of numbers
  if [ $# = 3 ]; then h5dump -y -d tokens -s "$2,0,0" -c "$3,8,8" "$1"; else h5dump -y -d tokens "$1"; fi \
    | sed -n '/DATA {/,/}/p' | tr -s ', \n' '   '
}
[ "$(values "$dir/one.h5" 0 100)" = "$(values "$dir/shard-00000.h5")" ] || fail "shard 0 differs from the 1-rank tokens"
[ "$(values "$dir/one.h5" 100 100)" = "$(values "$dir/shard-00001.h5")" ] || fail "shard 1 differs from the 1-rank tokens"
[ "$(values "$dir/one.h5" 200 50)" = "$(values "$dir/shard-00002.h5")" ] || fail "shard 2 differs from the 1-rank tokens"

# Append: the first 100 test images, then the rest appended, equal the one-file dataset.
"$tkz" "${base[@]}" --data.limit=100 --output.path="$dir/app.h5" > /dev/null 2>&1 || fail "tokenize 100"
out=$("$tkz" "${common[@]}" --output.path="$dir/app.h5" 2>&1) && fail "an existing file was overwritten: $out"
echo "$out" | grep -q "exists; pass --output.overwrite=true" || fail "no refusal message: $out"
"$tkz" "${common[@]}" --output.path="$dir/app.h5" --output.append=true > "$dir/app.log" 2>&1 || fail "append: $(cat "$dir/app.log")"
# The appended rows 100.. are the whole split again: rows [100, 350) = images [0, 250).
[ "$(values "$dir/app.h5" 100 250)" = "$(values "$dir/one.h5")" ] || fail "appended tokens differ"
[ "$(values "$dir/app.h5" 0 100)" = "$(values "$dir/one.h5" 0 100)" ] || fail "the first 100 rows changed on append"
h5dump -H "$dir/app.h5" | grep -A3 'DATASET "tokens"' | grep -q "( 350, 8, 8 )" || fail "append did not give 350 grids"

# Round trip: decoding the stored tokens gives exactly ibq-reconstruct's images.
"$rec" "${common[@]}" --output.images="$dir/rec_images.h5" > "$dir/rec1.log" 2>&1 || fail "reconstruct: $(cat "$dir/rec1.log")"
"$rec" "${common[@]}" --input.tokens="$dir/one.h5" --output.images="$dir/rec_tokens.h5" > "$dir/rec2.log" 2>&1 \
  || fail "reconstruct from tokens: $(cat "$dir/rec2.log")"
h5diff "$dir/rec_images.h5" "$dir/rec_tokens.h5" /images /images || fail "decoded tokens differ from ibq-reconstruct's images"
diff <(grep PSNR "$dir/rec1.log") <(grep PSNR "$dir/rec2.log") || fail "metrics differ"
out=$("$rec" "${base[@]}" --data.limit=100 --input.tokens="$dir/one.h5" 2>&1) && fail "a mismatched token set was decoded"
echo "$out" | grep -q "holds 250 grids" || fail "mismatch message: $out"
# Single-process drivers refuse to run on several ranks (they would all write the same files).
out=$(mpirun -np 2 "$rec" "${common[@]}" --runtime.threads=1 2>&1) && fail "ibq-reconstruct ran on 2 ranks: $out"
echo "$out" | grep -q "ibq-reconstruct runs on one process, but it was started on 2 MPI ranks" || fail "no refusal: $out"
echo "tokens: 1 rank = 2 ranks (3 shards) = append; decoded tokens = ibq-reconstruct's images ($(grep PSNR "$dir/rec2.log"))"
