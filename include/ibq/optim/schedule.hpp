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

namespace ibq {

// The AR model's per-step learning rate (docs/math.md; VAR's `lr_wd_annealing`, type lin0): a
// linear warm-up from wp0 x peak to peak over `warmup` steps, flat for the first `flat` fraction of the
// remaining steps, then linear down to wpe x peak at the last step (total - 1).
inline double ar_lr(double peak, long step, long total, long warmup, double wp0 = 0.005, double wpe = 0.1,
                    double flat = 0.05) {
  if (step < warmup) return peak * (wp0 + (1 - wp0) * double(step) / double(warmup));
  const long span = total - 1 - warmup;
  if (span <= 0) return peak;
  const double passed = std::fmin(1.0, double(step - warmup) / double(span));
  if (passed < flat) return peak;
  return peak * (wpe + (1 - wpe) * (1 - passed) / (1 - flat));
}

// Its weight decay: a half cosine from `start` at step 0 to `end` at the last step (end = start: constant).
inline double cosine_weight_decay(double start, double end, long step, long total) {
  const double passed = total > 1 ? std::fmin(1.0, double(step) / double(total - 1)) : 1.0;
  return end + (start - end) * (0.5 + 0.5 * std::cos(3.141592653589793 * passed));
}

}  // namespace ibq
