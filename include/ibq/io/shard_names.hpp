// ibq/io/shard_names.hpp — the file names of a sharded dataset: OUT.h5 -> OUT-00000.h5, OUT-00001.h5, ...
//
//   ibq::shard_path("data/train.h5", 3);          // "data/train-00003.h5"
//   for (auto& f : ibq::list_shards("data/train.h5")) ibq::ImageShard shard(f);   // every shard, in order
//
// Five digits keep the names sorting in shard order up to 100000 shards (ImageNet at 1000 images a shard
// needs 1282).
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace ibq {

inline std::string shard_path(const std::string& base, long index) {
  const bool h5 = base.size() > 3 && base.compare(base.size() - 3, 3, ".h5") == 0;
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "-%05ld.h5", index);
  return (h5 ? base.substr(0, base.size() - 3) : base) + suffix;
}

// The shards of `base` that exist now (any index, gaps included), sorted by index.
inline std::vector<std::string> list_shards(const std::string& base) {
  namespace fs = std::filesystem;
  const fs::path first(shard_path(base, 0));
  const std::string name = first.filename().string();
  const std::string prefix = name.substr(0, name.size() - 8);  // up to and including the '-' of "-00000.h5"
  const auto is_shard = [&](const std::string& n) {
    return n.size() == name.size() && n.compare(0, prefix.size(), prefix) == 0 &&
           n.compare(n.size() - 3, 3, ".h5") == 0 &&
           std::all_of(n.begin() + long(prefix.size()), n.end() - 3, [](unsigned char c) { return std::isdigit(c); });
  };
  std::vector<std::string> found;
  std::error_code ec;
  const fs::path dir = first.has_parent_path() ? first.parent_path() : fs::path(".");
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (is_shard(it->path().filename().string()))
      found.push_back((first.parent_path() / it->path().filename()).string());
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace ibq
