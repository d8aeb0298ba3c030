#!/usr/bin/env bash
# A full-size import: the released K = 16384 tokenizer's architecture (111 M parameters, random weights and a
# LitEma copy, 0.9 GB) in SEED-Voken's layout -> ibq. Checks the parameter count, every tensor's float64 sum
# and sum of squares against PyTorch's, that the drivers load the result, and that the importer streamed it
# (peak memory well under the file's size).
set -u
export OMP_PROC_BIND=false OMP_NUM_THREADS=2
check=$1 dir=$2 src=$3
py=/usr/bin/python3
$py -c "import torch, h5py" 2>/dev/null || { echo "FAIL: PyTorch and h5py are needed under $py (hpc/setup.sh --with-torch)"; exit 1; }
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
$py "$src/tests/reference/seed_voken_reference.py" full "$dir" || fail "reference"
out=$($py "$src/hpc/import_seed_voken.py" import imagenet256_16384.ckpt ibq_16384.h5) || fail "import: $out"
echo "$out"
echo "$out" | grep -q "every tensor of the file was used" || fail "tensors left unused"
$py - "$out" <<'PY' || fail "checksums or memory"
import json, re, sys, h5py, numpy as np
ref = json.load(open("checksums.json"))
f = h5py.File("ibq_16384.h5", "r")
names = []
f["params"].visititems(lambda k, o: names.append(k) if isinstance(o, h5py.Dataset) else None)
n = sum(f["params/" + k].size for k in names)
assert n == ref["parameters"] == 110982019, (n, ref["parameters"])
checked = 0
for key, want in ref["tensors"].items():
    group, name = ("ema", None) if key.startswith("model_ema.") else ("params", key)
    if name is None:
        name = [k for k in names if k.replace(".", "") == key[len("model_ema."):]][0]
    a = f[group + "/" + name][()].astype(np.float64)
    assert list(a.shape) == want["shape"], (key, a.shape, want["shape"])
    for stat, v in (("sum", a.sum()), ("sumsq", (a * a).sum())):
        assert abs(v - want[stat]) <= 1e-9 * max(1.0, abs(want[stat])), (key, stat, v, want[stat])
    checked += 1
peak = float(re.search(r"peak memory (\d+) MB", sys.argv[1]).group(1))
print("%d parameters; %d tensors (params and LitEma's) match PyTorch's sums; importer peak memory %.0f MB for a %.0f MB file"
      % (n, checked, peak, 888.2))
assert peak < 400, "the importer held %.0f MB: it did not stream" % peak
PY
"$check" count ibq_16384.h5 | tee count.txt || fail "the drivers cannot load it"
grep -q "110982019 parameters (K = 16384)" count.txt || fail "wrong size after loading"
echo "full-size import behaved"
