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
// tokenizer_sha256, source, config (the tokenizer's resolved configuration).
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

  // n grids (n * h * w codes in [0, K)) and their labels.
  void add(const std::int32_t* tokens, const std::int32_t* labels, index_t n) {
    const index_t per = info_.grid_h * info_.grid_w;
    for (index_t i = 0; i < n * per; ++i)
      IBQ_CHECK(tokens[i] >= 0 && tokens[i] < info_.codebook_size,
                "TokenWriter: code " << tokens[i] << " is outside [0, " << info_.codebook_size << ")");
    file_->append_rows("tokens", tokens, hsize_t(n));
    file_->append_rows("labels", labels, hsize_t(n));
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
    IBQ_CHECK(first >= 0 && n >= 0 && first + n <= count_,
              "token rows [" << first << ", " << first + n << ") are out of range (the set has " << count_ << ")");
    tokens.clear();
    labels.clear();
    for (std::size_t s = 0; s < files_.size() && n > 0; ++s) {
      const index_t end = s + 1 < files_.size() ? starts_[s + 1] : count_;
      if (first >= end) continue;
      const index_t take = std::min(n, end - first);
      const auto t = files_[s]->read_rows<std::int32_t>("tokens", hsize_t(first - starts_[s]), hsize_t(take));
      const auto l = files_[s]->read_rows<std::int32_t>("labels", hsize_t(first - starts_[s]), hsize_t(take));
      tokens.insert(tokens.end(), t.begin(), t.end());
      labels.insert(labels.end(), l.begin(), l.end());
      first += take;
      n -= take;
    }
    for (std::int32_t c : tokens)
      IBQ_CHECK(c >= 0 && c < info_.codebook_size, "token dataset holds code " << c << " outside [0, "
                                                                             << info_.codebook_size << "): corrupt file");
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
    return i;
  }

 private:
  std::vector<std::unique_ptr<h5::File>> files_;
  std::vector<index_t> starts_;
  index_t count_ = 0;
  TokenDatasetInfo info_;
};

inline void TokenWriter::check_compatible(const std::string& path, const TokenDatasetInfo& info) {
  const h5::File f(path, h5::File::Mode::read);
  const auto have = TokenDataset::read_info(f, path);
  IBQ_CHECK(have.tokenizer_sha256 == info.tokenizer_sha256 && have.grid_h == info.grid_h &&
                have.grid_w == info.grid_w && have.codebook_size == info.codebook_size,
            "cannot append to '" << path << "': it holds tokens of another tokenizer (" << have.tokenizer_checkpoint
                                 << ", sha256 " << have.tokenizer_sha256.substr(0, 12) << "...); write a new file");
}

}  // namespace ibq
