// ibq/io/image_shard.hpp — HDF5 image shards: the format clusters read in parallel.
//
//   ibq::write_image_shard("fmnist_train.h5", set, "fashion-mnist train");   // images uint8 [N, H, W, C]
//   ibq::ImageShard shard("fmnist_train.h5");
//   ibq::ImageSet part = shard.read(first, count);                            // only those rows are read
//   ibq::ShardedImages train({"in-00000.h5", "in-00001.h5"});                  // an ImageSource over shards:
//   auto x = train.batch<float>(order, first, 16);                            // reads just these 16 images
//
// Layout: dataset `images` uint8 [N, H, W, C] (chunked one image per chunk, deflate), `labels` int32 [N],
// root attributes format="ibq-images", version, source, and an optional `class_names` text (one per line).
// In memory an ImageSet is [N, C, H, W]; the file keeps the channels-last layout image tools and h5py expect.
// Images kept at their aspect ratio (ibq-prepare-data --data.keep_aspect) differ in size: each lies in the
// top-left corner of the H x W pitch, zero elsewhere (deflate stores the zeros almost for free), and an
// `extents` dataset int32 [N, 2] holds each image's own height and width. Without it every image fills H x W.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "ibq/data/image_set.hpp"
#include "ibq/io/hdf5.hpp"

namespace ibq {

inline constexpr const char* image_shard_format = "ibq-images";

inline void write_image_shard(const std::string& path, const ImageSet& set, const std::string& source,
                              const std::string& class_names = "") {
  IBQ_CHECK(index_t(set.labels.size()) == set.count,
            "write_image_shard: " << set.count << " images but " << set.labels.size() << " labels");
  const index_t c = set.channels, h = set.height, w = set.width, plane = h * w;
  std::vector<std::uint8_t> nhwc(set.pixels.size());
  for (index_t n = 0; n < set.count; ++n)
    for (index_t k = 0; k < c; ++k)
      for (index_t p = 0; p < plane; ++p) nhwc[(n * plane + p) * c + k] = set.pixels[(n * c + k) * plane + p];
  h5::write_atomic(path, [&](h5::File& f) {
    f.set_attr("/", "format", image_shard_format);
    f.set_attr("/", "version", std::int64_t(1));
    f.set_attr("/", "source", source);
    if (!class_names.empty()) f.set_attr("/", "class_names", class_names);
    f.write("images", nhwc, {hsize_t(set.count), hsize_t(h), hsize_t(w), hsize_t(c)}, /*compress=*/4);
    f.write("labels", set.labels, {hsize_t(set.count)});
    if (set.ragged()) {
      IBQ_CHECK(index_t(set.extents.size()) == 2 * set.count,
                "write_image_shard: " << set.extents.size() / 2 << " extents for " << set.count << " images");
      f.write("extents", set.extents, {hsize_t(set.count), 2});
    }
  });
}

namespace detail {
// n images [H, W, C] -> [C, H, W] (the file's layout -> the model's).
inline void nhwc_to_nchw(const std::uint8_t* in, index_t n, index_t c, index_t plane, std::uint8_t* out) {
  for (index_t i = 0; i < n; ++i)
    for (index_t k = 0; k < c; ++k)
      for (index_t p = 0; p < plane; ++p) out[(i * c + k) * plane + p] = in[(i * plane + p) * c + k];
}
}  // namespace detail

class ImageShard {
 public:
  explicit ImageShard(const std::string& path) : file_(path, h5::File::Mode::read) {
    IBQ_CHECK(file_.has_attr("/", "format") && file_.attr_string("/", "format") == image_shard_format,
              "'" << path << "' is not an ibq image shard (make one with ibq-prepare-data)");
    const auto d = file_.dims("images");
    IBQ_CHECK(d.size() == 4, "'" << path << "': images must be [N, H, W, C], got rank " << d.size());
    count_ = index_t(d[0]), height_ = index_t(d[1]), width_ = index_t(d[2]), channels_ = index_t(d[3]);
    const auto l = file_.dims("labels");
    IBQ_CHECK(l.size() == 1 && index_t(l[0]) == count_,
              "'" << path << "': " << count_ << " images but labels of shape " << (l.empty() ? 0 : l[0]));
    if (file_.exists("extents")) {
      std::vector<hsize_t> e;
      extents_ = file_.read<std::int32_t>("extents", &e);
      IBQ_CHECK(e.size() == 2 && index_t(e[0]) == count_ && e[1] == 2,
                "'" << path << "': extents must be int32 [" << count_ << ", 2] (one height and width per image)");
      for (index_t i = 0; i < count_; ++i)
        IBQ_CHECK(extents_[std::size_t(2 * i)] > 0 && extents_[std::size_t(2 * i)] <= height_ &&
                      extents_[std::size_t(2 * i + 1)] > 0 && extents_[std::size_t(2 * i + 1)] <= width_,
                  "'" << path << "': image " << i << " claims " << extents_[std::size_t(2 * i)] << "x"
                      << extents_[std::size_t(2 * i + 1)] << " pixels in a " << height_ << "x" << width_
                      << " pitch; the file is damaged, prepare it again");
    }
  }
  index_t count() const { return count_; }
  std::string source() const { return file_.attr_string("/", "source"); }

  // Images [first, first + n) as an ImageSet ([N, C, H, W] in memory), normalised to [-1, 1] by default.
  ImageSet read(index_t first, index_t n) const {
    const auto nhwc = file_.read_rows<std::uint8_t>("images", hsize_t(first), hsize_t(n));
    ImageSet s;
    s.count = n, s.channels = channels_, s.height = height_, s.width = width_;
    s.pixels.resize(nhwc.size());
    detail::nhwc_to_nchw(nhwc.data(), n, channels_, height_ * width_, s.pixels.data());
    s.labels = file_.read_rows<std::int32_t>("labels", hsize_t(first), hsize_t(n));
    if (!extents_.empty()) s.extents.assign(extents_.begin() + 2 * first, extents_.begin() + 2 * (first + n));
    scale_to_unit_range(s);
    return s;
  }
  ImageSet read_all() const { return read(0, count_); }

  // One image [C, H, W] and its label: what a streaming reader gathers (one chunk, one inflate).
  void read_one(index_t row, std::uint8_t* pixels, std::int32_t* label) const {
    if (pixels) {
      const auto nhwc = file_.read_rows<std::uint8_t>("images", hsize_t(row), 1);
      detail::nhwc_to_nchw(nhwc.data(), 1, channels_, height_ * width_, pixels);
    }
    if (label) *label = file_.read_rows<std::int32_t>("labels", hsize_t(row), 1)[0];
  }
  index_t channels() const { return channels_; }
  index_t height() const { return height_; }
  index_t width() const { return width_; }
  // Each image's {height, width} ([count, 2]); empty when every image fills the pitch.
  const std::vector<std::int32_t>& extents() const { return extents_; }

 private:
  h5::File file_;
  index_t count_ = 0, height_ = 0, width_ = 0, channels_ = 0;
  std::vector<std::int32_t> extents_;
};

// Shards as one ImageSource, read a batch at a time: only the open files and a row index stay in memory,
// so a set of any size trains in the memory of a batch. Images are in [-1, 1] (the tokenizer's scaling).
class ShardedImages : public ImageSource {
 public:
  explicit ShardedImages(const std::vector<std::string>& files) {
    IBQ_CHECK(!files.empty(), "ShardedImages: no shard files given");
    for (const auto& f : files) {
      auto shard = std::make_unique<ImageShard>(f);
      if (shards_.empty()) {
        channels = shard->channels(), height = shard->height(), width = shard->width();
      } else {
        IBQ_CHECK(shard->channels() == channels && shard->height() == height && shard->width() == width,
                  "shard '" << f << "' holds " << shard->channels() << "x" << shard->height() << "x" << shard->width()
                            << " images, the first shard '" << files[0] << "' " << channels << "x" << height << "x"
                            << width << "; prepare all shards of a set at one resolution");
      }
      count += shard->count();
      ends_.push_back(count);
      shards_.push_back(std::move(shard));
    }
    const bool any_ragged = std::any_of(shards_.begin(), shards_.end(), [](const auto& s) { return !s->extents().empty(); });
    for (const auto& shard : shards_) {  // shards without extents fill the pitch
      if (!any_ragged) break;  // then extents_ stays empty: every image is H x W
      const auto& e = shard->extents();
      for (index_t i = 0; i < shard->count(); ++i) {
        extents_.push_back(e.empty() ? std::int32_t(height) : e[std::size_t(2 * i)]);
        extents_.push_back(e.empty() ? std::int32_t(width) : e[std::size_t(2 * i + 1)]);
      }
    }
    scale_to_unit_range(*this);
  }

  bool ragged() const override { return !extents_.empty(); }
  std::array<index_t, 2> extent(index_t row) const override { return extent_in(extents_, row); }
  void truncate(index_t n) override {
    ImageSource::truncate(n);
    if (!extents_.empty()) extents_.resize(std::size_t(2 * count));
  }

  void gather(const index_t* rows, index_t n, std::uint8_t* pixels, std::int32_t* labels,
              std::uint64_t /*epoch*/ = 0) const override {
    for (index_t b = 0; b < n; ++b) {
      const index_t r = rows[b];
      IBQ_CHECK(r >= 0 && r < count, "image " << r << " is out of range (the shards hold " << count << ")");
      const auto s = std::size_t(std::upper_bound(ends_.begin(), ends_.end(), r) - ends_.begin());
      const index_t local = r - (s == 0 ? 0 : ends_[s - 1]);
      shards_[s]->read_one(local, pixels ? pixels + b * image_size() : nullptr, labels ? labels + b : nullptr);
    }
  }

 private:
  std::vector<std::unique_ptr<ImageShard>> shards_;
  std::vector<index_t> ends_;  // ends_[s]: images in shards 0..s
  std::vector<std::int32_t> extents_;  // [count, 2] when any shard is ragged
};

}  // namespace ibq
