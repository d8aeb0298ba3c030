// ibq/train/tokenizer.hpp — the tokenizer's training step and state (the drivers stay thin).
//
//   ibq::Tokenizer<float> model(model_cfg, seed);
//   ibq::TokenizerTrainer<float> trainer(model, train_set, train_cfg);
//   while (trainer.step_count() < train_cfg.steps) { auto s = trainer.step(); ... }
//   trainer.save("run/ckpt.h5", {"tokenizer", ...});      // params, ema, optim, rng, metrics
//   trainer.resume("run/ckpt.h5");                        // exact: the next step is the one that was next
//
// One step (ibq-spec.md section 4, without the GAN terms until they land): forward, loss
//   L = w_1 |x - x_hat|_mean + w_2 (x - x_hat)^2_mean + w_q L_Q + w_e (H_sample - H_avg)
// (the reference: w_1 = 1, w_2 = 0, w_q = 1, w_e = 0.05), backward, Adam (betas 0.5, 0.9), EMA.
// The batch of step s is a pure function of (seed, s): epoch s / steps_per_epoch of the set's
// (seed, epoch) permutation, ragged tail dropped. So resuming at step k replays exactly what an
// uninterrupted run does from k.
#pragma once

#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ibq/data/image_set.hpp"
#include "ibq/io/checkpoint.hpp"
#include "ibq/models/tokenizer.hpp"
#include "ibq/optim/adam.hpp"
#include "ibq/optim/ema.hpp"
#include "ibq/optim/schedule.hpp"

namespace ibq {

enum class LrSchedule { step_drop, cosine };

inline LrSchedule parse_lr_schedule(const std::string& s) {
  if (s == "step" || s == "constant") return LrSchedule::step_drop;
  if (s == "cosine") return LrSchedule::cosine;
  IBQ_THROW("train.lr_schedule = '" << s << "' is not a schedule; use step (constant with drops) or cosine");
}

struct TokenizerTrainConfig {
  index_t batch_size = 4;  // per process (the reference: 4 per device, 256 in total)
  long steps = 1000;       // optimizer steps in total
  double lr = 1e-4;
  double beta1 = 0.5, beta2 = 0.9;
  LrSchedule lr_schedule = LrSchedule::step_drop;
  std::vector<double> lr_drop_epochs;  // step schedule: x lr_drop_factor after each of these epochs
  double lr_drop_factor = 0.1;
  long warmup_steps = 0;  // cosine schedule: linear warm-up, then a half cosine to min_lr
  double min_lr = 0.0;
  double ema_decay = 0.999;
  double l1_weight = 1.0, l2_weight = 0.0;
  double quant_loss_weight = 1.0, entropy_loss_weight = 0.05;
  std::uint64_t seed = 1;

  void validate() const {
    IBQ_CHECK(batch_size > 0, "train.batch_size must be positive, got " << batch_size);
    IBQ_CHECK(steps > 0, "train.steps must be positive, got " << steps);
    IBQ_CHECK(lr > 0 && std::isfinite(lr), "train.lr must be a positive number, got " << lr);
    IBQ_CHECK(l1_weight >= 0 && l2_weight >= 0 && l1_weight + l2_weight > 0,
              "loss.l1_weight and loss.l2_weight must be >= 0 and not both 0");
  }
};

struct TokenizerStepStats {
  long step = 0;  // 1-based: the number of optimizer steps taken after this one
  double lr = 0, loss = 0, l1 = 0, l2 = 0, quant_loss = 0;
  double sample_entropy = 0, batch_entropy = 0, entropy_loss = 0;  // IBQ with the entropy loss only
  Tensor<std::int32_t> indices;                                     // this batch's codes
};

template <class T = float, class Space = DefaultSpace>
class TokenizerTrainer {
 public:
  TokenizerTrainer(Tokenizer<T, Space>& model, const ImageSource& train, const TokenizerTrainConfig& cfg)
      : model_(model),
        train_(train),
        cfg_(cfg),
        adam_(model.store(), AdamConfig{cfg.lr, cfg.beta1, cfg.beta2, 1e-8, 0.0, false}),
        ema_(model.store(), cfg.ema_decay) {
    cfg.validate();
    IBQ_CHECK(cfg.batch_size <= train.count,
              "train.batch_size " << cfg.batch_size << " exceeds the " << train.count << " training images");
    const auto& ae = model.config().ae;
    IBQ_CHECK(train.channels == ae.in_channels && train.height == ae.resolution && train.width == ae.resolution,
              "the training images are " << train.channels << "x" << train.height << "x" << train.width
                                         << " but the model expects " << ae.in_channels << "x" << ae.resolution << "x"
                                         << ae.resolution << " (model.in_channels, model.resolution; data.channels, "
                                                             "data.pad_to)");
    steps_per_epoch_ = long(train.count / cfg.batch_size);
  }

  double lr_at(long step) const {
    if (cfg_.lr_schedule == LrSchedule::cosine) return cosine_lr(cfg_.lr, step, cfg_.steps, cfg_.warmup_steps, cfg_.min_lr);
    return step_drop_lr(cfg_.lr, double(step / steps_per_epoch_), cfg_.lr_drop_epochs, cfg_.lr_drop_factor);
  }

  TokenizerStepStats step() {
    const long s = step_;
    const long epoch = s / steps_per_epoch_;
    if (epoch != order_epoch_) {
      order_ = train_.epoch_order(cfg_.seed, std::uint64_t(epoch));
      order_epoch_ = epoch;
    }
    TokenizerStepStats st;
    st.lr = lr_at(s);
    adam_.set_lr(st.lr);
    Tape<T, Space> tape;
    auto x = tape.leaf(train_.batch<T, Space>(order_, (s % steps_per_epoch_) * cfg_.batch_size, cfg_.batch_size));
    auto out = model_.forward(x, Rng{cfg_.seed, 0xd20900}.split(std::uint64_t(s)), /*training=*/true);
    auto diff = out.x_hat - x;
    Var<T, Space> loss;
    auto add = [&](const Var<T, Space>& term, double w) { loss = loss.defined() ? loss + w * term : w * term; };
    Var<T, Space> l1, l2;
    if (cfg_.l1_weight > 0) add(l1 = mean(abs(diff)), cfg_.l1_weight);
    if (cfg_.l2_weight > 0) add(l2 = mean(square(diff)), cfg_.l2_weight);
    add(out.quant_loss, cfg_.quant_loss_weight);
    if (out.entropy_loss.defined() && cfg_.entropy_loss_weight != 0) add(out.entropy_loss, cfg_.entropy_loss_weight);

    st.loss = scalar(loss);
    IBQ_CHECK(std::isfinite(st.loss), "tokenizer training diverged at step " << s + 1 << ": the loss is " << st.loss
                                                                           << "; lower train.lr (the reference "
                                                                              "suggests 5e-5 for small batches)");
    if (l1.defined()) st.l1 = scalar(l1);
    if (l2.defined()) st.l2 = scalar(l2);
    st.quant_loss = scalar(out.quant_loss);
    if (out.entropy_loss.defined()) {
      st.sample_entropy = scalar(out.sample_entropy);
      st.batch_entropy = scalar(out.batch_entropy);
      st.entropy_loss = scalar(out.entropy_loss);
    }
    st.indices = out.indices;
    tape.backward(loss);
    tape.clear();
    adam_.step();
    model_.store().zero_grad();
    ema_.update(model_.store());
    st.step = ++step_;
    return st;
  }

  // Appends a value to a metric series stored with the checkpoint (e.g. losses every log interval).
  void record(const std::string& series, double value) { metrics_[series].push_back(value); }

  void save(const std::string& path, const std::string& config_text) const {
    CheckpointMeta meta{"tokenizer", step_, step_ / steps_per_epoch_, config_text, 1, cfg_.seed};
    save_checkpoint(path, meta, model_.store(), &adam_, metrics_, &std::as_const(ema_).shadow());
  }

  // Restores parameters, EMA, Adam moments, the step and the metric series; the seed must match.
  CheckpointMeta resume(const std::string& path) {
    auto meta = load_checkpoint(path, "tokenizer", model_.store(), &adam_, &ema_.shadow());
    IBQ_CHECK(meta.seed == cfg_.seed, "'" << path << "' was trained with seed " << meta.seed << ", this run has train.seed = "
                                          << cfg_.seed << "; resume with the same seed to continue the same run");
    step_ = meta.step;
    metrics_ = load_checkpoint_metrics(path);
    return meta;
  }

  long step_count() const { return step_; }
  long steps_per_epoch() const { return steps_per_epoch_; }
  Ema<T, Space>& ema() { return ema_; }
  const std::map<std::string, std::vector<double>>& metrics() const { return metrics_; }

 private:
  static double scalar(const Var<T, Space>& v) { return double(v.value().item()); }

  Tokenizer<T, Space>& model_;
  const ImageSource& train_;
  TokenizerTrainConfig cfg_;
  Adam<T, Space> adam_;
  Ema<T, Space> ema_;
  long step_ = 0, steps_per_epoch_ = 1, order_epoch_ = -1;
  std::vector<index_t> order_;
  std::map<std::string, std::vector<double>> metrics_;
};

}  // namespace ibq
