// ibq/data/crop.hpp — training crops drawn per image and epoch, as the reference's RandomCrop.
//
//   auto stored = std::make_unique<ibq::ShardedImages>(files);   // images of any stored size >= 64 x 64
//   ibq::CroppedImages train(std::move(stored), 64, 64, {ibq::CropMode::random, /*flip=*/false, seed});
//   auto x = train.batch<float>(order, first, n, epoch);         // [n, C, 64, 64], a new crop every epoch
//
// The reference (SEED-Voken's ImagePaths) resizes an image's short side to 256 and takes
// albumentations.RandomCrop(256) each time it is drawn: offset int((H - 256 + 1) * U) per axis, U uniform, no
// flip; validation takes the centre crop ((H - 256) // 2). Here U comes from the counter-based RNG keyed by
// (seed, epoch, image row), so the crop of an image is the same on every rank, in every resumed run, and for
// any split of a batch over ranks. An image stored at the crop size is its own crop in either mode.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ibq/core/random.hpp"
#include "ibq/data/image_set.hpp"

namespace ibq {

enum class CropMode { center, random };

inline CropMode parse_crop_mode(const std::string& s, const std::string& key) {
  if (s == "random") return CropMode::random;
  if (s == "center" || s == "centre") return CropMode::center;
  IBQ_THROW(key << " = '" << s << "' is not a crop mode; use random (a new crop each epoch) or center");
}
inline const char* crop_mode_name(CropMode m) { return m == CropMode::random ? "random" : "center"; }

struct CropPolicy {
  CropMode mode = CropMode::center;
  bool flip = false;  // mirror left-right with probability 1/2 (random mode only; the reference does not)
  std::uint64_t seed = 0;
};

struct CropBox {
  index_t top = 0, left = 0;
  bool flip = false;
};

// Where the out_h x out_w crop of image `row` (stored h x w) lies in `epoch`.
inline CropBox crop_box(const CropPolicy& p, std::uint64_t epoch, index_t row, index_t h, index_t w, index_t out_h,
                        index_t out_w) {
  IBQ_CHECK(h >= out_h && w >= out_w, "image " << row << " is " << h << "x" << w << ", smaller than the " << out_h
                                               << "x" << out_w << " crop; prepare the images at >= the model's "
                                                                  "resolution (model.resolution)");
  if (p.mode == CropMode::center) return {(h - out_h) / 2, (w - out_w) / 2, false};
  const Rng rng = Rng{p.seed, 0xc409000}.split(epoch).split(std::uint64_t(row));
  // int((H - h + 1) * U) as albumentations; U < 1 keeps the offset <= H - h.
  return {index_t(double(h - out_h + 1) * rng.uniform(0)), index_t(double(w - out_w + 1) * rng.uniform(1)),
          p.flip && rng.uniform(2) < 0.5};
}

// Copies the box of one stored image (uint8 [C, pitch_h, pitch_w]) into out (uint8 [C, out_h, out_w]).
inline void copy_crop(const std::uint8_t* in, index_t channels, index_t pitch_h, index_t pitch_w, const CropBox& b,
                      index_t out_h, index_t out_w, std::uint8_t* out) {
  for (index_t c = 0; c < channels; ++c)
    for (index_t y = 0; y < out_h; ++y) {
      const std::uint8_t* src = in + (c * pitch_h + b.top + y) * pitch_w + b.left;
      std::uint8_t* dst = out + (c * out_h + y) * out_w;
      if (b.flip)
        for (index_t x = 0; x < out_w; ++x) dst[x] = src[out_w - 1 - x];
      else
        std::copy_n(src, out_w, dst);
    }
}

// A stored source seen through per-epoch crops: count, channels and labels are the stored set's; height and
// width are the crop's. The stored images may differ in size (extent()), within the stored pitch.
class CroppedImages : public ImageSource {
 public:
  CroppedImages(std::unique_ptr<ImageSource> stored, index_t out_h, index_t out_w, const CropPolicy& policy)
      : stored_(std::move(stored)), policy_(policy) {
    IBQ_CHECK(stored_, "CroppedImages: no stored images");
    count = stored_->count, channels = stored_->channels, height = out_h, width = out_w;
    mean = stored_->mean, std = stored_->std;
    IBQ_CHECK(out_h > 0 && out_w > 0 && out_h <= stored_->height && out_w <= stored_->width,
              "the " << out_h << "x" << out_w << " crop does not fit the stored " << stored_->height << "x"
                     << stored_->width << " images; prepare them at >= the model's resolution (model.resolution)");
  }

  const ImageSource& stored() const { return *stored_; }
  const CropPolicy& policy() const { return policy_; }

  void gather(const index_t* rows, index_t n, std::uint8_t* pixels, std::int32_t* labels,
              std::uint64_t epoch = 0) const override {
    if (!pixels) return stored_->gather(rows, n, nullptr, labels, epoch);
    const index_t stored_size = stored_->image_size();
    std::vector<std::uint8_t> buf(std::size_t(n * stored_size));
    stored_->gather(rows, n, buf.data(), labels, epoch);
    for (index_t b = 0; b < n; ++b) {
      const auto [h, w] = stored_->extent(rows[b]);
      const CropBox box = crop_box(policy_, epoch, rows[b], h, w, height, width);
      copy_crop(buf.data() + b * stored_size, channels, stored_->height, stored_->width, box, height, width,
                pixels + b * image_size());
    }
  }

  void truncate(index_t n) override {
    stored_->truncate(n);
    count = stored_->count;
  }

 private:
  std::unique_ptr<ImageSource> stored_;
  CropPolicy policy_;
};

// `stored` as out_h x out_w crops; unwrapped when every image already is exactly that size and nothing
// would change (no flip), which saves a copy per image.
inline std::unique_ptr<ImageSource> crop_images(std::unique_ptr<ImageSource> stored, index_t out_h, index_t out_w,
                                                const CropPolicy& policy) {
  const bool identity = stored->height == out_h && stored->width == out_w && !stored->ragged() &&
                        !(policy.mode == CropMode::random && policy.flip);
  if (identity) return stored;
  return std::make_unique<CroppedImages>(std::move(stored), out_h, out_w, policy);
}

}  // namespace ibq
