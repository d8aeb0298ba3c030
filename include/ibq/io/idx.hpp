// ibq/io/idx.hpp — reader for (gzip'd) IDX files: MNIST / Fashion-MNIST images and labels.
//
//   auto imgs = ibq::read_idx_images("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
//   auto labs = ibq::read_idx_labels(".../train-labels-idx1-ubyte.gz");   // imgs.count == labs.size()
//
// IDX is big-endian: a magic number (0x00000803 for rank-3 uint8 images, 0x00000801 for uint8 labels),
// one uint32 per dimension, then the raw bytes. zlib reads plain and gzip'd files alike.
#pragma once

#include <zlib.h>

#include <algorithm>

#include <cstdint>
#include <string>
#include <vector>

#include "ibq/core/error.hpp"

namespace ibq {

struct IdxImages {
  std::int64_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // count * rows * cols, row-major
};

namespace detail {
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path), f_(gzopen(path.c_str(), "rb")) {
    IBQ_CHECK(f_ != nullptr, "cannot open '" << path << "': no such file or no permission (Fashion-MNIST ships in "
                                             << "Debian's dataset-fashion-mnist package; hpc/setup.sh installs it)");
  }
  ~GzReader() {
    if (f_) gzclose(f_);
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  void read(void* dst, std::size_t n, const char* what) {
    auto* out = static_cast<unsigned char*>(dst);
    while (n > 0) {  // gzread takes an unsigned: read big payloads in pieces
      const unsigned piece = n > (1u << 30) ? (1u << 30) : static_cast<unsigned>(n);
      const int got = gzread(f_, out, piece);
      IBQ_CHECK(got > 0, "'" << path_ << "' is truncated or corrupt while reading " << what
                             << " (re-install the dataset package or re-download the file)");
      out += got;
      n -= static_cast<std::size_t>(got);
    }
  }
  // n bytes that a header claims, read in pieces as they arrive: a damaged count fails as a truncated file
  // instead of allocating what it claims up front.
  std::vector<std::uint8_t> read_claimed(std::uint64_t n, const char* what) {
    std::vector<std::uint8_t> out;
    for (std::uint64_t done = 0; done < n;) {
      const std::size_t piece = std::size_t(std::min<std::uint64_t>(n - done, std::uint64_t(16) << 20));
      out.resize(std::size_t(done) + piece);
      read(out.data() + done, piece, what);
      done += piece;
    }
    return out;
  }
  std::uint32_t read_be32(const char* what) {
    unsigned char b[4];
    read(b, 4, what);
    return (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8) | b[3];
  }
  bool at_end() {
    unsigned char c;
    return gzread(f_, &c, 1) == 0;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  gzFile f_;
};
}  // namespace detail

inline IdxImages read_idx_images(const std::string& path) {
  detail::GzReader in(path);
  const std::uint32_t magic = in.read_be32("the header");
  IBQ_CHECK(magic == 0x00000803, "'" << path << "' is not an IDX image file (magic 0x" << std::hex << magic
                                     << ", expected 0x00000803 for uint8 rank-3 images)");
  IdxImages out;
  out.count = in.read_be32("the header");
  out.rows = in.read_be32("the header");
  out.cols = in.read_be32("the header");
  IBQ_CHECK(out.rows > 0 && out.cols > 0 && out.rows <= 4096 && out.cols <= 4096,
            "'" << path << "': implausible image size " << out.rows << "x" << out.cols);
  out.pixels = in.read_claimed(std::uint64_t(out.count) * std::uint64_t(out.rows * out.cols), "the pixels");
  IBQ_CHECK(in.at_end(), "'" << path << "' has trailing data after " << out.count << " images (corrupt?)");
  return out;
}

inline std::vector<std::int32_t> read_idx_labels(const std::string& path) {
  detail::GzReader in(path);
  const std::uint32_t magic = in.read_be32("the header");
  IBQ_CHECK(magic == 0x00000801, "'" << path << "' is not an IDX label file (magic 0x" << std::hex << magic
                                     << ", expected 0x00000801)");
  const std::uint32_t n = in.read_be32("the header");
  const std::vector<std::uint8_t> raw = in.read_claimed(n, "the labels");
  IBQ_CHECK(in.at_end(), "'" << path << "' has trailing data after " << n << " labels (corrupt?)");
  return std::vector<std::int32_t>(raw.begin(), raw.end());
}

}  // namespace ibq
