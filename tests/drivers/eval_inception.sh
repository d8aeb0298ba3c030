#!/usr/bin/env bash
# ibq-eval's standard scores with pytorch-fid's FID Inception (random full-size weights made here by
# hpc/make_inception_weights.py's PyTorch network; the real ones cannot be downloaded on the test machine):
#   samples mode: FID and IS of uint8 image sets equal what PyTorch's features give through pytorch-fid's
#   formula (scipy's sqrtm) and ADM's IS formula; a set against itself has FID 0; an ADM-style reference
#   .npz of mu/sigma computed by numpy gives the FID of the images it was computed from; 2 MPI ranks give
#   the numbers of 1. tokenizer mode: rfid is reported with the network that made it, on the checkpoint's
#   split and on the same images given as shards (data.images), identically. Bad input: one clear error.
set -u
export OMP_PROC_BIND=false OMP_NUM_THREADS=2 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ev=$1 tok=$2 shards=$3 dir=$4 src=$5
py=/usr/bin/python3
$py -c "import torch, torchvision, h5py, scipy" 2>/dev/null || { echo "FAIL: PyTorch, torchvision, h5py and scipy are needed under $py (hpc/setup.sh --with-torch)"; exit 1; }
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
bad() {  # bad PATTERN ARGS...: a non-zero exit and an error line naming the problem
  local want=$1; shift
  if "$ev" "$@" > bad.log 2>&1; then fail "accepted: $*"; fi
  grep -q -- "$want" bad.log || fail "expected '$want', got: $(cat bad.log)"
  echo "ok: $(grep -- "$want" bad.log | head -1)"
}

# Weights, two shifted image sets, and what PyTorch + numpy/scipy make of them.
$py - "$src" <<'PY' || fail "PyTorch reference"
import json, sys
import numpy as np, scipy.linalg, torch
sys.path.insert(0, sys.argv[1] + "/hpc")
import make_inception_weights as miw
net = miw.random_fid_inception(7)
with torch.no_grad():
    net.fc.weight *= 100  # a confident softmax, so that the IS is far from 1 and its check means something
torch.save(net.state_dict(), "random_fid_weights.pth")  # as pytorch-fid's .pth: the converter's real input
rng = np.random.default_rng(1)
sets = {"a": rng.normal(100, 40, (12, 24, 24, 3)), "b": rng.normal(160, 40, (12, 24, 24, 3))}
feats = {}
with torch.no_grad():  # float32, as ibq runs: the features agree to ~1e-5, far inside the tolerances below
    for name, x in sets.items():
        u8 = x.clip(0, 255).astype(np.uint8)
        np.savez("%s.npz" % name, u8, np.zeros(len(u8), np.int64))
        pool3, logits = miw.pool3_and_logits(net, torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 255)
        feats[name] = (pool3.double().numpy(), logits.double().numpy())
def fid(x, y):  # pytorch-fid's calculate_frechet_distance
    m1, m2, s1, s2 = x.mean(0), y.mean(0), np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))
def inception_score(logits):  # ADM's formula, one split
    p = np.exp(logits - logits.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(p.mean(0, keepdims=True))), 1))))
b = feats["b"][0]
np.savez("b_stats.npz", mu=b.mean(0), sigma=np.cov(b, rowvar=False))
json.dump({"fid_ab": fid(feats["a"][0], b), "is_a": inception_score(feats["a"][1])}, open("expected.json", "w"))
print("PyTorch + scipy: FID(a, b) %.6f, IS(a) %.6f" % (fid(feats["a"][0], b), inception_score(feats["a"][1])))
PY

out=$($py "$src/hpc/make_inception_weights.py" random_fid_weights.pth w.h5) || fail "converter: $out"
echo "$out"
out=$($py "$src/hpc/make_inception_weights.py" missing.pth x.h5 2>&1) && fail "a missing input was accepted"
echo "$out" | grep -q "download pytorch-fid's FID weights" || fail "missing input: $out"

run() {  # run NAME ARGS...: ibq-eval samples mode, JSON in NAME.json
  local name=$1; shift
  "$ev" --eval.mode=samples --eval.inception_weights=w.h5 --eval.batch_size=8 \
    --output.json="$name.json" "$@" > "$name.log" 2>&1 || fail "$name: $(cat "$name.log")"
}
run ab --input.samples=a.npz --eval.reference_batch=b.npz --eval.is_splits=1
run ab_stats --input.samples=a.npz --eval.reference_batch=b_stats.npz --eval.is_splits=4
run aa --input.samples=a.npz --eval.reference_batch=a.npz --eval.is_splits=1
mpirun -n 2 --oversubscribe "$ev" --eval.mode=samples --eval.inception_weights=w.h5 --eval.is_splits=1 --eval.batch_size=8 \
  --input.samples=a.npz --eval.reference_batch=b.npz --output.json=ab_mpi.json > ab_mpi.log 2>&1 || fail "mpirun: $(cat ab_mpi.log)"
grep -q "pytorch-fid's FID InceptionV3.*w.h5 (random_fid_weights.pth)" ab.log || fail "the network is not named: $(cat ab.log)"
$py - <<'PY' || fail "the Inception scores differ from PyTorch's"
import json
e = json.load(open("expected.json"))
ab, st, aa, mpi = (json.load(open(n + ".json")) for n in ("ab", "ab_stats", "aa", "ab_mpi"))
print("ibq-eval: FID(a, b) %.6f (PyTorch %.6f), with numpy's mu/sigma %.6f, FID(a, a) %.3g, 2 ranks %.6f; IS(a) %.6f "
      "(PyTorch %.6f); 4 parts %.4f +- %.4f" % (ab["fid"], e["fid_ab"], st["fid"], aa["fid"], mpi["fid"], ab["is"], e["is_a"],
                                                st["is"], st["is_std"]))
assert abs(ab["fid"] - e["fid_ab"]) <= 1e-3 * e["fid_ab"], "FID"
assert abs(st["fid"] - ab["fid"]) <= 1e-3 * ab["fid"], "reference statistics vs images"
assert abs(aa["fid"]) <= 1e-6 * ab["fid"], "a set against itself"
assert abs(mpi["fid"] - ab["fid"]) <= 1e-9 * ab["fid"] and abs(mpi["is"] - ab["is"]) <= 1e-12 * ab["is"] and mpi["ranks"] == 2, "MPI"
assert abs(ab["is"] - e["is_a"]) <= 1e-4 * e["is_a"], "IS"
assert st["is_std"] > 0 and st["is_splits"] == 4, "IS over 4 parts"
assert "inception" in ab and "w.h5" in ab["inception"] and ab["reference_batch"] == "b.npz"
PY

# Tokenizer mode: rFID on the checkpoint's split and on the same pixels as shards.
"$tok" --config "$src/experiments/quickstart.ini" --data.train_limit=256 --model.ch=16 --train.steps=4 \
  --train.time_limit=0 --log.every=2 --output.dir=run > tok.log 2>&1 || fail "tokenizer: $(tail -3 tok.log)"
ck=run/ckpt-00000004.h5
"$shards" fm 24 10 > /dev/null || fail "make_fmnist_shards"
"$ev" --input.checkpoint=$ck --eval.inception_weights=w.h5 --data.split=train --data.limit=24 --eval.batch_size=8 \
  --output.json=r_split.json > r_split.log 2>&1 || fail "rfid on the split: $(cat r_split.log)"
"$ev" --input.checkpoint=$ck --eval.inception_weights=w.h5 --data.images=fm --eval.batch_size=8 \
  --output.json=r_shards.json > r_shards.log 2>&1 || fail "rfid on shards: $(cat r_shards.log)"
grep -q "^images 24 (train, ema weights)  PSNR [0-9.]* dB  SSIM [0-9.]*  LPIPS -  rFID [0-9.]*  utilisation" r_split.log \
  || fail "tokenizer summary: $(cat r_split.log)"
grep -q "^rFID: originals vs reconstructions as floats in \[-1, 1\], pytorch-fid's FID InceptionV3" r_split.log || fail "rFID not described"
grep -q "not ImageNet FID/IS" r_split.log && fail "no classifier was given, yet its caveat was printed"
$py - <<'PY' || fail "rfid"
import json
a, b = json.load(open("r_split.json")), json.load(open("r_shards.json"))
print("rFID %.4f on the split, %.4f on the same images as shards; PSNR %.4f / %.4f" % (a["rfid"], b["rfid"], a["psnr"], b["psnr"]))
assert a["rfid"] > 0 and a["rfid"] == b["rfid"] and a["psnr"] == b["psnr"] and b["images_from"] == "fm"
assert "rfd_fmnist" not in a and a["images"] == 24
PY

bad "eval.inception_weights 'none.h5' does not exist; make it with 'python3 hpc/make_inception_weights.py" \
  --eval.mode=samples --input.samples=a.npz --eval.inception_weights=none.h5
bad "give eval.inception_weights" --eval.mode=samples --input.samples=a.npz
bad "eval.reference_batch is the FID reference: give eval.inception_weights too" --eval.mode=samples --input.samples=a.npz \
  --eval.classifier=x.h5 --eval.reference_batch=b.npz
bad "eval.reference_batch is for eval.mode=samples" --input.checkpoint=$ck --eval.inception_weights=w.h5 --eval.reference_batch=b.npz
bad "eval.reference_batch 'nothing.npz' does not exist" --eval.mode=samples --input.samples=a.npz \
  --eval.inception_weights=w.h5 --eval.reference_batch=nothing.npz
$py -c "import numpy as np; np.savez('odd.npz', mu=np.zeros(3), sigma=np.eye(3))"
bad "mu and sigma must be \[2048\] and \[2048, 2048\]" --eval.mode=samples --input.samples=a.npz --eval.inception_weights=w.h5 \
  --eval.reference_batch=odd.npz
bad "names no train images (an imported checkpoint?)\|data.images: neither 'nowhere'" --input.checkpoint=$ck \
  --eval.inception_weights=w.h5 --data.images=nowhere
echo "ibq-eval with the FID Inception behaved"
