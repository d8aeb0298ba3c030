// ibq/autodiff/op_profile.hpp — where a training step's time goes: seconds per (region, op), forward and backward.
//
//   ibq::OpProfile prof;
//   tape.profile_into(&prof);                      // from now on the tape fences and times every op
//   { auto r = tape.region("encoder"); ... }       // ops recorded inside are attributed to "encoder"
//   tape.backward(loss);                           // each node's backward is timed under its op and region
//   for (auto& [key, s] : prof.forward) ...        // key = {region, op}
//
// Forward time is measured between consecutive recorded ops: an op's kernels run just before it is recorded,
// so the interval since the previous record is its cost (plus any glue code in between, which is honest to
// count somewhere). Every measurement fences, so a profiled step is slower than an unprofiled one; compare
// shares, and time the step itself without a profile.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <utility>

namespace ibq {

struct OpProfile {
  using key_type = std::pair<std::string, std::string>;  // region ("" outside any), op name
  std::map<key_type, double> forward, backward;           // seconds, summed over calls
  std::chrono::steady_clock::time_point mark = std::chrono::steady_clock::now();

  // Seconds since the last mark, and a new mark.
  double lap() {
    const auto now = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(now - mark).count();
    mark = now;
    return s;
  }
  void clear() {
    forward.clear();
    backward.clear();
    mark = std::chrono::steady_clock::now();
  }
};

}  // namespace ibq
