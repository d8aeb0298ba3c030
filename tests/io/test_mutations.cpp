// Mutation tests of every reader: seeded truncations, bit flips, byte overwrites and 8-byte bursts (a size
// field set to 0xff..., a shape claiming 2^60 elements) of a valid file. Each case must end either in a
// successful read or in ibq::Error — never a crash, a hang, another exception or a sanitizer report (the
// sanitizer stage of CI runs these). Formats that carry checksums (ibq's HDF5 files, PNG, gzip) must also
// never return changed data: a mutation is either harmless (unused bytes) or reported. npz members are
// checked against the zip's CRC-32 when read whole. JPEG has no checksum: a changed image is all it can give.
//
// Replay one case: the INFO line names the format, the case number and the mutation.
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>

#include "test_util.hpp"
#include "ibq/io/checkpoint.hpp"
#include "ibq/io/idx.hpp"
#include "ibq/io/image_shard.hpp"
#include "ibq/io/npz.hpp"
#include "ibq/io/png.hpp"
#include "ibq/io/jpeg.hpp"
#include "ibq/io/token_dataset.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
std::string mutation_path(const std::string& name) { return std::string(IBQ_BINARY_DIR) + "/test_mutation_" + name; }

using Bytes = std::vector<char>;

// One mutation of a valid file, described so that a failure can be replayed.
std::string mutate(Bytes& b, std::mt19937_64& rng) {
  const std::size_t n = b.size();
  std::uniform_int_distribution<std::size_t> at(0, n - 1);
  switch (rng() % 4) {
    case 0: {
      const std::size_t keep = rng() % n;
      b.resize(keep);
      return "truncated to " + std::to_string(keep) + " bytes";
    }
    case 1: {
      const std::size_t i = at(rng);
      const int bit = int(rng() % 8);
      b[i] = char(b[i] ^ (1 << bit));
      return "bit " + std::to_string(bit) + " of byte " + std::to_string(i) + " flipped";
    }
    case 2: {
      const std::size_t i = at(rng);
      b[i] = char(rng());
      return "byte " + std::to_string(i) + " overwritten";
    }
    default: {
      const std::size_t i = at(rng);
      const char fill = rng() % 2 ? char(0xff) : char(0x7f);
      for (std::size_t k = i; k < std::min(n, i + 8); ++k) b[k] = fill;
      return "8 bytes from " + std::to_string(i) + " set to " + std::to_string(int(std::uint8_t(fill)));
    }
  }
}

// Runs `cases` mutations of the file at `path` through `read`, which returns what it read (compared with
// the valid file's result when `checksummed`). Reports how many cases ended in which way.
void campaign(const std::string& format, const std::string& path, int cases, bool checksummed,
              const std::function<std::vector<double>(const std::string&)>& read) {
  const Bytes valid = bytes_of(path);
  const auto expected = read(path);
  const std::string work = path + ".mutant";
  std::mt19937_64 rng(0x1b9 + std::hash<std::string>{}(format));
  int refused = 0, harmless = 0, changed = 0;
  for (int c = 0; c < cases; ++c) {
    Bytes b = valid;
    const std::string what = mutate(b, rng);
    write_bytes(work, b);
    INFO(format << " case " << c << ": " << what);
    try {
      const auto got = read(work);
      if (got == expected) ++harmless;
      else ++changed;
      if (checksummed && got != expected) {
        std::size_t i = 0;
        while (i < got.size() && i < expected.size() && got[i] == expected[i]) ++i;
        FAIL("read back changed at value " << i << " of " << expected.size() << " (" << got.size() << " read)");
      }
    } catch (const Error&) {
      ++refused;
    }
  }
  std::cout << "mutations of " << format << ": " << cases << " cases, " << refused << " refused with a clear error, "
            << harmless << " read back unchanged, " << changed << " read back changed (no checksum)" << std::endl;
  std::remove(work.c_str());
}

std::vector<double> as_doubles(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }
template <class T>
void append(std::vector<double>& out, const std::vector<T>& v) {
  out.insert(out.end(), v.begin(), v.end());
}
}  // namespace

TEST_CASE("mutations: checkpoints refuse damage or read back exactly", "[io][mutation]") {
  const auto path = mutation_path("ckpt.h5");
  ParamStore<float, Space> store;
  store.add("encoder.weight", {16, 8}, Init::normal(0, 1));
  store.add("encoder.bias", {16}, Init::normal(0, 1));
  store.add_buffer("bn.running_var", {16}, Init::ones());
  store.allocate(5);
  Adam<float, Space> opt(store, {});
  save_checkpoint(path, {"tokenizer", 3, 0, "[model]\nK = 16\n", 1, 7}, store, &opt, {{"loss", {2.0, 1.5}}},
                  &store.flat_values());
  campaign("checkpoint", path, 300, true, [](const std::string& p) {
    ParamStore<float, Space> s;
    s.add("encoder.weight", {16, 8}, Init::zeros());
    s.add("encoder.bias", {16}, Init::zeros());
    s.add_buffer("bn.running_var", {16}, Init::zeros());
    s.allocate(1);
    Adam<float, Space> o(s, {});
    auto ema = s.flat_values().clone();
    const auto meta = load_checkpoint(p, "tokenizer", s, &o, &ema);
    std::vector<double> out{double(meta.step), double(meta.seed), double(meta.epoch), double(meta.config.size()),
                            double(o.steps())};
    append(out, s.flat_values().to_host());
    append(out, s.flat_buffers().to_host());
    append(out, o.first_moment().to_host());
    append(out, o.second_moment().to_host());
    append(out, ema.to_host());
    for (const auto& [name, series] : load_checkpoint_metrics(p)) append(out, series);
    return out;
  });
}

TEST_CASE("mutations: token datasets refuse damage or read back exactly", "[io][mutation]") {
  const auto path = mutation_path("tokens.h5");
  TokenDatasetInfo info;
  info.grid_h = 4, info.grid_w = 4, info.codebook_size = 64;
  info.tokenizer_checkpoint = "ckpt.h5", info.tokenizer_sha256 = "ab", info.source = "test", info.config = "";
  {
    TokenWriter w(path, info);
    std::vector<std::int32_t> tokens(40 * 16), labels(40);
    for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = std::int32_t(i * 7 % 64);
    for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = std::int32_t(i % 10);
    w.add(tokens.data(), labels.data(), 40);
    w.commit();
  }
  campaign("token dataset", path, 300, true, [](const std::string& p) {
    TokenDataset d(p);
    std::vector<std::int32_t> t, l;
    d.read(0, d.count(), t, l);
    std::vector<double> out{double(d.count()), double(d.info().codebook_size)};
    append(out, t);
    append(out, l);
    return out;
  });
}

TEST_CASE("mutations: image shards refuse damage or read back exactly", "[io][mutation]") {
  const auto path = mutation_path("shard.h5");
  ImageSet set;
  set.count = 6, set.channels = 3, set.height = 8, set.width = 8;
  for (int i = 0; i < 6 * 3 * 64; ++i) set.pixels.push_back(std::uint8_t(i * 13));
  set.labels = {0, 1, 2, 3, 4, 5};
  write_image_shard(path, set, "test", "a\nb\nc\nd\ne\nf");
  campaign("image shard", path, 300, true, [](const std::string& p) {
    ImageShard shard(p);
    const auto s = shard.read_all();
    std::vector<double> out = as_doubles(s.pixels);
    append(out, s.labels);
    return out;
  });
}

TEST_CASE("mutations: npz, IDX, PNG and JPEG readers refuse damage or read back exactly (JPEG: cleanly)", "[io][mutation]") {
  const auto npz = mutation_path("samples.npz");
  std::vector<std::uint8_t> pixels(4 * 6 * 6 * 3);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = std::uint8_t(i * 29);
  write_npz(npz, {{"arr_0", pixels, {4, 6, 6, 3}, "|u1"}, npz_int64("arr_1", std::vector<int>{1, 2, 3, 4})});
  campaign("npz", npz, 300, true, [](const std::string& p) {
    auto out = as_doubles(read_npz_uint8(p, "arr_0").data);
    append(out, read_npz_int64(p, "arr_1"));
    NpzRows rows(p, "arr_0");
    append(out, rows.read(1, 2));
    return out;
  });

  const auto idx = mutation_path("images.gz");
  {
    std::vector<unsigned char> raw = {0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0, 4};
    for (int i = 0; i < 5 * 16; ++i) raw.push_back(static_cast<unsigned char>(i * 3));
    gzFile f = gzopen(idx.c_str(), "wb");
    gzwrite(f, raw.data(), unsigned(raw.size()));
    gzclose(f);
  }
  // gzip carries a CRC-32, which zlib checks at the end of the stream: the reader reads to the end.
  campaign("IDX (gzip)", idx, 300, true, [](const std::string& p) { return as_doubles(read_idx_images(p).pixels); });

  std::vector<std::uint8_t> rgb(12 * 10 * 3);
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = std::uint8_t(i * 7);
  const auto png = mutation_path("image.png");
  write_png(png, rgb, 12, 10, 3);
  campaign("PNG", png, 300, true, [](const std::string& p) { return as_doubles(read_image(p).pixels); });
  const auto jpeg = mutation_path("image.jpg");
  write_jpeg(jpeg, rgb.data(), 12, 10, 3);
  campaign("JPEG", jpeg, 300, false, [](const std::string& p) { return as_doubles(read_image(p).pixels); });
}
