// ibq/io/image_shard.hpp — HDF5 image shards: the format clusters read in parallel.
//
//   ibq::write_image_shard("fmnist_train.h5", set, "fashion-mnist train");   // images uint8 [N, H, W, C]
//   ibq::ImageShard shard("fmnist_train.h5");
//   ibq::ImageSet part = shard.read(first, count);                            // only those rows are read
//
// Layout: dataset `images` uint8 [N, H, W, C] (chunked one image per chunk, deflate), `labels` int32 [N],
// root attributes format="ibq-images", version, source, and an optional `class_names` text (one per line).
// In memory an ImageSet is [N, C, H, W]; the file keeps the channels-last layout image tools and h5py expect.
#pragma once

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
  });
}

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
  }
  index_t count() const { return count_; }
  std::string source() const { return file_.attr_string("/", "source"); }

  // Images [first, first + n) as an ImageSet ([N, C, H, W] in memory), normalised to [-1, 1] by default.
  ImageSet read(index_t first, index_t n) const {
    const auto nhwc = file_.read_rows<std::uint8_t>("images", hsize_t(first), hsize_t(n));
    ImageSet s;
    s.count = n, s.channels = channels_, s.height = height_, s.width = width_;
    s.pixels.resize(nhwc.size());
    const index_t plane = height_ * width_;
    for (index_t i = 0; i < n; ++i)
      for (index_t k = 0; k < channels_; ++k)
        for (index_t p = 0; p < plane; ++p) s.pixels[(i * channels_ + k) * plane + p] = nhwc[(i * plane + p) * channels_ + k];
    s.labels = file_.read_rows<std::int32_t>("labels", hsize_t(first), hsize_t(n));
    scale_to_unit_range(s);
    return s;
  }
  ImageSet read_all() const { return read(0, count_); }

 private:
  h5::File file_;
  index_t count_ = 0, height_ = 0, width_ = 0, channels_ = 0;
};

}  // namespace ibq
