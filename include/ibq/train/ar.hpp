// ibq/train/ar.hpp — training the class-conditional AR transformer on token grids (docs/math.md).
//
//   ibq::TokenDataset data(paths);                         // from ibq-tokenize
//   ibq::ArTrainer<float> trainer(model, data, cfg, comm); // its centre crops; or any ArTokenSource
//                                                          // (ibq/train/ar_tokens.hpp): stored random crops,
//                                                          // or crops encoded on the fly
//   while (trainer.step_count() < trainer.total_steps()) auto st = trainer.step();
//   trainer.save(path, config_text);                       // params, AdamW moments, step; resume() restores
//
// A step: the global batch of the (seed, epoch) permutation, split across ranks as the tokenizer trainer
// does; mean cross-entropy of the whole sequence (label dropout 0.1, token/residual/FFN dropouts); one
// allreduce of the flat gradient (weighted n_r / n); clipping of the global norm at 1.0; AdamW (0.9, 0.95)
// with the reference's per-step learning rate (warm-up from 0.005 peak, flat 5%, linear to wpe peak) and
// weight decay (a cosine from weight_decay to weight_decay_end, or constant). The reference overwrites
// the decay of both parameter groups, so norms and biases decay too; decay_all = false keeps them out.
// A batch's grids are those the source gives for the step's epoch: a new crop of each image every epoch
// with random crops, a pure function of (seed, epoch, image) as the order is.
#pragma once

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ibq/core/precision.hpp"
#include "ibq/dist/communicator.hpp"
#include "ibq/dist/sharded_sampler.hpp"
#include "ibq/io/checkpoint.hpp"
#include "ibq/io/token_dataset.hpp"
#include "ibq/models/ar_transformer.hpp"
#include "ibq/optim/adam.hpp"
#include "ibq/optim/clip.hpp"
#include "ibq/optim/schedule.hpp"
#include "ibq/train/ar_tokens.hpp"
#include "ibq/train/flat_math.hpp"
#include "ibq/train/step_stats_buffer.hpp"

namespace ibq {

struct ArTrainConfig {
  index_t batch_size = 24;  // per rank (the reference: 24 x 32 ranks for B)
  long steps = 0;           // 0: epochs x steps per epoch
  double epochs = 300;
  double lr = 3e-4, beta1 = 0.9, beta2 = 0.95;
  double weight_decay = 0.05, weight_decay_end = 0;  // end 0: constant
  double warmup_epochs = 6, warmup_start = 0.005, final_lr = 0.1, flat_fraction = 0.05;
  double clip = 1.0;  // 0: no clipping
  bool decay_all = true;  // the reference: norms and biases decay too
  std::uint64_t seed = 0;
  Precision precision = Precision::fp32;  // bf16: autocast's products, fp32 master weights (core/precision.hpp)

  void validate() const {
    IBQ_CHECK(batch_size >= 1, "train.batch_size must be >= 1, got " << batch_size);
    IBQ_CHECK(steps > 0 || epochs > 0, "give train.steps > 0 or train.epochs > 0");
    IBQ_CHECK(lr > 0 && beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1,
              "train.lr must be > 0 and the betas in [0, 1), got lr " << lr << ", betas " << beta1 << ", " << beta2);
    IBQ_CHECK(weight_decay >= 0 && weight_decay_end >= 0 && warmup_epochs >= 0 && clip >= 0,
              "train.weight_decay, train.weight_decay_end, train.warmup_epochs and train.clip must be >= 0");
    IBQ_CHECK(warmup_start > 0 && warmup_start <= 1 && final_lr >= 0 && final_lr <= 1 && flat_fraction >= 0 &&
                  flat_fraction < 1,
              "train.warmup_start in (0, 1], train.final_lr in [0, 1] and train.flat_fraction in [0, 1) are "
              "fractions of the peak learning rate / of the run");
  }
};

struct ArStepStats {
  long step = 0;
  index_t images = 0;
  double loss = 0, grad_norm = 0, lr = 0, weight_decay = 0;
  double compute_s = 0, comm_s = 0;
  double data_s = 0;  // gathering (or encoding) the step's grids
};

template <class T = float, class Space = DefaultSpace>
class ArTrainer {
 public:
  // On a token dataset's centre crops.
  ArTrainer(ArTransformer<T, Space>& model, const TokenDataset& data, const ArTrainConfig& cfg,
            const dist::Communicator& comm = {})
      : ArTrainer(model, std::make_shared<StoredTokens>(data, false, cfg.seed), cfg, comm) {}
  // On grids from `source`, which must outlive the trainer.
  ArTrainer(ArTransformer<T, Space>& model, const ArTokenSource& source, const ArTrainConfig& cfg,
            const dist::Communicator& comm = {})
      : ArTrainer(model, std::shared_ptr<const ArTokenSource>(&source, [](const ArTokenSource*) {}), cfg, comm) {}

  ArTrainer(ArTransformer<T, Space>& model, std::shared_ptr<const ArTokenSource> source, const ArTrainConfig& cfg,
            const dist::Communicator& comm)
      : model_(model),
        cfg_(cfg),
        comm_(comm),
        source_(std::move(source)),
        sampler_(checked_count(*source_, model.config(), cfg), comm.size(), cfg.batch_size),
        adam_(model.store(), AdamConfig{cfg.lr, cfg.beta1, cfg.beta2, 1e-8, cfg.weight_decay, true}) {
    if (!cfg.decay_all) adam_.decay_matrices_only();
    per_ = source_->tokens_per_image();
    // Stored labels are checked once here; encoded ones a batch at a time.
    if (const auto* stored = dynamic_cast<const StoredTokens*>(source_.get())) check_labels(stored->labels(), model.config());
    steps_per_epoch_ = sampler_.steps_per_epoch();
    total_ = cfg.steps > 0 ? cfg.steps : long(std::ceil(cfg.epochs * double(steps_per_epoch_)));
    warmup_ = long(std::llround(cfg.warmup_epochs * double(steps_per_epoch_)));
    comm_.broadcast(model_.store().flat_values());
    model_.store().mark_values_modified();
  }

  long total_steps() const { return total_; }
  long step_count() const { return step_; }
  long steps_per_epoch() const { return steps_per_epoch_; }
  const ArTrainConfig& config() const { return cfg_; }

  double lr_at(long s) const {
    return ar_lr(cfg_.lr, s, total_, std::min(warmup_, total_), cfg_.warmup_start, cfg_.final_lr, cfg_.flat_fraction);
  }
  double weight_decay_at(long s) const {
    return cosine_weight_decay(cfg_.weight_decay, cfg_.weight_decay_end > 0 ? cfg_.weight_decay_end : cfg_.weight_decay,
                               s, total_);
  }

  ArStepStats step() {
    const auto t0 = Clock::now();
    comm_s_ = 0;
    const long s = step_;
    const auto part = sampler_.at(s, comm_.rank());
    if (part.epoch != order_epoch_) {
      order_ = epoch_permutation(source_->count(), cfg_.seed, std::uint64_t(part.epoch));
      order_epoch_ = part.epoch;
    }
    ArStepStats st;
    st.images = part.global_n;
    st.lr = lr_at(s);
    st.weight_decay = weight_decay_at(s);
    adam_.set_lr(st.lr);
    adam_.set_weight_decay(st.weight_decay);
    std::vector<std::int32_t> tok, lab;
    const auto t_data = Clock::now();
    source_->gather(order_.data() + part.begin, part.n, std::uint64_t(part.epoch), tok, lab);
    if (!dynamic_cast<const StoredTokens*>(source_.get())) check_labels(lab, model_.config());
    st.data_s = seconds_since(t_data);
    const Rng rng = Rng{cfg_.seed, 0xa5000}.split(std::uint64_t(s)).split(std::uint64_t(comm_.rank()));
    Tape<T, Space> tape;
    const Autocast autocast(cfg_.precision);  // the products of this step (backward keeps what each recorded)
    // The ids were checked on the host when the dataset was read: the step reads nothing back for them.
    auto loss = model_.loss(tape, Tensor<std::int32_t, Space>::from_host(Shape{part.n, per_}, tok),
                            Tensor<std::int32_t, Space>::from_host(Shape{part.n}, lab), true, rng, IdCheck::none);
    stats_.clear();
    stats_.keep(0, loss.value());
    const double w = part.weight();
    tape.backward(loss);
    tape.clear();
    if (comm_.distributed()) {
      detail::scale(model_.store().flat_grads(), T(w));
      timed([&] { comm_.allreduce_sum(model_.store().flat_grads()); });
    }
    if (cfg_.clip > 0) stats_.keep(1, clip_grad_norm_device(model_.store(), cfg_.clip));
    // The step's one read to the host, before the update: a diverged step stops before it writes NaN.
    const std::vector<double> h = stats_.read();
    double local = h[0] * w;
    if (comm_.distributed()) timed([&] { comm_.allreduce_sum(&local, 1); });
    st.loss = local;
    st.grad_norm = h[1];
    IBQ_CHECK(std::isfinite(st.loss), "AR training diverged at step " << s + 1 << ": the loss is " << st.loss
                                                                      << "; lower train.lr or raise train.warmup_epochs");
    adam_.step();
    model_.store().zero_grad();
    st.step = ++step_;
    st.comm_s = comm_s_;
    st.compute_s = seconds_since(t0) - comm_s_ - st.data_s;
    return st;
  }

  void record(const std::string& series, double value) { metrics_[series].push_back(value); }

  void save(const std::string& path, const std::string& config_text) const {
    CheckpointMeta meta{"ar", step_, step_ / steps_per_epoch_, config_text, comm_.size(), cfg_.seed};
    save_checkpoint(path, meta, model_.store(), &adam_, metrics_);
  }

  CheckpointMeta resume(const std::string& path) {
    auto meta = load_checkpoint(path, "ar", model_.store(), &adam_);
    IBQ_CHECK(meta.seed == cfg_.seed, "'" << path << "' was trained with seed " << meta.seed << ", this run has "
                                          << "train.seed = " << cfg_.seed << "; resume with the same seed");
    step_ = meta.step;
    metrics_ = load_checkpoint_metrics(path);
    return meta;
  }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
  template <class F>
  void timed(F&& f) {
    const auto t = Clock::now();
    f();
    comm_s_ += seconds_since(t);
  }

  // Labels index the class table (num_classes rows and the null class): checked once here, on the host.
  static void check_labels(const std::vector<std::int32_t>& labels, const ArConfig& mc) {
    for (std::size_t i = 0; i < labels.size(); ++i)
      IBQ_CHECK(labels[i] >= 0 && labels[i] <= mc.num_classes,
                "the token dataset's label " << labels[i] << " (image " << i << ") is outside [0, " << mc.num_classes
                                             << "]; set model.num_classes to the dataset's number of classes");
  }

  static index_t checked_count(const ArTokenSource& data, const ArConfig& mc, const ArTrainConfig& cfg) {
    cfg.validate();
    IBQ_CHECK(data.grid_h() == mc.grid && data.grid_w() == mc.grid && data.codebook_size() == mc.vocab_size,
              "the token dataset holds " << data.grid_h() << "x" << data.grid_w() << " grids of K = "
                                         << data.codebook_size() << " codes, but the model expects " << mc.grid << "x"
                                         << mc.grid << " and K = " << mc.vocab_size
                                         << "; set model.grid and model.vocab_size to match");
    return data.count();
  }

  ArTransformer<T, Space>& model_;
  ArTrainConfig cfg_;
  dist::Communicator comm_;
  std::shared_ptr<const ArTokenSource> source_;
  dist::ShardedSampler sampler_;
  Adam<T, Space> adam_;
  StepStatsBuffer<Space> stats_{2};  // the loss and the gradient norm, read once a step
  index_t per_ = 0;
  long steps_per_epoch_ = 1, total_ = 0, warmup_ = 0, step_ = 0, order_epoch_ = -1;
  std::vector<index_t> order_;
  std::map<std::string, std::vector<double>> metrics_;
  double comm_s_ = 0;
};

}  // namespace ibq
