// drivers/common/stop_signal.hpp — a signal asks a training loop to checkpoint and stop.
//
//   ibq::cli::StopSignals stop;                 // SIGUSR1 (SLURM's --signal warning), SIGTERM (preemption,
//   while (...) {                               // scancel), SIGINT (Ctrl-C)
//     step();
//     if (stop.requested()) { save(); return ibq::cli::StopSignals::exit_status; }
//   }
//
// The handler only records the signal; the loop acts on it between steps, so a checkpoint is never
// written from a handler or half-way through a step. A second SIGINT/SIGTERM ends the process at once
// (the handler is reset to the default after the first).
#pragma once

#include <csignal>
#include <string>

namespace ibq::cli {

class StopSignals {
 public:
  // A run stopped by a signal exits with this status after its checkpoint: not finished, resumable.
  static constexpr int exit_status = 3;

  StopSignals() {
    caught() = 0;
    for (int s : {SIGUSR1, SIGTERM, SIGINT}) std::signal(s, &StopSignals::on_signal);
  }
  ~StopSignals() {
    for (int s : {SIGUSR1, SIGTERM, SIGINT}) std::signal(s, SIG_DFL);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  int signal() const { return caught(); }  // 0: none yet
  static std::string name(int s) {
    return s == SIGUSR1 ? "SIGUSR1" : s == SIGTERM ? "SIGTERM" : s == SIGINT ? "SIGINT" : std::to_string(s);
  }

 private:
  static volatile std::sig_atomic_t& caught() {
    static volatile std::sig_atomic_t s = 0;
    return s;
  }
  static void on_signal(int s) {
    caught() = s;
    if (s != SIGUSR1) std::signal(s, SIG_DFL);
  }
};

}  // namespace ibq::cli
