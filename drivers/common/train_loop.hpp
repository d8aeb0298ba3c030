// drivers/common/train_loop.hpp — what the training drivers' step loops share: where a run ends, when it
// stops early, when it checkpoints, and its last line.
//
//   ibq::cli::TrainLoop loop(trainer.step_count(), total, args, comm, stop_signals);
//   while (trainer.step_count() < loop.end()) {
//     const auto st = trainer.step();
//     loop.bar().update(st.step - loop.first(), "loss ...");
//     ... log every log.every steps and at loop.end() ...
//     if (!loop.keep_going(st.step, save)) break;     // checkpoints on the cadence, at the end, when stopping
//   }
//   return loop.finish(trainer.step_count(), save);    // exit status: 0, or StopSignals::exit_status
//
// It reads train.stop_after, train.time_limit (minutes) and output.checkpoint_every. A run stops early on
// SIGUSR1/SIGTERM/SIGINT caught by any rank, or once rank 0's clock passes the time limit; the decision is
// one allreduce, so every rank leaves the loop after the same step and they write one checkpoint together.
#pragma once

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <string>

#include "common/cli.hpp"
#include "common/progress.hpp"
#include "common/stop_signal.hpp"
#include "ibq/dist/communicator.hpp"

namespace ibq::cli {

class TrainLoop {
 public:
  TrainLoop(long done, long total, const Args& args, const dist::Communicator& comm, const StopSignals& signals)
      : total_(total),
        end_(args.get<long>("train.stop_after") > 0 ? std::min(args.get<long>("train.stop_after"), total) : total),
        first_(done),
        every_(args.get<long>("output.checkpoint_every")),
        time_limit_s_(60.0 * args.get<double>("train.time_limit")),
        comm_(comm),
        signals_(signals),
        bar_("train", end_ - done, 10.0, !comm.root()) {
    IBQ_CHECK(every_ > 0, "output.checkpoint_every must be positive, got " << every_);
  }

  long end() const { return end_; }      // train.stop_after if set, else the whole schedule
  long first() const { return first_; }  // the step the run started (or resumed) at
  Progress& bar() { return bar_; }

  // After `step`: one decision for all ranks (rank 0's clock, a signal caught by any rank); a checkpoint
  // every output.checkpoint_every steps, at the end and when stopping. False: leave the loop.
  template <class Save>
  bool keep_going(long step, const Save& save) {
    const double flags = comm_.max(double(signals_.signal() * 2 +
                                          (comm_.root() && time_limit_s_ > 0 && bar_.elapsed() >= time_limit_s_)));
    timed_out_ = long(flags) % 2 == 1;
    stopped_by_ = int(flags) / 2;
    if (step % every_ == 0 || step == end_ || timed_out_ || stopped_by_) last_ = save();
    return !(timed_out_ || stopped_by_);
  }

  // The final checkpoint (written now if the loop had nothing to do), the last line, the exit status.
  template <class Save>
  int finish(long done, const Save& save) {
    if (last_.empty()) last_ = save();
    bar_.finish("step " + std::to_string(done));
    std::cout << (stopped_by_   ? "stopped by " + StopSignals::name(stopped_by_)
                  : timed_out_  ? std::string("stopped at train.time_limit")
                  : done >= total_ ? std::string("finished")
                                   : std::string("stopped"))
              << " at step " << done << "/" << total_ << "; checkpoint " << last_.string() << "\n";
    return stopped_by_ ? StopSignals::exit_status : 0;
  }

 private:
  long total_, end_, first_, every_;
  double time_limit_s_;
  const dist::Communicator& comm_;
  const StopSignals& signals_;
  Progress bar_;
  std::filesystem::path last_;
  bool timed_out_ = false;
  int stopped_by_ = 0;
};

}  // namespace ibq::cli
