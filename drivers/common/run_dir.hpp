// drivers/common/run_dir.hpp — a training run's directory of ckpt-<step>.h5 files, shared by the trainers.
//
//   auto run = ibq::cli::RunDirectory::open(dir, resume, overwrite, comm);   // before loading anything
//   if (!run.resume_from.empty()) trainer.resume(run.resume_from); else run.clear_old();
//   auto path = run.save(step, keep, [&](const std::string& p) { trainer.save(p, config); });
//
// train.resume = auto continues from the newest good checkpoint (unless output.overwrite), never starts afresh
// (refusing a directory that holds checkpoints, so nothing good is lost by accident), and a path resumes
// from that file. Rank 0 decides and tells the others; only rank 0 writes, each file durably.
//
// Crash safety: every candidate is verified before resume trusts it (ibq/io/h5_verify.hpp: checksums,
// manifest, format), newest first; a damaged one is renamed to ckpt-<step>.h5.damaged, with a warning that
// names it and why, so it neither resumes nor counts in rotation. A new checkpoint is re-opened and
// verified before rotation deletes older ones, so the last good checkpoint always exists. Temporary files
// a killed run left behind are removed at start.
#pragma once

#include <algorithm>
#include <filesystem>
#include <functional>
#include <iostream>
#include <iomanip>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "ibq/core/error.hpp"
#include "ibq/dist/communicator.hpp"
#include "ibq/io/h5_verify.hpp"

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

  // Why a checkpoint cannot be resumed from ("" if it can): damaged, or not an ibq checkpoint at all.
  // One written without checksums (by an older ibq) is trusted, with a note: it cannot be checked.
  static std::string unusable(const fs::path& path) {
    const auto v = h5::verify_file(path.string());
    if (!v.intact()) return v.problem;
    const h5::File f(path.string(), h5::File::Mode::read);
    if (!f.has_attr("/", "format") || f.attr_string("/", "format") != "ibq-checkpoint")
      return "'" + path.string() + "' is not an ibq checkpoint (no format=\"ibq-checkpoint\" attribute)";
    if (!v.verified())
      std::cerr << "ibq: note: " << path.string() << " carries no checksums (written by an older ibq); resuming "
                << "from it unverified\n";
    return "";
  }

  // Removes what a killed writer left: ckpt-<step>.h5.tmp.<pid> files (one writer per run directory).
  static void remove_temporaries(const fs::path& dir) {
    const std::regex name("ckpt-[0-9]+\\.h5\\.tmp\\.[0-9]+");
    if (!fs::is_directory(dir)) return;
    std::vector<fs::path> stale;
    for (const auto& e : fs::directory_iterator(dir))
      if (std::regex_match(e.path().filename().string(), name)) stale.push_back(e.path());
    for (const auto& p : stale) {
      std::cerr << "ibq: removing " << p.string() << ", a checkpoint a stopped run did not finish\n";
      fs::remove(p);
    }
  }

  static RunDirectory open(const fs::path& dir, const std::string& resume, bool overwrite,
                           const dist::Communicator& comm) {
    RunDirectory r;
    r.dir = dir;
    r.comm = &comm;
    if (comm.root()) remove_temporaries(dir);
    r.existing = checkpoints(dir);
    if (!comm.root()) {
    } else if (resume == "auto") {
      if (!overwrite) r.resume_from = r.newest_good();
    } else if (resume != "never") {
      IBQ_CHECK(fs::exists(resume), "train.resume: checkpoint '" << resume << "' does not exist");
      const std::string why = unusable(resume);
      IBQ_CHECK(why.empty(), "train.resume: cannot resume from it: " << why);
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

  // The newest checkpoint that verifies, newest first; damaged ones are set aside (renamed *.damaged) with
  // a warning. "" if there are none; an error if there are some and none is good.
  std::string newest_good() {
    std::vector<std::string> reasons;
    for (auto it = existing.rbegin(); it != existing.rend(); ++it) {
      const std::string why = unusable(*it);
      if (why.empty()) {
        const std::string good = it->string();
        existing.erase(it.base(), existing.end());  // the damaged ones are gone from the directory's list
        return good;
      }
      const fs::path aside = it->string() + ".damaged";
      std::cerr << "ibq: warning: skipping " << it->string() << ": " << why << "; moved to " << aside.string()
                << "\n";
      fs::rename(*it, aside);
      reasons.push_back(why);
    }
    IBQ_CHECK(reasons.empty(), "train.resume=auto: none of the " << reasons.size() << " checkpoints in '"
                                   << dir.string() << "' is intact (they are now *.damaged; the newest: "
                                   << reasons.front() << "); start again with --output.overwrite=true, or restore "
                                   << "a copy");
    return "";
  }

  // A fresh run with output.overwrite: the old checkpoints go (only reachable when that was asked for).
  void clear_old() const {
    if (comm->root())
      for (const auto& p : existing) fs::remove(p);
  }

  // Writes ckpt-<step>.h5 through `write` (rank 0), verifies it, and only then keeps the newest `keep`;
  // every rank gets the path.
  fs::path save(long step, long keep, const std::function<void(const std::string&)>& write) const {
    const fs::path path = dir / checkpoint_name(step);
    if (!comm->root()) return path;
    write(path.string());
    const auto v = h5::verify_file(path.string());
    IBQ_CHECK(v.verified(), "the checkpoint just written does not read back intact, so no older one was "
                            "deleted: " << (v.intact() ? h5::describe(v) : v.problem)
                            << "; check the disk (dmesg, quota) before resuming");
    auto all = checkpoints(dir);
    for (std::size_t i = 0; i + std::size_t(std::max(1L, keep)) < all.size(); ++i) fs::remove(all[i]);
    return path;
  }
};

}  // namespace ibq::cli
