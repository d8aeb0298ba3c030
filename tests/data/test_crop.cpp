// Training crops: the reference's RandomCrop / CenterCrop offsets, drawn per (seed, epoch, image), flips,
// images of different sizes in one pitch (ragged sets), and the unwrapped path for images at the crop size.
#include <map>
#include <set>

#include "test_util.hpp"
#include "ibq/data/crop.hpp"
#include "ibq/data/image_folder.hpp"

using namespace ibq;

namespace {

// n images of `channels` x h x w with pixel value (image * 31 + channel * 7 + y * w + x) mod 256.
std::unique_ptr<ImageSet> numbered(index_t n, index_t channels, index_t h, index_t w) {
  auto s = std::make_unique<ImageSet>();
  s->count = n, s->channels = channels, s->height = h, s->width = w;
  for (index_t i = 0; i < n; ++i)
    for (index_t c = 0; c < channels; ++c)
      for (index_t p = 0; p < h * w; ++p) s->pixels.push_back(std::uint8_t((i * 31 + c * 7 + p) % 256));
  s->labels.assign(std::size_t(n), 3);
  return s;
}

std::vector<std::uint8_t> gather_all(const ImageSource& s, std::uint64_t epoch) {
  std::vector<index_t> rows(std::size_t(s.count));
  for (index_t i = 0; i < s.count; ++i) rows[std::size_t(i)] = i;
  std::vector<std::uint8_t> px(std::size_t(s.count * s.image_size()));
  s.gather(rows.data(), s.count, px.data(), nullptr, epoch);
  return px;
}

}  // namespace

TEST_CASE("crop: centre offsets round down as albumentations' CenterCrop; an image at the crop size is itself", "[data]") {
  const CropPolicy center{};
  const auto b = crop_box(center, 5, 9, 7, 10, 4, 4);
  CHECK(b.top == 1);  // (7 - 4) // 2
  CHECK(b.left == 3);
  CHECK_FALSE(b.flip);
  const CropPolicy random{CropMode::random, false, 1};
  for (std::uint64_t e = 0; e < 20; ++e) {
    const auto r = crop_box(random, e, 3, 8, 8, 8, 8);
    CHECK(r.top == 0);
    CHECK(r.left == 0);
  }
  CHECK_THROWS_WITH(crop_box(center, 0, 4, 6, 6, 8, 8),
                    Catch::Contains("image 4 is 6x6, smaller than the 8x8 crop") && Catch::Contains("model.resolution"));
}

TEST_CASE("crop: random offsets are a function of (seed, epoch, image), cover every position uniformly", "[data]") {
  const CropPolicy p{CropMode::random, true, 42};
  // Offsets in [0, H - h] along both axes (H - h + 1 = 4 and 7 positions), each about equally often, and
  // flips about half the time: 20000 draws over images and epochs.
  std::map<index_t, int> tops, lefts;
  int flips = 0;
  const int draws = 20000;
  for (int k = 0; k < draws; ++k) {
    const auto b = crop_box(p, std::uint64_t(k / 100), k % 100, 11, 14, 8, 8);
    ++tops[b.top], ++lefts[b.left];
    flips += b.flip;
  }
  REQUIRE(tops.size() == 4);
  REQUIRE(lefts.size() == 7);
  CHECK(tops.begin()->first == 0);
  CHECK(tops.rbegin()->first == 3);
  CHECK(lefts.rbegin()->first == 6);
  for (const auto& [o, n] : tops) CHECK(std::abs(n - draws / 4) < 5 * std::sqrt(draws / 4.0));
  for (const auto& [o, n] : lefts) CHECK(std::abs(n - draws / 7) < 5 * std::sqrt(draws / 7.0));
  CHECK(std::abs(flips - draws / 2) < 5 * std::sqrt(draws / 4.0));
  // Pure: the same arguments give the same box; another epoch, image or seed gives another draw.
  const auto a = crop_box(p, 3, 17, 64, 64, 16, 16);
  const auto again = crop_box(p, 3, 17, 64, 64, 16, 16);
  CHECK((a.top == again.top && a.left == again.left && a.flip == again.flip));
  std::set<std::pair<index_t, index_t>> epochs, seeds;
  for (std::uint64_t e = 0; e < 8; ++e) {
    const auto b = crop_box(p, e, 17, 64, 64, 16, 16);
    epochs.insert({b.top, b.left});
    const auto c = crop_box({CropMode::random, true, e}, 3, 17, 64, 64, 16, 16);
    seeds.insert({c.top, c.left});
  }
  CHECK(epochs.size() >= 6);  // 49^2 positions: 8 draws collide rarely
  CHECK(seeds.size() >= 6);
  // Without flip the policy never mirrors.
  for (int k = 0; k < 200; ++k) CHECK_FALSE(crop_box({CropMode::random, false, 42}, 0, k, 11, 14, 8, 8).flip);
}

TEST_CASE("crop: CroppedImages copies each image's box, mirrored when drawn, per epoch, with its label", "[data]") {
  const index_t n = 5, c = 3, H = 9, W = 12, h = 4, w = 6;
  const CropPolicy p{CropMode::random, true, 7};
  CroppedImages crops(numbered(n, c, H, W), h, w, p);
  REQUIRE(crops.count == n);
  REQUIRE(crops.height == h);
  REQUIRE(crops.width == w);
  const auto whole = gather_all(crops.stored(), 0);
  bool any_flip = false, epochs_differ = false;
  for (std::uint64_t e = 0; e < 3; ++e) {
    const auto px = gather_all(crops, e);
    for (index_t i = 0; i < n; ++i) {
      const auto b = crop_box(p, e, i, H, W, h, w);
      any_flip |= b.flip;
      for (index_t k = 0; k < c; ++k)
        for (index_t y = 0; y < h; ++y)
          for (index_t x = 0; x < w; ++x) {
            const index_t sx = b.left + (b.flip ? w - 1 - x : x);
            INFO("epoch " << e << " image " << i << " channel " << k << " (" << y << ", " << x << ")");
            REQUIRE(px[std::size_t(((i * c + k) * h + y) * w + x)] ==
                    whole[std::size_t(((i * c + k) * H + b.top + y) * W + sx)]);
          }
    }
    if (e > 0) epochs_differ |= px != gather_all(crops, 0);
  }
  CHECK(any_flip);
  CHECK(epochs_differ);
  // Labels pass through; a labels-only gather reads no pixels.
  const std::vector<index_t> rows{4, 0};
  std::int32_t labels[2] = {0, 0};
  crops.gather(rows.data(), 2, nullptr, labels, 1);
  CHECK((labels[0] == 3 && labels[1] == 3));
  // A normalised batch is the crop, scaled as the stored set.
  scale_to_unit_range(crops);
  const auto batch = crops.batch<float>(std::vector<index_t>{2}, 0, 1, 2).to_host();
  const auto px = gather_all(crops, 2);
  for (index_t k = 0; k < c * h * w; ++k)
    REQUIRE(batch[std::size_t(k)] == Approx(px[std::size_t(2 * c * h * w + k)] / 127.5 - 1).margin(1e-6));
}

TEST_CASE("crop: images of different sizes crop inside their own extent; truncation keeps the extents", "[data]") {
  // Three images in a 6 x 10 pitch, as ibq-prepare-data --data.keep_aspect stores them: 4x10 (wide), 6x4
  // (tall), 4x4 (square); the rest of the pitch is zero.
  ImageSet set;
  set.channels = 1, set.height = 6, set.width = 10;
  const std::vector<std::array<index_t, 2>> sizes{{4, 10}, {6, 4}, {4, 4}};
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const auto [h, w] = sizes[i];
    std::vector<std::uint8_t> hwc(std::size_t(h * w), std::uint8_t(100 + i));
    append_hwc_image(set, hwc, std::int32_t(i), h, w);
  }
  REQUIRE(set.ragged());
  REQUIRE(set.extents == std::vector<std::int32_t>{4, 10, 6, 4, 4, 4});
  REQUIRE(set.pixels.size() == 3 * 60u);
  CHECK(set.pixels[std::size_t(60 + 5 * 10 + 3)] == 101);  // the tall image's last row
  CHECK(set.pixels[std::size_t(60 + 5 * 10 + 4)] == 0);    // beside it: padding
  CroppedImages crops(std::make_unique<ImageSet>(set), 4, 4, {CropMode::random, false, 3});
  for (std::uint64_t e = 0; e < 50; ++e) {
    const auto px = gather_all(crops, e);
    for (index_t i = 0; i < 3; ++i)
      for (index_t k = 0; k < 16; ++k) {
        INFO("epoch " << e << " image " << i);
        REQUIRE(px[std::size_t(i * 16 + k)] == 100 + i);  // never a padding zero
      }
  }
  // A crop larger than an image's own extent is refused, naming the image.
  CroppedImages too_big(std::make_unique<ImageSet>(set), 5, 5, {});
  std::vector<index_t> rows{0};
  std::vector<std::uint8_t> px(25);
  CHECK_THROWS_WITH(too_big.gather(rows.data(), 1, px.data(), nullptr, 0), Catch::Contains("image 0 is 4x10"));
  ImageSet cut = set;
  cut.truncate(2);
  CHECK(cut.extents == std::vector<std::int32_t>{4, 10, 6, 4});
  // Appending a full-size image to a ragged set records its extent too; a full set appends none.
  ImageSet full;
  full.channels = 1, full.height = full.width = 2;
  append_hwc_image(full, {1, 2, 3, 4}, 0);
  CHECK_FALSE(full.ragged());
  append_hwc_image(full, {5, 6}, 0, 1, 2);
  CHECK(full.extents == std::vector<std::int32_t>{2, 2, 1, 2});
}

TEST_CASE("crop: crop_images leaves images at the crop size unwrapped unless they may be mirrored", "[data]") {
  auto same = crop_images(numbered(3, 1, 8, 8), 8, 8, {CropMode::random, false, 1});
  CHECK(dynamic_cast<ImageSet*>(same.get()) != nullptr);
  auto mirrored = crop_images(numbered(3, 1, 8, 8), 8, 8, {CropMode::random, true, 1});
  CHECK(dynamic_cast<CroppedImages*>(mirrored.get()) != nullptr);
  auto larger = crop_images(numbered(3, 1, 10, 8), 8, 8, {});
  REQUIRE(dynamic_cast<CroppedImages*>(larger.get()) != nullptr);
  CHECK(larger->height == 8);
  CHECK_THROWS_WITH(crop_images(numbered(3, 1, 6, 8), 8, 8, {}),
                    Catch::Contains("the 8x8 crop does not fit the stored 6x8 images"));
  CHECK(parse_crop_mode("random", "data.crop") == CropMode::random);
  CHECK_THROWS_WITH(parse_crop_mode("middle", "data.crop"), Catch::Contains("data.crop = 'middle' is not a crop mode"));
}
