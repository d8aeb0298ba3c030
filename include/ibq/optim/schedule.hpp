// ibq/optim/schedule.hpp — learning-rate schedules as pure functions of the step.
//
//   double lr = ibq::cosine_lr(peak, step, total_steps, warmup_steps);
//   double lr = ibq::step_drop_lr(base, step / double(steps_per_epoch), {250, 300}, 0.1);
#pragma once

#include <cmath>
#include <vector>

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

namespace ibq {

// The reference tokenizer schedule: constant, multiplied by `factor` once for every listed epoch that
// has been completed (lr_drop_epoch = [250, 300] with factor 0.1 in the ImageNet configs).
inline double step_drop_lr(double base, double completed_epochs, const std::vector<double>& drop_epochs,
                           double factor = 0.1) {
  double lr = base;
  for (double e : drop_epochs)
    if (completed_epochs >= e) lr *= factor;
  return lr;
}

}  // namespace ibq
