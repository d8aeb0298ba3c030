// Image files and resizing: PNG/JPEG round trips, PIL's decodes of every PNG/JPEG flavour, errors that name
// the file, and the resize + centre crop against hand-computed values and PIL.
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "test_util.hpp"
#include "ibq/data/image_resize.hpp"
#include "ibq/io/hdf5.hpp"
#include "ibq/io/png.hpp"

using namespace ibq;

namespace {

std::string png_path(const std::string& n) { return std::string(IBQ_BINARY_DIR) + "/test_png_" + n; }
std::string fixture_dir() { return std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/"; }

DecodedImage make_image(int h, int w, int c, std::uint32_t seed) {
  DecodedImage img;
  img.height = h, img.width = w, img.channels = c;
  for (std::size_t i = 0; i < img.size(); ++i) img.pixels.push_back(std::uint8_t((i * 2654435761u + seed) >> 13));
  return img;
}
// Smooth content: JPEG's quantisation keeps it within a few levels.
DecodedImage smooth_image(int h, int w, int c) {
  DecodedImage img;
  img.height = h, img.width = w, img.channels = c;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        img.pixels.push_back(std::uint8_t(128 + 90 * std::sin(x / (4.0 + k)) * std::cos(y / 5.0)));
  return img;
}
DecodedImage constant_image(int h, int w, int c, std::uint8_t v) {
  DecodedImage img;
  img.height = h, img.width = w, img.channels = c;
  img.pixels.assign(img.size(), v);
  return img;
}
DecodedImage fixture_image(const h5::File& f, const std::string& name) {
  std::vector<hsize_t> d;
  DecodedImage img;
  img.pixels = f.read<std::uint8_t>(name, &d);
  img.height = int(d.at(0)), img.width = int(d.at(1)), img.channels = int(d.at(2));
  return img;
}
std::vector<std::uint8_t> image_bytes(const std::string& path) { return read_file_bytes(path); }
void write_prefix(const std::string& path, const std::vector<std::uint8_t>& b, std::size_t n) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(n));
}
void require_same(const DecodedImage& got, const DecodedImage& want, int tol = 0) {
  REQUIRE(got.height == want.height);
  REQUIRE(got.width == want.width);
  REQUIRE(got.channels == want.channels);
  int worst = 0;
  for (std::size_t i = 0; i < want.pixels.size(); ++i)
    worst = std::max(worst, std::abs(got.pixels[i] - want.pixels[i]));
  REQUIRE(worst <= tol);
}

}  // namespace

TEST_CASE("png: write_png then read_image round trips grey and RGB exactly, dropping alpha", "[io]") {
  for (int c : {1, 3}) {
    const auto img = make_image(13, 7, c, 5u + unsigned(c));
    const auto path = png_path("round" + std::to_string(c) + ".png");
    write_png(path, img.pixels, img.height, img.width, c);
    REQUIRE_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));
    require_same(read_image(path), img);
  }
  for (int c : {2, 4}) {  // grey + alpha -> grey, RGBA -> RGB: the stored colours, as PIL's convert
    const auto img = make_image(4, 6, c, 9);
    const auto path = png_path("alpha" + std::to_string(c) + ".png");
    write_png(path, img.pixels.data(), img.height, img.width, c);
    const auto back = read_image(path);
    REQUIRE(back.channels == c - 1);
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 6; ++x)
        for (int k = 0; k < c - 1; ++k) REQUIRE(back.at(y, x, k) == img.at(y, x, k));
  }
}

TEST_CASE("png: palette, 1-bit, 16-bit and grey+alpha files decode as PIL decodes them", "[io]") {
  h5::File f(fixture_dir() + "images.h5", h5::File::Mode::read);
  for (const char* name : {"palette.png", "bilevel.png", "gray16.png", "gray_alpha.png", "rgba.png"}) {
    INFO(name);
    require_same(read_image(fixture_dir() + "images/" + name), fixture_image(f, std::string("decode/") + name));
  }
}

TEST_CASE("jpeg: progressive, grey and CMYK JPEGs decode as PIL decodes them", "[io]") {
  h5::File f(fixture_dir() + "images.h5", h5::File::Mode::read);
  for (const char* name : {"progressive.jpg", "gray.jpg", "cmyk.jpg"}) {
    INFO(name);
    require_same(read_image(fixture_dir() + "images/" + name), fixture_image(f, std::string("decode/") + name));
  }
}

TEST_CASE("jpeg: write_jpeg then read_image stays within JPEG's loss", "[io]") {
  for (int c : {1, 3}) {
    const auto img = smooth_image(24, 40, c);
    const auto path = png_path("round" + std::to_string(c) + ".jpg");
    write_jpeg(path, img.pixels.data(), img.height, img.width, c, 95);
    const auto back = read_image(path);
    REQUIRE(back.channels == c);
    double err = 0;
    for (std::size_t i = 0; i < img.size(); ++i) err += std::abs(back.pixels[i] - img.pixels[i]);
    REQUIRE(err / double(img.size()) < 2.0);
  }
  REQUIRE_THROWS_WITH(write_jpeg(png_path("q.jpg"), nullptr, 2, 2, 3, 0), Catch::Contains("quality"));
}

TEST_CASE("read_image: the format comes from the bytes, not the extension", "[io]") {
  const auto img = make_image(5, 6, 3, 1);
  write_png(png_path("really_png.JPEG"), img.pixels, 5, 6, 3);
  require_same(read_image(png_path("really_png.JPEG")), img);
  write_jpeg(png_path("really_jpeg.png"), img.pixels.data(), 5, 6, 3);
  REQUIRE(read_image(png_path("really_jpeg.png")).channels == 3);
}

TEST_CASE("read_image: empty, foreign, truncated and corrupt files throw ibq::Error naming the file", "[io]") {
  const auto img = smooth_image(64, 48, 3);
  write_png(png_path("good.png"), img.pixels, 64, 48, 3);
  write_jpeg(png_path("good.jpg"), img.pixels.data(), 64, 48, 3);
  const auto png = image_bytes(png_path("good.png")), jpg = image_bytes(png_path("good.jpg"));

  const auto fails = [](const std::string& path, const std::string& reason) {
    REQUIRE_THROWS_AS(read_image(path), Error);
    REQUIRE_THROWS_WITH(read_image(path), Catch::Contains("'" + path + "'") && Catch::Contains(reason));
  };
  fails(png_path("missing.png"), "cannot open");
  write_prefix(png_path("empty.png"), png, 0);
  fails(png_path("empty.png"), "empty file");
  std::ofstream(png_path("text.jpg")) << "not an image at all\n";
  fails(png_path("text.jpg"), "neither PNG nor JPEG");
  write_prefix(png_path("cut.png"), png, png.size() / 2);
  fails(png_path("cut.png"), "truncated");
  write_prefix(png_path("cut.jpg"), jpg, jpg.size() / 2);
  fails(png_path("cut.jpg"), "truncated JPEG");
  write_prefix(png_path("header.jpg"), jpg, 40);  // inside the headers: a fatal libjpeg error, not a warning
  fails(png_path("header.jpg"), "JPEG");

  auto bad_png = png;  // garbage inside the compressed data: zlib or CRC errors
  for (std::size_t i = 100; i < 160; ++i) bad_png[i] ^= 0x5a;
  write_prefix(png_path("bad.png"), bad_png, bad_png.size());
  fails(png_path("bad.png"), "corrupt PNG");
  auto huge = png;  // a valid header (CRC fixed up) claiming 20000 x 20000 pixels: refused before allocating
  for (int i = 0; i < 2; ++i) {
    const std::uint8_t be[4] = {0x00, 0x00, 0x4e, 0x20};  // 20000, big-endian
    std::copy(be, be + 4, huge.begin() + 16 + 4 * i);
  }
  const uLong crc = crc32(0, huge.data() + 12, 17);  // over "IHDR" and its 13 data bytes
  for (int i = 0; i < 4; ++i) huge[std::size_t(29 + i)] = std::uint8_t(crc >> (24 - 8 * i));
  write_prefix(png_path("huge.png"), huge, huge.size());
  fails(png_path("huge.png"), "20000x20000 pixels is more than ibq decodes");

  auto bad_jpg = jpg;  // a broken quantisation-table marker
  for (std::size_t i = 2; i < 30; ++i) bad_jpg[i] = 0xFF;
  write_prefix(png_path("bad.jpg"), bad_jpg, bad_jpg.size());
  fails(png_path("bad.jpg"), "corrupt JPEG");
}

TEST_CASE("write_png: bad arguments and an unwritable folder throw with the path", "[io]") {
  const std::vector<std::uint8_t> px(12, 7);
  REQUIRE_THROWS_WITH(write_png(png_path("five.png"), px.data(), 2, 2, 5), Catch::Contains("channels"));
  REQUIRE_THROWS_WITH(write_png(png_path("size.png"), px, 3, 3, 3), Catch::Contains("12 bytes"));
  const std::string nowhere = png_path("no/such/folder/x.png");
  REQUIRE_THROWS_WITH(write_png(nowhere, px, 2, 2, 3), Catch::Contains(nowhere));
}

TEST_CASE("resize: constant images stay constant, up and down, with and without antialiasing", "[io][data]") {
  for (bool aa : {true, false})
    for (auto [h, w, nh, nw] : {std::array<int, 4>{37, 53, 16, 9}, {5, 3, 17, 40}, {1, 1, 4, 4}, {64, 64, 3, 64}}) {
      const auto out = resize(constant_image(h, w, 3, 201), nh, nw, aa);
      REQUIRE(out.height == nh);
      REQUIRE(out.width == nw);
      REQUIRE(out.pixels == std::vector<std::uint8_t>(std::size_t(nh * nw * 3), 201));
    }
  REQUIRE(resize_center_crop(constant_image(300, 17, 1, 9), 8, 3).pixels == std::vector<std::uint8_t>(8 * 8 * 3, 9));
}

TEST_CASE("resize: 4x8 -> short side 2 -> centre 2x2, hand-computed triangle weights", "[io][data]") {
  // Halving: the antialiased triangle spans 2 source pixels either side; output column j of the 4-wide
  // resize is centred at 2j + 1. Interior weights (1, 3, 3, 1)/8 over pixels 2j-1..2j+2; at the image
  // edges the cut-off tap is dropped and the rest renormalised: (3, 3, 1)/7 and (1, 3, 3)/7.
  // The centre crop keeps resized columns 1 and 2. A single bright pixel at (row 1, col 3) = 224 shows them:
  auto impulse = constant_image(4, 8, 1, 0);
  impulse.pixels[1 * 8 + 3] = 224;
  // rows: out 0 weighs row 1 by 3/7, out 1 by 1/7; columns: out 1 weighs col 3 by 3/8, out 2 by 1/8.
  REQUIRE(resize_center_crop(impulse, 2, 1).pixels == std::vector<std::uint8_t>{36, 12, 12, 4});
  // Without antialiasing each output blends the 2 nearest pixels half-half: (0,0) takes rows 0-1 and
  // columns 2-3, so sees 224 / 4; the others miss the pixel.
  REQUIRE(resize_center_crop(impulse, 2, 1, false).pixels == std::vector<std::uint8_t>{56, 0, 0, 0});
  // A ramp 10 x + 40 y is reproduced at the weighted centres: x = 2.5, 4.5 and y = 5/7, 16/7.
  DecodedImage ramp = constant_image(4, 8, 1, 0);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 8; ++x) ramp.pixels[std::size_t(y * 8 + x)] = std::uint8_t(10 * x + 40 * y);
  REQUIRE(resize_center_crop(ramp, 2, 1).pixels == std::vector<std::uint8_t>{54, 74, 116, 136});
}

TEST_CASE("resize: upscaling interpolates linearly, scale 1 is exact, and the crop is centred", "[io][data]") {
  DecodedImage two = constant_image(1, 2, 1, 0);
  two.pixels = {0, 100};
  REQUIRE(resize(two, 1, 4).pixels == std::vector<std::uint8_t>{0, 25, 75, 100});
  const auto img = make_image(3, 5, 3, 11);  // short side already 3: columns 1..3 unchanged
  const auto out = resize_center_crop(img, 3, 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 3; ++x)
      for (int k = 0; k < 3; ++k) REQUIRE(out.at(y, x, k) == img.at(y, x + 1, k));
}

TEST_CASE("resize: matches PIL's BILINEAR resize + centre crop within one level", "[io][data]") {
  h5::File f(fixture_dir() + "images.h5", h5::File::Mode::read);
  for (const char* name : {"landscape_down", "portrait_down", "gray_up", "odd_factor_down", "mixed"}) {
    INFO(name);
    const std::string g = std::string("resize/") + name;
    const auto input = fixture_image(f, g + "/input"), want = fixture_image(f, g + "/output");
    const int r = int(f.attr<std::int64_t>(g, "resolution"));
    // PIL rounds to 8 bits between its horizontal and vertical passes; we keep doubles, hence +-1.
    require_same(r ? resize_center_crop(input, r, input.channels) : resize(input, want.height, want.width), want, 1);
  }
}

TEST_CASE("convert_channels: grey -> RGB replicates, RGB -> grey is PIL's luma", "[io][data]") {
  DecodedImage rgb = constant_image(1, 3, 3, 0);
  rgb.pixels = {255, 0, 0, 0, 255, 0, 10, 20, 30};
  REQUIRE(convert_channels(rgb, 1).pixels == std::vector<std::uint8_t>{76, 150, 18});  // PIL: 76 150 18
  const auto grey = make_image(2, 2, 1, 3);
  const auto three = convert_channels(grey, 3);
  for (int k = 0; k < 3; ++k) REQUIRE(three.at(1, 0, k) == grey.at(1, 0, 0));
  REQUIRE(resize_center_crop(rgb, 1, 1).channels == 1);
  REQUIRE_THROWS_WITH(convert_channels(grey, 2), Catch::Contains("channels must be 1 or 3"));
  REQUIRE_THROWS_WITH(resize_window(grey, 4, 4, 2, 0, 3, 3), Catch::Contains("not inside 4x4"));
  REQUIRE_THROWS_WITH(resize_center_crop(grey, 0, 3), Catch::Contains("resolution must be positive"));
}
