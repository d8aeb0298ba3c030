// Image shards: NCHW <-> NHWC round trip, row-range reads, validation of foreign files.
#include "test_util.hpp"
#include "ibq/data/crop.hpp"
#include "ibq/data/image_folder.hpp"
#include "ibq/io/image_shard.hpp"

using namespace ibq;

namespace {
std::string shard_path(const std::string& n) { return std::string(IBQ_BINARY_DIR) + "/test_shard_" + n; }
}  // namespace

TEST_CASE("image_shard: round trip of a 3-channel set, reading a row range", "[io][data]") {
  ImageSet s;
  s.count = 5, s.channels = 3, s.height = 2, s.width = 4;
  for (index_t i = 0; i < s.count * s.image_size(); ++i) s.pixels.push_back(std::uint8_t(i % 251));
  s.labels = {0, 1, 2, 3, 4};
  const auto path = shard_path("rgb.h5");
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
  const auto path = shard_path("fmnist.h5");
  write_image_shard(path, s, "fashion-mnist t10k");
  const auto back = ImageShard(path).read(100, 200);
  REQUIRE(back.pixels == std::vector<std::uint8_t>(s.pixels.begin() + 100 * 784, s.pixels.end()));
  REQUIRE(back.labels == std::vector<std::int32_t>(s.labels.begin() + 100, s.labels.end()));
  h5::write_atomic(shard_path("other.h5"), [](h5::File& f) { f.set_attr("/", "format", "something-else"); });
  REQUIRE_THROWS_WITH(ImageShard(shard_path("other.h5")), Catch::Contains("not an ibq image shard"));
}

TEST_CASE("image_shard: ShardedImages reads batches across shards exactly as the concatenated set", "[io][data]") {
  // Three shards of 4, 1 and 6 RGB images: a batch in a shuffled order crosses every boundary.
  ImageSet whole;
  whole.count = 11, whole.channels = 3, whole.height = 3, whole.width = 2;
  for (index_t i = 0; i < whole.count * whole.image_size(); ++i) whole.pixels.push_back(std::uint8_t((i * 7) % 253));
  for (index_t i = 0; i < whole.count; ++i) whole.labels.push_back(std::int32_t(100 + i));
  const index_t sizes[] = {4, 1, 6};
  std::vector<std::string> files;
  index_t first = 0;
  for (index_t part : sizes) {
    ImageSet s = whole;
    s.count = part;
    s.pixels.assign(whole.pixels.begin() + first * whole.image_size(),
                    whole.pixels.begin() + (first + part) * whole.image_size());
    s.labels.assign(whole.labels.begin() + first, whole.labels.begin() + first + part);
    files.push_back(shard_path("part" + std::to_string(files.size()) + ".h5"));
    write_image_shard(files.back(), s, "unit test");
    first += part;
  }
  scale_to_unit_range(whole);
  ShardedImages streamed(files);
  REQUIRE(streamed.count == 11);
  REQUIRE(streamed.channels == 3);
  REQUIRE(streamed.height == 3);
  REQUIRE(streamed.width == 2);

  const auto order = whole.epoch_order(7, 0);
  REQUIRE(order == streamed.epoch_order(7, 0));
  const auto a = whole.batch<float, Kokkos::HostSpace>(order, 2, 9).to_host();
  const auto b = streamed.batch<float, Kokkos::HostSpace>(order, 2, 9).to_host();
  REQUIRE(a == b);
  const auto la = whole.batch_labels<Kokkos::HostSpace>(order, 0, 11).to_host();
  const auto lb = streamed.batch_labels<Kokkos::HostSpace>(order, 0, 11).to_host();
  REQUIRE(la == lb);
  // The last image of each shard, and the first of the next.
  for (index_t r : {3, 4, 5, 10}) {
    std::vector<std::uint8_t> px(std::size_t(whole.image_size()));
    std::int32_t label = -1;
    streamed.gather(&r, 1, px.data(), &label);
    CHECK(label == 100 + r);
    CHECK(std::equal(px.begin(), px.end(), whole.pixels.begin() + r * whole.image_size()));
  }
  const index_t past = 11;
  std::vector<std::uint8_t> px(std::size_t(whole.image_size()));
  REQUIRE_THROWS_WITH(streamed.gather(&past, 1, px.data(), nullptr), Catch::Contains("out of range"));
  streamed.truncate(5);
  REQUIRE(streamed.count == 5);
  REQUIRE_THROWS_WITH(streamed.gather(&sizes[2], 1, px.data(), nullptr), Catch::Contains("out of range"));
}

TEST_CASE("image_shard: ShardedImages refuses shards of different geometry, naming the file", "[io][data]") {
  ImageSet a;
  a.count = 2, a.channels = 1, a.height = 4, a.width = 4;
  a.pixels.assign(std::size_t(2 * 16), 9);
  a.labels = {0, 1};
  ImageSet b = a;
  b.height = b.width = 2;
  b.pixels.assign(std::size_t(2 * 4), 3);
  write_image_shard(shard_path("geom_a.h5"), a, "unit test");
  write_image_shard(shard_path("geom_b.h5"), b, "unit test");
  REQUIRE_THROWS_WITH(ShardedImages({shard_path("geom_a.h5"), shard_path("geom_b.h5")}),
                      Catch::Contains("geom_b.h5") && Catch::Contains("1x2x2"));
  REQUIRE_THROWS_WITH(ShardedImages({shard_path("missing.h5")}), Catch::Contains("missing.h5"));
}

TEST_CASE("image_shard: images kept at their aspect ratio round-trip with their extents, beside full shards", "[io][data]") {
  // A ragged shard (a 3x5 and a 5x3 image in a 5x5 pitch) and a full one (a 5x5 image): streamed, read
  // whole, and through random crops, every image keeps its own size.
  ImageSet ragged;
  ragged.channels = 1, ragged.height = ragged.width = 5;
  append_hwc_image(ragged, std::vector<std::uint8_t>(15, 11), 0, 3, 5);
  append_hwc_image(ragged, std::vector<std::uint8_t>(15, 22), 1, 5, 3);
  ImageSet full;
  full.channels = 1, full.height = full.width = 5;
  append_hwc_image(full, std::vector<std::uint8_t>(25, 33), 2);
  write_image_shard(shard_path("ragged.h5"), ragged, "unit test");
  write_image_shard(shard_path("full.h5"), full, "unit test");
  h5::File f(shard_path("ragged.h5"), h5::File::Mode::read);
  REQUIRE(f.dims("extents") == std::vector<hsize_t>{2, 2});
  REQUIRE_FALSE(h5::File(shard_path("full.h5"), h5::File::Mode::read).exists("extents"));
  const auto back = ImageShard(shard_path("ragged.h5")).read_all();
  CHECK(back.extents == ragged.extents);
  CHECK(back.pixels == ragged.pixels);

  auto streamed = std::make_unique<ShardedImages>(std::vector<std::string>{shard_path("full.h5"), shard_path("ragged.h5")});
  REQUIRE(streamed->ragged());
  CHECK(streamed->extent(0) == std::array<index_t, 2>{5, 5});
  CHECK(streamed->extent(1) == std::array<index_t, 2>{3, 5});
  CHECK(streamed->extent(2) == std::array<index_t, 2>{5, 3});
  CroppedImages crops(std::move(streamed), 3, 3, {CropMode::random, true, 9});
  const std::vector<index_t> rows{0, 1, 2};
  for (std::uint64_t e = 0; e < 30; ++e) {
    std::vector<std::uint8_t> px(27);
    crops.gather(rows.data(), 3, px.data(), nullptr, e);
    for (int k = 0; k < 27; ++k) REQUIRE(px[std::size_t(k)] == (k < 9 ? 33 : k < 18 ? 11 : 22));
  }
  crops.truncate(2);
  CHECK(crops.count == 2);
  CHECK(crops.stored().count == 2);

  // A damaged extents table is refused, naming the file and the fix.
  h5::write_atomic(shard_path("bad_extents.h5"), [&](h5::File& g) {
    g.set_attr("/", "format", image_shard_format);
    g.write("images", ragged.pixels, {2, 5, 5, 1});
    g.write("labels", ragged.labels, {2});
    g.write("extents", std::vector<std::int32_t>{3, 5, 9, 3}, {2, 2});
  });
  REQUIRE_THROWS_WITH(ImageShard(shard_path("bad_extents.h5")),
                      Catch::Contains("bad_extents.h5") && Catch::Contains("image 1 claims 9x3 pixels in a 5x5 pitch"));
}
