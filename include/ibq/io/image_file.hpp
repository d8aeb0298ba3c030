// ibq/io/image_file.hpp — what the PNG and JPEG codecs share: the decoded 8-bit image, reading a file into
// memory (replacing a file atomically is ibq/io/durable.hpp).
//
//   ibq::DecodedImage img = ibq::read_image("n01440764/n01440764_10026.JPEG");   // ibq/io/png.hpp
//   std::uint8_t g = img.at(row, col, 1);                                         // green, if channels == 3
//
// Height-width-channel order (HWC) because that is what libpng, libjpeg and the shard files use; the
// conversion to the tensors' CHW happens once, when images are batched.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "ibq/core/error.hpp"
#include "ibq/io/durable.hpp"  // replace_file_atomically, for the writers

namespace ibq {

struct DecodedImage {
  int height = 0, width = 0, channels = 0;  // channels: 1 (grey) or 3 (RGB)
  std::vector<std::uint8_t> pixels;         // [height, width, channels]

  std::size_t size() const { return std::size_t(height) * std::size_t(width) * std::size_t(channels); }
  std::uint8_t at(int row, int col, int channel) const {
    const std::size_t pixel = std::size_t(row) * std::size_t(width) + std::size_t(col);
    return pixels[pixel * std::size_t(channels) + std::size_t(channel)];
  }
};

// Decoders refuse larger images before allocating (16384 x 16384): a corrupt or hostile header claiming
// 100000 x 100000 pixels would otherwise ask for 30 GB. PIL draws its line in the same region (179M pixels).
inline constexpr std::int64_t max_image_pixels = std::int64_t(1) << 28;

inline void check_image_size(const std::string& name, std::int64_t height, std::int64_t width) {
  IBQ_CHECK(height > 0 && width > 0, "'" << name << "': empty image (" << height << "x" << width << ")");
  IBQ_CHECK(height * width <= max_image_pixels, "'" << name << "': " << height << "x" << width
                                                    << " pixels is more than ibq decodes (2^28); shrink it first");
}

// The whole file in memory: decoders work from a buffer so the format can be sniffed from its first bytes
// and a short read is told apart from a corrupt stream.
inline std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  IBQ_CHECK(f, "cannot open '" << path << "': no such file or no permission");
  std::vector<std::uint8_t> bytes;
  std::uint8_t buf[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.insert(bytes.end(), buf, buf + n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  IBQ_CHECK(!failed, "'" << path << "': read error (I/O failure or a folder, not a file)");
  return bytes;
}

}  // namespace ibq
