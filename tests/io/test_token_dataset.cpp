// Token datasets: write, append, shards read as one set, refusals; SHA-256 against known digests.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "ibq/io/sha256.hpp"
#include "ibq/io/token_dataset.hpp"

using namespace ibq;
namespace fs = std::filesystem;

namespace {
// Scratch files live in the build tree, never in the working directory.
std::string scratch(const std::string& name) { return std::string(IBQ_BINARY_DIR) + "/" + name; }

TokenDatasetInfo info_of(const std::string& hash = "ab12") {
  TokenDatasetInfo i;
  i.grid_h = 2, i.grid_w = 3, i.codebook_size = 50;
  i.tokenizer_checkpoint = "/runs/x/ckpt.h5", i.tokenizer_sha256 = hash, i.source = "test", i.config = "[model]\n";
  return i;
}
// Grids whose codes encode (image, position), labels = image % 10.
void grids(index_t first, index_t n, std::vector<std::int32_t>& t, std::vector<std::int32_t>& l) {
  t.clear(), l.clear();
  for (index_t i = first; i < first + n; ++i) {
    for (int p = 0; p < 6; ++p) t.push_back(std::int32_t((i * 6 + p) % 50));
    l.push_back(std::int32_t(i % 10));
  }
}
}  // namespace

TEST_CASE("SHA-256 matches the FIPS 180-4 examples and sha256sum") {
  CHECK(sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string path = scratch("test_sha256.bin");
  std::string big(200000, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = char(i * 31 % 251);
  std::ofstream(path, std::ios::binary) << big;
  CHECK(sha256_file(path) == sha256(big));
  REQUIRE_THROWS_WITH(sha256_file("no_such_file.bin"), Catch::Contains("cannot read 'no_such_file.bin'"));
}

TEST_CASE("a token dataset is written, appended to and read back; shards read as one set") {
  const std::string a = scratch("test_tokens_a.h5");
  std::vector<std::int32_t> t, l, rt, rl;
  {
    TokenWriter w(a, info_of());
    grids(0, 7, t, l);
    w.add(t.data(), l.data(), 7);
    w.commit();
  }
  {
    TokenWriter w(a, info_of(), /*append=*/true);
    REQUIRE(w.count() == 7);
    grids(7, 5, t, l);
    w.add(t.data(), l.data(), 5);
    w.commit();
  }
  const TokenDataset d(a);
  REQUIRE(d.count() == 12);
  CHECK(d.info().tokenizer_sha256 == "ab12");
  CHECK(d.info().grid_w == 3);
  d.read(5, 4, rt, rl);
  grids(5, 4, t, l);
  CHECK(rt == t);
  CHECK(rl == l);

  // Two shards of one set: rows across the boundary.
  const std::string b = scratch("test_tokens_b.h5");
  {
    TokenWriter w(b, info_of());
    grids(12, 3, t, l);
    w.add(t.data(), l.data(), 3);
    w.commit();
  }
  const TokenDataset both({a, b});
  REQUIRE(both.count() == 15);
  both.read(10, 5, rt, rl);
  grids(10, 5, t, l);
  CHECK(rt == t);
  CHECK(rl == l);
  REQUIRE_THROWS_WITH(both.read(14, 2, rt, rl), Catch::Contains("out of range"));
}

TEST_CASE("token datasets refuse other tokenizers, bad codes and non-datasets; an unfinished write keeps the old file") {
  const std::string a = scratch("test_tokens_c.h5");
  std::vector<std::int32_t> t, l;
  grids(0, 4, t, l);
  {
    TokenWriter w(a, info_of());
    w.add(t.data(), l.data(), 4);
    w.commit();
  }
  REQUIRE_THROWS_WITH(TokenWriter(a, info_of("ffff"), true), Catch::Contains("holds tokens of another tokenizer"));
  {
    TokenWriter w(a, info_of(), true);
    t[3] = 50;
    REQUIRE_THROWS_WITH(w.add(t.data(), l.data(), 4), Catch::Contains("code 50 is outside [0, 50)"));
    t[3] = 3;
    w.add(t.data(), l.data(), 4);
    // destroyed without commit: the append is dropped
  }
  CHECK(TokenDataset(a).count() == 4);
  for (const auto& e : fs::directory_iterator(IBQ_BINARY_DIR))
    CHECK(e.path().filename().string().find("test_tokens_c.h5.tmp") == std::string::npos);
  {
    TokenWriter w(scratch("test_tokens_d.h5"), info_of("ffff"));
    w.add(t.data(), l.data(), 4);
    w.commit();
  }
  REQUIRE_THROWS_WITH(TokenDataset({a, scratch("test_tokens_d.h5")}), Catch::Contains("comes from another tokenizer"));
  {
    h5::File f(scratch("test_tokens_e.h5"), h5::File::Mode::create);
    f.write("tokens", std::vector<std::int32_t>{1, 2}, {2});
  }
  REQUIRE_THROWS_WITH(TokenDataset(scratch("test_tokens_e.h5")), Catch::Contains("is not an ibq token dataset"));
}
