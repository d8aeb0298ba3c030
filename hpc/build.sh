#!/usr/bin/env bash
# Sets up whatever is missing (hpc/setup.sh), then configures and builds one CMake preset.
#
#   hpc/build.sh [default|serial|asan|serial-asan|kokkos4|kokkos4-asan|cuda|cuda-check|cuda-sm80] [extra cmake args...]
#
# IBQ_SETUP_ARGS adds options to the hpc/setup.sh call (hpc/build_cuda.sh passes --offline and --kokkos-src;
# the kokkos4 presets need --kokkos4-src DIR|TARBALL once, to build Kokkos 4.x into build/_deps/kokkos4-openmp,
# unless you pass your own: hpc/build.sh kokkos4 -DKokkos_ROOT=/path/to/kokkos4).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
preset=${1:-default}
shift || true
case "$preset" in
  cuda|cuda-check) bash "$here/hpc/setup.sh" --with-cuda --cuda-arch 90 ${IBQ_SETUP_ARGS:-} ;;
  cuda-sm80) bash "$here/hpc/setup.sh" --with-cuda --cuda-arch 80 ${IBQ_SETUP_ARGS:-} ;;
  *) bash "$here/hpc/setup.sh" ${IBQ_SETUP_ARGS:-} ;;
esac
case "$preset:$*" in
  kokkos4*:*Kokkos_ROOT*) ;;
  kokkos4*)
    [ -f "$here/build/_deps/kokkos4-openmp/.ibq-built" ] || {
      echo "hpc/build.sh: preset '$preset' needs Kokkos 4.x: build one with" \
           "IBQ_SETUP_ARGS='--kokkos4-src DIR|TARBALL' (a Kokkos 4 source tree or release tarball)," \
           "or pass your own with -DKokkos_ROOT=/path/to/kokkos4" >&2
      exit 2
    } ;;
esac
cd "$here"
export CUDA_ROOT=${CUDA_ROOT:-/usr/local/cuda}
[ -d "$CUDA_ROOT/bin" ] && export PATH="$CUDA_ROOT/bin:$PATH"
echo "[build] configuring preset '$preset'"
cmake --preset "$preset" "$@" >/dev/null
echo "[build] building preset '$preset' with $(nproc) jobs"
cmake --build --preset "$preset" -j "$(nproc)"
