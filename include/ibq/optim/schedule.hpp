// ibq/optim/schedule.hpp — learning-rate schedules as pure functions of the step.
//
//   double lr = ibq::cosine_lr(peak, step, total_steps, warmup_steps);
#pragma once

#include <cmath>

namespace ibq {

// Linear warm-up from 0 to `peak` over `warmup` steps, then a half cosine down to `floor`.
inline double cosine_lr(double peak, long step, long total, long warmup = 0, double floor = 0.0) {
  if (warmup > 0 && step < warmup) return peak * double(step + 1) / double(warmup);
  const long span = total - warmup;
  if (span <= 0) return peak;
  const double t = std::fmin(1.0, double(step - warmup) / double(span));
  return floor + (peak - floor) * 0.5 * (1.0 + std::cos(3.141592653589793 * t));
}

}  // namespace ibq
