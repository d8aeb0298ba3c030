// ibq/io/png.hpp — PNG files through libpng, and read_image: PNG or JPEG, told apart by their first bytes.
//
//   ibq::write_png("grid.png", pixels.data(), height, width, 3);    // uint8 [height, width, 3], atomically
//   ibq::DecodedImage img = ibq::read_image("cat.jpeg");             // 8-bit grey or RGB, HWC
//
// Decoding normalises every PNG flavour to 8-bit grey or RGB the way PIL's convert("L" / "RGB") does:
// palettes are expanded, 16-bit samples scaled to 8, and alpha (or a tRNS colour) dropped, leaving the
// stored colours. Errors are ibq::Error naming the file and what is wrong with it.
#pragma once

#include <png.h>

#include <cstring>
#include <string>
#include <vector>

#include "ibq/io/image_file.hpp"
#include "ibq/io/jpeg.hpp"

namespace ibq {

namespace detail {

struct PngSource {
  const std::uint8_t* data;
  std::size_t size, pos;
  char message[256];
};

inline void png_fail(png_structp png, png_const_charp msg) {
  auto* src = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(src->message, sizeof src->message, "%s", msg);
  png_longjmp(png, 1);
}
inline void png_quiet(png_structp, png_const_charp) {}
inline void png_read_memory(png_structp png, png_bytep out, png_size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (n > src->size - src->pos) png_error(png, "file ends early (truncated)");
  std::memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

// libpng reports errors by longjmp to the last setjmp; these two steps hold only trivially destructible
// locals, so the jump never skips a C++ destructor.
inline bool png_read_header(png_structp png, png_infop info, int* height, int* width, int* channels) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  const int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  if (depth == 16) png_set_scale_16(png);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  png_set_strip_alpha(png);  // also the alpha that palette expansion makes from a tRNS chunk
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  *height = int(png_get_image_height(png, info));
  *width = int(png_get_image_width(png, info));
  *channels = int(png_get_channels(png, info));
  return true;
}
// Stops after the last row: chunks after the image data (text, time) carry no pixels, so a file cut there
// still decodes, as in PIL.
inline bool png_read_pixels(png_structp png, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  return true;
}

}  // namespace detail

inline bool is_png(const std::uint8_t* data, std::size_t size) {
  return size >= 8 && png_sig_cmp(data, 0, 8) == 0;
}

// Decodes a PNG held in memory to 8-bit grey (1 channel) or RGB (3). `name` is only used in messages.
inline DecodedImage decode_png(const std::uint8_t* data, std::size_t size, const std::string& name) {
  detail::PngSource src{data, size, 0, {}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, detail::png_fail, detail::png_quiet);
  IBQ_CHECK(png, "'" << name << "': libpng could not start (out of memory?)");
  png_infop info = png_create_info_struct(png);
  struct Cleanup {
    png_structp* png;
    png_infop* info;
    ~Cleanup() { png_destroy_read_struct(png, info, nullptr); }
  } cleanup{&png, &info};
  IBQ_CHECK(info, "'" << name << "': libpng could not start (out of memory?)");
  png_set_read_fn(png, &src, detail::png_read_memory);

  DecodedImage img;
  if (!detail::png_read_header(png, info, &img.height, &img.width, &img.channels))
    IBQ_THROW("'" << name << "': corrupt PNG (" << src.message << ")");
  check_image_size(name, img.height, img.width);
  IBQ_CHECK(img.channels == 1 || img.channels == 3,
            "'" << name << "': PNG decodes to " << img.channels << " channels; expected grey or RGB");
  img.pixels.resize(img.size());
  std::vector<png_bytep> rows(std::size_t(img.height));
  const std::size_t row_bytes = std::size_t(img.width) * std::size_t(img.channels);
  for (std::size_t r = 0; r < rows.size(); ++r) rows[r] = img.pixels.data() + r * row_bytes;
  if (!detail::png_read_pixels(png, rows.data())) IBQ_THROW("'" << name << "': corrupt PNG (" << src.message << ")");
  return img;
}

// Writes 8-bit pixels [height, width, channels] as a PNG: channels 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA.
// The file appears under `path` only once complete (temporary name, then rename).
inline void write_png(const std::string& path, const std::uint8_t* pixels, int height, int width, int channels) {
  IBQ_CHECK(channels >= 1 && channels <= 4,
            "write_png '" << path << "': channels must be 1 (grey), 2, 3 (RGB) or 4, got " << channels);
  IBQ_CHECK(height > 0 && width > 0, "write_png '" << path << "': empty image " << height << "x" << width);
  static constexpr png_uint_32 formats[] = {PNG_FORMAT_GRAY, PNG_FORMAT_GA, PNG_FORMAT_RGB, PNG_FORMAT_RGBA};
  replace_file_atomically(path, [&](const std::string& tmp) {
    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    image.width = png_uint_32(width);
    image.height = png_uint_32(height);
    image.format = formats[channels - 1];
    const int ok = png_image_write_to_file(&image, tmp.c_str(), /*convert_to_8bit=*/0, pixels, /*row_stride=*/0,
                                           /*colormap=*/nullptr);
    const std::string message = image.message;
    png_image_free(&image);
    IBQ_CHECK(ok, "write_png '" << path << "': " << message << " (does the folder exist and is it writable?)");
  });
}
inline void write_png(const std::string& path, const std::vector<std::uint8_t>& pixels, int height, int width,
                      int channels) {
  IBQ_CHECK(pixels.size() == std::size_t(height) * std::size_t(width) * std::size_t(channels),
            "write_png '" << path << "': " << pixels.size() << " bytes for a " << height << "x" << width << "x"
                          << channels << " image");
  write_png(path, pixels.data(), height, width, channels);
}

// Reads a PNG or JPEG file (whatever its extension says) into 8-bit grey or RGB.
inline DecodedImage read_image(const std::string& path) {
  const auto bytes = read_file_bytes(path);
  IBQ_CHECK(!bytes.empty(), "'" << path << "': empty file (0 bytes: an interrupted copy or download?)");
  if (is_png(bytes.data(), bytes.size())) return decode_png(bytes.data(), bytes.size(), path);
  if (is_jpeg(bytes.data(), bytes.size())) return decode_jpeg(bytes.data(), bytes.size(), path);
  IBQ_THROW("'" << path << "': neither PNG nor JPEG (unrecognised first bytes); convert it to one of those");
}

}  // namespace ibq
