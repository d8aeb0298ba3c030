// ibq/io/token_dataset.hpp — HDF5 token datasets: a tokenizer's codes for a whole image set.
//
//   ibq::TokenDatasetInfo info{...};                           // grid, K, tokenizer path + SHA-256, source
//   ibq::TokenWriter w("tokens.h5", info);                     // or TokenWriter::append("tokens.h5", info)
//   w.add(tokens, labels, n);  ...  w.commit();                // atomic: nothing replaces the file before commit
//   ibq::TokenDataset d({"tokens-00000.h5", "tokens-00001.h5"});   // one file or shards, read as one set
//   auto rows = d.read(first, n);                              // int32 [n, h, w] + labels
//
// Layout (docs/formats.md): tokens int32 [N, h, w] (chunked, compressed, extendible), labels int32 [N]; root
// attributes format = "ibq-tokens", version, codebook_size, grid_h, grid_w, tokenizer_checkpoint,
// tokenizer_sha256, source, config (the tokenizer's resolved configuration). `tokens` are the centre crops;
// with ibq-tokenize --data.crops V, `crop_tokens` int32 [N, V, h, w] holds V random crops of each image
// (attributes crops = V, crop_seed), of which the AR trainer draws one per image and epoch.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ibq/io/hdf5.hpp"

namespace ibq {

inline constexpr const char* token_dataset_format = "ibq-tokens";

struct TokenDatasetInfo {
  index_t grid_h = 0, grid_w = 0;
  index_t codebook_size = 0;
  index_t crops = 0;            // random crops stored per image (crop_tokens), besides the centre crop
  std::uint64_t crop_seed = 0;  // the seed they were drawn with
  std::string tokenizer_checkpoint, tokenizer_sha256, source, config;
};

// Writes a token dataset to a temporary file beside the target; commit() renames it into place, so a
// crash or an error never leaves a half-written file where a good one was. Appending copies the existing
// file first (it must come from the same tokenizer: same hash, grid and K).
class TokenWriter {
 public:
  TokenWriter(const std::string& path, const TokenDatasetInfo& info, bool append = false)
      : path_(path), tmp_(temporary_name(path)), info_(info) {
    IBQ_CHECK(info.grid_h > 0 && info.grid_w > 0 && info.codebook_size > 0, "TokenWriter: empty grid or codebook");
    if (append) {
      check_compatible(path, info);
      std::filesystem::copy_file(path, tmp_, std::filesystem::copy_options::overwrite_existing);
      file_ = std::make_unique<h5::File>(tmp_, h5::File::Mode::read_write);
    } else {
      file_ = std::make_unique<h5::File>(tmp_, h5::File::Mode::create);
      const hsize_t chunk = hsize_t(std::max<index_t>(1, 4096 / (info.grid_h * info.grid_w)));
      file_->create_rows<std::int32_t>("tokens", {hsize_t(info.grid_h), hsize_t(info.grid_w)}, chunk);
      file_->create_rows<std::int32_t>("labels", {}, 4096);
      if (info.crops > 0) {
        file_->create_rows<std::int32_t>("crop_tokens", {hsize_t(info.crops), hsize_t(info.grid_h), hsize_t(info.grid_w)},
                                         std::max<hsize_t>(1, chunk / hsize_t(info.crops)));
        file_->set_attr("/", "crops", std::int64_t(info.crops));
        file_->set_attr("/", "crop_seed", std::int64_t(info.crop_seed));
      }
      file_->set_attr("/", "format", token_dataset_format);
      file_->set_attr("/", "version", std::int64_t(1));
      file_->set_attr("/", "codebook_size", std::int64_t(info.codebook_size));
      file_->set_attr("/", "grid_h", std::int64_t(info.grid_h));
      file_->set_attr("/", "grid_w", std::int64_t(info.grid_w));
      file_->set_attr("/", "tokenizer_checkpoint", info.tokenizer_checkpoint);
      file_->set_attr("/", "tokenizer_sha256", info.tokenizer_sha256);
      file_->set_attr("/", "source", info.source);
      file_->set_attr("/", "config", info.config);
    }
    count_ = index_t(file_->dims("labels")[0]);
  }
  ~TokenWriter() {
    if (file_) {  // not committed: drop the temporary file, keep whatever was there
      file_.reset();
      std::remove(tmp_.c_str());
    }
  }
  TokenWriter(const TokenWriter&) = delete;
  TokenWriter& operator=(const TokenWriter&) = delete;

  // n grids (n * h * w codes in [0, K)) and their labels; with crops, also the n x crops grids of the
  // images' random crops.
  void add(const std::int32_t* tokens, const std::int32_t* labels, index_t n, const std::int32_t* crop_tokens = nullptr) {
    const index_t per = info_.grid_h * info_.grid_w;
    IBQ_CHECK((crop_tokens != nullptr) == (info_.crops > 0),
              "TokenWriter: the file stores " << info_.crops << " crops per image; pass their tokens exactly then");
    check_codes(tokens, n * per);
    if (crop_tokens) check_codes(crop_tokens, n * info_.crops * per);
    file_->append_rows("tokens", tokens, hsize_t(n));
    file_->append_rows("labels", labels, hsize_t(n));
    if (crop_tokens) file_->append_rows("crop_tokens", crop_tokens, hsize_t(n));
    count_ += n;
  }
  index_t count() const { return count_; }

  // Closes, syncs and renames the file into place, then syncs the folder (ibq/io/durable.hpp): once this
  // returns the dataset survives a crash; if it throws, the old file (if any) is untouched.
  void commit() {
    replace_file_atomically(path_, [&](const std::string& tmp) {
      (void)tmp;  // the same name as tmp_: the writer has been filling it all along
      file_->finish();
      file_.reset();
    });
  }

  // Refuses to mix tokens of different tokenizers in one file.
  static void check_compatible(const std::string& path, const TokenDatasetInfo& info);

 private:
  void check_codes(const std::int32_t* codes, index_t n) const {
    for (index_t i = 0; i < n; ++i)
      IBQ_CHECK(codes[i] >= 0 && codes[i] < info_.codebook_size,
                "TokenWriter: code " << codes[i] << " is outside [0, " << info_.codebook_size << ")");
  }

  std::string path_, tmp_;
  TokenDatasetInfo info_;
  std::unique_ptr<h5::File> file_;
  index_t count_ = 0;
};

// One token dataset file, or several shards of one (same tokenizer), read as a single set.
class TokenDataset {
 public:
  explicit TokenDataset(const std::vector<std::string>& paths) {
    IBQ_CHECK(!paths.empty(), "TokenDataset: no files given");
    for (const auto& p : paths) {
      auto f = std::make_unique<h5::File>(p, h5::File::Mode::read);
      const auto i = read_info(*f, p);
      if (files_.empty()) info_ = i;
      IBQ_CHECK(i.grid_h == info_.grid_h && i.grid_w == info_.grid_w && i.codebook_size == info_.codebook_size &&
                    i.tokenizer_sha256 == info_.tokenizer_sha256,
                "token shard '" << p << "' comes from another tokenizer than '" << paths[0] << "' (grid, K or "
                                << "tokenizer hash differ); shards of one set must share them");
      IBQ_CHECK(i.crops == info_.crops && i.crop_seed == info_.crop_seed,
                "token shard '" << p << "' stores " << i.crops << " random crops per image (seed " << i.crop_seed
                                << "), '" << paths[0] << "' " << info_.crops << " (seed " << info_.crop_seed
                                << "); tokenize all shards of a set with one --data.crops and --data.crop_seed");
      const index_t n = index_t(f->dims("labels")[0]);
      starts_.push_back(count_);
      count_ += n;
      files_.push_back(std::move(f));
    }
  }
  explicit TokenDataset(const std::string& path) : TokenDataset(std::vector<std::string>{path}) {}

  index_t count() const { return count_; }
  const TokenDatasetInfo& info() const { return info_; }
  index_t tokens_per_image() const { return info_.grid_h * info_.grid_w; }

  // Rows [first, first + n) across shard boundaries: tokens [n * h * w] and labels [n].
  void read(index_t first, index_t n, std::vector<std::int32_t>& tokens, std::vector<std::int32_t>& labels) const {
    tokens = read_dataset("tokens", first, n);
    labels = read_dataset("labels", first, n);
    check_codes(tokens);
  }
  // The random crops' grids of rows [first, first + n): [n * crops * h * w] (crops > 0 only).
  std::vector<std::int32_t> read_crops(index_t first, index_t n) const {
    IBQ_CHECK(info_.crops > 0, "the token dataset stores no random crops (make them with ibq-tokenize --data.crops N)");
    auto t = read_dataset("crop_tokens", first, n);
    check_codes(t);
    return t;
  }

  static TokenDatasetInfo read_info(const h5::File& f, const std::string& path) {
    IBQ_CHECK(f.has_attr("/", "format") && f.attr_string("/", "format") == token_dataset_format,
              "'" << path << "' is not an ibq token dataset (no format = \"" << token_dataset_format
                  << "\"); make one with ibq-tokenize");
    IBQ_CHECK(f.exists("tokens") && f.exists("labels"), "token dataset '" << path << "' lacks tokens or labels");
    TokenDatasetInfo i;
    i.codebook_size = index_t(f.attr<std::int64_t>("/", "codebook_size"));
    i.grid_h = index_t(f.attr<std::int64_t>("/", "grid_h"));
    i.grid_w = index_t(f.attr<std::int64_t>("/", "grid_w"));
    i.tokenizer_checkpoint = f.attr_string("/", "tokenizer_checkpoint");
    i.tokenizer_sha256 = f.attr_string("/", "tokenizer_sha256");
    i.source = f.attr_string("/", "source");
    i.config = f.attr_string("/", "config");
    const auto d = f.dims("tokens");
    IBQ_CHECK(d.size() == 3 && index_t(d[1]) == i.grid_h && index_t(d[2]) == i.grid_w,
              "token dataset '" << path << "': tokens are not [N, " << i.grid_h << ", " << i.grid_w << "]");
    IBQ_CHECK(f.dims("labels").size() == 1 && f.dims("labels")[0] == d[0],
              "token dataset '" << path << "': " << d[0] << " token grids but " << f.dims("labels")[0] << " labels");
    if (f.exists("crop_tokens")) {
      i.crops = index_t(f.attr<std::int64_t>("/", "crops"));
      i.crop_seed = std::uint64_t(f.attr<std::int64_t>("/", "crop_seed"));
      const auto c = f.dims("crop_tokens");
      IBQ_CHECK(c.size() == 4 && c[0] == d[0] && index_t(c[1]) == i.crops && index_t(c[2]) == i.grid_h &&
                    index_t(c[3]) == i.grid_w,
                "token dataset '" << path << "': crop_tokens are not [" << d[0] << ", " << i.crops << ", " << i.grid_h
                                  << ", " << i.grid_w << "]; tokenize the images again");
    }
    return i;
  }

 private:
  std::vector<std::int32_t> read_dataset(const char* name, index_t first, index_t n) const {
    IBQ_CHECK(first >= 0 && n >= 0 && first + n <= count_,
              "token rows [" << first << ", " << first + n << ") are out of range (the set has " << count_ << ")");
    std::vector<std::int32_t> out;
    for (std::size_t s = 0; s < files_.size() && n > 0; ++s) {
      const index_t end = s + 1 < files_.size() ? starts_[s + 1] : count_;
      if (first >= end) continue;
      const index_t take = std::min(n, end - first);
      const auto t = files_[s]->read_rows<std::int32_t>(name, hsize_t(first - starts_[s]), hsize_t(take));
      out.insert(out.end(), t.begin(), t.end());
      first += take;
      n -= take;
    }
    return out;
  }
  void check_codes(const std::vector<std::int32_t>& codes) const {
    for (std::int32_t c : codes)
      IBQ_CHECK(c >= 0 && c < info_.codebook_size, "token dataset holds code " << c << " outside [0, "
                                                                             << info_.codebook_size << "): corrupt file");
  }

  std::vector<std::unique_ptr<h5::File>> files_;
  std::vector<index_t> starts_;
  index_t count_ = 0;
  TokenDatasetInfo info_;
};

inline void TokenWriter::check_compatible(const std::string& path, const TokenDatasetInfo& info) {
  const h5::File f(path, h5::File::Mode::read);
  const auto have = TokenDataset::read_info(f, path);
  IBQ_CHECK(have.tokenizer_sha256 == info.tokenizer_sha256 && have.grid_h == info.grid_h &&
                have.grid_w == info.grid_w && have.codebook_size == info.codebook_size && have.crops == info.crops &&
                have.crop_seed == info.crop_seed,
            "cannot append to '" << path << "': it holds tokens of another tokenizer or crop setting ("
                                 << have.tokenizer_checkpoint << ", sha256 " << have.tokenizer_sha256.substr(0, 12)
                                 << "..., " << have.crops << " random crops per image, seed " << have.crop_seed
                                 << "); write a new file");
}

}  // namespace ibq
