#!/usr/bin/env bash
# ibq-prepare-data end to end on a real folder (made by make_image_folder): PNG grey/RGB/RGBA and JPEG
# grey/RGB of different sizes in 3 classes, one truncated JPEG and one empty PNG. Checks the shards' shape,
# labels, pixels, class table and config, sharding, the skip report, and the refusals.
set -u
prep=$1 make_folder=$2 dir=$3
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
"$make_folder" "$dir/in" || fail "could not build the test folder"
run() {  # run EXPECTED_STATUS ARGS...: output in $dir/stdout and $dir/stderr
  local want=$1; shift
  "$prep" "$@" >"$dir/stdout" 2>"$dir/stderr"; rc=$?
  [ "$rc" = "$want" ] || fail "exit $rc (want $want) for: $* -> $(cat "$dir/stdout" "$dir/stderr")"
}
has() { grep -qF -- "$2" "$dir/$1" || fail "no '$2' in $1: $(cat "$dir/$1")"; }
# The first pixel of every image, one "r g b" line per image, from an h5dump hyperslab.
first_pixels() {
  h5dump -d images -s 0,0,0,0 -c "$2,1,1,$3" "$1" | sed -n 's/^ *([0-9,]*): //p' | tr -d ','
}
near() {  # near "GOT" "WANT" TOL: element-wise |got - want| <= tol (JPEG is lossy)
  awk -v g="$1" -v w="$2" -v t="$3" 'BEGIN { n = split(g, a, " "); m = split(w, b, " ");
    if (n != m) exit 1; for (i = 1; i <= n; i++) { d = a[i] - b[i]; if (d < -t || d > t) exit 1 } }'
}

# --- one file, RGB -----------------------------------------------------------------------------------------
run 0 --input.dir "$dir/in" --output.path "$dir/out/all.h5" --data.resolution 32
has stdout "6 images written, 2 skipped"
has stderr "skipping '$dir/in/antelope/c_corrupt.jpg': truncated JPEG"
has stderr "skipping '$dir/in/bee/empty.png': empty file"
has stderr "8 images in 3 classes"
has stderr "1 non-image files ignored"
[ "$(grep -c '^skipping' "$dir/stderr")" = 2 ] || fail "expected exactly 2 skip lines: $(cat "$dir/stderr")"
grep -q "ignored.png" "$dir/stderr" && fail "the hidden folder .cache was read as a class"
h5=$dir/out/all.h5
h5ls "$h5" | grep -q "^images *Dataset {6, 32, 32, 3}" || fail "images shape: $(h5ls "$h5")"
h5ls "$h5" | grep -q "^labels *Dataset {6}" || fail "labels shape: $(h5ls "$h5")"
h5dump -d labels "$h5" | grep -q "(0): 0, 0, 1, 1, 2, 2" || fail "labels: $(h5dump -d labels "$h5")"
# One name a line: h5dump breaks the string at the newlines; 17 bytes = 3 names + 2 newlines.
h5dump -a class_names "$h5" | tr -d ' \n' | grep -q '"antelopebeecrab"' \
  && h5dump -a class_names "$h5" | grep -q "STRSIZE 17;" || fail "class table: $(h5dump -a class_names "$h5")"
h5dump -a format "$h5" | grep -q '"ibq-images"' || fail "format attribute"
h5dump -a config "$h5" | grep -q "resolution = 32" || fail "config does not record --data.resolution"
# grey PNG replicated; RGB PNG exact; RGBA PNG keeps its colour under alpha 0; RGB JPEG; grey JPEG; wide JPEG.
near "$(first_pixels "$h5" 6 3 | tr '\n' ' ')" "50 50 50 200 10 30 1 2 3 40 160 90 120 120 120 250 250 0" 2 \
  || fail "pixels: $(first_pixels "$h5" 6 3)"
ls "$dir/out" | grep -q tmp && fail "temporary file left behind"

# --- an existing output is never overwritten unless asked ----------------------------------------------------
before=$(sha256sum "$h5")
run 1 --input.dir "$dir/in" --output.path "$h5" --data.resolution 16
has stderr "ibq-prepare-data: error: output '$h5' exists; pass --output.overwrite=true"
[ "$(sha256sum "$h5")" = "$before" ] || fail "existing output was modified"
run 0 --input.dir "$dir/in" --output.path "$h5" --data.resolution 16 --data.channels 1 --output.overwrite=true
h5ls "$h5" | grep -q "^images *Dataset {6, 16, 16, 1}" || fail "grey images shape: $(h5ls "$h5")"
# RGB (200, 10, 30) -> luma 69, as PIL's convert("L").
[ "$(first_pixels "$h5" 2 1 | tr '\n' ' ')" = "50 69 " ] || fail "grey pixels: $(first_pixels "$h5" 2 1)"

# --- shards, INI config with a command-line override ------------------------------------------------------
printf '[data]\nresolution = 8\n[output]\nshard_size = 2\n' >"$dir/prep.ini"
run 0 --config "$dir/prep.ini" --input.dir "$dir/in" --output.path "$dir/shards/part.h5" --output.shard_size 4
has stdout "6 images written, 2 skipped; 3 classes, 8x8x3, 2 files"
[ "$(ls "$dir/shards")" = "$(printf 'part-00000.h5\npart-00001.h5')" ] || fail "shard files: $(ls "$dir/shards")"
h5ls "$dir/shards/part-00000.h5" | grep -q "^images *Dataset {4, 8, 8, 3}" || fail "shard 0 shape"
h5dump -d labels "$dir/shards/part-00001.h5" | grep -q "(0): 2, 2" || fail "shard 1 labels"
h5dump -a shard_index "$dir/shards/part-00001.h5" | grep -q "(0): 1" || fail "shard_index attribute"
h5dump -a config "$dir/shards/part-00001.h5" | grep -q "shard_size = 4" || fail "config does not record the override"
run 1 --input.dir "$dir/in" --output.path "$dir/shards/part.h5" --output.shard_size 4
has stderr "output shard '$dir/shards/part-00000.h5' exists; pass --output.overwrite=true"
run 0 --input.dir "$dir/in" --output.path "$dir/shards/part.h5" --output.shard_size 6 --data.resolution 8 \
  --output.overwrite=true
has stderr "removed stale shard '$dir/shards/part-00001.h5'"
[ "$(ls "$dir/shards")" = "part-00000.h5" ] || fail "stale shards left: $(ls "$dir/shards")"

# --- images kept at their aspect ratio (data.keep_aspect): short side 16, long side up to 2 x 16, top-left in
# a 32x32 pitch, with each image's size in `extents` (40x60 -> 16x24, 80x50 -> 26x16, 33x77 -> 16x37 cut
# to 32, 120x90 -> 21x16, 64x64 -> 16x16, 20x200 -> 16x160 cut to 32).
run 0 --input.dir "$dir/in" --output.path "$dir/aspect.h5" --data.resolution 16 --data.keep_aspect=true
has stdout "6 images written, 2 skipped; 3 classes, short side 16 (long side <= 32)x3, 1 file"
h5ls "$dir/aspect.h5" | grep -q "^images *Dataset {6, 32, 32, 3}" || fail "aspect pitch: $(h5ls "$dir/aspect.h5")"
[ "$(h5dump -d extents "$dir/aspect.h5" | sed -n 's/^ *([0-9,]*): //p' | tr -d ',\n ')" = "162426161632211616161632" ] ||
  fail "extents: $(h5dump -d extents "$dir/aspect.h5")"
# Outside its extent an image is zero: the 16x24 grey one at row 0, column 24; inside it is its colour.
[ "$(h5dump -d images -s 0,0,24,0 -c 1,1,1,1 "$dir/aspect.h5" | sed -n 's/^ *([0-9,]*): //p')" = "0" ] ||
  fail "pitch padding is not zero"
[ "$(h5dump -d images -s 0,15,23,0 -c 1,1,1,1 "$dir/aspect.h5" | sed -n 's/^ *([0-9,]*): //p')" = "50" ] ||
  fail "the 16x24 image does not fill its extent"
run 1 --input.dir "$dir/in" --output.path "$dir/aspect2.h5" --data.keep_aspect=true --data.max_aspect 0.5
has stderr "data.max_aspect must be in [1, 16], got 0.5"
# Patches: 3 random 16x16 squares of every image after its short side went to 24; each keeps its label.
run 0 --input.dir "$dir/in" --output.path "$dir/patches.h5" --data.resolution 16 --data.patches 3 --data.patch_from 24
has stdout "18 images written, 2 skipped"
h5ls "$dir/patches.h5" | grep -q "^images *Dataset {18, 16, 16, 3}" || fail "patch shape: $(h5ls "$dir/patches.h5")"
h5dump -d labels "$dir/patches.h5" | grep -q "(0): 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2" ||
  fail "patch labels: $(h5dump -d labels "$dir/patches.h5")"
# Images smaller than a patch are skipped by name (120x90 and 64x64 have room for 64x64 patches).
run 0 --input.dir "$dir/in" --output.path "$dir/patches2.h5" --data.resolution 64 --data.patches 2
has stdout "4 images written, 6 skipped"
has stderr "skipping '$dir/in/antelope/a_gray.png': the image is 40x60 (after data.patch_from), smaller than a 64x64 patch"

# --- the reference's validation preprocessing: data.antialias=false is albumentations' SmallestMaxSize (OpenCV's
# 2-tap INTER_LINEAR) + CenterCrop; checked on a textured image against PyTorch's bilinear resize (antialias
# off, align_corners off: the same sampling) and crop, within 1 (the two round differently).
if /usr/bin/python3 -c "import torch, PIL" 2>/dev/null; then
  mkdir -p "$dir/texture/cls"
  /usr/bin/python3 - "$dir/texture/cls/t.png" <<'PY' || fail "could not write the textured image"
import sys, numpy as np
from PIL import Image
y, x = np.mgrid[0:97, 0:131]
img = np.stack([128 + 100 * np.sin(x / 3.0 + y / 7.0), 128 + 90 * np.cos(x * y / 150.0), (7 * x + 13 * y) % 256], -1)
Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(sys.argv[1])
PY
  run 0 --input.dir "$dir/texture" --output.path "$dir/texture.h5" --data.resolution 32 --data.antialias=false
  /usr/bin/python3 - "$dir/texture/cls/t.png" "$dir/texture.h5" <<'PY' || fail "antialias=false is not the reference's bilinear"
import sys, h5py, numpy as np, torch, torch.nn.functional as F
from PIL import Image
src = torch.from_numpy(np.asarray(Image.open(sys.argv[1])).astype(np.float64)).permute(2, 0, 1)[None]
h, w = src.shape[2:]
nh, nw = (32, int(round(w * 32 / h))) if h <= w else (int(round(h * 32 / w)), 32)
r = F.interpolate(src, size=(nh, nw), mode="bilinear", align_corners=False)[0].permute(1, 2, 0)
top, left = (nh - 32) // 2, (nw - 32) // 2
want = r[top:top + 32, left:left + 32].round().clamp(0, 255).numpy()
got = h5py.File(sys.argv[2], "r")["images"][0].astype(np.float64)
d = np.abs(got - want).max()
print("antialias=false vs PyTorch bilinear + centre crop: max difference %g (of 255)" % d)
sys.exit(0 if d <= 1 else 1)
PY
  # The reference's training preprocessing before its random crop: SmallestMaxSize alone (data.keep_aspect),
  # 97x131 -> 32x43, against PyTorch's bilinear resize within 1.
  run 0 --input.dir "$dir/texture" --output.path "$dir/texture_aspect.h5" --data.resolution 32 --data.antialias=false \
    --data.keep_aspect=true
  /usr/bin/python3 - "$dir/texture/cls/t.png" "$dir/texture_aspect.h5" <<'PY' || fail "keep_aspect is not SmallestMaxSize"
import sys, h5py, numpy as np, torch, torch.nn.functional as F
from PIL import Image
src = torch.from_numpy(np.asarray(Image.open(sys.argv[1])).astype(np.float64)).permute(2, 0, 1)[None]
want = F.interpolate(src, size=(32, 43), mode="bilinear", align_corners=False)[0].permute(1, 2, 0)
f = h5py.File(sys.argv[2], "r")
assert list(f["extents"][0]) == [32, 43], f["extents"][0]
got = f["images"][0][:32, :43].astype(np.float64)
d = np.abs(got - want.round().clamp(0, 255).numpy()).max()
print("keep_aspect, antialias=false vs PyTorch bilinear (SmallestMaxSize): max difference %g (of 255)" % d)
sys.exit(0 if d <= 1 and f["images"][0][:, 43:].max() == 0 else 1)
PY
  # Patches: 4 random 16x16 squares of the texture (as decoded), each found exactly in it, at distinct places;
  # the same seed cuts the same patches, another seed others.
  for seed in 1 1 2; do
    run 0 --input.dir "$dir/texture" --output.path "$dir/patches-$seed.h5" --data.resolution 16 --data.patches 4 \
      --data.patch_seed $seed --output.overwrite=true
  done
  has stdout "4 images written, 0 skipped"
  /usr/bin/python3 - "$dir/texture/cls/t.png" "$dir/patches-1.h5" "$dir/patches-2.h5" <<'PY' || fail "patches are not windows of the image"
import sys, h5py, numpy as np
from PIL import Image
src = np.asarray(Image.open(sys.argv[1]))
found = []
for p in h5py.File(sys.argv[2], "r")["images"][()]:
    at = [(y, x) for y in range(src.shape[0] - 15) for x in range(src.shape[1] - 15)
          if (src[y:y + 16, x:x + 16] == p).all()]
    assert at, "a patch is not a window of the image"
    found.append(at[0])
assert len(set(found)) == 4, found
assert not (h5py.File(sys.argv[3], "r")["images"][()] == h5py.File(sys.argv[2], "r")["images"][()]).all()
print("4 patches at", found)
PY
  cmp -s <(h5dump -d images "$dir/patches-1.h5") <(h5dump -d images "$dir/patches-2.h5") && fail "another seed cut the same patches"
else
  fail "PyTorch and PIL are needed under /usr/bin/python3 for the preprocessing check (hpc/setup.sh --with-torch)"
fi

# --- bad input: one error line, non-zero exit ----------------------------------------------------------------
run 1 --input.dir "$dir/nothing" --output.path "$dir/x.h5"
has stderr "ibq-prepare-data: error: input folder '$dir/nothing' does not exist"
mkdir -p "$dir/flat" && cp "$dir/in/antelope/a_gray.png" "$dir/flat/"
run 1 --input.dir "$dir/flat" --output.path "$dir/x.h5"
has stderr "has no class sub-folders"
mkdir -p "$dir/no_images/cls" && echo hi >"$dir/no_images/cls/readme.txt"
run 1 --input.dir "$dir/no_images" --output.path "$dir/x.h5"
has stderr "no .png, .jpg or .jpeg files in its 1 class folders"
mkdir -p "$dir/all_bad/cls" && : >"$dir/all_bad/cls/zero.jpg"
run 1 --input.dir "$dir/all_bad" --output.path "$dir/x.h5"
has stderr "none of the 1 images"
[ -e "$dir/x.h5" ] && fail "an output was written although every image failed"
run 1 --output.path "$dir/x.h5"
has stderr "input.dir is required"
run 1 --input.dir "$dir/in" --output.path "$dir/x.h5" --data.channels 2
has stderr "data.channels must be 1 (grey) or 3 (RGB), got 2"
run 2 --input.dir "$dir/in" --output.path "$dir/x.h5" --data.resolutoin 8
has stderr "unrecognised option '--data.resolutoin'"
run 0 --help
has stdout "--data.resolution arg (=256)"
echo "prepare-data behaved"
