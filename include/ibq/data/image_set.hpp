// ibq/data/image_set.hpp — where training images come from, and the in-memory set.
//
//   auto train = ibq::load_fashion_mnist("/usr/share/datasets/fashion-mnist", "train");   // 60000 x 1x28x28
//   auto order = train.epoch_order(seed, epoch);           // a permutation, same on every rank and run
//   auto x = train.batch<float>(order, first, count);      // Tensor [count, 1, 28, 28], normalised
//
// ImageSource is what trainers and evaluators read: a count, a geometry, a normalisation, and gather(),
// which copies chosen images (uint8 [C, H, W] each) and their labels out. ImageSet keeps every pixel in
// memory (47 MB for Fashion-MNIST); ShardedImages (ibq/io/image_shard.hpp) reads HDF5 shards a batch at
// a time, for sets that do not fit. A batch is normalised with the source's mean/std and copied to the
// device once.
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "ibq/core/random.hpp"
#include "ibq/core/tensor.hpp"
#include "ibq/io/idx.hpp"

namespace ibq {

class ImageSource {
 public:
  index_t count = 0, channels = 1, height = 0, width = 0;
  double mean = 0.5, std = 0.5;  // normalisation: (pixel / 255 - mean) / std

  virtual ~ImageSource() = default;
  // Images rows[0..n) into pixels (uint8 [n, C, H, W]; skipped when null) and their labels (when not null).
  // `epoch` matters only to sources that crop (ibq/data/crop.hpp): a new crop of each image every epoch.
  virtual void gather(const index_t* rows, index_t n, std::uint8_t* pixels, std::int32_t* labels,
                      std::uint64_t epoch = 0) const = 0;

  // Images of different sizes are stored top-left in an H x W pitch (short side resized, aspect kept, for
  // random crops); extent(row) is an image's own {height, width}, the whole pitch unless ragged().
  virtual bool ragged() const { return false; }
  virtual std::array<index_t, 2> extent(index_t /*row*/) const { return {height, width}; }

  index_t image_size() const { return channels * height * width; }

  // Keeps the first n images (for quick runs and tests); n <= 0 keeps everything.
  virtual void truncate(index_t n) {
    if (n > 0 && n < count) count = n;
  }

  // Fisher-Yates with the counter-based RNG: a pure function of (seed, epoch).
  std::vector<index_t> epoch_order(std::uint64_t seed, std::uint64_t epoch) const {
    return epoch_permutation(count, seed, epoch);
  }

  // Images order[first, first + n) as a normalised Tensor [n, C, H, W].
  template <class T, class Space = DefaultSpace>
  Tensor<T, Space> batch(const std::vector<index_t>& order, index_t first, index_t n, std::uint64_t epoch = 0) const {
    return Tensor<T, Space>::from_host({n, channels, height, width}, host_batch<T>(order.data() + first, n, epoch));
  }
  // Images rows[0..n) normalised on the host, [n, C, H, W] flat: the part of batch() a reader thread can do.
  template <class T>
  std::vector<T> host_batch(const index_t* rows, index_t n, std::uint64_t epoch = 0) const {
    std::vector<std::uint8_t> raw(std::size_t(n * image_size()));
    gather(rows, n, raw.data(), nullptr, epoch);
    std::vector<T> host(raw.size());
    const double scale = 1.0 / (255.0 * std), shift = mean / std;
    for (std::size_t k = 0; k < raw.size(); ++k) host[k] = T(raw[k] * scale - shift);
    return host;
  }
  template <class Space = DefaultSpace>
  Tensor<std::int32_t, Space> batch_labels(const std::vector<index_t>& order, index_t first, index_t n) const {
    std::vector<std::int32_t> host(static_cast<std::size_t>(n));
    gather(order.data() + first, n, nullptr, host.data());  // labels only: no pixels read again
    return Tensor<std::int32_t, Space>::from_host({n}, host);
  }

 protected:
  // Row `row` of an extents table [count, 2]; an empty table: the whole pitch.
  std::array<index_t, 2> extent_in(const std::vector<std::int32_t>& extents, index_t row) const {
    if (extents.empty()) return {height, width};
    return {extents[std::size_t(2 * row)], extents[std::size_t(2 * row + 1)]};
  }

  ImageSource() = default;
  ImageSource(const ImageSource&) = default;
  ImageSource& operator=(const ImageSource&) = default;
};

struct ImageSet : ImageSource {
  std::vector<std::uint8_t> pixels;  // [count, channels, height, width]
  std::vector<std::int32_t> labels;
  std::vector<std::int32_t> extents;  // [count, 2]: each image's {height, width} in the pitch; empty: all full

  ImageSet() = default;
  ImageSet(const ImageSet&) = default;
  ImageSet(ImageSet&&) = default;
  ImageSet& operator=(const ImageSet&) = default;
  ImageSet& operator=(ImageSet&&) = default;

  void gather(const index_t* rows, index_t n, std::uint8_t* out, std::int32_t* labs,
              std::uint64_t /*epoch*/ = 0) const override {
    for (index_t b = 0; b < n; ++b) {
      IBQ_CHECK(rows[b] >= 0 && rows[b] < count, "image " << rows[b] << " is out of range (the set has " << count << ")");
      if (out) std::copy_n(pixels.data() + rows[b] * image_size(), image_size(), out + b * image_size());
      if (labs) labs[b] = labels[std::size_t(rows[b])];
    }
  }

  bool ragged() const override { return !extents.empty(); }
  std::array<index_t, 2> extent(index_t row) const override { return extent_in(extents, row); }

  void truncate(index_t n) override {
    if (n <= 0 || n >= count) return;
    count = n;
    pixels.resize(std::size_t(n * image_size()));
    labels.resize(std::size_t(n));
    if (!extents.empty()) extents.resize(std::size_t(2 * n));
  }
};

// Zero-pads every image symmetrically to size x size (extra odd pixel on the bottom/right). Fashion-MNIST's
// background is 0, so padding 28 -> 32 extends the background; the tokenizer needs a multiple of 2^levels.
inline ImageSet pad_images(const ImageSet& in, index_t size) {
  IBQ_CHECK(size >= in.height && size >= in.width,
            "pad_images: target " << size << " is smaller than the images (" << in.height << "x" << in.width << ")");
  ImageSet out = in;
  out.height = out.width = size;
  out.pixels.assign(std::size_t(in.count * in.channels * size * size), 0);
  const index_t top = (size - in.height) / 2, left = (size - in.width) / 2;
  for (index_t i = 0; i < in.count * in.channels; ++i)
    for (index_t r = 0; r < in.height; ++r)
      std::copy_n(in.pixels.data() + (i * in.height + r) * in.width, in.width,
                  out.pixels.data() + (i * size + top + r) * size + left);
  return out;
}

// Repeats a single-channel set into `channels` identical planes (grey -> RGB for 3-channel models).
inline ImageSet replicate_channels(const ImageSet& in, index_t channels) {
  IBQ_CHECK(in.channels == 1, "replicate_channels: the set already has " << in.channels << " channels");
  ImageSet out = in;
  out.channels = channels;
  out.pixels.resize(std::size_t(in.count * channels * in.height * in.width));
  const index_t plane = in.height * in.width;
  for (index_t i = 0; i < in.count; ++i)
    for (index_t c = 0; c < channels; ++c)
      std::copy_n(in.pixels.data() + i * plane, plane, out.pixels.data() + (i * channels + c) * plane);
  return out;
}

// The tokenizer's input convention, as the reference's x / 127.5 - 1: pixels scaled to [-1, 1].
inline void scale_to_unit_range(ImageSource& set) {
  set.mean = 0.5;
  set.std = 0.5;
}

// Fashion-MNIST's training-set pixel statistics (of pixel / 255), the classifier's normalisation.
inline constexpr double fashion_mnist_mean = 0.2860, fashion_mnist_std = 0.3530;

// Fashion-MNIST from the gzip'd IDX files (Debian: dataset-fashion-mnist). split: "train" or "test".
inline ImageSet load_fashion_mnist(const std::string& dir, const std::string& split) {
  IBQ_CHECK(split == "train" || split == "test", "load_fashion_mnist: split must be 'train' or 'test', not '" << split << "'");
  const std::string stem = split == "train" ? "train" : "t10k";
  auto imgs = read_idx_images(dir + "/" + stem + "-images-idx3-ubyte.gz");
  auto labs = read_idx_labels(dir + "/" + stem + "-labels-idx1-ubyte.gz");
  IBQ_CHECK(imgs.count == index_t(labs.size()),
            "Fashion-MNIST " << split << ": " << imgs.count << " images but " << labs.size() << " labels in " << dir);
  ImageSet s;
  s.count = imgs.count;
  s.height = imgs.rows;
  s.width = imgs.cols;
  s.pixels = std::move(imgs.pixels);
  s.labels = std::move(labs);
  s.mean = fashion_mnist_mean;
  s.std = fashion_mnist_std;
  return s;
}

}  // namespace ibq
