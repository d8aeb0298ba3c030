#!/usr/bin/env bash
# The colour photo-patch set of experiments/photos_*.ini: 64x64 random patches of the 34 colour
# photographs shipped in four Debian 12 wallpaper packages, with a test split by source photograph.
#
#   hpc/make_photo_patches.sh [OUT]        # OUT defaults to data/photos
#
# Downloads the packages' .deb files with apt (no install), unpacks them, links each photograph into
# OUT/folders/{train,test}/<photo>/ (one class per photograph), and cuts patches with ibq-prepare-data
# at two scales (short side resized to 256 and to 512 pixels, so a patch spans 1/4 or 1/8 of it):
#   train: 27 photographs x 2 scales x 600 = 32,400 patches  (OUT/train-256.h5, OUT/train-512.h5)
#   test:   7 photographs x 2 scales x 150 =  2,100 patches  (OUT/test-256.h5, OUT/test-512.h5)
# Every fifth photograph of the list below (starting with the third) is a test photograph, so each package
# gives some. OUT/MANIFEST.tsv lists the packages' versions and every photograph's SHA-256. Photographs
# only: the packages' drawings and renders stay out, and so do mate-backgrounds, opencv-doc and
# scikit-image's sample images (kept for independent checks). Takes about two minutes.
# IBQ_TEST_PATCHES (default 150) sets the test patches per photograph and scale: 750 gives 10,500, the first
# 150 of each photograph and scale being the default set's (positions depend on seed, file and patch only).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "${1:-$here/data/photos}")
prep=$here/build/bin/ibq-prepare-data
[ -x "$prep" ] || bash "$here/hpc/build.sh" default
command -v dpkg-deb >/dev/null && command -v apt-get >/dev/null ||
  { echo "make_photo_patches: needs apt-get and dpkg-deb (Debian)" >&2; exit 2; }

# package <TAB> path of one photograph (the largest copy where a package ships several sizes).
photos="plasma-workspace-wallpapers	/usr/share/wallpapers/FallenLeaf/contents/images/2560x1600.jpg
plasma-workspace-wallpapers	/usr/share/wallpapers/Path/contents/images/2560x1600.jpg
plasma-workspace-wallpapers	/usr/share/wallpapers/DarkestHour/contents/images/2560x1600.jpg
plasma-workspace-wallpapers	/usr/share/wallpapers/summer_1am/contents/images/2560x1600.jpg
plasma-workspace-wallpapers	/usr/share/wallpapers/EveningGlow/contents/images/2560x1600.jpg
plasma-workspace-wallpapers	/usr/share/wallpapers/Kite/contents/images/2560x1600.jpg
plasma-workspace-wallpapers	/usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg
plasma-workspace-wallpapers	/usr/share/wallpapers/OneStandsOut/contents/images/2560x1600.jpg
plasma-workspace-wallpapers	/usr/share/wallpapers/BytheWater/contents/images/2560x1600.jpg
lomiri-wallpapers-16.04	/usr/share/backgrounds/Picture_1A_by_freespace.jpg
lomiri-wallpapers-16.04	/usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg
lomiri-wallpapers-16.04	/usr/share/backgrounds/greentock_by_Peter_Nerlich.jpg
lomiri-wallpapers-16.04	/usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg
lomiri-wallpapers-16.04	/usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg
lomiri-wallpapers-16.04	/usr/share/backgrounds/Dragonfly_by_Bolly.jpg
lomiri-wallpapers-16.04	/usr/share/backgrounds/friends_by_Aitzol_Berasategi.jpg
lomiri-wallpapers-16.04	/usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg
lomiri-wallpapers-16.04	/usr/share/backgrounds/free_by_Peter_Nerlich.jpg
lomiri-wallpapers-16.04	/usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg
lomiri-wallpapers-16.04	/usr/share/backgrounds/Picture_0B_by_freespace.jpg
lomiri-wallpapers-16.04	/usr/share/backgrounds/life_by_Aitzol_Berasategi.jpg
lomiri-wallpapers-16.04	/usr/share/backgrounds/Bridge_by_Sander_Klootwijk.jpg
lomiri-wallpapers-20.04	/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg
lxqt-themes	/usr/share/lxqt/wallpapers/flowers.png
lxqt-themes	/usr/share/lxqt/wallpapers/fog.jpg
lxqt-themes	/usr/share/lxqt/wallpapers/after-the-rain.jpg
lxqt-themes	/usr/share/lxqt/wallpapers/Butterfly-Kenneth-Wimer.jpg
lxqt-themes	/usr/share/lxqt/wallpapers/beam.png
lxqt-themes	/usr/share/lxqt/wallpapers/Valendas.png
lxqt-themes	/usr/share/lxqt/wallpapers/appleflower.png
lxqt-themes	/usr/share/lxqt/wallpapers/cloud.png
lxqt-themes	/usr/share/lxqt/wallpapers/drop.png
lxqt-themes	/usr/share/lxqt/wallpapers/this-is-not-windows.jpg
lxqt-themes	/usr/share/lxqt/wallpapers/butterfly.png"

mkdir -p "$out/debs" "$out/unpacked"
rm -rf "$out/folders"
cd "$out/debs"
for pkg in $(echo "$photos" | cut -f1 | sort -u); do
  if ! ls "${pkg}"_*.deb >/dev/null 2>&1; then
    apt-get download -q "$pkg" 2>/dev/null || apt-get -o APT::Sandbox::User=root download -q "$pkg" ||
      { apt-get update -q >/dev/null && apt-get -o APT::Sandbox::User=root download -q "$pkg"; } ||
      { echo "make_photo_patches: could not download the Debian package $pkg" >&2; exit 1; }
  fi
  [ -d "$out/unpacked/$pkg" ] || dpkg-deb -x "${pkg}"_*.deb "$out/unpacked/$pkg"
done

manifest=$out/MANIFEST.tsv
printf 'split\tphotograph\tpackage\tversion\tpath\tsha256\n' >"$manifest"
k=0
while IFS=$'\t' read -r pkg path; do
  file=$out/unpacked/$pkg$path
  [ -f "$file" ] || { echo "make_photo_patches: $pkg no longer ships $path" >&2; exit 1; }
  name=$(basename "$path" | sed 's/\.[^.]*$//')
  [ "$name" = 2560x1600 ] && name=$(basename "$(dirname "$(dirname "$(dirname "$path")")")")
  split=train
  [ $((k % 5)) = 2 ] && split=test
  mkdir -p "$out/folders/$split/$name"
  ln -sf "$(realpath "$file")" "$out/folders/$split/$name/$(basename "$path")"
  version=$(dpkg-deb -f "$out/debs/${pkg}"_*.deb Version)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$split" "$name" "$pkg" "$version" "$path" \
    "$(sha256sum "$file" | cut -d' ' -f1)" >>"$manifest"
  k=$((k + 1))
done <<<"$photos"

for split in train test; do
  n=600
  [ "$split" = test ] && n=${IBQ_TEST_PATCHES:-150}
  for scale in 256 512; do
    "$prep" --input.dir "$out/folders/$split" --output.path "$out/$split-$scale.h5" --output.overwrite=true \
      --data.resolution 64 --data.patches $n --data.patch_from $scale --data.patch_seed $scale
  done
done
echo "photo patches in $out: $(grep -c $'^train\t' "$manifest") training and $(grep -c $'^test\t' "$manifest")" \
  "test photographs; data.train = $out/train-256.h5,$out/train-512.h5; data.test = $out/test-256.h5,$out/test-512.h5"
