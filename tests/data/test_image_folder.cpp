// Image folders (the ImageNet layout): listing order and labels, parallel loading with per-file errors,
// HWC -> CHW appends, and the shard file names.
#include <filesystem>
#include <fstream>

#include "test_util.hpp"
#include "ibq/data/image_folder.hpp"
#include "ibq/io/shard_names.hpp"

using namespace ibq;
namespace fs = std::filesystem;

namespace {

std::string scratch(const std::string& n) {
  const auto dir = std::string(IBQ_BINARY_DIR) + "/test_image_folder_" + n;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}
void grey_png(const std::string& path, std::uint8_t value, int h = 6, int w = 4) {
  fs::create_directories(fs::path(path).parent_path());
  write_png(path, std::vector<std::uint8_t>(std::size_t(h * w), value), h, w, 1);
}

}  // namespace

TEST_CASE("image_folder: classes sorted by name, images sorted within a class, others ignored", "[data]") {
  const auto root = scratch("scan");
  grey_png(root + "/b/x.JPEG", 1);  // a PNG under a JPEG name: the extension only selects the file
  grey_png(root + "/b/sub/w.png", 2);
  grey_png(root + "/a/z.Jpg", 3);
  grey_png(root + "/a/y.png", 4);
  grey_png(root + "/.hidden/h.png", 5);
  grey_png(root + "/a/.thumb.png", 6);
  std::ofstream(root + "/a/readme.md") << "text\n";
  std::ofstream(root + "/top.png") << "files beside the class folders are not images of a class\n";
  const auto folder = scan_image_folder(root);
  REQUIRE(folder.classes == std::vector<std::string>{"a", "b"});
  REQUIRE(folder.images.size() == 4);
  const std::vector<std::string> want{"/a/y.png", "/a/z.Jpg", "/b/sub/w.png", "/b/x.JPEG"};
  const std::vector<std::int32_t> labels{0, 0, 1, 1};
  for (std::size_t i = 0; i < 4; ++i) {
    REQUIRE(folder.images[i].path == root + want[i]);
    REQUIRE(folder.images[i].label == labels[i]);
  }
  REQUIRE(folder.ignored == std::vector<std::string>{root + "/a/readme.md"});
  REQUIRE(has_image_extension("n01440764_10026.JPEG"));
  REQUIRE_FALSE(has_image_extension("photo.gif"));
  REQUIRE_FALSE(has_image_extension("jpeg"));
}

TEST_CASE("image_folder: missing, flat and image-less folders are errors naming the folder", "[data]") {
  const auto root = scratch("bad");
  REQUIRE_THROWS_WITH(scan_image_folder(root + "/none"), Catch::Contains("'" + root + "/none' does not exist"));
  grey_png(root + "/flat/a.png", 1);
  REQUIRE_THROWS_WITH(scan_image_folder(root + "/flat"), Catch::Contains("has no class sub-folders"));
  fs::create_directories(root + "/empty/cls");
  REQUIRE_THROWS_WITH(scan_image_folder(root + "/empty"), Catch::Contains("no .png, .jpg or .jpeg files"));
}

TEST_CASE("image_folder: load_square_images keeps order across threads, and a bad file fails alone", "[data]") {
  const auto root = scratch("load");
  std::vector<ImageFolderEntry> images;
  for (int i = 0; i < 9; ++i) {
    images.push_back({root + "/c/" + std::to_string(i) + ".png", 0});
    if (i != 4) grey_png(images.back().path, std::uint8_t(10 * i), 5 + i, 9);
  }
  std::ofstream(images[4].path) << "broken";
  const auto out = load_square_images(images, 1, 8, SquareImageOptions{3, 3, true}, 3);
  REQUIRE(out.size() == 8);
  for (std::size_t j = 0; j < 8; ++j) {
    const std::size_t i = j + 1;
    if (i == 4) {
      REQUIRE(out[j].pixels.empty());
      REQUIRE_THAT(out[j].error,
                   Catch::Contains("'" + images[4].path + "'") && Catch::Contains("neither PNG nor JPEG"));
    } else {
      REQUIRE(out[j].error.empty());
      REQUIRE(out[j].pixels == std::vector<std::uint8_t>(27, std::uint8_t(10 * i)));
    }
  }
  REQUIRE_THROWS_WITH(load_square_images(images, 5, 5, {}, 1), Catch::Contains("past the 9 images"));
}

TEST_CASE("image_folder: append_hwc_image stores channels-first", "[data]") {
  ImageSet set;
  set.channels = 3, set.height = 1, set.width = 2;
  append_hwc_image(set, {1, 2, 3, 4, 5, 6}, 7);
  append_hwc_image(set, {9, 9, 9, 8, 8, 8}, 1);
  REQUIRE(set.count == 2);
  REQUIRE(set.pixels == std::vector<std::uint8_t>{1, 4, 2, 5, 3, 6, 9, 8, 9, 8, 9, 8});
  REQUIRE(set.labels == std::vector<std::int32_t>{7, 1});
  REQUIRE_THROWS_WITH(append_hwc_image(set, {1, 2, 3}, 0), Catch::Contains("3 bytes for a 1x2 image in a set of 1x2x3 images"));
}

TEST_CASE("shard_names: OUT.h5 -> OUT-00000.h5, and list_shards finds exactly those", "[data][io]") {
  REQUIRE(shard_path("data/train.h5", 3) == "data/train-00003.h5");
  REQUIRE(shard_path("train", 12) == "train-00012.h5");
  const auto root = scratch("shards");
  for (const char* n : {"t-00001.h5", "t-00000.h5", "t-1.h5", "t-00002.h5.tmp.7", "tt-00000.h5", "t-0000x.h5", "t.h5"})
    std::ofstream(root + "/" + n) << "x";
  REQUIRE(list_shards(root + "/t.h5") == std::vector<std::string>{root + "/t-00000.h5", root + "/t-00001.h5"});
  REQUIRE(list_shards(root + "/none/t.h5").empty());
}
