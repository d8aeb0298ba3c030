// drivers/common/progress.hpp — progress for long work: a live bar on a terminal, plain lines in logs.
//
//   ibq::cli::Progress bar("epoch 1/4", total_steps);
//   for (...) { ...; bar.update(step + 1, "loss 0.412"); }
//   bar.finish("loss 0.398");
//
// On a terminal (stderr is a tty) the bar redraws in place with rate and ETA. Under SLURM or in a pipe it
// prints one plain line every `log_every_s` seconds instead, so logs stay readable and greppable.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace ibq::cli {

class Progress {
 public:
  // quiet: print nothing (ranks other than 0 of an MPI run).
  Progress(std::string label, long total, double log_every_s = 10.0, bool quiet = false)
      : label_(std::move(label)), total_(total), log_every_s_(log_every_s), tty_(isatty(fileno(stderr)) == 1),
        quiet_(quiet), start_(clock::now()), last_(start_) {}

  void update(long done, const std::string& status = "") {
    const auto now = clock::now();
    const double since = seconds(last_, now);
    if (tty_ ? since < 0.1 : since < log_every_s_) return;
    last_ = now;
    print(done, status, false);
  }
  void finish(const std::string& status = "") { print(total_, status, true); }
  double elapsed() const { return seconds(start_, clock::now()); }

 private:
  using clock = std::chrono::steady_clock;
  static double seconds(clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

  void print(long done, const std::string& status, bool final) const {
    if (quiet_) return;
    const double t = elapsed();
    const double rate = t > 0 ? done / t : 0;
    const double eta = rate > 0 ? (total_ - done) / rate : 0;
    const double frac = total_ > 0 ? double(done) / total_ : 1;
    if (tty_) {
      const int width = 30, filled = int(frac * width);
      std::fprintf(stderr, "\r%s [%.*s%*s] %ld/%ld %.1f it/s ETA %s %s\x1b[K%s", label_.c_str(), filled,
                   "##############################", width - filled, "", done, total_, rate, clock_str(eta).c_str(),
                   status.c_str(), final ? "\n" : "");
    } else {
      std::fprintf(stderr, "%s %ld/%ld (%.0f%%) %.1f it/s elapsed %s ETA %s %s\n", label_.c_str(), done, total_,
                   100 * frac, rate, clock_str(t).c_str(), clock_str(eta).c_str(), status.c_str());
    }
    std::fflush(stderr);
  }
  static std::string clock_str(double s) {
    char buf[32];
    const long x = long(s + 0.5);
    std::snprintf(buf, sizeof buf, "%ld:%02ld", x / 60, x % 60);
    return buf;
  }

  std::string label_;
  long total_;
  double log_every_s_;
  bool tty_, quiet_;
  clock::time_point start_, last_;
};

}  // namespace ibq::cli
