#!/usr/bin/env bash
# Bad input: each case must exit non-zero with one clear line naming the problem, and must not touch a
# good existing output file.
set -u
cls=$1 dir=$2
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
expect() {  # expect STATUS PATTERN -- ARGS...
  local want=$1 pattern=$2; shift 3
  out=$("$cls" "$@" 2>&1); rc=$?
  [ "$rc" = "$want" ] || fail "exit $rc (want $want) for: $* -> $out"
  echo "$out" | grep -q -- "$pattern" || fail "no '$pattern' in output for: $* -> $out"
  echo "ok: exit $rc: $(echo "$out" | grep -- "$pattern" | head -1)"
}
expect 2 "unrecognised option '--train.epoch=3'" -- --train.epoch=3
expect 2 "for option '--train.lr' is invalid" -- --train.lr=fast
expect 2 "cannot read config file '$dir/none.ini'" -- --config "$dir/none.ini"
printf '[train]\nepocs = 3\n' > "$dir/typo.ini"
expect 2 "unrecognised option 'train.epocs'" -- --config "$dir/typo.ini"
expect 1 "cannot open '$dir/nodata/train-images-idx3-ubyte.gz'" -- --data.dir="$dir/nodata" --output.path="$dir/x.h5"
mkdir -p "$dir/corrupt" && head -c 1000 /dev/urandom > "$dir/corrupt/train-images-idx3-ubyte.gz"
expect 1 "$dir/corrupt/train-images-idx3-ubyte.gz" -- --data.dir="$dir/corrupt" --output.path="$dir/x.h5"
expect 1 "model.channels must be a comma-separated list" -- --model.channels=32,x --output.path="$dir/x.h5"
expect 1 "train.epochs must be positive" -- --train.epochs=0 --output.path="$dir/x.h5"
# An existing result is never overwritten unless asked, and stays byte-identical.
echo "precious" > "$dir/keep.h5"
before=$(sha256sum "$dir/keep.h5")
expect 1 "exists; pass --output.overwrite=true" -- --output.path="$dir/keep.h5"
[ "$(sha256sum "$dir/keep.h5")" = "$before" ] || fail "existing output was modified"
echo "all error cases behaved"
