#!/usr/bin/env bash
# The AR stage of the quick start end to end, with the shipped config: the quick-start tokenizer's
# checkpoint (from the quick-start test) tokenizes the 60,000 training images, ibq-train-ar trains
# experiments/fashion_mnist_ar.ini for all its steps, and ibq-sample draws 50 images of every class with
# and without classifier-free guidance. The order-1 classifier (from the classifier accuracy test) labels
# them. Asserted: with guidance (sample.cfg = 3) at least MIN_ACC of the samples get their requested class;
# both accuracies are printed.
set -eu
tkz=$1 ar=$2 smp=$3 tok_ckpt_dir=$4 clf=$5 dir=$6 src=$7 min_acc=$8
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
tok_ckpt=$(ls "$tok_ckpt_dir"/ckpt-*.h5 2>/dev/null | tail -1)
[ -n "$tok_ckpt" ] || fail "no tokenizer checkpoint in $tok_ckpt_dir: the quick-start test must run first"
[ -f "$clf" ] || fail "no classifier at $clf: the classifier accuracy test must run first"
start=$(date +%s)
"$tkz" --input.checkpoint="$tok_ckpt" --data.split=train --output.path="$dir/tokens.h5" > "$dir/tokenize.log" 2>&1 \
  || fail "tokenize: $(tail -5 "$dir/tokenize.log")"
t_tok=$(( $(date +%s) - start ))
"$ar" --config "$src/experiments/fashion_mnist_ar.ini" --data.tokens="$dir/tokens.h5" --output.dir="$dir/run" \
  > "$dir/train.log" 2>&1 || fail "ibq-train-ar: $(tail -5 "$dir/train.log")"
t_train=$(( $(date +%s) - start - t_tok ))
ckpt=$(ls "$dir"/run/ckpt-*.h5 | tail -1)
declare -A acc
for cfg in 1 3; do
  "$smp" --input.checkpoint="$ckpt" --sample.per_class=50 --sample.cfg=$cfg --eval.classifier="$clf" \
    --output.png="$dir/samples_cfg$cfg.png" --output.npz="$dir/samples_cfg$cfg.npz" > "$dir/sample$cfg.log" 2>&1 \
    || fail "ibq-sample cfg $cfg: $(tail -5 "$dir/sample$cfg.log")"
  acc[$cfg]=$(sed -n 's/^class accuracy \([0-9.]*\).*/\1/p' "$dir/sample$cfg.log")
  [ -n "${acc[$cfg]}" ] || fail "ibq-sample printed no class accuracy: $(cat "$dir/sample$cfg.log")"
done
echo "$(grep -m1 'token grids' "$dir/train.log")"
echo "$(tail -1 "$dir/train.log")"
echo "tokenize ${t_tok} s, train ${t_train} s; class accuracy of 500 samples: ${acc[1]} without guidance, ${acc[3]} with cfg 3 (target $min_acc)"
awk -v a="${acc[3]}" -v t="$min_acc" 'BEGIN { exit !(a >= t) }' || fail "guided class accuracy ${acc[3]} < $min_acc"
