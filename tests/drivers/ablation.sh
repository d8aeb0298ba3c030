#!/usr/bin/env bash
# The ablation runner end to end on real Fashion-MNIST, with sweeps small enough for a test: a tokenizer
# sweep over quantizer x K and an AR sweep of two sizes on one of its tokenizers, run locally by
# experiments/ablations/run.sh and tabulated. Asserted: every entry trained and was evaluated by ibq-eval
# (both modes); the tables list every entry with its settings and scores, link their plots, and the plots
# are PNGs; a second run redoes nothing (every file under the run folder is byte-identical); --from-raw
# rebuilds the same tables without the runs; a failing entry stops the sweep with its name and the driver's
# message, before the entries after it; a malformed sweep file is refused before anything runs.
set -eu
bin=$1 dir=$2 src=$3
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
export IBQ_BIN=$bin IBQ_ABLATION_DIR=$dir/runs IBQ_RESULTS=$dir/results IBQ_CLASSIFIER=$dir/classifier.h5
mkdir -p "$IBQ_RESULTS"
# A small judge (the real one takes 3 minutes): 1 epoch of 2560 images.
"$bin/ibq-train-classifier" --config "$src/experiments/fashion_mnist_classifier.ini" --data.train_limit=2560 \
  --data.test_limit=500 --train.epochs=1 --model.hidden=64 --output.path="$IBQ_CLASSIFIER" > "$dir/classifier.log" 2>&1 \
  || fail "classifier: $(tail -3 "$dir/classifier.log")"

cat > "$dir/tiny.sweep" <<'EOF'
# A test sweep: quantizer x K at toy size.
defaults tokenizer --config=experiments/quickstart.ini --data.train_limit=512 --model.ch=16 --train.steps=8 --train.warmup_steps=2 --train.time_limit=0 --log.every=4 --output.checkpoint_every=8 eval:--data.limit=200
tokenizer vq_k64 --model.quantizer=vq --model.codebook_size=64
tokenizer ibq_k64 --model.quantizer=ibq --model.codebook_size=64
tokenizer ibq_k256 --model.quantizer=ibq --model.codebook_size=256 --train.steps=12
EOF
cat > "$dir/tinyar.sweep" <<'EOF'
defaults ar tokenizer=tiny/ibq_k256 --config=experiments/fashion_mnist_ar.ini --model.vocab_size=256 --model.dim=32 --model.heads=1 --train.steps=4 --train.batch_size=8 --log.every=2 --output.checkpoint_every=4 tokenize:--data.limit=200 sample:--sample.per_class=2 eval:--eval.is_splits=2
ar one_layer --model.layers=1
ar two_layers --model.layers=2
EOF
run=$src/experiments/ablations/run.sh
start=$(date +%s)
bash "$run" "$dir/tiny.sweep" "$dir/tinyar.sweep" > "$dir/run1.log" 2>&1 || fail "run.sh: $(tail -5 "$dir/run1.log")"
echo "first run: $(( $(date +%s) - start )) s"
for e in tiny/vq_k64 tiny/ibq_k64 tiny/ibq_k256 tinyar/one_layer tinyar/two_layers; do
  [ -f "$IBQ_ABLATION_DIR/$e/trained" ] && [ -f "$IBQ_ABLATION_DIR/$e/eval.json" ] || fail "$e: not trained and evaluated"
done
grep -q '"mode": "tokenizer".*"images": 200, .*"rfd_fmnist": [0-9]' "$IBQ_ABLATION_DIR/tiny/ibq_k64/eval.json" \
  || fail "tokenizer eval.json: $(cat "$IBQ_ABLATION_DIR/tiny/ibq_k64/eval.json")"
grep -q '"codebook_size": 256' "$IBQ_ABLATION_DIR/tiny/ibq_k256/eval.json" || fail "ibq_k256 was not evaluated at K = 256"
grep -q '"mode": "samples".*"images": 20, .*"fd_fmnist": [0-9].*"real_images": 20' "$IBQ_ABLATION_DIR/tinyar/two_layers/eval.json" \
  || fail "samples eval.json: $(cat "$IBQ_ABLATION_DIR/tinyar/two_layers/eval.json")"
grep -q "^step 12/12 " "$IBQ_ABLATION_DIR/tiny/ibq_k256/train.log" || fail "the entry's --train.steps=12 did not replace the default 8"
grep -q "2 layers" "$IBQ_ABLATION_DIR/tinyar/two_layers/train.log" || fail "two_layers did not train 2 layers"
[ "$(ls "$IBQ_ABLATION_DIR/tokens")" = "$(printf 'tiny_ibq_k256.h5\ntiny_ibq_k256.h5.lock')" ] \
  || fail "the AR entries should share one token file: $(ls "$IBQ_ABLATION_DIR/tokens")"

md=$IBQ_RESULTS/tiny.md
[ -f "$md" ] && [ -f "$IBQ_RESULTS/tinyar.md" ] || fail "no tables: $(ls "$IBQ_RESULTS")"
grep -q "^| entry | train.steps | quantizer | K | utilisation | codes |" "$md" || fail "tiny.md header: $(cat "$md")"
grep -q '^| `ibq_k256` | 12 | ibq | 256 | [0-9.]*% | [0-9]* |' "$md" || fail "tiny.md row: $(cat "$md")"
grep -q '^| `vq_k64` | 8 | vq | 64 | [0-9.]*% |' "$md" || fail "tiny.md: the default steps: $(cat "$md")"
grep -q '^| `two_layers` | 2 | [0-9.]* M | [0-9.]* | [0-9.]* ± [0-9.]* | [0-9.]*% |' "$IBQ_RESULTS/tinyar.md" \
  || fail "tinyar.md: $(cat "$IBQ_RESULTS/tinyar.md")"
grep -q "not ImageNet FID" "$md" || fail "tiny.md does not say what the scores are"
grep -q "not run" "$md" "$IBQ_RESULTS/tinyar.md" && fail "an entry is listed as not run"
for png in tiny.png tiny_usage_k256.png tinyar.png; do
  grep -q "($png)" "$IBQ_RESULTS/${png%%[._]*}.md" || fail "$png is not linked from its table"
  head -c 8 "$IBQ_RESULTS/$png" | od -An -c | grep -q "P   N   G" || fail "$png is not a PNG"
done
[ "$(wc -l < "$IBQ_RESULTS/raw/tiny/ibq_k256.log.tsv")" = 4 ] || fail "log tsv: $(cat "$IBQ_RESULTS/raw/tiny/ibq_k256.log.tsv")"
head -1 "$IBQ_RESULTS/raw/tiny/ibq_k256.log.tsv" | grep -q "^step	epoch	loss	l1	quant	H_sample	H_avg	usage_batch	usage_window" \
  || fail "log tsv columns: $(head -1 "$IBQ_RESULTS/raw/tiny/ibq_k256.log.tsv")"

# Again: nothing is retrained, re-evaluated or re-tokenized.
sums() { (cd "$IBQ_ABLATION_DIR" && find . -type f ! -name '*.lock' -print0 | sort -z | xargs -0 md5sum); }
sums > "$dir/sums1"
start=$(date +%s)
bash "$run" "$dir/tiny.sweep" "$dir/tinyar.sweep" > "$dir/run2.log" 2>&1 || fail "second run.sh: $(tail -5 "$dir/run2.log")"
sums > "$dir/sums2"
cmp -s "$dir/sums1" "$dir/sums2" || fail "the second run changed files: $(diff "$dir/sums1" "$dir/sums2" | head)"
grep -q "ibq-train-\|ibq-eval\|ibq-tokenize" "$dir/run2.log" && fail "the second run ran a driver: $(cat "$dir/run2.log")"
echo "second run: $(( $(date +%s) - start )) s, no file changed"

# The tables again from experiments/results/raw alone.
cp "$md" "$dir/tiny.md.before" && cp "$IBQ_RESULTS/tinyar.md" "$dir/tinyar.md.before"
IBQ_ABLATION_DIR=$dir/nowhere python3 "$src/experiments/ablations/tabulate.py" --from-raw "$dir/tiny.sweep" \
  "$dir/tinyar.sweep" > "$dir/raw.log" 2>&1 || fail "--from-raw: $(cat "$dir/raw.log")"
cmp -s "$md" "$dir/tiny.md.before" && cmp -s "$IBQ_RESULTS/tinyar.md" "$dir/tinyar.md.before" \
  || fail "--from-raw gives another table: $(diff "$md" "$dir/tiny.md.before")"

# A failing entry stops the sweep, naming itself and quoting the driver; the entry after it does not run.
cat > "$dir/broken.sweep" <<'EOF'
defaults tokenizer --config=experiments/quickstart.ini --data.train_limit=64 --model.ch=16 --train.steps=2 --train.time_limit=0
tokenizer bad --model.codebook_size=0
tokenizer after --model.codebook_size=64
EOF
if bash "$run" "$dir/broken.sweep" > "$dir/broken.log" 2>&1; then fail "a failing entry did not fail the sweep"; fi
grep -q "broken/bad: train failed" "$dir/broken.log" || fail "the failure does not name the entry: $(cat "$dir/broken.log")"
grep -q "codebook_size" "$dir/broken.log" || fail "the driver's message is not quoted: $(cat "$dir/broken.log")"
[ -e "$IBQ_ABLATION_DIR/broken/after" ] && fail "the entry after the failure ran"
# Malformed sweep files: refused with the line, before anything runs.
printf 'tokenizer a --x=1\ntokenizer a --x=2\n' > "$dir/twice.sweep"
printf 'defaults gan --x=1\n' > "$dir/kind.sweep"
for f in twice kind; do
  if bash "$run" "$dir/$f.sweep" > "$dir/$f.log" 2>&1; then fail "$f.sweep was accepted"; fi
done
grep -q "twice.sweep:2: entry 'a' is defined twice" "$dir/twice.log" || fail "twice: $(cat "$dir/twice.log")"
grep -q "kind.sweep:1: 'defaults' takes a kind" "$dir/kind.log" || fail "kind: $(cat "$dir/kind.log")"
[ -e "$IBQ_ABLATION_DIR/twice" ] && fail "a malformed sweep started"
if bash "$run" "$dir/missing.sweep" > "$dir/missing.log" 2>&1; then fail "a missing sweep file was accepted"; fi
grep -q "no sweep file" "$dir/missing.log" || fail "missing: $(cat "$dir/missing.log")"
echo "ablation runner: 5 entries trained and evaluated, tables and plots written, reruns idempotent, failures named"
