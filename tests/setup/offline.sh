#!/usr/bin/env bash
# hpc/setup.sh, hpc/build_cuda.sh and hpc/gpu_check.sh for GPU nodes (without network): what they refuse,
# and what they say.
#   tests/setup/offline.sh SOURCE_DIR SCRATCH_DIR
# Every case runs against a fresh --prefix-root in SCRATCH_DIR, so the project's own build/_deps is only read.
set -uo pipefail
src=$1 scratch=$2
rm -rf "$scratch"; mkdir -p "$scratch"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect CODE PATTERN -- command...: exit status CODE and PATTERN in its stderr
expect() {
  local code=$1 pattern=$2; shift 3
  local err="$scratch/stderr" got=0
  "$@" >/dev/null 2>"$err" || got=$?
  [ "$got" = "$code" ] || fail "'$*' exited $got, expected $code ($(tr '\n' ' ' < "$err"))"
  grep -q -- "$pattern" "$err" || fail "'$*': stderr lacks '$pattern': $(tr '\n' ' ' < "$err")"
}

setup="$src/hpc/setup.sh"
expect 2 "unknown option '--bogus'" -- bash "$setup" --bogus
expect 2 "--cuda-arch 75 is not supported" -- bash "$setup" --prefix-root "$scratch/a" --with-cuda --cuda-arch 75
# no network and no source: name the flag and the script that writes the tarball
expect 1 "pass --kokkos-src" -- bash "$setup" --offline --prefix-root "$scratch/b"
grep -q "build_cuda.sh --pack" "$scratch/stderr" || fail "the --offline message does not say how to make the tarball"
[ ! -e "$scratch/b/kokkos-openmp" ] || fail "a refused --offline run left a Kokkos prefix behind"
expect 1 "neither a directory nor a file" -- bash "$setup" --offline --prefix-root "$scratch/c" --kokkos-src "$scratch/none.tar.gz"
mkdir -p "$scratch/notkokkos/src" && echo x > "$scratch/notkokkos/src/a.txt"
tar -czf "$scratch/notkokkos.tar.gz" -C "$scratch" notkokkos
expect 1 "holds no Kokkos tree" -- bash "$setup" --offline --prefix-root "$scratch/d" --kokkos-src "$scratch/notkokkos.tar.gz"
echo "garbage" > "$scratch/corrupt.tar.gz"
expect 1 "cannot unpack" -- bash "$setup" --offline --prefix-root "$scratch/e" --kokkos-src "$scratch/corrupt.tar.gz"

expect 2 "unknown option '--bogus'" -- bash "$src/hpc/build_cuda.sh" --bogus
expect 2 "--arch 70" -- bash "$src/hpc/build_cuda.sh" --arch 70
# the GPU session's script: bad options refused; --dry-run plans every stage (on the sm_90 build without a GPU)
expect 2 "unknown option '--bogus'" -- bash "$src/hpc/gpu_check.sh" --bogus
expect 2 "the stages are build, suite" -- bash "$src/hpc/gpu_check.sh" --only bench,foo
plan=$(bash "$src/hpc/gpu_check.sh" --dry-run --out "$scratch/gpu") || fail "gpu_check.sh --dry-run failed"
for s in build suite quickstart bench nsys; do
  grep -q "^\[$s\] " <<<"$plan" || fail "gpu_check.sh --dry-run does not plan the $s stage"
done
grep -q "ibq_quantizer --k 16384,262144" <<<"$plan" || fail "gpu_check.sh does not bench K = 16384 and 262144"
[ ! -e "$scratch/gpu" ] || fail "gpu_check.sh --dry-run wrote $scratch/gpu"

# --pack carries the unpatched tree that setup.sh extracted (the patches are applied where it is built)
if [ -f "$src/build/_deps/src/kokkos/CMakeLists.txt" ]; then
  bash "$src/hpc/build_cuda.sh" --pack "$scratch/k/kokkos-src.tar.gz" >/dev/null || fail "build_cuda.sh --pack failed"
  tar -tzf "$scratch/k/kokkos-src.tar.gz" > "$scratch/k/list" || fail "the packed tarball does not unpack"
  grep -q '^kokkos/core/src/Kokkos_Core.hpp$' "$scratch/k/list" \
    || fail "the packed tarball lacks kokkos/core/src/Kokkos_Core.hpp"
  [ ! -e "$scratch/k/kokkos-src.tar.gz.tmp" ] || fail "--pack left its temporary file"
  # and setup.sh takes it back, as a tarball or as a directory, with no network needed
  bash "$setup" --offline --fetch-only --prefix-root "$scratch/f" --kokkos-src "$scratch/k/kokkos-src.tar.gz" >/dev/null \
    || fail "setup.sh --offline --kokkos-src TARBALL failed"
  cmp -s "$scratch/f/src/kokkos/core/src/Kokkos_Core.hpp" "$src/build/_deps/src/kokkos/core/src/Kokkos_Core.hpp" \
    || fail "--kokkos-src TARBALL did not give back the packed tree"
  [ ! -e "$scratch/f/src/extract" ] || fail "--kokkos-src left its extraction directory"
  bash "$setup" --offline --fetch-only --prefix-root "$scratch/g" --kokkos-src "$scratch/f/src/kokkos" >/dev/null \
    || fail "setup.sh --offline --kokkos-src DIR failed"
  [ -f "$scratch/g/src/kokkos/CMakeLists.txt" ] || fail "--kokkos-src DIR did not give the tree"
  [ -f "$scratch/f/src/kokkos/CMakeLists.txt" ] || fail "--kokkos-src DIR moved the given tree instead of copying it"
else
  fail "no Kokkos source in $src/build/_deps/src/kokkos (hpc/setup.sh has not run)"
fi

[ "$failures" = 0 ] && echo "all offline-setup checks passed"
exit $((failures > 0))
