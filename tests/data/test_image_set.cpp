// Image sets: Fashion-MNIST loading, padding to 32x32, [-1, 1] scaling, channel replication, epoch order.
#include <algorithm>
#include <set>

#include "test_util.hpp"
#include "ibq/data/image_set.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
ImageSet tiny() {  // 2 images of 2x3, pixels 1..12
  ImageSet s;
  s.count = 2, s.height = 2, s.width = 3;
  for (int i = 1; i <= 12; ++i) s.pixels.push_back(std::uint8_t(i));
  s.labels = {4, 7};
  return s;
}
}  // namespace

TEST_CASE("image_set: padding centres the image and keeps labels", "[data]") {
  const auto p = pad_images(tiny(), 4);  // rows: 1 above, 1 below; columns: 0 left, 1 right
  REQUIRE(p.height == 4);
  REQUIRE(p.width == 4);
  const std::vector<std::uint8_t> first(p.pixels.begin(), p.pixels.begin() + 16);
  REQUIRE(first == std::vector<std::uint8_t>{0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 0, 0, 0, 0});
  REQUIRE(p.pixels[16 + 4] == 7);
  REQUIRE(p.labels == std::vector<std::int32_t>{4, 7});
  REQUIRE_THROWS_WITH(pad_images(tiny(), 1), Catch::Contains("smaller than the images"));
}

TEST_CASE("image_set: [-1, 1] scaling and 3-channel replication of a batch", "[data]") {
  auto s = replicate_channels(tiny(), 3);
  s.pixels[0] = 0;
  s.pixels[1] = 255;
  scale_to_unit_range(s);
  const auto b = s.batch<double, Space>({1, 0}, 0, 2).to_host();  // [2, 3, 2, 3], image 1 first
  REQUIRE(b.size() == 36);
  REQUIRE(b[18 + 0] == Approx(-1.0));  // image 0, channel 0, pixel 0 = 0
  REQUIRE(b[18 + 1] == Approx(1.0));   // pixel 1 = 255
  REQUIRE(b[0] == Approx(7 / 127.5 - 1));
  REQUIRE(b[6] == b[0]);  // channels are copies
  REQUIRE(b[12] == b[0]);
  REQUIRE_THROWS_WITH(replicate_channels(s, 3), Catch::Contains("already has 3 channels"));
}

TEST_CASE("image_set: Fashion-MNIST padded to 32x32 in [-1, 1]", "[data]") {
  auto s = load_fashion_mnist("/usr/share/datasets/fashion-mnist", "test");
  s.truncate(64);
  s = pad_images(s, 32);
  scale_to_unit_range(s);
  std::vector<index_t> order(64);
  for (index_t i = 0; i < 64; ++i) order[i] = i;
  const auto x = s.batch<float, Space>(order, 0, 64);
  REQUIRE(x.shape() == Shape{64, 1, 32, 32});
  const auto v = x.to_host();
  REQUIRE(*std::min_element(v.begin(), v.end()) == -1.0f);
  REQUIRE(*std::max_element(v.begin(), v.end()) <= 1.0f);
  REQUIRE(v[0] == -1.0f);  // the padded border
}

TEST_CASE("image_set: epoch order is a permutation that depends on (seed, epoch) only", "[data]") {
  auto s = tiny();
  s.count = 100;
  const auto a = s.epoch_order(1, 0), b = s.epoch_order(1, 0), c = s.epoch_order(1, 1);
  REQUIRE(a == b);
  REQUIRE(a != c);
  REQUIRE(std::set<index_t>(a.begin(), a.end()).size() == 100);
}
