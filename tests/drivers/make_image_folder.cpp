// Builds the image folder tests/drivers/prepare_data.sh feeds to ibq-prepare-data, with ibq's own writers
// (no Python or PIL needed): three classes, PNG grey / RGB / RGBA, JPEG grey / RGB, varied sizes and aspect
// ratios, a truncated JPEG, a zero-byte PNG, a text file and a hidden folder.
//
//   make_image_folder DIR
//
// Every image is one flat colour, so each stays that colour through any resize and crop; the test reads one
// pixel per image back from the shard to check order, labels and channel handling.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "ibq/io/png.hpp"

namespace {

std::vector<std::uint8_t> flat(int h, int w, std::vector<std::uint8_t> colour_with_alpha) {
  std::vector<std::uint8_t> px;
  for (int i = 0; i < h * w; ++i) px.insert(px.end(), colour_with_alpha.begin(), colour_with_alpha.end());
  return px;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_image_folder DIR\n";
    return 2;
  }
  namespace fs = std::filesystem;
  const fs::path root = argv[1];
  for (const char* d : {"antelope", "bee", "crab", ".cache"}) fs::create_directories(root / d);
  const auto at = [&](const char* name) { return (root / name).string(); };
  try {
    ibq::write_png(at("antelope/a_gray.png"), flat(40, 60, {50}), 40, 60, 1);
    ibq::write_png(at("antelope/b_rgb.PNG"), flat(80, 50, {200, 10, 30}), 80, 50, 3);
    ibq::write_jpeg(at("antelope/c_corrupt.jpg"), flat(48, 48, {9, 9, 9}).data(), 48, 48, 3);
    fs::resize_file(at("antelope/c_corrupt.jpg"), fs::file_size(at("antelope/c_corrupt.jpg")) / 2);
    ibq::write_png(at("bee/alpha.png"), flat(33, 77, {1, 2, 3, 0}), 33, 77, 4);  // fully transparent
    std::ofstream(at("bee/empty.png")).close();
    ibq::write_jpeg(at("bee/photo.JPEG"), flat(120, 90, {40, 160, 90}).data(), 120, 90, 3);
    std::ofstream(at("bee/notes.txt")) << "not an image\n";
    ibq::write_jpeg(at("crab/gray.jpeg"), flat(64, 64, {120}).data(), 64, 64, 1);
    ibq::write_jpeg(at("crab/wide.jpg"), flat(20, 200, {250, 250, 0}).data(), 20, 200, 3);
    ibq::write_png(at(".cache/ignored.png"), flat(8, 8, {7}), 8, 8, 1);
  } catch (const ibq::Error& e) {
    std::cerr << "make_image_folder: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
