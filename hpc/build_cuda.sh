#!/usr/bin/env bash
# Builds ibq for NVIDIA GPUs: Kokkos with CUDA from Debian's source (patched for CUDA 13 and Hopper, see
# hpc/patch_kokkos_cuda13.py), then the project with the cuda preset (Hopper sm_90) or cuda-sm80 (Ampere),
# tests and benchmarks included. Works on a GPU node without network once the Debian packages are installed
# and the Kokkos source is carried along.
#
#   # on a machine with network: write the Kokkos source (about 2 MB compressed) to carry
#   bash hpc/build_cuda.sh --pack kokkos-src.tar.gz
#   # on the GPU node (no network needed):
#   bash hpc/build_cuda.sh --kokkos-src kokkos-src.tar.gz            # arch from nvidia-smi, else 90 and 80
#   bash hpc/build_cuda.sh --arch 80 --kokkos-src kokkos-src.tar.gz  # only Ampere
#   ctest --test-dir build/cuda -j 4                                  # the whole suite on the GPU
#
# Options: --arch 90|80|all, --kokkos-src DIR|TARBALL (default: the tree hpc/setup.sh already extracted under
# build/_deps/src/kokkos), --pack FILE, --compile-only (no tests registered, no benchmarks: CI's check).
# The CUDA toolkit is taken from CUDA_HOME (default /usr/local/cuda).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
arch="" src="" pack="" compile_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="$2"; shift ;;
    --kokkos-src) src="$2"; shift ;;
    --pack) pack="$2"; shift ;;
    --compile-only) compile_only=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "hpc/build_cuda.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
log() { printf '[build_cuda] %s\n' "$*"; }
kokkos_tree="$here/build/_deps/src/kokkos"

if [ -n "$pack" ]; then
  # The unpatched tree: the patches are applied where it is built, so one tarball serves every arch.
  [ -f "$kokkos_tree/CMakeLists.txt" ] || bash "$here/hpc/setup.sh" --fetch-only
  mkdir -p "$(dirname "$pack")"
  tar -czf "$pack.tmp" -C "$(dirname "$kokkos_tree")" kokkos && mv "$pack.tmp" "$pack"
  log "wrote $pack ($(du -h "$pack" | cut -f1)): carry it and pass --kokkos-src $pack"
  exit 0
fi

if [ -z "$arch" ]; then
  # compute_cap is "9.0" on H100/H200, "8.0" on A100
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .' || true)
  case "$cap" in
    90|80) arch=$cap; log "GPU of compute capability ${cap:0:1}.${cap:1} found: building for sm_$arch" ;;
    "") arch=all; log "no GPU visible: building for sm_90 and sm_80" ;;
    *) echo "hpc/build_cuda.sh: the GPU has compute capability $cap; ibq's Kokkos builds support 9.0 and 8.0" \
         "(pass --arch 90 or 80 to build anyway)" >&2; exit 1 ;;
  esac
fi
case "$arch" in
  all) archs="90 80" ;;
  90|80) archs=$arch ;;
  *) echo "hpc/build_cuda.sh: --arch $arch: use 90 (Hopper), 80 (Ampere) or all" >&2; exit 2 ;;
esac

# Offline where there is no network: hpc/setup.sh then names missing packages instead of installing them.
setup_args=""
if ! timeout 5 bash -c 'exec 3<>/dev/tcp/deb.debian.org/80' 2>/dev/null; then
  setup_args="--offline"
  log "no network: nothing will be installed (missing packages are named, not fetched)"
fi
[ -n "$src" ] && setup_args="$setup_args --kokkos-src $(cd "$(dirname "$src")" && pwd)/$(basename "$src")"

extra=()
[ "$compile_only" = 1 ] || extra=(-DIBQ_DISCOVER_TESTS=ON -DIBQ_BUILD_BENCH=ON)
for a in $archs; do
  preset=cuda; [ "$a" = 80 ] && preset=cuda-sm80
  log "preset $preset (sm_$a)"
  IBQ_SETUP_ARGS="$setup_args" bash "$here/hpc/build.sh" "$preset" "${extra[@]}"
done
log "done; run the suite with: ctest --test-dir build/cuda$([ "$archs" = 80 ] && echo -sm80) -j 4"
