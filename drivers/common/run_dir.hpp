// drivers/common/run_dir.hpp — a training run's directory of ckpt-<step>.h5 files, shared by the trainers.
//
//   auto run = ibq::cli::RunDirectory::open(dir, resume, overwrite, comm);   // before loading anything
//   if (!run.resume_from.empty()) trainer.resume(run.resume_from); else run.clear_old();
//   auto path = run.save(step, keep, [&](const std::string& p) { trainer.save(p, config); });
//
// train.resume = auto continues from the newest checkpoint (unless output.overwrite), never starts afresh
// (refusing a directory that holds checkpoints, so nothing good is lost by accident), and a path resumes
// from that file. Rank 0 decides and tells the others; only rank 0 writes, each file atomically.
#pragma once

#include <algorithm>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "ibq/core/error.hpp"
#include "ibq/dist/communicator.hpp"

namespace ibq::cli {

namespace fs = std::filesystem;

struct RunDirectory {
  fs::path dir;
  std::string resume_from;         // empty: a fresh run
  std::vector<fs::path> existing;  // the checkpoints found at start (rank 0)
  const dist::Communicator* comm = nullptr;

  // ckpt-<step>.h5 files of a directory, oldest first.
  static std::vector<fs::path> checkpoints(const fs::path& dir) {
    std::vector<std::pair<long, fs::path>> found;
    const std::regex name("ckpt-([0-9]+)\\.h5");
    std::smatch m;
    if (fs::is_directory(dir))
      for (const auto& e : fs::directory_iterator(dir)) {
        const std::string f = e.path().filename().string();
        if (std::regex_match(f, m, name)) found.emplace_back(std::stol(m[1]), e.path());
      }
    std::sort(found.begin(), found.end());
    std::vector<fs::path> out;
    for (auto& [step, p] : found) out.push_back(p);
    return out;
  }

  static std::string checkpoint_name(long step) {
    std::ostringstream s;
    s << "ckpt-" << std::setw(8) << std::setfill('0') << step << ".h5";
    return s.str();
  }

  static RunDirectory open(const fs::path& dir, const std::string& resume, bool overwrite,
                           const dist::Communicator& comm) {
    RunDirectory r;
    r.dir = dir;
    r.comm = &comm;
    r.existing = checkpoints(dir);
    if (!comm.root()) {
    } else if (resume == "auto") {
      if (!r.existing.empty() && !overwrite) r.resume_from = r.existing.back().string();
    } else if (resume != "never") {
      IBQ_CHECK(fs::exists(resume), "train.resume: checkpoint '" << resume << "' does not exist");
      r.resume_from = resume;
    } else {
      IBQ_CHECK(r.existing.empty() || overwrite,
                "output.dir '" << dir.string() << "' already holds checkpoints; resume with train.resume=auto, "
                               << "or pass --output.overwrite=true to delete them, or choose another output.dir");
    }
    if (comm.root()) fs::create_directories(dir);
    comm.broadcast(r.resume_from);
    return r;
  }

  // A fresh run with output.overwrite: the old checkpoints go (only reachable when that was asked for).
  void clear_old() const {
    if (comm->root())
      for (const auto& p : existing) fs::remove(p);
  }

  // Writes ckpt-<step>.h5 through `write` (rank 0) and keeps the newest `keep`; every rank gets the path.
  fs::path save(long step, long keep, const std::function<void(const std::string&)>& write) const {
    const fs::path path = dir / checkpoint_name(step);
    if (!comm->root()) return path;
    write(path.string());
    auto all = checkpoints(dir);
    for (std::size_t i = 0; i + std::size_t(std::max(1L, keep)) < all.size(); ++i) fs::remove(all[i]);
    return path;
  }
};

}  // namespace ibq::cli
