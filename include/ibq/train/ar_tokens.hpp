// ibq/train/ar_tokens.hpp — where the AR trainer's token grids come from.
//
//   ibq::StoredTokens stored(dataset, /*random_crops=*/true, seed);   // ibq-tokenize's file, in memory
//   ibq::EncodedCrops fly(tokenizer, crops);                           // the reference: encode every draw
//   ibq::ArTrainer<float> trainer(model, stored, cfg, comm);
//
// The reference (SEED-Voken's Net2NetTransformer) runs its frozen EMA tokenizer on a new random crop of
// each image every step. EncodedCrops does the same. StoredTokens reads the grids ibq-tokenize made once:
// the centre crop's, or with --data.crops V one of V random crops per image, drawn per (seed, epoch, image)
// so every rank and every resumed run draws alike. V grows the augmentation towards the reference's at V
// times the tokenize pass; encoding on the fly costs an encoder pass per step instead.
#pragma once

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "ibq/core/random.hpp"
#include "ibq/data/crop.hpp"
#include "ibq/io/token_dataset.hpp"
#include "ibq/models/tokenizer.hpp"

namespace ibq {

class ArTokenSource {
 public:
  virtual ~ArTokenSource() = default;
  virtual index_t count() const = 0;
  virtual index_t grid_h() const = 0;
  virtual index_t grid_w() const = 0;
  virtual index_t codebook_size() const = 0;
  // Appends the grids ([n, h * w]) and labels of images rows[0..n) as drawn in `epoch`.
  virtual void gather(const index_t* rows, index_t n, std::uint64_t epoch, std::vector<std::int32_t>& tokens,
                      std::vector<std::int32_t>& labels) const = 0;
  virtual std::string describe() const = 0;  // for the start-up line
  index_t tokens_per_image() const { return grid_h() * grid_w(); }
};

// Which of `crops` stored random crops image `row` uses in `epoch`: uniform, a pure function of its keys.
inline index_t stored_crop_choice(std::uint64_t seed, std::uint64_t epoch, index_t row, index_t crops) {
  return index_t(double(crops) * Rng{seed, 0xc709000}.split(epoch).split(std::uint64_t(row)).uniform(0));
}

// A token dataset read into host memory once (64-256 int32 per grid: 15 MB for Fashion-MNIST, 1.3 GB for
// ImageNet's 1.28 M centre crops, V times that more for its random crops), so a batch is a gather.
class StoredTokens : public ArTokenSource {
 public:
  StoredTokens(const TokenDataset& data, bool random_crops, std::uint64_t seed)
      : info_(data.info()), random_(random_crops && data.info().crops > 0), seed_(seed) {
    data.read(0, data.count(), tokens_, labels_);  // checks every code against the codebook
    if (random_) crops_ = data.read_crops(0, data.count());
  }
  index_t count() const override { return index_t(labels_.size()); }
  index_t grid_h() const override { return info_.grid_h; }
  index_t grid_w() const override { return info_.grid_w; }
  index_t codebook_size() const override { return info_.codebook_size; }
  bool random_crops() const { return random_; }
  const std::vector<std::int32_t>& labels() const { return labels_; }

  void gather(const index_t* rows, index_t n, std::uint64_t epoch, std::vector<std::int32_t>& tokens,
              std::vector<std::int32_t>& labels) const override {
    const index_t per = tokens_per_image();
    for (index_t b = 0; b < n; ++b) {
      const index_t row = rows[b];
      const std::int32_t* grid =
          random_ ? crops_.data() + (row * info_.crops + stored_crop_choice(seed_, epoch, row, info_.crops)) * per
                  : tokens_.data() + row * per;
      tokens.insert(tokens.end(), grid, grid + per);
      labels.push_back(labels_[std::size_t(row)]);
    }
  }

  std::string describe() const override {
    std::ostringstream os;
    if (random_)
      os << "one of " << info_.crops << " stored random crops per image and epoch";
    else
      os << "the centre crops" << (info_.crops > 0 ? " (data.crop = center)" : " (the file stores no random crops)");
    return os.str();
  }

 private:
  TokenDatasetInfo info_;
  bool random_ = false;
  std::uint64_t seed_ = 0;
  std::vector<std::int32_t> tokens_, labels_, crops_;
};

// Grids encoded from images every time they are drawn: `images` crops them (a new random crop each epoch,
// CroppedImages), `tokenizer` (frozen: its EMA weights, as the reference) encodes them.
class EncodedCrops : public ArTokenSource {
 public:
  EncodedCrops(const Tokenizer<float>& tokenizer, const ImageSource& images)
      : tokenizer_(tokenizer), images_(images) {
    const auto& c = tokenizer.config();
    IBQ_CHECK(images.channels == c.ae.in_channels && images.height == c.ae.resolution && images.width == c.ae.resolution,
              "the images are " << images.channels << "x" << images.height << "x" << images.width
                                << " but the tokenizer encodes " << c.ae.in_channels << "x" << c.ae.resolution << "x"
                                << c.ae.resolution);
  }
  index_t count() const override { return images_.count; }
  index_t grid_h() const override { return tokenizer_.config().ae.latent_resolution(); }
  index_t grid_w() const override { return grid_h(); }
  index_t codebook_size() const override { return tokenizer_.config().codebook_size; }

  void gather(const index_t* rows, index_t n, std::uint64_t epoch, std::vector<std::int32_t>& tokens,
              std::vector<std::int32_t>& labels) const override {
    const auto x = Tensor<float>::from_host({n, images_.channels, images_.height, images_.width},
                                            images_.host_batch<float>(rows, n, epoch));
    const auto grids = tokenizer_.encode(x).to_host();
    tokens.insert(tokens.end(), grids.begin(), grids.end());
    const std::size_t first = labels.size();
    labels.resize(first + std::size_t(n));
    images_.gather(rows, n, nullptr, labels.data() + first, epoch);
  }

  std::string describe() const override {
    const auto* c = dynamic_cast<const CroppedImages*>(&images_);
    return std::string("encoded on the fly from ") + (c ? crop_mode_name(c->policy().mode) + std::string(" crops") : "whole images");
  }

 private:
  const Tokenizer<float>& tokenizer_;
  const ImageSource& images_;
};

}  // namespace ibq
