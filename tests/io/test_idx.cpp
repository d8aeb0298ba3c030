// IDX reader on the real Fashion-MNIST files from Debian, plus corrupt and missing files.
#include <zlib.h>

#include <fstream>
#include <set>

#include "test_util.hpp"
#include "ibq/io/idx.hpp"

using namespace ibq;

namespace {
const std::string dir = "/usr/share/datasets/fashion-mnist/";
std::string tmp(const std::string& n) { return std::string(IBQ_BINARY_DIR) + "/test_idx_" + n; }
void write_gz(const std::string& path, const std::vector<unsigned char>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), unsigned(bytes.size()));
  gzclose(f);
}
}  // namespace

TEST_CASE("idx: reads the Fashion-MNIST test split shipped by Debian", "[io][data]") {
  const auto imgs = read_idx_images(dir + "t10k-images-idx3-ubyte.gz");
  const auto labs = read_idx_labels(dir + "t10k-labels-idx1-ubyte.gz");
  REQUIRE(imgs.count == 10000);
  REQUIRE(imgs.rows == 28);
  REQUIRE(imgs.cols == 28);
  REQUIRE(labs.size() == 10000);
  std::vector<int> per_class(10, 0);
  for (int l : labs) {
    REQUIRE((l >= 0 && l < 10));
    ++per_class[l];
  }
  for (int c : per_class) REQUIRE(c == 1000);  // the test split is exactly balanced
  std::set<int> values(imgs.pixels.begin(), imgs.pixels.begin() + 784 * 10);
  REQUIRE(values.size() > 50);  // real grey-level images, not a constant
}

TEST_CASE("idx: truncated, wrong-magic and missing files name the file", "[io][data]") {
  const auto trunc = tmp("trunc.gz");
  write_gz(trunc, {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3});
  REQUIRE_THROWS_WITH(read_idx_images(trunc), Catch::Contains(trunc) && Catch::Contains("truncated"));
  const auto labels_as_images = tmp("labels.gz");
  write_gz(labels_as_images, {0, 0, 8, 1, 0, 0, 0, 1, 7});
  REQUIRE_THROWS_WITH(read_idx_images(labels_as_images), Catch::Contains("not an IDX image file"));
  REQUIRE(read_idx_labels(labels_as_images) == std::vector<std::int32_t>{7});
  REQUIRE_THROWS_WITH(read_idx_labels("/nonexistent/labels.gz"), Catch::Contains("/nonexistent/labels.gz"));
}
