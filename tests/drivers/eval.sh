#!/usr/bin/env bash
# ibq-eval on real Fashion-MNIST. Tokenizer mode on a short-trained tokenizer: the JSON and Markdown row
# carry every score; LPIPS with (random, torchvision-layout) weights is finite and positive, and null / "-"
# without; the exported .npz pair holds the test labels and gives numpy the same PSNR as the JSON.
# Samples mode on .npz files made by numpy: real test images score a far lower FD, a higher IS analogue and a
# higher class accuracy than noise, and than the same images under shuffled labels (accuracy). Bad input:
# one clear error line and a non-zero exit, and an existing output is not overwritten.
set -eu
ev=$1 tok=$2 cls=$3 mklp=$4 dir=$5 src=$6
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
py=${IBQ_PYTHON:-/usr/bin/python3}
"$cls" --config "$src/experiments/fashion_mnist_classifier.ini" --data.train_limit=2560 --data.test_limit=500 \
  --train.epochs=1 --model.hidden=64 --output.path="$dir/clf.h5" > "$dir/clf.log" 2>&1 || fail "classifier: $(tail -3 "$dir/clf.log")"
"$tok" --config "$src/experiments/quickstart.ini" --data.train_limit=512 --model.ch=16 --train.steps=10 \
  --train.time_limit=0 --log.every=5 --output.dir="$dir/run" > "$dir/tok.log" 2>&1 || fail "tokenizer: $(tail -3 "$dir/tok.log")"
"$mklp" "$dir/lpips.h5" || fail "make_lpips_file"
ck=$dir/run/ckpt-00000010.h5

"$ev" --input.checkpoint="$ck" --eval.classifier="$dir/clf.h5" --eval.lpips_weights="$dir/lpips.h5" --data.limit=50 \
  --eval.batch_size=20 --output.json="$dir/t.json" --output.markdown="$dir/t.md" --output.npz="$dir/recon.npz" \
  --output.reference_npz="$dir/orig.npz" > "$dir/t.log" 2>&1 || fail "tokenizer mode: $(cat "$dir/t.log")"
grep -q "^images 50 (test, ema weights)  PSNR [0-9.]* dB  SSIM 0\.[0-9]*  LPIPS 0\.[0-9]*  rFD(FMNIST) [0-9.]*  utilisation" "$dir/t.log" \
  || fail "tokenizer summary: $(cat "$dir/t.log")"
grep -q "not ImageNet FID/IS" "$dir/t.log" || fail "the scores are not named honestly: $(cat "$dir/t.log")"
grep -q "^| images | PSNR (dB) | SSIM | LPIPS | rFD (FMNIST) | utilisation | codes | recon. accuracy |$" "$dir/t.md" \
  && grep -q "^| 50 | [0-9.]* | 0\.[0-9]* | 0\.[0-9]* | [0-9.]* | [0-9.]*% | [0-9]* / 1024 | [0-9.]*% |$" "$dir/t.md" \
  || fail "markdown: $(cat "$dir/t.md")"
"$py" - "$dir" <<'PY' || fail "the exports or the JSON do not agree with numpy"
import gzip, json, sys
import numpy as np
d = sys.argv[1]
j = json.load(open(f"{d}/t.json"))
for k in ("psnr", "ssim", "lpips", "rfd_fmnist", "utilisation", "codes_used", "perplexity", "recon_accuracy", "orig_accuracy"):
    assert isinstance(j[k], float) or isinstance(j[k], int), (k, j[k])
assert j["lpips"] > 0 and j["rfd_fmnist"] > 0 and j["images"] == 50 and j["codebook_size"] == 1024, j
r, o = np.load(f"{d}/recon.npz"), np.load(f"{d}/orig.npz")
assert r["arr_0"].shape == (50, 32, 32, 1) and r["arr_0"].dtype == np.uint8, r["arr_0"].shape
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz") as f:
    labels = np.frombuffer(f.read()[8:], np.uint8)[:50]
assert r["arr_1"].dtype == np.int64 and (r["arr_1"] == labels).all() and (o["arr_1"] == labels).all()
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
    imgs = np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 28, 28)[:50]
assert (o["arr_0"][:, 2:30, 2:30, 0] == imgs).all(), "the reference export is not the padded test images"
a, b = o["arr_0"].astype(np.float64) / 255, r["arr_0"].astype(np.float64) / 255
mse = ((a - b) ** 2).reshape(50, -1).mean(1)
psnr = float(np.mean(10 * np.log10(1 / mse)))
print(f"numpy PSNR {psnr:.4f}, ibq-eval {j['psnr']:.4f}")
assert abs(psnr - j["psnr"]) < 1e-3
PY
"$ev" --input.checkpoint="$ck" --eval.classifier="$dir/clf.h5" --data.limit=50 --output.json="$dir/nolp.json" \
  --output.markdown="$dir/nolp.md" > "$dir/nolp.log" 2>&1 || fail "without LPIPS: $(cat "$dir/nolp.log")"
grep -q '"lpips": null' "$dir/nolp.json" || fail "no LPIPS weights should give null: $(cat "$dir/nolp.json")"
"$ev" --input.checkpoint="$ck" --eval.classifier="$dir/clf.h5" --data.limit=50 --eval.ssim_window=gaussian \
  --output.json="$dir/gauss.json" > "$dir/gauss.log" 2>&1 || fail "Gaussian SSIM: $(cat "$dir/gauss.log")"
"$py" -c "import json; u, g = (json.load(open('$dir/' + f)) for f in ('t.json', 'gauss.json')); \
assert u['ssim_window'] == 'uniform' and g['ssim_window'] == 'gaussian' and u['ssim'] != g['ssim'] and u['psnr'] == g['psnr'], (u, g)" \
  || fail "eval.ssim_window=gaussian did not change only the SSIM"
grep -q "^| 50 | [0-9.]* | 0\.[0-9]* | - |" "$dir/nolp.md" || fail "no LPIPS weights should give '-': $(cat "$dir/nolp.md")"

# Samples mode on numpy-made archives: real test images, the same with shuffled labels, and noise.
"$py" - "$dir" <<'PY' || fail "could not make the sample archives"
import gzip, sys
import numpy as np
d = sys.argv[1]
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
    imgs = np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 28, 28)[5000:5400]
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz") as f:
    labels = np.frombuffer(f.read()[8:], np.uint8)[5000:5400].astype(np.int64)
padded = np.zeros((400, 32, 32, 1), np.uint8)
padded[:, 2:30, 2:30, 0] = imgs
rng = np.random.default_rng(0)
np.savez(f"{d}/real.npz", padded, labels)
np.savez(f"{d}/shuffled.npz", padded, rng.permutation(labels))
np.savez(f"{d}/noise.npz", rng.integers(0, 256, padded.shape, dtype=np.uint8), labels)
np.savez(f"{d}/nolabels.npz", padded)
PY
for s in real shuffled noise; do
  "$ev" --eval.mode=samples --input.samples="$dir/$s.npz" --eval.classifier="$dir/clf.h5" --output.json="$dir/$s.json" \
    > "$dir/$s.log" 2>&1 || fail "samples mode on $s: $(cat "$dir/$s.log")"
done
grep -q "^samples 400 (32x32)  FD(FMNIST) [0-9.]* vs the 10000 test images  IS(FMNIST) [0-9.]* +- [0-9.]*  class accuracy" \
  "$dir/real.log" && grep -q "^real reference: 400 training images  FD(FMNIST)" "$dir/real.log" || fail "samples summary: $(cat "$dir/real.log")"
"$py" - "$dir" <<'PY' || fail "the sample scores do not order real above shuffled and noise"
import json, sys
d = sys.argv[1]
real, shuf, noise = (json.load(open(f"{d}/{s}.json")) for s in ("real", "shuffled", "noise"))
print(f"FD real {real['fd_fmnist']:.2f} (real train reference {real['real_fd_fmnist']:.2f}), noise {noise['fd_fmnist']:.2f}; "
      f"IS real {real['is_fmnist']:.2f}, noise {noise['is_fmnist']:.2f}; accuracy real {real['class_accuracy']:.3f}, "
      f"shuffled {shuf['class_accuracy']:.3f}")
assert real["fd_fmnist"] * 5 < noise["fd_fmnist"]
assert abs(real["fd_fmnist"] - real["real_fd_fmnist"]) < 0.5 * real["real_fd_fmnist"] + 1
assert real["is_fmnist"] > noise["is_fmnist"] and real["is_splits"] == 10
assert real["class_accuracy"] > 0.6 and shuf["class_accuracy"] < 0.3
assert real["fd_fmnist"] == shuf["fd_fmnist"]
PY

# Bad input.
bad() {  # bad NAME EXPECTED ARGS...: a non-zero exit and one error line naming the problem
  local name=$1 want=$2
  shift 2
  if "$ev" "$@" > "$dir/bad_$name.log" 2>&1; then fail "$name: accepted"; fi
  grep -q "$want" "$dir/bad_$name.log" || fail "$name: expected '$want', got: $(cat "$dir/bad_$name.log")"
}
bad mode "eval.mode must be tokenizer or samples" --eval.mode=gen --eval.classifier="$dir/clf.h5"
bad window "eval.ssim_window must be uniform or gaussian" --input.checkpoint="$ck" --eval.classifier="$dir/clf.h5" \
  --eval.ssim_window=box
bad noclf "give eval.inception_weights" --input.checkpoint="$ck"
bad missingclf "eval.classifier '$dir/none.h5' does not exist" --input.checkpoint="$ck" --eval.classifier="$dir/none.h5"
bad lpips "eval.lpips_weights '$dir/none.h5' does not exist" --input.checkpoint="$ck" --eval.classifier="$dir/clf.h5" \
  --eval.lpips_weights="$dir/none.h5"
bad nolabels "has no member 'arr_1.npy'" --eval.mode=samples --input.samples="$dir/nolabels.npz" --eval.classifier="$dir/clf.h5"
bad crossed "input.samples is for eval.mode=samples" --input.checkpoint="$ck" --input.samples="$dir/real.npz" \
  --eval.classifier="$dir/clf.h5"
bad crossed2 "output.npz is for eval.mode=tokenizer" --eval.mode=samples --input.samples="$dir/real.npz" \
  --eval.classifier="$dir/clf.h5" --output.npz="$dir/x.npz"
bad notclf "holds a tokenizer checkpoint, expected a classifier one" --input.checkpoint="$ck" --eval.classifier="$ck" --data.limit=20
cp "$dir/t.json" "$dir/t.json.keep"
bad exists "output.json '$dir/t.json' exists; pass --output.overwrite=true" --input.checkpoint="$ck" \
  --eval.classifier="$dir/clf.h5" --output.json="$dir/t.json"
cmp -s "$dir/t.json" "$dir/t.json.keep" || fail "an existing output was changed"
echo "ibq-eval: tokenizer and samples modes, LPIPS, npz exports and bad input checked"
