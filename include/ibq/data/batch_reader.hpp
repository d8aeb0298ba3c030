// ibq/data/batch_reader.hpp — the next step's images read on a background thread while this step computes.
//
//   ibq::BatchReader<float> reader(train);
//   auto x = reader.take(rows, n, epoch);       // this step's batch: read ahead, or read now (the first step)
//   reader.start(next_rows, next_epoch);        // the next step's, on a thread, beside the forward/backward
//   ... compute ...
//   reader.finish();                            // joined before the step returns
//
// Reading (HDF5 chunks inflated, pixels cropped and normalised) overlaps the step; only the wait shows up as
// data time. The read is joined before the step ends, so nothing runs between steps: checkpoints and
// evaluations (HDF5, which Debian builds without thread safety) never meet a reader, and a stop signal
// leaves no read in flight. What is read is a pure function of (rows, epoch), so a batch read ahead equals
// the one read now: resume and MPI runs are unchanged. An error in a read ahead (a damaged shard) is raised
// when that batch is taken, as a synchronous read would raise it.
#pragma once

#include <algorithm>
#include <chrono>
#include <utility>
#include <exception>
#include <thread>
#include <vector>

#include "ibq/data/image_set.hpp"

namespace ibq {

template <class T>
class BatchReader {
 public:
  explicit BatchReader(const ImageSource& source, bool background = true) : source_(source), background_(background) {}
  BatchReader(const BatchReader&) = delete;
  BatchReader& operator=(const BatchReader&) = delete;
  ~BatchReader() { join(); }

  // Starts reading rows [0, n) of `epoch` (copied) in the background; without a background thread, nothing.
  void start(const index_t* rows, index_t n, std::uint64_t epoch) {
    join();
    if (!background_) return;
    rows_.assign(rows, rows + n);
    epoch_ = epoch;
    ready_ = false;
    error_ = nullptr;
    thread_ = std::thread([this] {
      try {
        pixels_ = source_.template host_batch<T>(rows_.data(), index_t(rows_.size()), epoch_);
      } catch (...) {
        error_ = std::current_exception();
      }
    });
    pending_ = true;
  }

  // Waits for a read in flight; the seconds spent waiting count as data time.
  void finish() {
    const auto t = std::chrono::steady_clock::now();
    join();
    waited_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }

  // The batch of rows [0, n) in `epoch`: the one read ahead when it is that batch, else read now.
  std::vector<T> take(const index_t* rows, index_t n, std::uint64_t epoch) {
    const auto t = std::chrono::steady_clock::now();
    join();
    const bool hit = ready_ && epoch_ == epoch && rows_.size() == std::size_t(n) && std::equal(rows, rows + n, rows_.begin());
    ready_ = false;
    if (hit && error_) std::rethrow_exception(std::exchange(error_, nullptr));
    std::vector<T> out = hit ? std::move(pixels_) : source_.template host_batch<T>(rows, n, epoch);
    hits_ += hit;
    waited_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    return out;
  }

  // Seconds this step's batch was waited for (read now, or the end of a read ahead), since the last call.
  double take_waited_s() {
    const double w = waited_s_;
    waited_s_ = 0;
    return w;
  }
  long hits() const { return hits_; }  // batches that were read ahead

 private:
  void join() {
    if (!pending_) return;
    thread_.join();
    pending_ = false;
    ready_ = true;
  }

  const ImageSource& source_;
  bool background_ = true;
  std::thread thread_;
  bool pending_ = false, ready_ = false;
  std::vector<index_t> rows_;
  std::uint64_t epoch_ = 0;
  std::vector<T> pixels_;
  std::exception_ptr error_;
  double waited_s_ = 0;
  long hits_ = 0;
};

}  // namespace ibq
