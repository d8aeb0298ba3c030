#!/usr/bin/env bash
# Crash images: what a node crash, a full quota or a bad disk leaves in a run directory, and how the run
# goes on. The newest checkpoint is truncated (at several offsets), emptied, has one byte of a tensor
# flipped, or loses a group; each time `ibq-inspect --verify` names the damage, train.resume=auto skips it
# with a warning that names it (moving it to *.damaged), resumes from the previous good one, and ends
# bitwise equal to the undamaged run. Then a file-size limit (`ulimit -f`, SIGXFSZ ignored) and a full
# tmpfs (ENOSPC, where the test may mount one): one clear
# error line, a non-zero exit, the previous checkpoint intact and no temporary file left. (PMIx keeps its
# job data in shared-memory files, which the limit would break: PMIX_MCA_gds=hash keeps it in memory.)
set -eu
tok=$1 inspect=$2 dir=$3 src=$4
umount "$dir/tmpfs" 2> /dev/null || true  # left mounted by an interrupted run
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
py=/usr/bin/python3
tiny=(--config "$src/experiments/quickstart.ini" --data.train_limit=64 --model.ch=8 --model.ch_mult=1,2
      --model.norm_groups=4 --model.z_channels=8 --model.embed_dim=8 --model.codebook_size=64
      --train.batch_size=4 --train.steps=6 --train.warmup_steps=2 --train.time_limit=0 --log.every=2
      --output.checkpoint_every=2 --output.keep=3 --runtime.threads=2)
"$tok" "${tiny[@]}" --output.dir="$dir/pristine" > "$dir/pristine.log" 2>&1 || fail "pristine run: $(cat "$dir/pristine.log")"
good=$dir/pristine/ckpt-00000006.h5
"$inspect" --verify "$dir"/pristine/ckpt-*.h5 > "$dir/verify.log" || fail "pristine checkpoints do not verify: $(cat "$dir/verify.log")"
[ "$(grep -c '^OK ' "$dir/verify.log")" = 3 ] || fail "expected 3 OK lines: $(cat "$dir/verify.log")"
size=$(stat -c %s "$good")

# damage NAME COMMAND...: a copy of the pristine run whose newest checkpoint COMMAND damages.
damage() {
  local name=$1; shift
  rm -rf "$dir/$name" && cp -r "$dir/pristine" "$dir/$name"
  "$@" "$dir/$name/ckpt-00000006.h5"
}
truncate_to() { truncate -s "$1" "$2"; }
flip_tensor_byte() {  # one byte in the middle of params/quantize.embedding.weight's data
  $py - "$1" <<'EOF'
import sys, h5py
path = sys.argv[1]
with h5py.File(path, "r") as f:
    ds = f["params/quantize.embedding.weight"]
    offset = ds.id.get_chunk_info(0).byte_offset
with open(path, "r+b") as f:
    f.seek(offset + 100)
    b = f.read(1)
    f.seek(offset + 100)
    f.write(bytes([b[0] ^ 0x04]))
EOF
}
drop_group() { $py -c "import sys, h5py; del h5py.File(sys.argv[1], 'r+')['optim/v']" "$1"; }

cases=(cut10 cut50 cut99 empty flip lost)
damage cut10 truncate_to $((size / 10))
damage cut50 truncate_to $((size / 2))
damage cut99 truncate_to $((size - 100))
damage empty truncate_to 0
damage flip flip_tensor_byte
damage lost drop_group
declare -A why=([cut10]="truncated file" [cut50]="truncated file" [cut99]="truncated file" [empty]="not an HDF5 file"
                [flip]="quantize.embedding.weight.*Fletcher32" [lost]="optim/v/.*missing")
for c in "${cases[@]}"; do
  bad=$dir/$c/ckpt-00000006.h5
  if "$inspect" --verify "$bad" > "$dir/$c-verify.log" 2>&1; then fail "$c: --verify accepted it: $(cat "$dir/$c-verify.log")"; fi
  grep -Eq "^DAMAGED .*${why[$c]}" "$dir/$c-verify.log" || fail "$c: --verify does not say why: $(cat "$dir/$c-verify.log")"
  "$tok" "${tiny[@]}" --output.dir="$dir/$c" > "$dir/$c.log" 2>&1 || fail "$c: resume failed: $(cat "$dir/$c.log")"
  grep -q "warning: skipping $bad: .*moved to $bad.damaged" "$dir/$c.log" || fail "$c: no warning naming it: $(cat "$dir/$c.log")"
  grep -q "resumed from $dir/$c/ckpt-00000004.h5 at step 4" "$dir/$c.log" || fail "$c: not resumed from step 4: $(cat "$dir/$c.log")"
  [ -f "$bad.damaged" ] || fail "$c: the damaged file was not kept aside"
  for g in params ema optim; do
    h5diff -r "$good" "$bad" "/$g" "/$g" > /dev/null || fail "$c: /$g differs from the undamaged run after resuming"
  done
  echo "$c: skipped with '$(grep -o 'skipping.*' "$dir/$c.log" | cut -c1-150)...', resumed from step 4, bitwise equal"
done

# Every checkpoint damaged: a clear error, nothing deleted.
rm -rf "$dir/all" && cp -r "$dir/pristine" "$dir/all"
for f in "$dir"/all/ckpt-*.h5; do truncate -s 1000 "$f"; done
if out=$("$tok" "${tiny[@]}" --output.dir="$dir/all" 2>&1); then fail "resumed with no good checkpoint: $out"; fi
echo "$out" | grep -q "none of the 3 checkpoints in '$dir/all' is intact" || fail "no clear error: $out"
[ "$(ls "$dir"/all/*.damaged | wc -l)" = 3 ] || fail "damaged checkpoints were not kept"

# A full disk at the next checkpoint: one line, exit non-zero, the previous checkpoint intact, no temporary.
rm -rf "$dir/full" && cp -r "$dir/pristine" "$dir/full"
rm "$dir/full/ckpt-00000006.h5"
before=$(sha256sum "$dir/full/ckpt-00000004.h5" | cut -d' ' -f1)
limit_kb=$(( $(stat -c %s "$dir/full/ckpt-00000004.h5") / 2048 ))
if (trap "" XFSZ; ulimit -f "$limit_kb"; export PMIX_MCA_gds=hash; exec "$tok" "${tiny[@]}" --output.dir="$dir/full" > "$dir/full.out" 2> "$dir/full.err"); then
  fail "the run succeeded past a $limit_kb KiB file-size limit"
fi
grep -q "error: .*ckpt-00000006.h5.*EFBIG" "$dir/full.err" || fail "no clear error: $(cat "$dir/full.err")"
[ "$(grep -c error "$dir/full.err")" = 1 ] || fail "more than one error line: $(cat "$dir/full.err")"
[ "$(sha256sum "$dir/full/ckpt-00000004.h5" | cut -d' ' -f1)" = "$before" ] || fail "the previous checkpoint changed"
ls "$dir"/full/*.tmp.* > /dev/null 2>&1 && fail "temporary files left: $(ls "$dir"/full)"
"$inspect" --verify "$dir/full/ckpt-00000004.h5" > /dev/null || fail "the previous checkpoint does not verify"
echo "file too large: $(grep error "$dir/full.err")"

# A really full disk (ENOSPC): a tmpfs with room for the previous checkpoint and half of the next one.
# Mounting needs root; where the test cannot mount one it says so (the EFBIG case above took the same path).
mkdir -p "$dir/tmpfs"
size=$(stat -c %s "$dir/pristine/ckpt-00000004.h5")
if mount -t tmpfs -o size=$(( (size * 3 / 2 / 4096 + 1) * 4096 )) tmpfs "$dir/tmpfs" 2> /dev/null; then
  trap 'umount "$dir/tmpfs" 2> /dev/null || true' EXIT
  cp "$dir/pristine/ckpt-00000004.h5" "$dir/tmpfs/"
  if "$tok" "${tiny[@]}" --output.dir="$dir/tmpfs" > "$dir/enospc.out" 2> "$dir/enospc.err"; then
    fail "the run succeeded on a full disk"
  fi
  grep -q "error: .*ckpt-00000006.h5.*disk is full (ENOSPC)" "$dir/enospc.err" || fail "no clear ENOSPC error: $(cat "$dir/enospc.err")"
  [ "$(grep -c error "$dir/enospc.err")" = 1 ] || fail "more than one error line: $(cat "$dir/enospc.err")"
  cmp -s "$dir/tmpfs/ckpt-00000004.h5" "$dir/pristine/ckpt-00000004.h5" || fail "the previous checkpoint changed on the full disk"
  ls "$dir"/tmpfs/*.tmp.* > /dev/null 2>&1 && fail "temporary files left on the full disk: $(ls "$dir"/tmpfs)"
  echo "disk full: $(grep error "$dir/enospc.err")"
else
  echo "disk full (ENOSPC): not run, this user cannot mount a tmpfs (the file-size case covers the write path)"
fi
echo "all crash images handled"
