// ibq/data/image_folder.hpp — an image folder in the ImageNet layout (DIR/<class>/<image>), listed and
// decoded in parallel into equal-sized square images.
//
//   ibq::ImageFolder folder = ibq::scan_image_folder("/path/to/imagenet/train");   // classes sorted by name
//   ibq::SquareImageOptions opt{256, 3, true};
//   auto batch = ibq::load_square_images(folder.images, 0, 512, opt, /*threads=*/8);
//   for (auto& r : batch) if (!r.error.empty()) std::cerr << "skipping " << r.error << "\n";
//
// Labels are class indices in name order and images are sorted within a class, as torchvision's ImageFolder
// does, so the same folder always gives the same labels and order.
#pragma once

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "ibq/core/random.hpp"
#include "ibq/data/image_resize.hpp"
#include "ibq/data/image_set.hpp"
#include "ibq/io/png.hpp"

namespace ibq {

struct ImageFolderEntry {
  std::string path;
  std::int32_t label = 0;
};

struct ImageFolder {
  std::vector<std::string> classes;     // sub-folder names, sorted; label i is classes[i]
  std::vector<ImageFolderEntry> images;  // by class, then by path
  std::vector<std::string> ignored;      // files without an image extension
};

// .png, .jpg and .jpeg in any letter case (ImageNet's files end in .JPEG).
inline bool has_image_extension(const std::string& name) {
  std::string ext = std::filesystem::path(name).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// Lists DIR/<class>/**/<image>. Hidden entries (".name") are skipped: editors and rsync leave them behind.
inline ImageFolder scan_image_folder(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  IBQ_CHECK(fs::is_directory(dir, ec),
            "input folder '" << dir << "' " << (fs::exists(dir, ec) ? "is not a folder" : "does not exist")
                             << "; expected DIR/<class>/<image>.jpg (the ImageNet layout)");
  const auto hidden = [](const fs::path& p) { return p.filename().string().rfind('.', 0) == 0; };
  ImageFolder folder;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_directory() && !hidden(entry.path())) folder.classes.push_back(entry.path().filename().string());
  IBQ_CHECK(!folder.classes.empty(),
            "input folder '" << dir << "' has no class sub-folders; expected DIR/<class>/<image>.jpg "
                                 "(the ImageNet layout)");
  std::sort(folder.classes.begin(), folder.classes.end());
  for (std::size_t label = 0; label < folder.classes.size(); ++label) {
    const std::string& name = folder.classes[label];
    IBQ_CHECK(name.find('\n') == std::string::npos,
              "class folder name '" << name << "' in '" << dir << "' contains a line break; rename it");
    std::vector<std::string> files;
    const fs::path class_dir = fs::path(dir) / name;
    for (auto it = fs::recursive_directory_iterator(class_dir, fs::directory_options::follow_directory_symlink);
         it != fs::recursive_directory_iterator(); ++it) {
      if (hidden(it->path())) {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_directory()) continue;
      (has_image_extension(it->path().string()) ? files : folder.ignored).push_back(it->path().string());
    }
    std::sort(files.begin(), files.end());
    for (auto& f : files) folder.images.push_back({std::move(f), std::int32_t(label)});
  }
  IBQ_CHECK(!folder.images.empty(), "input folder '" << dir << "': no .png, .jpg or .jpeg files in its "
                                                     << folder.classes.size() << " class folders");
  return folder;
}

struct SquareImageOptions {
  int resolution = 256;   // side of the output squares (the short side, with keep_aspect)
  int channels = 3;       // 1 (grey) or 3 (RGB)
  bool antialias = true;  // see ibq/data/image_resize.hpp
  int max_long = 0;       // > resolution: keep the aspect ratio up to this long side (for random crops)
  int patches = 0;        // > 0: this many random resolution x resolution patches of each image instead
  int patch_from = 0;     // patches: resize the short side to this first (0: as decoded)
  std::uint64_t patch_seed = 0;

  int pitch() const { return std::max(resolution, max_long); }
};

// One image ready for a shard: pixels [height, width, channels] (with patches: `patches` squares of
// [resolution, resolution, channels] one after the other), or why the file was unusable.
struct SquareImage {
  std::vector<std::uint8_t> pixels;
  int height = 0, width = 0, patches = 1;
  std::string error;  // "'<path>': <reason>" when the file could not be used
};

// `opt.patches` random squares of an image (file number `index`): offsets uniform over the image resized
// to a short side of opt.patch_from, a pure function of (patch_seed, index, patch).
inline SquareImage random_patches(const DecodedImage& decoded, std::uint64_t index, const SquareImageOptions& opt) {
  DecodedImage img = opt.channels == decoded.channels ? decoded : convert_channels(decoded, opt.channels);
  if (opt.patch_from > 0) {
    const auto [h, w] = short_side_size(img.height, img.width, opt.patch_from);
    img = resize(img, h, w, opt.antialias);
  }
  const int r = opt.resolution;
  IBQ_CHECK(img.height >= r && img.width >= r, "the image is " << img.height << "x" << img.width << " (after "
                                                               << "data.patch_from), smaller than a " << r << "x" << r
                                                               << " patch");
  SquareImage out;
  out.height = out.width = r;
  out.patches = opt.patches;
  const Rng rng = Rng{opt.patch_seed, 0x9a7c4}.split(index);
  const std::size_t row = std::size_t(r) * std::size_t(opt.channels);
  for (int k = 0; k < opt.patches; ++k) {
    const int top = int(double(img.height - r + 1) * rng.uniform(std::uint64_t(2 * k)));
    const int left = int(double(img.width - r + 1) * rng.uniform(std::uint64_t(2 * k + 1)));
    for (int y = 0; y < r; ++y) {
      const auto* src = img.pixels.data() + (std::size_t(top + y) * std::size_t(img.width) + std::size_t(left)) *
                                                std::size_t(opt.channels);
      out.pixels.insert(out.pixels.end(), src, src + row);
    }
  }
  return out;
}

// Decodes and resizes images[first, first + count) on `threads` threads (<= 0: all cores). Results come back
// in order, and a bad file costs only its own slot: the caller decides to skip it.
inline std::vector<SquareImage> load_square_images(const std::vector<ImageFolderEntry>& images, std::size_t first,
                                                   std::size_t count, const SquareImageOptions& opt, int threads) {
  IBQ_CHECK(first + count <= images.size(), "load_square_images: [" << first << ", " << first + count
                                                                    << ") is past the " << images.size() << " images");
  std::vector<SquareImage> out(count);
  std::atomic<std::size_t> next{0};
  const auto work = [&] {
    for (std::size_t i = next++; i < count; i = next++) {
      const std::string& path = images[first + i].path;
      try {
        if (opt.patches > 0) {
          out[i] = random_patches(read_image(path), first + i, opt);
          continue;
        }
        auto img = resize_short_side(read_image(path), opt.resolution, opt.pitch(), opt.channels, opt.antialias);
        out[i].height = img.height, out[i].width = img.width;
        out[i].pixels = std::move(img.pixels);
      } catch (const std::exception& e) {  // ibq::Error, or bad_alloc for an absurdly large image
        const std::string what = e.what();
        out[i].error = what.find("'" + path + "'") == std::string::npos ? "'" + path + "': " + what : what;
      }
    }
  };
  const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t n_threads = std::min<std::size_t>(count, threads > 0 ? std::size_t(threads) : cores);
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < n_threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return out;
}

// Appends one image [height, width, channels] (as load_square_images returns it) to a set, which keeps
// [channels, H, W] in memory. An image smaller than the set's H x W pitch goes to its top-left corner (zero
// elsewhere) and its size to set.extents, which a ragged set keeps for every image.
inline void append_hwc_image(ImageSet& set, const std::vector<std::uint8_t>& hwc, std::int32_t label,
                             index_t height = 0, index_t width = 0) {
  if (height == 0) height = set.height, width = set.width;
  const std::size_t c = std::size_t(set.channels), plane = std::size_t(set.height) * std::size_t(set.width);
  IBQ_CHECK(height <= set.height && width <= set.width && hwc.size() == c * std::size_t(height * width),
            "append_hwc_image: " << hwc.size() << " bytes for a " << height << "x" << width << " image in a set of "
                                 << set.height << "x" << set.width << "x" << set.channels << " images");
  const bool ragged = set.ragged() || height != set.height || width != set.width;
  if (ragged && !set.ragged())  // the images so far fill the pitch
    for (index_t i = 0; i < set.count; ++i) set.extents.insert(set.extents.end(), {std::int32_t(set.height), std::int32_t(set.width)});
  set.pixels.resize(set.pixels.size() + c * plane, 0);
  std::uint8_t* chw = set.pixels.data() + std::size_t(set.count) * c * plane;
  for (index_t y = 0; y < height; ++y)
    for (index_t x = 0; x < width; ++x)
      for (std::size_t k = 0; k < c; ++k)
        chw[k * plane + std::size_t(y * set.width + x)] = hwc[(std::size_t(y * width + x)) * c + k];
  if (ragged) set.extents.insert(set.extents.end(), {std::int32_t(height), std::int32_t(width)});
  set.labels.push_back(label);
  ++set.count;
}

}  // namespace ibq
