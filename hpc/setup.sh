#!/usr/bin/env bash
# Installs what ibq needs on a Debian 12 machine and builds Kokkos from Debian's own source package.
#
#   hpc/setup.sh [--with-cuda] [--cuda-arch 90,80] [--with-torch] [--with-slurm] [--prefix-root DIR]
#                [--offline] [--kokkos-src DIR|TARBALL] [--fetch-only] [--kokkos4-src DIR|TARBALL]
#
# Idempotent: packages already installed and Kokkos prefixes already built are skipped (a second run costs
# seconds). Kokkos lands in <prefix-root>/kokkos-openmp (and kokkos-cuda-sm<arch> for each --cuda-arch with
# --with-cuda; Hopper sm_90 by default, Ampere sm_80 on request); the default prefix root is build/_deps
# inside the source tree, which the CMake presets point at.
# --offline (for a GPU node without network): install nothing; name the missing Debian packages and stop.
# --kokkos-src: Kokkos's source (a directory or a tarball of one, as hpc/build_cuda.sh --pack writes) instead
# of downloading Debian's trilinos source package. --fetch-only: get the Kokkos source, build nothing.
# --kokkos4-src: also build a Kokkos 4.x source (the release line clusters and Spack provide; 4.6.01 is
# tested) with OpenMP into <prefix-root>/kokkos4-openmp, for the presets kokkos4 and kokkos4-asan.
# Users with their own Kokkos (a cluster module, Spack) skip this and pass -DKokkos_ROOT=... to CMake.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix_root="$here/build/_deps"
with_cuda=0 with_torch=0 with_slurm=0 offline=0 fetch_only=0 cuda_archs=90 given_src="" kokkos4_src=""
while [ $# -gt 0 ]; do
  case "$1" in
    --with-cuda) with_cuda=1 ;;
    --with-torch) with_torch=1 ;;
    --with-slurm) with_slurm=1 ;;
    --cuda-arch) cuda_archs="$2"; shift ;;
    --offline) offline=1 ;;
    --fetch-only) fetch_only=1 ;;
    --kokkos-src) given_src="$2"; shift ;;
    --kokkos4-src) kokkos4_src="$2"; shift ;;
    --prefix-root) prefix_root="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "hpc/setup.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for arch in ${cuda_archs//,/ }; do  # checked before anything is installed or built
  case "$arch" in
    90|80) ;;
    *) echo "hpc/setup.sh: --cuda-arch $arch is not supported; use 90 (Hopper: H100, H200) or 80 (Ampere: A100)" >&2
       exit 2 ;;
  esac
done

log() { printf '[setup] %s\n' "$*"; }
sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ---------------------------------------------------------------------------------------------------
# Debian packages
core_pkgs=(build-essential cmake ninja-build pkg-config libeigen3-dev libopenblas-openmp-dev libopenblas0-openmp libdnnl-dev libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools libboost-program-options-dev catch2 libtrilinos-kokkos-dev libpng-dev libjpeg-dev zlib1g-dev
  dataset-fashion-mnist dpkg-dev xz-utils python3 python3-numpy python3-h5py gnuplot-nox)
[ "$with_torch" = 1 ] && core_pkgs+=(python3-torch python3-torchvision python3-h5py python3-numpy python3-scipy python3-skimage python3-pil)
[ "$with_slurm" = 1 ] && core_pkgs+=(slurm-wlm slurm-client munge)

missing=()
for p in "${core_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && [ "$offline" = 1 ]; then
  echo "hpc/setup.sh --offline: these Debian packages are missing: ${missing[*]}" >&2
  echo "  install them first (apt-get install ${missing[*]}, or dpkg -i the .deb files carried along)" >&2
  exit 1
elif [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_if apt-get update -qq
  sudo_if apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi

# ---------------------------------------------------------------------------------------------------
# Kokkos source, extracted from Debian's trilinos source package (only packages/kokkos*)
src_root="$prefix_root/src"
kokkos_src="$src_root/kokkos"
fetch_kokkos_source() {
  [ -f "$kokkos_src/CMakeLists.txt" ] && return 0
  mkdir -p "$src_root"
  if [ -n "$given_src" ]; then
    use_given_source "$given_src" "$kokkos_src" --kokkos-src
    return 0
  fi
  if [ "$offline" = 1 ]; then
    echo "hpc/setup.sh --offline: no Kokkos source in $kokkos_src; pass --kokkos-src with the tree or the tarball" >&2
    echo "  that 'bash hpc/build_cuda.sh --pack FILE' wrote on a machine with network" >&2
    exit 1
  fi
  if ! grep -rqs "^Types: deb-src" /etc/apt/sources.list.d/ && ! grep -qs "^deb-src" /etc/apt/sources.list; then
    log "adding a deb-src stanza for bookworm"
    sudo_if tee /etc/apt/sources.list.d/ibq-debsrc.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    sudo_if apt-get update -qq
  fi
  local dl="$src_root/download"
  mkdir -p "$dl"
  if ! ls "$dl"/trilinos_*.orig.tar.* >/dev/null 2>&1; then
    log "downloading Debian's trilinos source package"
    (cd "$dl" && apt-get source --download-only -qq trilinos >/dev/null)
  fi
  local tarball
  tarball=$(ls "$dl"/trilinos_*.orig.tar.* | head -1)
  log "extracting packages/kokkos from $(basename "$tarball")"
  local tmp="$src_root/extract"
  rm -rf "$tmp"; mkdir -p "$tmp"
  tar -xf "$tarball" -C "$tmp" --wildcards '*/packages/kokkos/*' '*/packages/kokkos-kernels/*'
  rm -rf "$kokkos_src" "$src_root/kokkos-kernels"
  mv "$tmp"/*/packages/kokkos "$kokkos_src"
  mv "$tmp"/*/packages/kokkos-kernels "$src_root/kokkos-kernels"
  rm -rf "$tmp" "$dl"   # the 166 MB tarball is no longer needed
}

# A Kokkos tree (or a tarball holding one at its top, or under any single directory) carried to this machine,
# moved to DEST: use_given_source SRC DEST OPTION (OPTION names the flag in messages).
use_given_source() {
  local given="$1" dest="$2" flag="$3"
  local tmp="$src_root/extract"
  rm -rf "$tmp"; mkdir -p "$tmp"
  if [ -d "$given" ]; then
    cp -r "$given" "$tmp/kokkos"
  elif [ -f "$given" ]; then
    tar -xf "$given" -C "$tmp" || { echo "hpc/setup.sh: cannot unpack $flag '$given'" >&2; exit 1; }
  else
    echo "hpc/setup.sh: $flag '$given' is neither a directory nor a file" >&2; exit 1
  fi
  local core top=""
  core=$(find "$tmp" -maxdepth 5 -path '*/core/src/Kokkos_Core.hpp' | head -1)
  [ -n "$core" ] && top=${core%/core/src/Kokkos_Core.hpp}
  [ -n "$top" ] && [ -f "$top/CMakeLists.txt" ] \
    || { echo "hpc/setup.sh: $flag '$given' holds no Kokkos tree (no core/src/Kokkos_Core.hpp)" >&2; exit 1; }
  log "Kokkos source from $given"
  rm -rf "$dest"
  mv "$top" "$dest"
  rm -rf "$tmp"
}

# The major version a Kokkos tree declares in its top CMakeLists.txt (set(Kokkos_VERSION_MAJOR 4)).
kokkos_major() {
  sed -n 's/^ *set *( *Kokkos_VERSION_MAJOR *\([0-9]*\).*/\1/p' "$1/CMakeLists.txt" | head -1
}

# Kokkos 3.4.1 predates CUDA 13 and Hopper; these are the minimal fixes from the platform notes.
# The patch script is idempotent (each fix is skipped when already present) and fails loudly when a
# pattern is missing, so it runs every time: a tree left half-done by an interrupted run gets finished.
patch_kokkos_for_cuda13() {
  python3 "$here/hpc/patch_kokkos_cuda13.py" "$1" >/dev/null
}

built() { [ -f "$prefix_root/$1/.ibq-built" ] && log "$1 present in $prefix_root/$1"; }

build_kokkos() { # prefix name, source tree, extra cmake args...
  local name="$1" src="$2"; shift 2
  local prefix="$prefix_root/$name" bdir="$prefix_root/build-$name"
  log "building $name (about 20 s OpenMP, 90 s CUDA on 2 cores)"
  cmake -S "$src" -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DCMAKE_CXX_STANDARD=17 -DKokkos_ENABLE_SERIAL=ON -DKokkos_ENABLE_TESTS=OFF "$@" >"$bdir.log" 2>&1 \
    || { echo "$name configure failed, see $bdir.log" >&2; tail -20 "$bdir.log" >&2; exit 1; }
  cmake --build "$bdir" -j "$(nproc)" >>"$bdir.log" 2>&1 && cmake --install "$bdir" >>"$bdir.log" 2>&1 \
    || { echo "$name build failed, see $bdir.log" >&2; tail -20 "$bdir.log" >&2; exit 1; }
  touch "$prefix/.ibq-built"
  rm -rf "$bdir"
}

if [ "$fetch_only" = 1 ]; then
  fetch_kokkos_source
  log "Kokkos source in $kokkos_src"
  exit 0
fi
built kokkos-openmp || { fetch_kokkos_source; build_kokkos kokkos-openmp "$kokkos_src" -DKokkos_ENABLE_OPENMP=ON -DBUILD_SHARED_LIBS=ON; }
if [ -n "$kokkos4_src" ] && ! built kokkos4-openmp; then
  src4="$src_root/kokkos4"
  use_given_source "$kokkos4_src" "$src4" --kokkos4-src
  major=$(kokkos_major "$src4")
  [ "${major:-0}" -ge 4 ] || { echo "hpc/setup.sh: --kokkos4-src '$kokkos4_src' is Kokkos ${major:-of unknown version}, not 4.x" >&2; exit 1; }
  build_kokkos kokkos4-openmp "$src4" -DKokkos_ENABLE_OPENMP=ON -DBUILD_SHARED_LIBS=ON
fi
if [ "$with_cuda" = 1 ]; then
  cuda_home=${CUDA_HOME:-/usr/local/cuda}
  [ -x "$cuda_home/bin/nvcc" ] || { echo "hpc/setup.sh: --with-cuda needs nvcc in $cuda_home/bin (set CUDA_HOME)" >&2; exit 1; }
  # Kokkos 3.4 compiles for one GPU architecture per build and refuses, at start-up, a device of another
  # generation: one prefix per architecture (the presets cuda and cuda-sm80 point at them).
  for arch in ${cuda_archs//,/ }; do
    built "kokkos-cuda-sm$arch" && continue
    karch=HOPPER90; [ "$arch" = 80 ] && karch=AMPERE80
    fetch_kokkos_source
    src="$src_root/kokkos-cuda-src"
    # copy to a temporary name first so an interrupted copy is never mistaken for a complete tree
    [ -d "$src" ] || { rm -rf "$src.tmp"; cp -r "$kokkos_src" "$src.tmp"; mv "$src.tmp" "$src"; }
    patch_kokkos_for_cuda13 "$src"
    # nvcc_wrapper finds nvcc on PATH (or in $CUDA_ROOT/bin): consumers need the same.
    PATH="$cuda_home/bin:$PATH" CUDA_ROOT="$cuda_home" build_kokkos "kokkos-cuda-sm$arch" "$src" \
      -DKokkos_ENABLE_CUDA=ON -DKokkos_ENABLE_CUDA_LAMBDA=ON "-DKokkos_ARCH_$karch=ON" \
      -DCMAKE_CXX_COMPILER="$src/bin/nvcc_wrapper" -DBUILD_SHARED_LIBS=OFF
  done
fi
log "done"
