// make_fmnist_shards OUT_BASE N PER_SHARD: the first N Fashion-MNIST training images, padded to 32x32, as
// HDF5 image shards OUT_BASE-00000.h5, ... of PER_SHARD images each (the names ibq-prepare-data uses),
// so a driver test can train from shards and from the IDX files on the very same pixels.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ibq/io/image_shard.hpp"
#include "ibq/io/shard_names.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: make_fmnist_shards OUT_BASE N PER_SHARD\n");
    return 2;
  }
  try {
    const std::string base = argv[1];
    const ibq::index_t n = std::atol(argv[2]), per = std::atol(argv[3]);
    auto set = ibq::pad_images(ibq::load_fashion_mnist("/usr/share/datasets/fashion-mnist", "train"), 32);
    set.truncate(n);
    for (ibq::index_t first = 0, s = 0; first < n; first += per, ++s) {
      ibq::ImageSet part = set;
      part.count = std::min(per, n - first);
      part.pixels.assign(set.pixels.begin() + first * set.image_size(),
                         set.pixels.begin() + (first + part.count) * set.image_size());
      part.labels.assign(set.labels.begin() + first, set.labels.begin() + first + part.count);
      ibq::write_image_shard(ibq::shard_path(base, int(s)), part, "fashion-mnist train (test copy)");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_fmnist_shards: %s\n", e.what());
    return 1;
  }
  return 0;
}
