// HDF5 helpers: round trips, attributes, atomic writes that never clobber a good file, clear errors.
#include <algorithm>
#include <cstdio>
#include <fstream>

#include "test_util.hpp"
#include "ibq/io/hdf5.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
std::string io_path(const std::string& name) { return std::string(IBQ_BINARY_DIR) + "/test_io_" + name; }
}  // namespace

TEST_CASE("hdf5: tensors, attributes and listing round trip", "[io][hdf5]") {
  const auto path = io_path("roundtrip.h5");
  auto w = random_tensor<float>({3, 4}, 5);
  h5::write_atomic(path, [&](h5::File& f) {
    f.set_attr("/", "format", "ibq");
    f.set_attr("/", "step", std::int64_t(42));
    f.set_attr("/", "lr", 1e-4);
    h5::write_tensor(f, "params/enc.conv.weight", w);
    h5::write_tensor(f, "params/enc.bias", Tensor<float>::from_host({2}, {1.f, 2.f}), /*compress=*/4);
  });
  h5::File f(path, h5::File::Mode::read);
  REQUIRE(f.attr_string("/", "format") == "ibq");
  REQUIRE(f.attr<std::int64_t>("/", "step") == 42);
  REQUIRE(f.attr<double>("/", "lr") == 1e-4);
  auto w2 = h5::read_tensor<float>(f, "params/enc.conv.weight");
  REQUIRE(w2.shape() == Shape{3, 4});
  REQUIRE(w2.to_host() == w.to_host());
  auto names = f.datasets("params");
  std::sort(names.begin(), names.end());
  REQUIRE(names == std::vector<std::string>{"enc.bias", "enc.conv.weight"});
  REQUIRE_THROWS_WITH(f.read<float>("params/nope"), Catch::Contains("nope") && Catch::Contains(path));
}

TEST_CASE("hdf5: a failed atomic write leaves the previous file intact", "[io][hdf5]") {
  const auto path = io_path("atomic.h5");
  h5::write_atomic(path, [](h5::File& f) { f.set_attr("/", "version", std::int64_t(1)); });
  REQUIRE_THROWS(h5::write_atomic(path, [](h5::File& f) {
    f.set_attr("/", "version", std::int64_t(2));
    throw Error("simulated crash while writing");
  }));
  h5::File f(path, h5::File::Mode::read);
  REQUIRE(f.attr<std::int64_t>("/", "version") == 1);
}

TEST_CASE("hdf5: missing and corrupt files give one clear error naming the file", "[io][hdf5]") {
  REQUIRE_THROWS_WITH(h5::File("/nonexistent/x.h5", h5::File::Mode::read), Catch::Contains("/nonexistent/x.h5"));
  const auto bad = io_path("corrupt.h5");
  std::ofstream(bad) << "this is not hdf5";
  REQUIRE_THROWS_WITH(h5::File(bad, h5::File::Mode::read), Catch::Contains("not an HDF5 file"));
}
