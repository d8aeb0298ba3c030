#!/usr/bin/env bash
# ibq-inspect on a checkpoint, an image shard and a token dataset written by the library's own writers
# (make_inspect_files), and on a file h5py writes with types ours never produce (skipped without h5py):
# tree, attributes, shapes, dtypes, statistics, config, --tensor, --stats=false, --config-only, and errors
# that are one line naming the file or tensor with a non-zero exit.
#   inspect.sh IBQ_INSPECT MAKE_INSPECT_FILES SCRATCH_DIR
set -u
bin=$1 make=$2 dir=$3
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
"$make" "$dir" || fail "make_inspect_files could not write the test files"

run() {  # run NAME ARGS...: stdout to $dir/NAME.out, stderr to $dir/NAME.err, status in $rc
  local name=$1; shift
  "$bin" "$@" >"$dir/$name.out" 2>"$dir/$name.err"; rc=$?
}
has() {  # has NAME REGEX: the output of run NAME matches (grep -E)
  grep -Eq -- "$2" "$dir/$1.out" || fail "$1: no line matching '$2' in:"$'\n'"$(cat "$dir/$1.out" "$dir/$1.err")"
}
ok() { [ "$rc" = 0 ] || fail "$1 exited $rc: $(cat "$dir/$1.err")"; }
error() {  # error NAME STATUS PATTERN ARGS...: exits STATUS, prints one stderr line with PATTERN, no stdout
  local name=$1 want=$2 pattern=$3; shift 3
  run "$name" "$@"
  [ "$rc" = "$want" ] || fail "$name: exit $rc (want $want): $(cat "$dir/$name.err")"
  [ "$(wc -l <"$dir/$name.err")" = 1 ] || fail "$name: want one error line, got:"$'\n'"$(cat "$dir/$name.err")"
  grep -Fq -- "ibq-inspect: error: " "$dir/$name.err" || fail "$name: not an ibq-inspect error line: $(cat "$dir/$name.err")"
  grep -Fq -- "$pattern" "$dir/$name.err" || fail "$name: no '$pattern' in: $(cat "$dir/$name.err")"
  [ ! -s "$dir/$name.out" ] || fail "$name: printed to stdout besides the error"
  echo "ok: $name: $(cat "$dir/$name.err")"
}

# ---- checkpoint: tree, attributes (root and per group), dtypes, shapes, statistics, NaN flag, config
ck=$dir/ckpt.h5
run ckpt "$ck"; ok ckpt
has ckpt "^$ck: HDF5, [0-9.]+ KiB, [0-9]+ groups, [0-9]+ datasets, [0-9]+ values$"
has ckpt '^  @format: string = "ibq-checkpoint"$'
has ckpt '^  @step: int64 = 7$'
has ckpt '^  @config: string = <4 lines of INI, printed below>$'
has ckpt '^  params/$'
has ckpt '^    @step: int64 = 0$'  # optim's own attribute, under optim/
has ckpt '^    params/encoder.conv_in.bias +float32 \[8\] +mean=0.25 +std=0 +min=0.25 +max=0.25 +nan=0 inf=0$'
has ckpt '^    params/encoder.conv_in.weight +float32 \[8, 3, 3, 3\] +mean=-?0\.[0-9]+ +std=0\.[0-9]+ +min=-0\.9'
has ckpt '^      optim/m/decoder.conv_out.weight +float32 \[64, 300\] +mean=0 '
has ckpt '^    metrics/loss +float64 \[3\] +mean=1.5 +std=0.5 +min=1 +max=2 +nan=1 inf=0  <-- non-finite values$'
has ckpt '^1 dataset\(s\) hold NaN or Inf: metrics/loss$'
sed -n '/^config:$/,$p' "$dir/ckpt.out" | tail -n +2 >"$dir/config.tail"
printf '[model]\nch = 4\n[train]\nlr = 0.001\n' >"$dir/config.want"
cmp -s "$dir/config.tail" "$dir/config.want" || fail "config section differs:"$'\n'"$(cat "$dir/config.tail")"
echo "ok: checkpoint tree, attributes, statistics and config"

run config "$ck" --config-only; ok config
cmp -s "$dir/config.out" "$dir/config.want" || fail "--config-only is not the stored INI text: $(cat "$dir/config.out")"
run nostats "$ck" --stats=false; ok nostats
has nostats '^    params/decoder.conv_out.weight +float32 \[64, 300\]$'
! grep -q "mean=" "$dir/nostats.out" || fail "--stats=false still printed statistics"
echo "ok: --config-only and --stats=false"

# ---- one tensor: small ones whole, large ones by their first and last lines unless --full
run bias "$ck" --tensor params/encoder.conv_in.bias; ok bias
has bias '^params/encoder.conv_in.bias: float32 \[8\], 8 values$'
has bias '^mean=0.25 +std=0 '
has bias '^\[0:8\] +0.25( +0.25){7}$'
run big "$ck" --tensor /params/decoder.conv_out.weight; ok big
has big '^\[0, 0:10\]( +-?[0-9.e-]+){10}$'
has big '^\[63, 290:300\]( +-?[0-9.e-]+){10}$'
has big '^\.\.\. \(19160 values not shown; --full prints them all\)$'
[ "$(wc -l <"$dir/big.out")" = 7 ] || fail "summary of a large tensor is not 7 lines: $(cat "$dir/big.out")"
run full "$ck" --tensor params/decoder.conv_out.weight --full --stats=false; ok full
[ "$(grep -c '^\[' "$dir/full.out")" = $((64 * 30)) ] || fail "--full did not print 64 rows of 30 lines"
has full '^\[17, 120:130\] '
echo "ok: --tensor (whole, summarised, --full)"

# ---- image shard and token dataset
run shard "$dir/shard.h5"; ok shard
has shard '^  @format: string = "ibq-images"$'
has shard '^  @class_names: string = <3 lines> "cat\.\.\."$'
has shard '^  images +uint8 \[4, 2, 3, 3\] chunks \[1, 2, 3, 3\] deflate\(4\) +mean=106.5 +std=[0-9.]+ +min=0 +max=213 +nan=0 inf=0$'
has shard '^  labels +int32 \[4\] +mean=1 +std=0.707107 +min=0 +max=2 '
has shard "^config: none \(no root attribute 'config'\)$"
run pixels "$dir/shard.h5" --tensor images; ok pixels
has pixels '^\[0, 0, :, :\] +0 +18 +36 +3 +21 +39 +6 +24 +42$'  # image 0, row 0: 3 RGB pixels (NHWC on disk)
run tokens "$dir/tokens.h5"; ok tokens
has tokens '^  @grid: int64\[2\] = \[2, 2\]$'
has tokens '^  @codebook_size: int64 = 1024$'
has tokens '^  tokens +int32 \[3, 2, 2\] chunks \[1, 2, 2\] deflate\(4\) +mean=5.5 +std=3.45205 +min=0 +max=11 +nan=0 inf=0$'
echo "ok: image shard and token dataset"

# ---- errors: one line naming the file or tensor, a non-zero exit, nothing on stdout
error unknown 1 "no dataset 'params/decoder.conv_out.wieght'; close names: params/decoder.conv_out.weight" \
  "$ck" --tensor params/decoder.conv_out.wieght
error group 1 "'params' is not a dataset; datasets under it: params/decoder.conv_out.weight" "$ck" --tensor params
error missing 1 "cannot read '$dir/none.h5': no such file" "$dir/none.h5"
echo "not hdf5" >"$dir/text.h5"
error not_hdf5 1 "'$dir/text.h5' is not an HDF5 file" "$dir/text.h5"
error no_config 1 "'$dir/shard.h5' has no root attribute 'config'" "$dir/shard.h5" --config-only
error no_file 2 "no FILE given" --stats=false
error bad_option 2 "unrecognised option '--tensors'" "$ck" --tensors x
error bad_bool 2 "('maybe') for option '--stats' is invalid" "$ck" --stats=maybe

# ---- a file from another writer: h5py's types (float16, bool enum, compound, vlen strings, links)
py=${IBQ_PYTHON:-/usr/bin/python3}
if ! "$py" -c "import h5py, numpy" 2>/dev/null; then
  echo "skipped the h5py-written file: $py cannot import h5py and numpy (hpc/setup.sh --with-torch installs them)"
  echo "all inspect checks passed"
  exit 0
fi
"$py" - "$dir/foreign.h5" <<'PY' || fail "h5py could not write the foreign file"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    f.attrs["note"] = "hello"                      # variable-length UTF-8 string
    f.attrs["scales"] = np.array([0.5, 0.25], dtype=">f8")
    d = f.create_dataset("data/half", data=np.array([1.0, np.nan, -np.inf, 3.0], dtype=np.float16))
    d.attrs["unit"] = np.bytes_("m/s")             # fixed-length string
    f.create_dataset("data/big_endian", data=np.arange(6, dtype=">i2").reshape(2, 3))
    f.create_dataset("data/flags", data=np.array([True, False]))
    f.create_dataset("data/pairs", data=np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]))
    f.create_dataset("data/names", data=np.array([b"ab", b"cd"]))
    f["alias"] = h5py.SoftLink("/data/half")
    f["elsewhere"] = h5py.ExternalLink("other.h5", "/x")
PY
run foreign "$dir/foreign.h5"; ok foreign
has foreign '^  @note: string = "hello"$'
has foreign '^  @scales: float64\[2\] = \[0.5, 0.25\]$'
has foreign '^  alias -> /data/half \(soft link\)$'
has foreign '^  elsewhere -> other.h5:/x \(external link\)$'
has foreign '^    data/half +float16 \[4\] +mean=2 +std=1 +min=1 +max=3 +nan=1 inf=1  <-- non-finite values$'
has foreign '^      @unit: string = "m/s"$'
has foreign '^    data/big_endian +int16 \[2, 3\] +mean=2.5 .* min=0 +max=5 '
has foreign '^    data/flags +enum \[2\] +\(not numeric\)$'
has foreign '^    data/pairs +compound \[2\] +\(not numeric\)$'
run half "$dir/foreign.h5" --tensor data/half; ok half
has half '^\[0:4\] +1 +nan +-inf +3$'
error enum 1 "'data/flags' holds enum data, not numbers" "$dir/foreign.h5" --tensor data/flags
echo "ok: h5py-written file"
echo "all inspect checks passed"
