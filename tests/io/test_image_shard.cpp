// Image shards: NCHW <-> NHWC round trip, row-range reads, validation of foreign files.
#include "test_util.hpp"
#include "ibq/io/image_shard.hpp"

using namespace ibq;

namespace {
std::string temp_path(const std::string& n) { return std::string(IBQ_BINARY_DIR) + "/test_shard_" + n; }
}  // namespace

TEST_CASE("image_shard: round trip of a 3-channel set, reading a row range", "[io][data]") {
  ImageSet s;
  s.count = 5, s.channels = 3, s.height = 2, s.width = 4;
  for (index_t i = 0; i < s.count * s.image_size(); ++i) s.pixels.push_back(std::uint8_t(i % 251));
  s.labels = {0, 1, 2, 3, 4};
  const auto path = temp_path("rgb.h5");
  write_image_shard(path, s, "unit test", "a\nb\nc\nd\ne");
  ImageShard shard(path);
  REQUIRE(shard.count() == 5);
  REQUIRE(shard.source() == "unit test");
  const auto all = shard.read_all();
  REQUIRE(all.pixels == s.pixels);
  const auto mid = shard.read(1, 3);
  REQUIRE(mid.labels == std::vector<std::int32_t>{1, 2, 3});
  REQUIRE(std::vector<std::uint8_t>(s.pixels.begin() + 24, s.pixels.begin() + 96) == mid.pixels);
  h5::File f(path, h5::File::Mode::read);  // channels-last on disk: pixel (0, 0) of image 0 holds R, G, B
  REQUIRE(f.dims("images") == std::vector<hsize_t>{5, 2, 4, 3});
  const auto first = f.read_rows<std::uint8_t>("images", 0, 1);
  REQUIRE(first[0] == s.pixels[0]);
  REQUIRE(first[1] == s.pixels[8]);
  REQUIRE(first[2] == s.pixels[16]);
  REQUIRE_THROWS_WITH(shard.read(4, 2), Catch::Contains("out of range"));
}

TEST_CASE("image_shard: Fashion-MNIST through a shard equals the IDX source", "[io][data]") {
  auto s = load_fashion_mnist("/usr/share/datasets/fashion-mnist", "test");
  s.truncate(300);
  const auto path = temp_path("fmnist.h5");
  write_image_shard(path, s, "fashion-mnist t10k");
  const auto back = ImageShard(path).read(100, 200);
  REQUIRE(back.pixels == std::vector<std::uint8_t>(s.pixels.begin() + 100 * 784, s.pixels.end()));
  REQUIRE(back.labels == std::vector<std::int32_t>(s.labels.begin() + 100, s.labels.end()));
  h5::write_atomic(temp_path("other.h5"), [](h5::File& f) { f.set_attr("/", "format", "something-else"); });
  REQUIRE_THROWS_WITH(ImageShard(temp_path("other.h5")), Catch::Contains("not an ibq image shard"));
}
