#!/usr/bin/env bash
# SEED-Voken checkpoints in and out (hpc/import_seed_voken.py), on models with the reference's exact structure
# and key names and random weights (tests/reference/seed_voken_reference.py, PyTorch):
#   the imported tokenizer gives PyTorch's tokens and reconstructions (raw and EMA weights, 1e-4), the
#   imported AR model its logits (1e-4), and ibq-sample's greedy tokens equal PyTorch's greedy tokens with
#   and without guidance; ibq -> state dict -> ibq is bitwise, and the exported files load into the reference
#   modules with strict=True; bad input gets one clear error and a non-zero exit, and nothing is overwritten.
set -u
export OMP_PROC_BIND=false OMP_NUM_THREADS=2
check=$1 sample=$2 dir=$3 src=$4
py=/usr/bin/python3
$py -c "import torch, h5py" 2>/dev/null || { echo "FAIL: PyTorch and h5py are needed under $py (hpc/setup.sh --with-torch)"; exit 1; }
imp="$py $src/hpc/import_seed_voken.py"
ref="$py $src/tests/reference/seed_voken_reference.py"
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
run() { echo "+ $*"; "$@" || fail "exit $? from: $*"; }
expect() {  # expect STATUS PATTERN -- COMMAND...
  local want=$1 pattern=$2; shift 3
  out=$("$@" 2>&1); rc=$?
  [ "$rc" = "$want" ] || fail "exit $rc (want $want) for: $* -> $out"
  echo "$out" | grep -q -- "$pattern" || fail "no '$pattern' in output for: $* -> $out"
  echo "ok: exit $rc: $(echo "$out" | grep -- "$pattern" | head -1)"
}

run $ref small "$dir"
# Tokenizer: every tensor used but the discriminator's, which is reported.
out=$($imp import tokenizer.ckpt tok.h5 --resolution 16) || fail "import tokenizer: $out"
echo "$out"
echo "$out" | grep -q "unused: loss.discriminator.main.0.weight \[8, 3, 4, 4\]" || fail "unused key not reported"
echo "$out" | grep -q "ema/ = LitEma's weights" || fail "LitEma weights not taken"
run "$check" tokenizer tok.h5 expected.h5 ema
run "$check" tokenizer tok.h5 expected.h5 params
# AR: its tokenizer (EMA values under plain names) beside it, named by the AR checkpoint.
out=$($imp import ar.ckpt ar.h5 --resolution 16 --heads 2) || fail "import ar: $out"
echo "$out"
[ -f ar-tokenizer.h5 ] || fail "no ar-tokenizer.h5"
echo "$out" | grep -q "every tensor of the file was used" || fail "AR import left tensors unused"
run "$check" ar ar.h5 expected.h5
# The imported files carry ibq's integrity features: Fletcher32 on every dataset with data, the 1.10
# format and the ibq_datasets manifest (what ibq-inspect --verify and train.resume=auto check).
$py - tok.h5 ar.h5 ar-tokenizer.h5 <<'PY' || fail "imported files lack checksums or their manifest"
import sys, h5py
for path in sys.argv[1:]:
    with h5py.File(path, "r") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        bare = [n for n in names if f[n].size > 0 and not f[n].fletcher32]
        assert not bare, "%s: no checksum on %s" % (path, bare[:3])
        listed = f.attrs["ibq_datasets"]
        listed = listed.decode() if isinstance(listed, bytes) else listed
        assert sorted(listed.split("\n")) == sorted(names), "%s: the manifest does not list its datasets" % path
        assert f.id.get_create_plist().get_version()[0] >= 2, "%s: superblock of the old format" % path
print("imported files: every dataset checksummed, manifests complete")
PY
run "$check" tokenizer ar-tokenizer.h5 expected.h5 ema
for scale in 1 2; do
  run "$sample" --input.checkpoint ar.h5 --sample.classes 0,1,2,3,4 --sample.per_class 1 --sample.top_k 1 \
    --sample.cfg $scale --output.png none --output.tokens greedy$scale.npz --runtime.threads 2
  $py - greedy$scale.npz expected.h5 $scale <<'PY' || fail "greedy tokens differ (cfg $scale)"
import sys, numpy as np, h5py
got = np.load(sys.argv[1])["arr_0"].reshape(5, -1)
want = h5py.File(sys.argv[2], "r")["ar/greedy_cfg%g" % float(sys.argv[3])][()]
print("cfg %s: %d of %d greedy tokens equal PyTorch's" % (sys.argv[3], (got == want).sum(), want.size))
sys.exit(0 if np.array_equal(got, want) else 1)
PY
done

# ibq -> state dict -> ibq is bitwise; the state dicts load strictly into the reference modules.
run $imp export tok.h5 tok_back.ckpt
run $imp export ar.h5 ar_back.ckpt
run $ref strict tok_back.ckpt tokenizer "$dir"
run $ref strict ar_back.ckpt ar "$dir"
run $imp import tok_back.ckpt tok2.h5 --resolution 16 --quiet
run $imp import ar_back.ckpt ar2.h5 --resolution 16 --heads 2 --quiet
$py - <<'PY' || fail "round trip is not bitwise"
import h5py, numpy as np
for a, b in (("tok.h5", "tok2.h5"), ("ar.h5", "ar2.h5"), ("ar-tokenizer.h5", "ar2-tokenizer.h5")):
    fa, fb = h5py.File(a, "r"), h5py.File(b, "r")
    names = []
    fa.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and n.split("/")[0] in ("params", "ema") else None)
    other = []
    fb.visititems(lambda n, o: other.append(n) if isinstance(o, h5py.Dataset) and n.split("/")[0] in ("params", "ema") else None)
    assert sorted(names) == sorted(other), (a, set(names) ^ set(other))
    for n in names:
        x, y = fa[n][()], fb[n][()]
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), (a, n)
    cfg = lambda f: [l for l in f.attrs["config"].splitlines() if not l.startswith("#")]
    assert cfg(fa) == cfg(fb), (a, cfg(fa), cfg(fb))
    print("%s -> state dict -> %s: %d tensors bitwise equal, same configuration" % (a, b, len(names)))
PY

# Bad input: one clear error line, exit 1, nothing overwritten.
before=$(sha256sum tok.h5)
expect 1 "'tok.h5' exists; pass --overwrite" -- $imp import tokenizer.ckpt tok.h5 --resolution 16
[ "$(sha256sum tok.h5)" = "$before" ] || fail "an existing output was modified"
expect 1 "'missing.ckpt' does not exist" -- $imp import missing.ckpt x.h5
echo "not a checkpoint" > junk.ckpt
expect 1 "not a readable PyTorch checkpoint\|pre-1.6 format" -- $imp import junk.ckpt x.h5
head -c 100000 tokenizer.ckpt > cut.ckpt
expect 1 "error:" -- $imp import cut.ckpt x.h5
$py - <<'PY'
import torch
sd = torch.load("tokenizer.ckpt")["state_dict"]
bad = dict(sd); bad["decoder.conv_out.weight"] = torch.zeros(3, 32, 1, 1)
torch.save({"state_dict": bad}, "shape.ckpt")
gone = dict(sd); del gone["decoder.mid.attn_1.q.bias"]
torch.save({"state_dict": gone}, "missing_key.ckpt")
ema = dict(sd); del ema["model_ema.encoderconv_inweight"]
torch.save({"state_dict": ema}, "ema_gap.ckpt")
nan = dict(sd); nan["quant_conv.weight"] = nan["quant_conv.weight"].clone(); nan["quant_conv.weight"][0, 0] = float("nan")
torch.save({"state_dict": nan}, "nan.ckpt")
torch.save({"state_dict": {"foo.weight": torch.zeros(2)}}, "other.ckpt")
PY
expect 1 "'decoder.conv_out.weight' has shape \[3, 32, 1, 1\], the inferred architecture needs \[3, 32, 3, 3\]" -- \
  $imp import shape.ckpt x.h5 --resolution 16
expect 1 "missing, e.g. decoder.mid.attn_1.q.bias" -- $imp import missing_key.ckpt x.h5 --resolution 16
expect 1 "lacks 1 of them, e.g. model_ema.encoderconv_inweight" -- $imp import ema_gap.ckpt x.h5 --resolution 16
expect 1 "'quant_conv.weight' holds NaN" -- $imp import nan.ckpt x.h5 --resolution 16
expect 1 "neither a SEED-Voken IBQ tokenizer" -- $imp import other.ckpt x.h5
expect 1 "not divisible by 2^1" -- $imp import tokenizer.ckpt x.h5 --resolution 15
expect 1 "--heads 3: width 64 must split" -- $imp import ar.ckpt x.h5 --resolution 16 --heads 3
[ ! -e x.h5 ] && [ ! -e x.h5.tmp ] && [ ! -e x-tokenizer.h5 ] || fail "a failed import left a file behind"
expect 1 "'expected.h5' is not an ibq checkpoint" -- $imp export expected.h5 y.ckpt
expect 2 "invalid choice\|unrecognized arguments" -- $imp import tokenizer.ckpt x.h5 --bogus
echo "SEED-Voken import and export behaved"
