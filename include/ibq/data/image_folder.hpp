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
  int resolution = 256;   // side of the output squares
  int channels = 3;       // 1 (grey) or 3 (RGB)
  bool antialias = true;  // see ibq/data/image_resize.hpp
};

// One image ready for a shard: pixels [resolution, resolution, channels], or why the file was unusable.
struct SquareImage {
  std::vector<std::uint8_t> pixels;
  std::string error;  // "'<path>': <reason>" when the file could not be used
};

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
        out[i].pixels = resize_center_crop(read_image(path), opt.resolution, opt.channels, opt.antialias).pixels;
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

// Appends one image [height, width, channels] (as load_square_images returns it) to a set of that size,
// which keeps [channels, height, width] in memory.
inline void append_hwc_image(ImageSet& set, const std::vector<std::uint8_t>& hwc, std::int32_t label) {
  const std::size_t c = std::size_t(set.channels), plane = std::size_t(set.height) * std::size_t(set.width);
  IBQ_CHECK(hwc.size() == c * plane, "append_hwc_image: " << hwc.size() << " bytes for a set of " << set.height << "x"
                                                          << set.width << "x" << set.channels << " images");
  set.pixels.resize(set.pixels.size() + c * plane);
  std::uint8_t* chw = set.pixels.data() + std::size_t(set.count) * c * plane;
  for (std::size_t p = 0; p < plane; ++p)
    for (std::size_t k = 0; k < c; ++k) chw[k * plane + p] = hwc[p * c + k];
  set.labels.push_back(label);
  ++set.count;
}

}  // namespace ibq
