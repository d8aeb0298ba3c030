// Writes the files the ibq-inspect integration test reads, with the library's own writers, so the test
// inspects exactly what the drivers produce (and needs no Python):
//   DIR/ckpt.h5    save_checkpoint: params, a buffer, Adam moments, a metrics series holding a NaN, config
//   DIR/shard.h5   write_image_shard: 4 RGB images of 2x3 pixels with class names
//   DIR/tokens.h5  a token dataset as DESIGN.md lays it out: tokens int32 [N, H, W] (chunked, compressed),
//                  labels, attributes codebook_size, grid (an int64 array) and the tokenizer's path
// Usage: make_inspect_files DIR
#include <cmath>
#include <cstdlib>
#include <iostream>

#include "ibq/io/checkpoint.hpp"
#include "ibq/io/image_shard.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_inspect_files DIR\n";
    return 2;
  }
  setenv("OMP_PROC_BIND", "false", 0);  // keeps Kokkos's start-up advice off the test's output
  Kokkos::ScopeGuard kokkos;
  const std::string dir = argv[1];
  try {
    ibq::ParamStore<float> store;
    store.add("encoder.conv_in.weight", {8, 3, 3, 3}, ibq::Init::uniform(-1, 1));
    store.add("encoder.conv_in.bias", {8}, ibq::Init::constant(0.25));
    store.add("decoder.conv_out.weight", {64, 300}, ibq::Init::uniform(-1, 1));  // large: printed in summary
    store.add_buffer("encoder.norm.running_var", {8}, ibq::Init::ones());
    store.allocate(/*seed=*/3);
    ibq::Adam<float> adam(store, ibq::AdamConfig{});
    const ibq::CheckpointMeta meta{"tokenizer", 7, 1, "[model]\nch = 4\n[train]\nlr = 0.001\n", 1};
    ibq::save_checkpoint(dir + "/ckpt.h5", meta, store, &adam, {{"loss", {2.0, 1.0, std::nan("")}}});

    ibq::ImageSet set;
    set.count = 4, set.channels = 3, set.height = 2, set.width = 3;
    for (ibq::index_t i = 0; i < set.count * set.image_size(); ++i) set.pixels.push_back(std::uint8_t(i * 3 % 256));
    set.labels = {0, 1, 2, 1};
    ibq::write_image_shard(dir + "/shard.h5", set, "make_inspect_files", "cat\ndog\nfish");

    ibq::h5::write_atomic(dir + "/tokens.h5", [](ibq::h5::File& f) {
      std::vector<std::int32_t> tokens(3 * 2 * 2);
      for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = std::int32_t(i);  // mean 5.5, 0..11
      f.write("tokens", tokens, {3, 2, 2}, /*compress=*/4);
      f.write("labels", std::vector<std::int32_t>{4, 5, 6}, {3});
      f.set_attr("/", "codebook_size", std::int64_t(1024));
      f.set_attr("/", "tokenizer", "runs/tokenizer.h5");
      const std::int64_t grid[2] = {2, 2};
      const hsize_t n = 2;
      ibq::h5::Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
      ibq::h5::Handle a(H5Acreate2(f.id(), "grid", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
      IBQ_CHECK(a.ok() && H5Awrite(a, H5T_NATIVE_INT64, grid) >= 0, "cannot write the grid attribute");
    });
  } catch (const std::exception& e) {
    std::cerr << "make_inspect_files: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
