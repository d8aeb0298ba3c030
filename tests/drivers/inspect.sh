#!/usr/bin/env bash
# ibq-inspect on a checkpoint, an image shard and a token dataset written by the library's own writers
# (make_inspect_files), and on a file h5py writes with types ours never produce (skipped without h5py):
# tree, attributes, shapes, dtypes, statistics, config, --tensor, --stats=false, --config-only, --plot (PNGs
# of tokenizer and AR checkpoints' metrics series, checked byte by byte; the gnuplot script it feeds, caught
# by a gnuplot wrapper on PATH), and errors that are one line naming the file or tensor with a non-zero exit.
#   inspect.sh IBQ_INSPECT MAKE_INSPECT_FILES SCRATCH_DIR
set -u
bin=$1 make=$2 dir=$3
rm -rf "$dir" && mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
"$make" "$dir" || fail "make_inspect_files could not write the test files"

run() {  # run NAME ARGS...: stdout to $dir/NAME.out, stderr to $dir/NAME.err, status in $rc; PATH=$run_path if set
  local name=$1; shift
  if [ -n "${run_path:-}" ]; then
    PATH=$run_path "$bin" "$@" >"$dir/$name.out" 2>"$dir/$name.err"; rc=$?
  else
    "$bin" "$@" >"$dir/$name.out" 2>"$dir/$name.err"; rc=$?
  fi
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
has ckpt '^    params/encoder.conv_in.bias +float32 \[8\] chunks \[8\] fletcher32 +mean=0.25 +std=0 +min=0.25 +max=0.25 +nan=0 inf=0$'
has ckpt '^    params/encoder.conv_in.weight +float32 \[8, 3, 3, 3\] chunks \[8, 3, 3, 3\] fletcher32 +mean=-?0\.[0-9]+ +std=0\.[0-9]+ +min=-0\.9'
has ckpt '^      optim/m/decoder.conv_out.weight +float32 \[64, 300\] chunks \[64, 300\] fletcher32 +mean=0 '
has ckpt '^    metrics/loss +float64 \[3\] chunks \[3\] fletcher32 +mean=1.5 +std=0.5 +min=1 +max=2 +nan=1 inf=0  <-- non-finite values$'
has ckpt '^1 dataset\(s\) hold NaN or Inf: metrics/loss$'
sed -n '/^config:$/,$p' "$dir/ckpt.out" | tail -n +2 >"$dir/config.tail"
printf '[model]\nch = 4\n[train]\nlr = 0.001\n' >"$dir/config.want"
cmp -s "$dir/config.tail" "$dir/config.want" || fail "config section differs:"$'\n'"$(cat "$dir/config.tail")"
echo "ok: checkpoint tree, attributes, statistics and config"

run config "$ck" --config-only; ok config
cmp -s "$dir/config.out" "$dir/config.want" || fail "--config-only is not the stored INI text: $(cat "$dir/config.out")"
run nostats "$ck" --stats=false; ok nostats
has nostats '^    params/decoder.conv_out.weight +float32 \[64, 300\] chunks \[64, 300\] fletcher32$'
! grep -q "mean=" "$dir/nostats.out" || fail "--stats=false still printed statistics"
echo "ok: --config-only and --stats=false"

# ---- one tensor: small ones whole, large ones by their first and last lines unless --full
run bias "$ck" --tensor params/encoder.conv_in.bias; ok bias
has bias '^params/encoder.conv_in.bias: float32 \[8\] chunks \[8\] fletcher32, 8 values$'
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
has shard '^  images +uint8 \[4, 2, 3, 3\] chunks \[1, 2, 3, 3\] deflate\(4\) fletcher32 +mean=106.5 +std=[0-9.]+ +min=0 +max=213 +nan=0 inf=0$'
has shard '^  labels +int32 \[4\] chunks \[4\] fletcher32 +mean=1 +std=0.707107 +min=0 +max=2 '
has shard "^config: none \(no root attribute 'config'\)$"
run pixels "$dir/shard.h5" --tensor images; ok pixels
has pixels '^\[0, 0, :, :\] +0 +18 +36 +3 +21 +39 +6 +24 +42$'  # image 0, row 0: 3 RGB pixels (NHWC on disk)
run tokens "$dir/tokens.h5"; ok tokens
has tokens '^  @grid: int64\[2\] = \[2, 2\]$'
has tokens '^  @codebook_size: int64 = 1024$'
has tokens '^  tokens +int32 \[3, 2, 2\] chunks \[1, 2, 2\] deflate\(4\) fletcher32 +mean=5.5 +std=3.45205 +min=0 +max=11 +nan=0 inf=0$'
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

# ---- --plot: training curves as a PNG
real_gnuplot=$(command -v gnuplot) || fail "gnuplot is not installed: the --plot checks need it (Debian package gnuplot-nox; hpc/setup.sh installs it)"
png_dims() {  # png_dims FILE: "WIDTHxHEIGHT" from the IHDR chunk, after checking the signature and chunk name
  local sig ihdr
  sig=$(od -An -tx1 -N8 "$1" | tr -d ' \n')
  [ "$sig" = 89504e470d0a1a0a ] || { echo "not a PNG (first bytes $sig)"; return 1; }
  ihdr=$(od -An -c -j12 -N4 "$1" | tr -d ' \n')
  [ "$ihdr" = IHDR ] || { echo "no IHDR chunk first (got '$ihdr')"; return 1; }
  echo "$(od -An -tu1 -j16 -N4 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4}')x$(od -An -tu1 -j20 -N4 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4}')"
}
check_png() {  # check_png NAME FILE MIN_BYTES: FILE is a PNG whose size is the one NAME's "wrote" line gives
  local dims want
  dims=$(png_dims "$2") || fail "$1: $2: $dims"
  want=$(sed -n "s|^wrote $2: \([0-9]*x[0-9]*\) PNG, .*|\1|p" "$dir/$1.out")
  [ -n "$want" ] || fail "$1: no 'wrote $2: WxH PNG' line in: $(cat "$dir/$1.out")"
  [ "$dims" = "$want" ] || fail "$1: $2 is $dims, the wrote line says $want"
  local w=${dims%x*} h=${dims#*x}
  { [ "$w" -ge 900 ] && [ "$w" -le 4000 ] && [ "$h" -ge 300 ] && [ "$h" -le 4000 ]; } || fail "$1: implausible size $dims"
  [ "$(wc -c <"$2")" -ge "$3" ] || fail "$1: $2 is only $(wc -c <"$2") bytes: curves drawn would take $3 or more"
  [ ! -s "$dir/$1.err" ] || fail "$1: printed to stderr (gnuplot warnings?): $(cat "$dir/$1.err")"
}

run help --help; ok help
has help '^       ibq-inspect --plot FILE \[--out PNG\]$'
has help "name with -curves\.png beside it"
has help 'gnuplot-nox'
# Tokenizer without the GAN, default output name beside the checkpoint; the NaN and the Inf are skipped, said.
rm -f "$dir/tok-curves.png"
run tok --plot "$dir/tok.h5"; ok tok
has tok "^wrote $dir/tok-curves\.png: [0-9]+x[0-9]+ PNG, 4 panels \(losses, entropy terms, codebook usage, learning rate\), 8 series, 60 records, step 50\.\.3000$"
has tok '^note: metrics/loss: skipped 1 NaN/Inf value of 60$'
has tok '^note: metrics/l1: skipped 1 NaN/Inf value of 60$'
[ "$(wc -l <"$dir/tok.out")" = 3 ] || fail "tok: want 2 notes and the wrote line, got: $(cat "$dir/tok.out")"
check_png tok "$dir/tok-curves.png" 20000
echo "ok: --plot of a tokenizer checkpoint: $(tail -1 "$dir/tok.out")"

# With the GAN: its terms get panels of their own; the option may follow FILE, and --out may name an
# existing PNG, which is replaced by a rename (a new inode; a hard link to the old file keeps the old bytes).
mkdir -p "$dir/out"
echo "old picture" >"$dir/out/keep.png" && ln -f "$dir/out/keep.png" "$dir/out/gan.png"
inode_before=$(stat -c %i "$dir/out/gan.png")
run gan "$dir/tok_gan.h5" --plot --out "$dir/out/gan.png"; ok gan
has gan "^wrote $dir/out/gan\.png: [0-9]+x[0-9]+ PNG, 7 panels \(losses, entropy terms, codebook usage, adversarial losses, discriminator logits \(mean\), adaptive GAN weight, learning rate\), 15 series, 40 records, step 100\.\.4000$"
has gan '^note: metrics/g_loss: skipped 1 NaN/Inf value of 40$'
check_png gan "$dir/out/gan.png" 30000
[ "$(stat -c %i "$dir/out/gan.png")" != "$inode_before" ] || fail "gan: the existing PNG was written in place, not replaced by a rename"
[ "$(cat "$dir/out/keep.png")" = "old picture" ] || fail "gan: writing through the old file changed its other link"
[ ! -e "$dir/tok_gan-curves.png" ] || fail "gan: --out given, yet the default name was written too"
echo "ok: --plot of a GAN tokenizer checkpoint to an existing --out, replaced by a rename"

# AR: loss and lr only (what ibq-train-ar records); then one with grad norm, perplexity, an unknown series,
# an all-NaN one, a 2-D dataset and float32 steps.
run ar --plot "$dir/ar.h5"; ok ar
has ar "^wrote $dir/ar-curves\.png: [0-9]+x[0-9]+ PNG, 2 panels \(losses, learning rate\), 2 series, 50 records, step 100\.\.5000$"
[ "$(wc -l <"$dir/ar.out")" = 1 ] || fail "ar: nothing was skipped, yet: $(cat "$dir/ar.out")"
check_png ar "$dir/ar-curves.png" 15000
run more --plot "$dir/ar_more.h5"; ok more
has more "^wrote $dir/ar_more-curves\.png: [0-9]+x[0-9]+ PNG, 5 panels \(losses, perplexity, gradient norm, learning rate, other series\), 6 series, 12 records, step 250\.\.3000$"
has more '^note: metrics/grad_norm: skipped 1 NaN/Inf value of 12$'
has more '^note: metrics/diverged: all 12 values are NaN or Inf; not drawn$'
has more '^note: metrics/confusion: float64 \[2, 2\] left out \(a series is 1-D and numeric\)$'
check_png more "$dir/ar_more-curves.png" 20000
# No metrics/step (the old checkpoint above): the x axis is the record number.
run nostep --plot "$ck"; ok nostep
has nostep "^wrote $dir/ckpt-curves\.png: [0-9]+x[0-9]+ PNG, 1 panel \(losses\), 1 series, 3 records, record 1\.\.2$"
check_png nostep "$dir/ckpt-curves.png" 5000
echo "ok: --plot of AR checkpoints and of one without metrics/step"

# The script gnuplot reads, caught by a wrapper first on PATH that passes it on to the real gnuplot.
mkdir -p "$dir/spy"
printf '#!/bin/sh\ntee "%s" | "%s" "$@"\n' "$dir/spy/script.gp" "$real_gnuplot" >"$dir/spy/gnuplot"
chmod +x "$dir/spy/gnuplot"
run_path="$dir/spy:$PATH" run spy --plot "$dir/tok.h5" --out "$dir/out/spy.png"; ok spy
gp=$dir/spy/script.gp
check_png spy "$dir/out/spy.png" 20000
block() { sed -n "/^\\\$s$1 << EOD\$/,/^EOD\$/p" "$gp" | grep -c '^[-0-9]'; }  # rows of data block $sN
loss_block=$(grep -o "\\\$s[0-9]* using 1:2 with [a-z ]*[0-9. ]*lw 2 title 'loss \[1 NaN/Inf skipped\]'" "$gp" | grep -o '^\$s[0-9]*' | tr -d '$s')
[ -n "$loss_block" ] || fail "spy: no plot of 'loss [1 NaN/Inf skipped]' in the script"
[ "$(block "$loss_block")" = 59 ] || fail "spy: the loss block has $(block "$loss_block") rows, want 59 (60 less the NaN)"
data_nonfinite=$(sed -n '/<< EOD$/,/^EOD$/p' "$gp" | grep -Ei 'nan|inf' | head -3)
[ -z "$data_nonfinite" ] || fail "spy: NaN or Inf reached gnuplot's data: $data_nonfinite"
grep -Fq "title 'training curves of $dir/tok.h5'.\"\\n\".'kind=tokenizer, written at step 3000, 60 log records'" "$gp" ||
  fail "spy: the picture's title does not name the file and kind: $(grep multiplot "$gp")"
grep -Fxq "set xlabel 'step'" "$gp" || fail "spy: no step axis label"
for label in "'loss'" "'nats'" "'fraction of codes used'" "'lr'"; do
  grep -Fxq "set ylabel $label" "$gp" || fail "spy: no y axis label $label"
done
grep -q "pngcairo" "$gp" && grep -q "set terminal png size" "$gp" || fail "spy: the script does not fall back from pngcairo to png"
"$real_gnuplot" -e 'set terminal' 2>&1 | grep -q pngcairo || echo "note: this gnuplot has no pngcairo; the PNGs above came from its png terminal"
grep -Fxq "unset logscale y" "$gp" && ! grep -Fxq "set logscale y" "$gp" || fail "spy: tok.h5's loss goes negative, yet a log axis"
# Loss terms spanning three decades (ar_more.h5: loss ~5, z_loss down to 0.005) get a log axis.
run_path="$dir/spy:$PATH" run spy_log --plot "$dir/ar_more.h5" --out "$dir/out/spy_log.png"; ok spy_log
awk '/^set title .losses./ {p = 1} p && /^plot / {exit} p' "$gp" >"$dir/spy/losses.gp"
grep -Fxq "set logscale y" "$dir/spy/losses.gp" && grep -Fxq "set ylabel 'loss (log scale)'" "$dir/spy/losses.gp" ||
  fail "spy_log: the losses panel of ar_more.h5 has no log axis: $(cat "$dir/spy/losses.gp")"
[ "$(grep -c '^set logscale y$' "$gp")" = 1 ] || fail "spy_log: a log axis on a panel other than the losses"
echo "ok: the gnuplot script: data without NaN/Inf, title naming file and kind, axis labels, log axis only for losses spanning decades"

# ---- --plot errors: one line naming the file, a non-zero exit, no picture and no temporary file left
error plot_shard 1 "'$dir/shard.h5': this file holds no training metrics: it has no group 'metrics'" --plot "$dir/shard.h5"
error plot_empty 1 "'$dir/empty.h5': this file holds no training metrics: its series are empty or hold only NaN/Inf: loss (empty), lr (empty)" \
  --plot "$dir/empty.h5"
mkdir -p "$dir/nobin"
run_path="$dir/nobin" error no_gnuplot 1 "'$dir/tok.h5': cannot draw the curves: gnuplot is not installed (no 'gnuplot' on PATH); install the Debian package gnuplot-nox" \
  --plot "$dir/tok.h5" --out "$dir/out/none.png"
# A gnuplot that fails: the real one, fed a script with a misspelt command.
mkdir -p "$dir/badbin"
printf '#!/bin/sh\nsed "s/^set grid/set gridd/" | "%s" "$@"\n' "$real_gnuplot" >"$dir/badbin/gnuplot"
chmod +x "$dir/badbin/gnuplot"
echo "old picture" >"$dir/out/bad.png"
run_path="$dir/badbin:$PATH" error gnuplot_fails 1 "'$dir/tok.h5': cannot draw the curves: gnuplot failed (exit status 1): line " \
  --plot "$dir/tok.h5" --out "$dir/out/bad.png"
grep -Fq "(in: set gridd lc rgb '#dddddd')" "$dir/gnuplot_fails.err" || fail "gnuplot_fails: the failing command is not named: $(cat "$dir/gnuplot_fails.err")"
[ "$(cat "$dir/out/bad.png")" = "old picture" ] || fail "gnuplot_fails: a failed run replaced the existing PNG"
# A gnuplot that exits 0 without drawing.
mkdir -p "$dir/nopng"
printf '#!/bin/sh\ncat >/dev/null\n' >"$dir/nopng/gnuplot" && chmod +x "$dir/nopng/gnuplot"
run_path="$dir/nopng:$PATH" error gnuplot_no_png 1 "'$dir/tok.h5': cannot draw the curves: gnuplot exited normally but wrote no PNG" \
  --plot "$dir/tok.h5" --out "$dir/out/bad.png"
[ "$(cat "$dir/out/bad.png")" = "old picture" ] || fail "gnuplot_no_png: a failed run replaced the existing PNG"
error plot_tensor 2 "--plot and --tensor exclude each other" --plot "$dir/tok.h5" --tensor metrics/loss
error plot_config 2 "--plot and --config-only exclude each other" "$dir/tok.h5" --config-only --plot
error out_alone 2 "--out is for --plot" "$dir/tok.h5" --out "$dir/out/x.png"
error out_dir 1 "'$dir/tok.h5': cannot draw the curves: --out '$dir/out' is a directory" --plot "$dir/tok.h5" --out "$dir/out"
error out_missing_dir 1 "'$dir/tok.h5': cannot draw the curves: cannot create a file in '$dir/no/such': No such file or directory" \
  --plot "$dir/tok.h5" --out "$dir/no/such/x.png"
[ ! -e "$dir/out/none.png" ] && [ ! -e "$dir/out/x.png" ] || fail "a failed --plot left a PNG behind"
leftover=$(find "$dir" -name '*.tmp*')
[ -z "$leftover" ] || fail "temporary files left behind: $leftover"
echo "ok: --plot errors, no temporary file left"

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
