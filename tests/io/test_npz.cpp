// .npz: numpy.savez's file read back (uint8 whole and by rows, float64/float32 statistics as ADM's
// reference batches hold them); ours written and read back with the .npy header numpy expects (64-byte
// aligned, C-order uint8); refusals of a missing member, a wrong dtype and a file that is no archive.
#include <catch2/catch.hpp>

#include <fstream>

#include "ibq/io/npz.hpp"

using namespace ibq;

namespace {
std::string npz_path(const std::string& name) { return std::string(IBQ_BINARY_DIR) + "/" + name; }
}  // namespace

TEST_CASE("npz: reads numpy.savez's archive (ZIP64 extras), member by name", "[io][npz]") {
  const std::string path = std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/numpy_savez.npz";
  const auto a = read_npz_uint8(path, "arr_0");
  REQUIRE(a.shape == std::vector<index_t>{2, 3, 4, 3});
  REQUIRE(a.data.size() == 72);
  for (std::size_t i = 0; i < a.data.size(); ++i) REQUIRE(a.data[i] == std::uint8_t(i * 7 % 256));
  const auto o = read_npz_uint8(path, "other");
  REQUIRE(o.shape == std::vector<index_t>{5});
  REQUIRE_THROWS_WITH(read_npz_uint8(path, "arr_1"), Catch::Contains("has no member 'arr_1.npy'"));
}

TEST_CASE("npz: what we write reads back, with numpy's header layout", "[io][npz]") {
  NpzArray a{"arr_0", {}, {3, 5, 7, 1}};
  for (int i = 0; i < 105; ++i) a.data.push_back(std::uint8_t(255 - i));
  const std::string path = npz_path("test_npz_roundtrip.npz");
  write_npz(path, {a, NpzArray{"one", {42}, {1}}});
  const auto b = read_npz_uint8(path, "arr_0");
  CHECK(b.shape == a.shape);
  CHECK(b.data == a.data);
  CHECK(read_npz_uint8(path, "one").data == std::vector<std::uint8_t>{42});
  // The .npy header: magic, version 1.0, a dict padded so that the data start on a 64-byte boundary.
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto at = bytes.find("\x93NUMPY");
  REQUIRE(at != std::string::npos);
  const std::size_t hlen = std::uint8_t(bytes[at + 8]) | (std::uint8_t(bytes[at + 9]) << 8);
  CHECK((10 + hlen) % 64 == 0);
  CHECK(bytes.substr(at + 10, hlen).find("{'descr': '|u1', 'fortran_order': False, 'shape': (3,5,7,1), }") == 0);
  REQUIRE_THROWS_WITH(write_npz(npz_path("test_npz_bad.npz"), {NpzArray{"x", {1, 2}, {3}}}),
                      Catch::Contains("has 2 bytes for a shape of 3 elements"));
}

TEST_CASE("npz: a file that is not an archive is refused by name", "[io][npz]") {
  const std::string path = npz_path("test_npz_not.npz");
  std::ofstream(path) << "this is not a zip file, just text long enough for a header";
  REQUIRE_THROWS_WITH(read_npz_uint8(path, "arr_0"), Catch::Contains(path) && Catch::Contains("not an .npz"));
  REQUIRE_THROWS_WITH(read_npz_uint8(npz_path("test_npz_missing.npz"), "arr_0"), Catch::Contains("cannot open"));
}

TEST_CASE("npz: int64 labels (arr_1, as ADM's class-conditional sampler writes them) round-trip", "[io][npz]") {
  const std::vector<std::int32_t> labels = {0, 9, 3, -1, 7};
  const std::string path = npz_path("test_npz_labels.npz");
  write_npz(path, {NpzArray{"arr_0", std::vector<std::uint8_t>(5 * 4, 1), {5, 2, 2, 1}}, npz_int64("arr_1", labels)});
  const auto back = read_npz_int64(path, "arr_1");
  REQUIRE(back.size() == labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) CHECK(back[i] == labels[i]);
  CHECK(read_npz_uint8(path, "arr_0").shape == std::vector<index_t>{5, 2, 2, 1});
  // The header names numpy's int64; each reader refuses the other's dtype by name.
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(bytes.find("{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }") != std::string::npos);
  REQUIRE_THROWS_WITH(read_npz_uint8(path, "arr_1"), Catch::Contains("has dtype <i8, expected |u1"));
  REQUIRE_THROWS_WITH(read_npz_int64(path, "arr_0"), Catch::Contains("has dtype |u1, expected <i8"));
}

TEST_CASE("npz: ADM-style float statistics and rows read without loading the rest", "[io][npz]") {
  const std::string path = std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/numpy_savez.npz";
  std::vector<index_t> shape;
  const auto mu = read_npz_float64(path, "mu", &shape);
  REQUIRE(shape == std::vector<index_t>{3});
  CHECK(mu == std::vector<double>{0.125, -2.5, 1e-300});
  const auto sigma = read_npz_float64(path, "sigma", &shape);  // float32, widened exactly
  REQUIRE(shape == std::vector<index_t>{2, 2});
  CHECK(sigma == std::vector<double>{1.0, 0.5, 0.5, 0.25});
  REQUIRE_THROWS_WITH(read_npz_float64(path, "arr_0"), Catch::Contains("has dtype |u1, expected float64 or float32"));
  NpzRows rows(path, "arr_0");
  REQUIRE(rows.rows() == 2);
  const auto second = rows.read(1, 1);
  REQUIRE(second.size() == 36);
  for (std::size_t i = 0; i < second.size(); ++i) CHECK(second[i] == std::uint8_t((36 + i) * 7 % 256));
  REQUIRE_THROWS_WITH(rows.read(1, 2), Catch::Contains("rows [1, 3) outside 'arr_0' of 2 rows"));
}
