// ibq/io/durable.hpp — files that are either complete on disk or absent: write, fsync, rename, fsync folder.
//
//   ibq::replace_file_atomically("grid.png", [&](const std::string& tmp) { write_png_to(tmp); });
//   ibq::write_text_file("eval.json", json, "output.json");
//
// A rename alone is not enough: after a power loss or a node crash the new name can point at an empty or
// partial file, because the kernel wrote the directory entry before the data. So the data is fsync'ed before
// the rename, and the folder after it (that makes the rename itself durable). This is the commit protocol of
// orbax / torchsnapshot / SQLite, reduced to one file. Every failure names the file and the cause (disk full,
// file too large, I/O error) and leaves no temporary file behind.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>

#include "ibq/core/error.hpp"

namespace ibq {

// What an errno from a write means for the user: the cause in words and what to do.
inline std::string write_failure_cause(int err) {
  switch (err) {
    case ENOSPC: return "the disk is full (ENOSPC): free space or choose another folder";
    case EDQUOT: return "the disk quota is exhausted (EDQUOT): free space or choose another folder";
    case EFBIG: return "the file is larger than this process may write (EFBIG: check `ulimit -f`)";
    case EIO: return "an I/O error (EIO): the disk or the network file system failed";
    case EROFS: return "the file system is read-only (EROFS)";
    case EACCES:
    case EPERM: return "permission denied: check the folder's permissions";
    case ENOENT: return "the folder does not exist";
    default: return std::strerror(err);
  }
}

// A unique temporary name beside `path` (same folder, so the rename is atomic). The ".tmp." infix is what
// clean-up and directory scans recognise.
inline std::string temporary_name(const std::string& path) { return path + ".tmp." + std::to_string(::getpid()); }

// Forces a file's data (or a folder's entries) to stable storage.
inline void fsync_path(const std::string& path, bool folder = false) {
  const int fd = ::open(path.c_str(), folder ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  IBQ_CHECK(fd >= 0, "cannot open '" << path << "' to sync it: " << write_failure_cause(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems cannot sync a folder (EINVAL): the rename is as durable as they make it.
  IBQ_CHECK(rc == 0 || (folder && (err == EINVAL || err == ENOTSUP)),
            "writing '" << path << "' failed: " << write_failure_cause(err));
}

inline std::string parent_folder(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// Calls `write(tmp)` with a temporary name beside `path`, syncs it, renames it over `path` and syncs the
// folder: an interrupted or failed write never leaves a partial file under the final name, and once this
// returns the new file survives a crash. On failure the temporary file is removed and `path` is untouched.
inline void replace_file_atomically(const std::string& path, const std::function<void(const std::string&)>& write) {
  const std::string tmp = temporary_name(path);
  try {
    write(tmp);
    fsync_path(tmp);
    IBQ_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0,
              "cannot move finished file '" << tmp << "' to '" << path << "': " << write_failure_cause(errno));
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  fsync_path(parent_folder(path), true);
}

// A small text file (JSON, Markdown, INI), durably; `key` names the option that chose the path.
inline void write_text_file(const std::string& path, const std::string& text, const std::string& key) {
  replace_file_atomically(path, [&](const std::string& tmp) {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    IBQ_CHECK(f, key << ": cannot create '" << path << "': " << write_failure_cause(errno));
    const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    const int err = errno;
    const bool closed = std::fclose(f) == 0;
    IBQ_CHECK(written && closed, key << ": writing '" << path << "' failed: "
                                     << write_failure_cause(written ? errno : err));
  });
}

}  // namespace ibq
