// Token datasets: write, append, shards read as one set, refusals; SHA-256 against known digests.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "ibq/io/sha256.hpp"
#include "ibq/io/token_dataset.hpp"
#include "ibq/train/ar_tokens.hpp"

using namespace ibq;
namespace fs = std::filesystem;

namespace {
// Scratch files live in the build tree, never in the working directory.
std::string tokens_path(const std::string& name) { return std::string(IBQ_BINARY_DIR) + "/" + name; }

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
  const std::string path = tokens_path("test_sha256.bin");
  std::string big(200000, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = char(i * 31 % 251);
  std::ofstream(path, std::ios::binary) << big;
  CHECK(sha256_file(path) == sha256(big));
  REQUIRE_THROWS_WITH(sha256_file("no_such_file.bin"), Catch::Contains("cannot read 'no_such_file.bin'"));
}

TEST_CASE("a token dataset is written, appended to and read back; shards read as one set") {
  const std::string a = tokens_path("test_tokens_a.h5");
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
  const std::string b = tokens_path("test_tokens_b.h5");
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
  const std::string a = tokens_path("test_tokens_c.h5");
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
    TokenWriter w(tokens_path("test_tokens_d.h5"), info_of("ffff"));
    w.add(t.data(), l.data(), 4);
    w.commit();
  }
  REQUIRE_THROWS_WITH(TokenDataset({a, tokens_path("test_tokens_d.h5")}), Catch::Contains("comes from another tokenizer"));
  {
    h5::File f(tokens_path("test_tokens_e.h5"), h5::File::Mode::create);
    f.write("tokens", std::vector<std::int32_t>{1, 2}, {2});
  }
  REQUIRE_THROWS_WITH(TokenDataset(tokens_path("test_tokens_e.h5")), Catch::Contains("is not an ibq token dataset"));
}

TEST_CASE("token dataset: random crops' grids round-trip, and StoredTokens draws one per image and epoch") {
  // 30 images with V = 4 crops each; crop j of image i holds code (i + 10 j) % 50 everywhere, the centre
  // grid the codes of grids() above.
  const index_t n = 30, V = 4, per = 6;
  TokenDatasetInfo info = info_of();
  info.crops = V, info.crop_seed = 9;
  const std::string path = tokens_path("test_tokens_crops.h5");
  std::vector<std::int32_t> t, l, c;
  grids(0, n, t, l);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < V; ++j) c.insert(c.end(), std::size_t(per), std::int32_t((i + 10 * j) % 50));
  {
    TokenWriter w(path, info);
    CHECK_THROWS_WITH(w.add(t.data(), l.data(), n), Catch::Contains("stores 4 crops per image"));
    w.add(t.data(), l.data(), 10, c.data());
    w.add(t.data() + 10 * per, l.data() + 10, n - 10, c.data() + 10 * V * per);
    w.commit();
  }
  const TokenDataset d(path);
  REQUIRE(d.info().crops == V);
  REQUIRE(d.info().crop_seed == 9);
  CHECK(d.read_crops(0, n) == c);
  CHECK(d.read_crops(7, 2) == std::vector<std::int32_t>(c.begin() + 7 * V * per, c.begin() + 9 * V * per));
  CHECK_THROWS_WITH(TokenWriter(path, info_of(), true), Catch::Contains("another tokenizer or crop setting"));

  // Centre crops: the file's tokens, whatever the epoch.
  const StoredTokens centre(d, /*random_crops=*/false, 5);
  std::vector<index_t> rows(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) rows[std::size_t(i)] = i;
  std::vector<std::int32_t> got, labels;
  centre.gather(rows.data(), n, 3, got, labels);
  CHECK(got == t);
  CHECK(labels == l);
  CHECK(centre.describe() == "the centre crops (data.crop = center)");

  // Random crops: image i in epoch e is crop stored_crop_choice(seed, e, i); every crop gets drawn, epochs
  // differ, and the same (seed, epoch) draws alike.
  const StoredTokens random(d, true, 5);
  REQUIRE(random.random_crops());
  std::vector<int> drawn(std::size_t(V), 0);
  std::vector<std::int32_t> epoch0;
  for (std::uint64_t e = 0; e < 20; ++e) {
    got.clear(), labels.clear();
    random.gather(rows.data(), n, e, got, labels);
    CHECK(labels == l);
    for (index_t i = 0; i < n; ++i) {
      const index_t j = stored_crop_choice(5, e, i, V);
      REQUIRE((j >= 0 && j < V));
      ++drawn[std::size_t(j)];
      INFO("epoch " << e << " image " << i);
      REQUIRE(got[std::size_t(i * per)] == (i + 10 * j) % 50);
    }
    if (e == 0) epoch0 = got;
    else CHECK(got != epoch0);
  }
  for (int k : drawn) CHECK(std::abs(k - 150) < 5 * std::sqrt(150.0 * 0.75));  // 600 draws over 4 crops
  std::vector<std::int32_t> again, l2;
  random.gather(rows.data(), n, 0, again, l2);
  CHECK(again == epoch0);
  CHECK(random.describe() == "one of 4 stored random crops per image and epoch");

  // Shards of one set must store the same crops.
  const std::string plain = tokens_path("test_tokens_plain.h5");
  {
    TokenWriter w(plain, info_of());
    w.add(t.data(), l.data(), n);
    w.commit();
  }
  CHECK_THROWS_WITH(TokenDataset({path, plain}), Catch::Contains("stores 0 random crops per image"));
  const StoredTokens none(TokenDataset(plain), true, 5);
  CHECK_FALSE(none.random_crops());
  CHECK(none.describe() == "the centre crops (the file stores no random crops)");
}
