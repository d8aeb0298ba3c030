// Durable, verified files: checksums and manifests on everything ibq writes, damage named on load and by
// verify_file, sizes checked before allocating, and a full disk that costs nothing but the new file.
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "test_util.hpp"
#include "ibq/io/checkpoint.hpp"
#include "ibq/io/durable.hpp"
#include "ibq/io/h5_verify.hpp"
#include "ibq/io/npz.hpp"

using namespace ibq;
using namespace ibq::test;
namespace fs = std::filesystem;

namespace {
std::string durable_path(const std::string& name) { return std::string(IBQ_BINARY_DIR) + "/test_durable_" + name; }

// A checkpoint whose params/w holds a recognisable pattern (so a test can find its bytes in the file).
struct PatternModel {
  ParamStore<float, Space> store;
  PatternModel() {
    store.add("w", {64, 8}, Init::constant(1234.5f));
    store.add("b", {8}, Init::normal(0, 1));
    store.allocate(3);
  }
};

std::string write_checkpoint(const std::string& name) {
  const auto path = durable_path(name);
  PatternModel m;
  Adam<float, Space> opt(m.store, {});
  save_checkpoint(path, {"tokenizer", 7, 0, "", 1}, m.store, &opt, {{"loss", {1.0, 0.5}}});
  return path;
}

bool has_temporaries(const std::string& path) {
  const fs::path p(path);
  for (const auto& e : fs::directory_iterator(p.parent_path()))
    if (e.path().filename().string().rfind(p.filename().string() + ".tmp.", 0) == 0) return true;
  return false;
}
}  // namespace

TEST_CASE("durable: every dataset ibq writes carries a checksum, and the file lists its datasets",
          "[io][durable]") {
  const auto path = write_checkpoint("ok.h5");
  const auto v = h5::verify_file(path);
  INFO(h5::describe(v));
  REQUIRE(v.verified());
  REQUIRE(v.datasets == 9);  // params w, b; optim m and v of each; rng seed and step; metrics/loss
  REQUIRE(v.unchecked.empty());
  REQUIRE(h5::describe(v).rfind("OK", 0) == 0);
}

TEST_CASE("durable: a flipped byte in a tensor fails its checksum on load and in verify, naming it",
          "[io][durable]") {
  const auto path = write_checkpoint("flip.h5");
  auto b = bytes_of(path);
  const float pattern[4] = {1234.5f, 1234.5f, 1234.5f, 1234.5f};
  const char* p = reinterpret_cast<const char*>(pattern);
  const auto at = std::search(b.begin(), b.end(), p, p + sizeof pattern);
  REQUIRE(at != b.end());
  at[5] ^= 0x10;
  write_bytes(path, b);

  const auto v = h5::verify_file(path);
  REQUIRE_FALSE(v.intact());
  REQUIRE_THAT(v.problem, Catch::Contains("params/w") && Catch::Contains("Fletcher32") && Catch::Contains(path));
  PatternModel m;
  Adam<float, Space> opt(m.store, {});
  REQUIRE_THROWS_WITH(load_checkpoint(path, "tokenizer", m.store, &opt),
                      Catch::Contains("params/w") && Catch::Contains("damaged") && Catch::Contains("Fletcher32"));
}

TEST_CASE("durable: a lost group, a truncated and an empty file are named by verify", "[io][durable]") {
  const auto path = write_checkpoint("lost.h5");
  {
    h5::File f(path, h5::File::Mode::read_write);
    REQUIRE(H5Ldelete(f.id(), "optim", H5P_DEFAULT) >= 0);
  }
  auto v = h5::verify_file(path);
  REQUIRE_FALSE(v.intact());
  REQUIRE_THAT(v.problem, Catch::Contains("optim/m/") && Catch::Contains("missing"));

  const auto cut = write_checkpoint("cut.h5");
  const auto whole = bytes_of(cut);
  for (const double fraction : {0.0, 0.1, 0.5, 0.9, 0.999}) {
    write_bytes(cut, std::vector<char>(whole.begin(), whole.begin() + std::ptrdiff_t(double(whole.size()) * fraction)));
    v = h5::verify_file(cut);
    INFO("cut at " << fraction);
    REQUIRE_FALSE(v.intact());
    REQUIRE_THAT(v.problem, Catch::Contains(cut));
  }
  REQUIRE_THAT(h5::verify_file(durable_path("absent.h5")).problem, Catch::Contains("no such file"));
}

TEST_CASE("durable: a dataset claiming 2^40 elements is refused before anything is allocated", "[io][durable]") {
  const auto path = durable_path("huge.h5");
  {
    h5::File f(path, h5::File::Mode::create);
    const hsize_t dims[2] = {hsize_t(1) << 20, hsize_t(1) << 20}, chunk[2] = {1, 1024};
    h5::Handle space(H5Screate_simple(2, dims, nullptr), H5Sclose);
    h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(dcpl, 2, chunk);
    h5::Handle ds(H5Dcreate2(f.id(), "tokens", H5T_NATIVE_FLOAT, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
    REQUIRE(ds.ok());
  }
  h5::File f(path, h5::File::Mode::read);
  REQUIRE_THROWS_WITH(f.read<float>("tokens"), Catch::Contains("'tokens' claims 1099511627776 elements") &&
                                                   Catch::Contains("damaged"));
  REQUIRE_THROWS_WITH(f.read_rows<float>("tokens", 0, 1), Catch::Contains("claims"));
  REQUIRE_THAT(h5::verify_file(path).problem, Catch::Contains("claims"));
}

TEST_CASE("durable: a write past the file-size limit fails with one clear line and loses nothing",
          "[io][durable]") {
  const auto path = write_checkpoint("full.h5");
  const auto before = bytes_of(path);
  const auto npz = durable_path("full.npz");
  write_npz(npz, {{"arr_0", std::vector<std::uint8_t>(100, 7), {100}, "|u1"}});
  const auto npz_before = bytes_of(npz);

  // As `ulimit -f` does: writes past 64 KiB fail with EFBIG (SIGXFSZ ignored, so they return an error).
  rlimit old{};
  getrlimit(RLIMIT_FSIZE, &old);
  auto* old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 64 << 10;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::string h5_error, npz_error;
  try {
    ParamStore<float, Space> big;
    big.add("w", {256, 256}, Init::normal(0, 1));
    big.allocate(1);
    save_checkpoint(path, {"tokenizer", 8, 0, "", 1}, big);
  } catch (const Error& e) {
    h5_error = e.what();
  }
  try {
    write_npz(npz, {{"arr_0", std::vector<std::uint8_t>(1 << 20, 7), {1 << 20}, "|u1"}});
  } catch (const Error& e) {
    npz_error = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);

  for (const auto& [error, file] : {std::pair{h5_error, path}, std::pair{npz_error, npz}}) {
    INFO(error);
    REQUIRE_THAT(error, Catch::Contains("EFBIG") && Catch::Contains(file));
    REQUIRE(std::count(error.begin(), error.end(), '\n') == 0);
    REQUIRE_FALSE(has_temporaries(file));
  }
  REQUIRE(bytes_of(path) == before);
  REQUIRE(bytes_of(npz) == npz_before);
  REQUIRE(h5::verify_file(path).verified());
}

TEST_CASE("durable: text files are replaced whole, and a missing folder is named", "[io][durable]") {
  const auto path = durable_path("report.json");
  write_text_file(path, "{\"a\": 1}\n", "output.json");
  REQUIRE(bytes_of(path).size() == 9);
  REQUIRE_THROWS_WITH(write_text_file(durable_path("no/such/folder.json"), "x", "output.json"),
                      Catch::Contains("output.json") && Catch::Contains("folder does not exist"));
}
