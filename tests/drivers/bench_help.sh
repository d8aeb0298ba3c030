#!/usr/bin/env bash
# A benchmark's --help prints its own usage (not Kokkos's options) and exits 0; an unknown option exits 2
# with one line that names it.
#   bench_help.sh BENCH_EXECUTABLE OPTION_IT_MUST_LIST
set -u
bin=$1 option=$2 name=$(basename "$1")
fail() { echo "FAIL: $name: $*"; exit 1; }
out=$("$bin" --help 2>&1); rc=$?
[ "$rc" = 0 ] || fail "--help exited $rc: $out"
head -1 <<<"$out" | grep -q "^usage: .*$name" || fail "--help does not start with 'usage: ... $name': $out"
grep -q -- "$option" <<<"$out" || fail "--help does not list $option: $out"
! grep -qi -- "--kokkos-" <<<"$out" || fail "--help printed Kokkos's options: $out"
[ "$("$bin" -h 2>&1)" = "$out" ] || fail "-h differs from --help"
err=$("$bin" --no-such-option 1 2>&1 >/dev/null); rc=$?
[ "$rc" = 2 ] || fail "an unknown option exited $rc (want 2): $err"
grep -q -- "--no-such-option" <<<"$err" || fail "the unknown-option error does not name it: $err"
echo "ok: $name --help lists $option; an unknown option exits 2"
