// Generic HDF5 inspection: walk order, attributes of every type, typed streaming statistics checked against
// hand-computed values (NaN, Inf, integers), block-wise reads of datasets larger than a block, clear errors.
#include <cmath>
#include <limits>

#include "test_util.hpp"
#include "ibq/io/h5_walk.hpp"

using namespace ibq;

namespace {

std::string walk_path(const std::string& name) { return std::string(IBQ_BINARY_DIR) + "/test_h5_walk_" + name; }

// Writes a dataset of any stored type (File::write knows only the library's own types), optionally chunked.
template <class T>
void write_raw(h5::File& f, const std::string& name, hid_t file_type, const std::vector<T>& v,
               const std::vector<hsize_t>& dims, const std::vector<hsize_t>& chunk = {}) {
  h5::Handle space(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
  h5::Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl, 1);
  h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (!chunk.empty()) {
    H5Pset_chunk(dcpl, int(chunk.size()), chunk.data());
    H5Pset_deflate(dcpl, 4);
  }
  h5::Handle ds(H5Dcreate2(f.id(), name.c_str(), file_type, space, lcpl, dcpl, H5P_DEFAULT), H5Dclose);
  REQUIRE(ds.ok());
  REQUIRE(H5Dwrite(ds, h5::memory_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) >= 0);
}

// Every value of a dataset through for_each_block, as doubles in flat order, checking the block contract.
std::vector<double> read_blocks(const h5::File& f, const std::string& name, std::uint64_t block,
                                std::uint64_t begin = 0, std::uint64_t end = ~std::uint64_t(0)) {
  std::vector<double> out;
  std::uint64_t next = begin;
  h5::for_each_block(
      f, name,
      [&](const auto* v, std::size_t n, std::uint64_t first) {
        REQUIRE(first == next);  // in order, no gaps
        REQUIRE(n >= 1);
        REQUIRE(n <= block);
        for (std::size_t i = 0; i < n; ++i) out.push_back(double(v[i]));
        next += n;
      },
      block, begin, end);
  return out;
}

}  // namespace

TEST_CASE("h5_walk: depth first, names in order, links listed, not followed", "[io][h5_walk]") {
  const auto path = walk_path("tree.h5");
  h5::write_atomic(path, [](h5::File& f) {
    f.write("b/y", std::vector<float>{1}, {1});  // created out of order on purpose
    f.write("a/z/w", std::vector<float>{2}, {1});
    f.write("a/x", std::vector<float>{3}, {1});
    f.write("c", std::vector<std::int32_t>{4}, {1});
    H5Lcreate_soft("/a/x", f.id(), "l", H5P_DEFAULT, H5P_DEFAULT);
    H5Lcreate_external("other.h5", "/data", f.id(), "ext", H5P_DEFAULT, H5P_DEFAULT);
    H5Lcreate_hard(f.id(), "a", f.id(), "b/back_to_a", H5P_DEFAULT, H5P_DEFAULT);  // a cycle-free second path
  });
  h5::File f(path, h5::File::Mode::read);
  const auto objs = h5::walk(f);
  std::vector<std::string> paths;
  for (const auto& o : objs) paths.push_back(o.path);
  // A group reached a second time (b/back_to_a) is listed but not entered again.
  REQUIRE(paths == std::vector<std::string>{"a", "a/x", "a/z", "a/z/w", "b", "b/back_to_a", "b/y", "c", "ext", "l"});
  REQUIRE(objs[0].kind == h5::ObjectKind::group);
  REQUIRE(objs[1].kind == h5::ObjectKind::dataset);
  REQUIRE(objs[3].depth == 2);
  REQUIRE(objs[8].kind == h5::ObjectKind::external_link);
  REQUIRE(objs[8].target == "other.h5:/data");
  REQUIRE(objs[9].kind == h5::ObjectKind::soft_link);
  REQUIRE(objs[9].target == "/a/x");
  const auto sub = h5::walk(f, "a");
  REQUIRE(sub.size() == 3);
  REQUIRE(sub[2].path == "z/w");
  REQUIRE(h5::dataset_names(f) == std::vector<std::string>{"a/x", "a/z/w", "b/y", "c"});
}

TEST_CASE("h5_walk: attributes of every kind, in name order, long arrays cut", "[io][h5_walk]") {
  const auto path = walk_path("attrs.h5");
  h5::write_atomic(path, [](h5::File& f) {
    f.set_attr("/", "kind", "classifier");
    f.set_attr("/", "step", std::int64_t(-42));
    f.set_attr("/", "lr", 1e-4);
    f.set_attr("/", "config", "[train]\nepochs = 2\n");
    f.write("params/w", std::vector<float>{1, 2}, {2});
    f.set_attr("params/w", "scale", 0.1f);
    std::vector<std::int32_t> grid(20);
    for (int i = 0; i < 20; ++i) grid[i] = i * 3;
    const hsize_t n = grid.size();
    h5::Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
    h5::Handle a(H5Acreate2(f.id(), "grid", H5T_STD_I32BE, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    H5Awrite(a, H5T_NATIVE_INT32, grid.data());
    h5::Handle vlen(H5Tcopy(H5T_C_S1), H5Tclose);  // a str attribute as h5py writes it
    H5Tset_size(vlen, H5T_VARIABLE);
    H5Tset_cset(vlen, H5T_CSET_UTF8);
    h5::Handle scalar(H5Screate(H5S_SCALAR), H5Sclose);
    h5::Handle note(H5Acreate2(f.id(), "note", vlen, scalar, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    const char* text = "h\u00e9llo";
    H5Awrite(note, vlen, &text);
  });
  h5::File f(path, h5::File::Mode::read);
  const auto root = h5::attributes(f, "/");
  REQUIRE(root.size() == 7);
  REQUIRE(root[0].name == "config");
  REQUIRE(root[0].is_string);
  REQUIRE(root[0].values == std::vector<std::string>{"[train]\nepochs = 2\n"});
  REQUIRE(root[1].name == "grid");
  REQUIRE(root[1].dtype == "int32");  // big-endian on disk, converted on reading
  REQUIRE(root[1].dims == std::vector<hsize_t>{20});
  REQUIRE(root[1].count == 20);
  REQUIRE(root[1].values.size() == 16);
  REQUIRE(root[1].values[15] == "45");
  REQUIRE(root[2].name == "ibq_datasets");  // the manifest write_atomic adds (h5_verify.hpp)
  REQUIRE(root[2].values == std::vector<std::string>{"params/w"});
  REQUIRE(root[3].name == "kind");
  REQUIRE(root[3].values == std::vector<std::string>{"classifier"});
  REQUIRE(root[4].name == "lr");
  REQUIRE(root[4].dtype == "float64");
  REQUIRE(root[4].values == std::vector<std::string>{"0.0001"});
  REQUIRE(root[5].name == "note");
  REQUIRE(root[5].dtype == "string");
  REQUIRE(root[5].values == std::vector<std::string>{"h\u00e9llo"});
  REQUIRE(f.attr_string("/", "note") == "h\u00e9llo");  // File reads UTF-8 variable-length strings too
  REQUIRE(root[6].values == std::vector<std::string>{"-42"});
  REQUIRE(root[6].dims.empty());
  const auto w = h5::attributes(f, "params/w", 4);
  REQUIRE(w.size() == 1);
  REQUIRE(w[0].dtype == "float32");
  REQUIRE(w[0].values == std::vector<std::string>{"0.1"});  // shortest text of 0.1f, not 0.100000001
  REQUIRE(h5::attributes(f, "params").empty());
  REQUIRE_THROWS_WITH(h5::attributes(f, "nope"), Catch::Contains("nope") && Catch::Contains(path));
}

TEST_CASE("h5_walk: statistics against hand-computed values, with NaN and Inf", "[io][h5_walk]") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  const auto path = walk_path("stats.h5");
  h5::write_atomic(path, [&](h5::File& f) {
    f.write("x", std::vector<float>{1, 2, float(nan), 4, float(inf), float(-inf), 3}, {7});
    f.write("all_nan", std::vector<double>{nan, nan}, {2});
    f.write("empty", std::vector<double>{}, {0, 3});
    f.write("scalar", std::vector<double>{2.5}, {});
  });
  h5::File f(path, h5::File::Mode::read);
  const auto s = h5::dataset_stats(f, "x");
  REQUIRE(s.count == 7);
  REQUIRE(s.nan == 1);
  REQUIRE(s.inf == 2);
  REQUIRE(s.finite() == 4);
  // finite values 1, 2, 4, 3: mean 2.5, population variance (2.25 + 0.25 + 2.25 + 0.25) / 4 = 1.25
  REQUIRE(s.mean() == Approx(2.5).epsilon(1e-15));
  REQUIRE(s.stddev() == Approx(std::sqrt(1.25)).epsilon(1e-15));
  REQUIRE(s.min() == 1);
  REQUIRE(s.max() == 4);
  for (std::uint64_t block : {1, 2, 3}) {  // the same answer whatever the block size
    const auto b = h5::dataset_stats(f, "x", block);
    REQUIRE(b.nan == 1);
    REQUIRE(b.inf == 2);
    REQUIRE(b.mean() == Approx(2.5).epsilon(1e-15));
    REQUIRE(b.stddev() == Approx(std::sqrt(1.25)).epsilon(1e-15));
  }
  const auto n = h5::dataset_stats(f, "all_nan");
  REQUIRE(n.nan == 2);
  REQUIRE(std::isnan(n.mean()));
  REQUIRE(std::isnan(n.min()));
  const auto e = h5::dataset_stats(f, "empty");
  REQUIRE(e.count == 0);
  REQUIRE(std::isnan(e.stddev()));
  const auto sc = h5::dataset_stats(f, "scalar");
  REQUIRE(sc.count == 1);
  REQUIRE(sc.mean() == 2.5);
  REQUIRE(sc.stddev() == 0);
  REQUIRE(h5::dataset_info(f, "scalar").dims.empty());
  REQUIRE(h5::dataset_info(f, "empty").numel == 0);
}

TEST_CASE("h5_walk: integer datasets of every width are read exactly in their own type", "[io][h5_walk]") {
  const auto path = walk_path("ints.h5");
  const std::uint64_t big = (std::uint64_t(1) << 63) + 12345;  // not representable in double
  h5::write_atomic(path, [&](h5::File& f) {
    write_raw<std::int8_t>(f, "i8", H5T_STD_I8LE, {-128, -1, 0, 127}, {2, 2});
    write_raw<std::uint8_t>(f, "u8", H5T_STD_U8LE, {0, 200, 255}, {3});
    write_raw<std::int16_t>(f, "i16", H5T_STD_I16BE, {-300, 300, 7}, {3});
    write_raw<std::uint32_t>(f, "u32", H5T_STD_U32LE, {4000000000u, 1}, {2});
    write_raw<std::int64_t>(f, "i64", H5T_STD_I64LE, {-5, 10, 25}, {3});
    write_raw<std::uint64_t>(f, "u64", H5T_STD_U64LE, {big, 1}, {2});
    write_raw<double>(f, "f32", H5T_NATIVE_FLOAT, {0.5, -1.5}, {2});  // float32 on disk, given in doubles
  });
  h5::File f(path, h5::File::Mode::read);
  REQUIRE(h5::dataset_info(f, "i8").dtype == "int8");
  REQUIRE(h5::dataset_info(f, "u8").dtype == "uint8");
  REQUIRE(h5::dataset_info(f, "i16").dtype == "int16");
  REQUIRE(h5::dataset_info(f, "u32").dtype == "uint32");
  REQUIRE(h5::dataset_info(f, "u64").dtype == "uint64");
  REQUIRE(h5::dataset_info(f, "f32").dtype == "float32");

  const auto i8 = h5::dataset_stats(f, "i8");
  REQUIRE(i8.count == 4);
  REQUIRE(i8.nan == 0);
  REQUIRE(i8.mean() == -0.5);  // (-128 - 1 + 0 + 127) / 4
  REQUIRE(i8.min() == -128);
  REQUIRE(i8.max() == 127);
  // population variance: (127.5^2 + 0.5^2 + 0.5^2 + 127.5^2) / 4 = 8128.25
  REQUIRE(i8.stddev() == Approx(std::sqrt(8128.25)).epsilon(1e-14));
  REQUIRE(h5::dataset_stats(f, "u8").max() == 255);
  REQUIRE(h5::dataset_stats(f, "i16").min() == -300);
  REQUIRE(h5::dataset_stats(f, "u32").max() == 4e9);
  REQUIRE(h5::dataset_stats(f, "i64").mean() == 10);

  bool saw_int8 = false;
  std::vector<std::string> text;
  h5::for_each_block(f, "i8", [&](const auto* v, std::size_t n, std::uint64_t) {
    saw_int8 = std::is_same_v<std::decay_t<decltype(*v)>, std::int8_t>;
    for (std::size_t i = 0; i < n; ++i) text.push_back(h5::to_text(v[i]));
  });
  REQUIRE(saw_int8);
  REQUIRE(text == std::vector<std::string>{"-128", "-1", "0", "127"});  // numbers, not characters
  std::uint64_t first = 0;
  h5::for_each_block(f, "u64", [&](const auto* v, std::size_t, std::uint64_t) { first = std::uint64_t(v[0]); });
  REQUIRE(first == big);
  REQUIRE(h5::to_text(big) == "9223372036854788153");
}

TEST_CASE("h5_walk: datasets larger than a block are streamed in order, chunk-aligned, in ranges", "[io][h5_walk]") {
  const auto path = walk_path("chunked.h5");
  std::vector<double> v(7 * 5 * 3);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.25 * double(i) - 3 + (i % 7 == 0 ? 1e-3 : 0);
  std::vector<float> ramp(200000);  // 0..999 repeated: mean 499.5, variance (1000^2 - 1) / 12
  for (std::size_t i = 0; i < ramp.size(); ++i) ramp[i] = float(i % 1000);
  h5::write_atomic(path, [&](h5::File& f) {
    write_raw(f, "cube", H5T_IEEE_F64LE, v, {7, 5, 3}, {2, 5, 3});
    write_raw(f, "ramp", H5T_IEEE_F32LE, ramp, {200000}, {4096});
  });
  h5::File f(path, h5::File::Mode::read);
  const auto info = h5::dataset_info(f, "cube");
  REQUIRE(info.chunk == std::vector<hsize_t>{2, 5, 3});
  REQUIRE(info.filters == std::vector<std::string>{"deflate(4)"});
  REQUIRE(info.numel == 105);
  REQUIRE(info.stored_bytes > 0);
  // 1: every value alone; 4: rows of the last axis; 30: two leading slices (one chunk); 1000: all at once.
  for (std::uint64_t block : {1, 4, 7, 30, 45, 1000}) REQUIRE(read_blocks(f, "cube", block) == v);
  REQUIRE(read_blocks(f, "cube", 30, 17, 64) == std::vector<double>(v.begin() + 17, v.begin() + 64));
  REQUIRE(read_blocks(f, "cube", 4, 100, 500) == std::vector<double>(v.begin() + 100, v.end()));
  REQUIRE(read_blocks(f, "cube", 4, 200, 300).empty());

  double sum = 0, sq = 0;  // two-pass reference for the block-merged statistics
  for (double x : v) sum += x;
  const double mean = sum / double(v.size());
  for (double x : v) sq += (x - mean) * (x - mean);
  for (std::uint64_t block : {1, 4, 30}) {
    const auto s = h5::dataset_stats(f, "cube", block);
    REQUIRE(s.mean() == Approx(mean).epsilon(1e-13));
    REQUIRE(s.stddev() == Approx(std::sqrt(sq / double(v.size()))).epsilon(1e-13));
  }
  const auto r = h5::dataset_stats(f, "ramp", 4096);
  REQUIRE(r.count == 200000);
  REQUIRE(r.mean() == Approx(499.5).epsilon(1e-13));
  REQUIRE(r.stddev() == Approx(std::sqrt((1e6 - 1) / 12)).epsilon(1e-13));
  REQUIRE(r.max() == 999);
}

TEST_CASE("h5_walk: unknown names, groups and strings give one error naming file and dataset", "[io][h5_walk]") {
  const auto path = walk_path("errors.h5");
  h5::write_atomic(path, [](h5::File& f) {
    f.write("params/fc1.weight", std::vector<float>{1}, {1});
    f.write("params/fc1.bias", std::vector<float>{1}, {1});
    f.write("optim/m/fc1.weight", std::vector<float>{1}, {1});
    f.write("metrics/loss", std::vector<double>{1}, {1});
    h5::Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type, 8);
    h5::Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    h5::Handle ds(H5Dcreate2(f.id(), "note", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, "hello!!");
  });
  h5::File f(path, h5::File::Mode::read);
  REQUIRE_THROWS_WITH(h5::dataset_stats(f, "params/fc1.wieght"),
                      Catch::Contains(path) && Catch::Contains("no dataset 'params/fc1.wieght'") &&
                          Catch::Contains("close names: params/fc1.weight"));
  REQUIRE_THROWS_WITH(h5::dataset_info(f, "fc1.weight"),
                      Catch::Contains("optim/m/fc1.weight") && Catch::Contains("params/fc1.weight") &&
                          !Catch::Contains("metrics/loss"));
  REQUIRE_THROWS_WITH(h5::dataset_info(f, "zzzzzzzzzzzzzzzzz"), Catch::Contains("none of its 5 datasets"));
  REQUIRE_THROWS_WITH(h5::dataset_stats(f, "params"),
                      Catch::Contains("'params' is not a dataset; datasets under it: params/fc1.bias, params/fc1.weight"));
  REQUIRE(h5::dataset_info(f, "note").dtype == "string");
  REQUIRE_FALSE(h5::dataset_info(f, "note").numeric);
  REQUIRE_THROWS_WITH(h5::dataset_stats(f, "note"), Catch::Contains("'note' holds string data, not numbers"));
  REQUIRE(h5::close_names({"a/enc.conv_in.weight", "b/dec.conv_out.bias"}, "/enc.conv_in.weigth") ==
          std::vector<std::string>{"a/enc.conv_in.weight"});
}

TEST_CASE("h5_walk: to_text prints the shortest exact form", "[io][h5_walk]") {
  REQUIRE(h5::to_text(0.1f) == "0.1");
  REQUIRE(h5::to_text(0.1) == "0.1");
  REQUIRE(h5::to_text(1.0 / 3) == "0.3333333333333333");
  REQUIRE(h5::to_text(-std::numeric_limits<float>::infinity()) == "-inf");
  REQUIRE(h5::to_text(std::nan("")) == "nan");
  REQUIRE(h5::to_text(std::uint8_t(200)) == "200");
  REQUIRE(h5::to_text(std::int8_t(-5)) == "-5");
}
