// ibq/train/tokenizer.hpp — the tokenizer's training step and state (the drivers stay thin).
//
//   ibq::Tokenizer<float> model(model_cfg, seed);
//   ibq::TokenizerTrainer<float> trainer(model, train_set, train_cfg);
//   while (trainer.step_count() < train_cfg.steps) { auto s = trainer.step(); ... }
//   trainer.save("run/ckpt.h5", {"tokenizer", ...});      // params, ema, optim, rng, metrics
//   trainer.resume("run/ckpt.h5");                        // exact: the next step is the one that was next
//
// One step (docs/math.md): one forward pass; with the GAN on (gan.gen_loss_weight > 0, from step
// gan.disc_start), the discriminator step first, on the detached reconstruction:
//   L_D = disc_factor (hinge(D(x), D(sg x_hat)) + w_lecam R_LeCam)       (real and fake in separate calls)
// then the generator step against the updated discriminator:
//   L = nll + w_g L_G + w_q L_Q + w_e (H_sample - H_avg),  nll = w_1 |x - x_hat|_mean + w_2 (x - x_hat)^2_mean
// (the reference: w_1 = 1, w_2 = 0, w_g = 0.1 constant, w_q = 1, w_e = 0.05, LPIPS to come), Adam (betas
// 0.5, 0.9) for each network, EMA of both. nll and L_G are evaluated on side tapes rooted at x_hat, so their
// gradients at x_hat can be weighed (the optional adaptive weight needs both) and sent through the
// generator in one backward pass: the main tape differentiates w_q L_Q + w_e H + <x_hat, g>, g = dnll/dx_hat
// + w_g dL_G/dx_hat.
// The batch of step s is a pure function of (seed, s, ranks): the s-th global batch of the set's (seed,
// epoch) permutations, this rank's share of it (ibq/dist/sharded_sampler.hpp; the epoch's tail is a smaller
// batch). So resuming at step k replays exactly what an uninterrupted run does from k.
//
// Data parallel (a Communicator of R ranks): rank 0's initial parameters are broadcast; every gradient is
// the global batch mean sum_r (n_r / n) g_r, one allreduce over each network's flat gradient buffer, so
// every rank takes the same optimizer step and holds the same bits. The mean logits that move the LeCam
// anchors, the adaptive weight's two gradients and the logged statistics are global means too; the
// discriminator's BatchNorm statistics are per rank in training, and rank 0's running buffers are
// broadcast after each step (what PyTorch's DDP does). The entropy loss's batch distribution is per rank
// (the reference) unless cfg.sync_entropy.
#pragma once

#include <array>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ibq/data/batch_reader.hpp"
#include "ibq/data/image_set.hpp"
#include "ibq/core/precision.hpp"
#include "ibq/dist/communicator.hpp"
#include "ibq/dist/sharded_sampler.hpp"
#include "ibq/gan/discriminator.hpp"
#include "ibq/gan/losses.hpp"
#include "ibq/gan/perceptual.hpp"
#include "ibq/io/checkpoint.hpp"
#include "ibq/models/tokenizer.hpp"
#include "ibq/optim/adam.hpp"
#include "ibq/optim/ema.hpp"
#include "ibq/optim/schedule.hpp"
#include "ibq/train/flat_math.hpp"
#include "ibq/train/step_stats_buffer.hpp"

namespace ibq {


enum class LrSchedule { step_drop, cosine };

inline LrSchedule parse_lr_schedule(const std::string& s) {
  if (s == "step" || s == "constant") return LrSchedule::step_drop;
  if (s == "cosine") return LrSchedule::cosine;
  IBQ_THROW("train.lr_schedule = '" << s << "' is not a schedule; use step (constant with drops) or cosine");
}

// The adversarial terms (docs/math.md). gen_loss_weight = 0 and no adaptive weight: no GAN.
struct GanTrainConfig {
  double gen_loss_weight = 0.0;  // the reference: 0.1 (its constant generator weight)
  DiscriminatorConfig disc;
  DiscLoss disc_loss = DiscLoss::hinge;
  double disc_factor = 1.0;
  long disc_start = 0;  // steps before the discriminator and L_G start
  double lecam_weight = 0.05, lecam_decay = 0.999;
  bool adaptive_weight = false;  // |grad nll| / |grad L_G| at decoder.conv_out.weight, x disc_weight
  double disc_weight = 0.4;
  bool joint_disc_call = false;  // real and fake through one discriminator call (shared BatchNorm stats)
  double disc_lr = 0.0;          // 0: the generator's learning rate and schedule

  bool enabled() const { return gen_loss_weight > 0 || adaptive_weight; }
  void validate() const {
    IBQ_CHECK(gen_loss_weight >= 0 && disc_factor >= 0 && lecam_weight >= 0 && disc_weight >= 0,
              "loss.gen_loss_weight, loss.disc_factor, loss.lecam_weight and loss.disc_weight must be >= 0");
    IBQ_CHECK(lecam_decay >= 0 && lecam_decay < 1, "loss.lecam_decay must lie in [0, 1), got " << lecam_decay);
    IBQ_CHECK(disc_start >= 0 && disc_lr >= 0, "loss.disc_start and train.disc_lr must be >= 0");
    if (enabled()) disc.validate();
  }
};

struct TokenizerTrainConfig {
  index_t batch_size = 4;  // per process (the reference: 4 per device, 256 in total)
  bool read_ahead = true;  // read the next step's images on a thread while a step computes
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
  double perceptual_weight = 0.0;  // LPIPS (the reference: 1.0); needs lpips_weights
  std::string lpips_weights;       // HDF5 file from hpc/make_lpips_weights.py
  bool lpips_dropout = false;      // dropout before the LPIPS heads in training (off, as the reference)
  GanTrainConfig gan;
  std::uint64_t seed = 1;
  bool sync_entropy = false;  // data parallel: H_avg of the global batch's mean distribution (one allreduce)
  // bf16: every forward pass of the step (generator, discriminator, LPIPS) under autocast, as Lightning's
  // bf16-mixed runs training_step; parameters, gradients and Adam stay fp32 (core/precision.hpp).
  Precision precision = Precision::fp32;

  void validate() const {
    IBQ_CHECK(batch_size > 0, "train.batch_size must be positive, got " << batch_size);
    IBQ_CHECK(steps > 0, "train.steps must be positive, got " << steps);
    IBQ_CHECK(lr > 0 && std::isfinite(lr), "train.lr must be a positive number, got " << lr);
    IBQ_CHECK(l1_weight >= 0 && l2_weight >= 0 && perceptual_weight >= 0 && l1_weight + l2_weight + perceptual_weight > 0,
              "loss.l1_weight, loss.l2_weight and loss.perceptual_weight must be >= 0 and not all 0");
    gan.validate();
  }
};

struct TokenizerStepStats {
  long step = 0;  // 1-based: the number of optimizer steps taken after this one
  double lr = 0, loss = 0, l1 = 0, l2 = 0, perceptual = 0, quant_loss = 0;
  double sample_entropy = 0, batch_entropy = 0, entropy_loss = 0;  // IBQ with the entropy loss only
  bool gan = false;  // the discriminator and L_G ran this step (GAN on and step >= disc_start)
  double d_loss = 0, lecam = 0, logits_real = 0, logits_fake = 0, g_loss = 0, gen_weight = 0;
  Tensor<std::int32_t> indices;  // this batch's codes (on rank 0: the whole global batch's, rank order)
  index_t images = 0;            // images in the global batch
  double compute_s = 0, comm_s = 0;  // this rank's wall time in local work and in MPI collectives
  double data_s = 0;  // and waiting for its images (read ahead on a thread: only what the step did not hide)
  double l1_weight = 0, l2_weight = 0, perceptual_weight = 0;
  double nll() const { return l1_weight * l1 + l2_weight * l2 + perceptual_weight * perceptual; }
};

template <class T = float, class Space = DefaultSpace>
class TokenizerTrainer {
 public:
  TokenizerTrainer(Tokenizer<T, Space>& model, const ImageSource& train, const TokenizerTrainConfig& cfg,
                   const dist::Communicator& comm = {})
      : model_(model),
        train_(train),
        cfg_(cfg),
        comm_(comm),
        sampler_(checked_count(train, cfg), comm.size(), cfg.batch_size),
        adam_(model.store(), AdamConfig{cfg.lr, cfg.beta1, cfg.beta2, 1e-8, 0.0, false}),
        ema_(model.store(), cfg.ema_decay),
        reader_(train, cfg.read_ahead) {
    const auto& ae = model.config().ae;
    IBQ_CHECK(train.channels == ae.in_channels && train.height == ae.resolution && train.width == ae.resolution,
              "the training images are " << train.channels << "x" << train.height << "x" << train.width
                                         << " but the model expects " << ae.in_channels << "x" << ae.resolution << "x"
                                         << ae.resolution << " (model.in_channels, model.resolution; data.channels, "
                                                             "data.pad_to)");
    steps_per_epoch_ = sampler_.steps_per_epoch();
    if (cfg.perceptual_weight > 0) {
      IBQ_CHECK(ae.out_ch == 1 || ae.out_ch == 3, "LPIPS compares 1- or 3-channel images; model.out_ch is " << ae.out_ch);
      LpipsConfig lc;
      lc.dropout_in_training = cfg.lpips_dropout;
      lpips_ = std::make_unique<Lpips<T, Space>>(lc, 0);
      load_lpips_weights(*lpips_, cfg.lpips_weights);
    }
    if (cfg.gan.enabled()) {
      IBQ_CHECK(cfg.gan.disc.in_channels == ae.out_ch,
                "disc.in_channels = " << cfg.gan.disc.in_channels << " but the decoder makes " << ae.out_ch
                                      << "-channel images (model.out_ch)");
      disc_ = std::make_unique<PatchDiscriminator<T, Space>>(cfg.gan.disc, cfg.seed);
      disc_adam_ = std::make_unique<Adam<T, Space>>(
          disc_->store(), AdamConfig{cfg.gan.disc_lr > 0 ? cfg.gan.disc_lr : cfg.lr, cfg.beta1, cfg.beta2, 1e-8, 0.0, false});
      disc_ema_ = std::make_unique<Ema<T, Space>>(disc_->store(), cfg.ema_decay);
      lecam_.decay = cfg.gan.lecam_decay;
    }
    broadcast_store(model_.store());
    ema_.shadow().copy_from_(model_.store().flat_values());  // the EMA starts from the broadcast values
    if (disc_) {
      broadcast_store(disc_->store());
      disc_ema_->shadow().copy_from_(disc_->store().flat_values());
    }
  }

  double lr_at(long step) const {
    if (cfg_.lr_schedule == LrSchedule::cosine) return cosine_lr(cfg_.lr, step, cfg_.steps, cfg_.warmup_steps, cfg_.min_lr);
    return step_drop_lr(cfg_.lr, double(step / steps_per_epoch_), cfg_.lr_drop_epochs, cfg_.lr_drop_factor);
  }

  TokenizerStepStats step() {
    const auto t0 = Clock::now();
    comm_s_ = 0;
    const long s = step_;
    const auto part = sampler_.at(s, comm_.rank());
    weight_ = part.weight();
    TokenizerStepStats st;
    stats_.clear();
    st.images = part.global_n;
    st.lr = lr_at(s);
    adam_.set_lr(st.lr);
    const Autocast autocast(cfg_.precision);
    Tape<T, Space> tape;
    auto x = tape.leaf(Tensor<T, Space>::from_host(
        {part.n, train_.channels, train_.height, train_.width},
        reader_.take(epoch_order(part.epoch).data() + part.begin, part.n, std::uint64_t(part.epoch))));
    if (s + 1 < cfg_.steps) {  // the next step's images, read while this one computes
      const auto next = sampler_.at(s + 1, comm_.rank());
      reader_.start(epoch_order(next.epoch).data() + next.begin, next.n, std::uint64_t(next.epoch));
    }
    // Dropout masks differ between ranks (their images differ too); rank 0 of a single process keeps the
    // stream of earlier versions.
    const Rng step_rng = Rng{cfg_.seed, 0xd20900}.split(std::uint64_t(s));
    auto out = model_.forward(x, comm_.rank() == 0 ? step_rng : step_rng.split(0x7a000 + std::uint64_t(comm_.rank())),
                              /*training=*/true, sync_entropy_hook());
    st.gan = disc_ && s >= cfg_.gan.disc_start;
    if (st.gan) disc_step(x.value(), out.x_hat.value(), s);

    // dnll / dx_hat, and with the GAN dL_G / dx_hat, on side tapes at x_hat.
    Tensor<T, Space> g_x_hat = reconstruction_grad(x.value(), out.x_hat.value(), s, st);
    if (st.gan) {
      Tape<T, Space> adv;
      auto xh = adv.leaf(out.x_hat.value(), /*requires_grad=*/true);
      auto l_g = generator_loss(disc_->forward(xh, /*training=*/true));
      keep(Stat::g_loss, l_g);
      adv.backward(l_g);
      const auto g_gan = xh.grad();
      disc_->store().zero_grad();  // L_G trains the generator only
      const T factor = T(cfg_.gan.disc_factor);
      if (cfg_.gan.adaptive_weight) {  // computed and applied on the device
        const auto w = adaptive_generator_weight_device(global_mean(last_layer_grad(out, g_x_hat)),
                                                        global_mean(last_layer_grad(out, g_gan)), cfg_.gan.disc_weight);
        stats_.keep(Stat::gen_weight, w);
        detail::axpy(factor, w, g_gan, g_x_hat);
      } else {
        detail::axpy(T(factor * cfg_.gan.gen_loss_weight), g_gan, g_x_hat);
      }
    }

    Var<T, Space> main = cfg_.quant_loss_weight * out.quant_loss;
    keep(Stat::quant_loss, out.quant_loss);
    if (out.entropy_loss.defined()) {
      keep(Stat::sample_entropy, out.sample_entropy);
      keep(Stat::batch_entropy, out.batch_entropy);
      keep(Stat::entropy_loss, out.entropy_loss);
      if (cfg_.entropy_loss_weight != 0) main = main + cfg_.entropy_loss_weight * out.entropy_loss;
    }
    main = main + sum(out.x_hat * tape.leaf(g_x_hat));  // d/dx_hat = g_x_hat
    st.indices = gather_indices(out.indices, part.placeholder);
    tape.backward(main);
    tape.clear();
    // The step's one read to the host, with the backward pass queued and before the update, so that a
    // diverged step stops before it writes NaN into the weights.
    read_stats(st);
    average_stats(st);
    st.loss = st.nll() + st.gen_weight * st.g_loss + cfg_.quant_loss_weight * st.quant_loss +
              (out.entropy_loss.defined() ? cfg_.entropy_loss_weight * st.entropy_loss : 0.0);
    // The same (global) value on every rank: all stop together.
    IBQ_CHECK(std::isfinite(st.loss), "tokenizer training diverged at step " << s + 1 << ": the loss is " << st.loss
                                                                           << "; lower train.lr (the reference "
                                                                              "suggests 5e-5 for small batches)");
    reduce_grads(model_.store());
    adam_.step();
    model_.store().zero_grad();
    ema_.update(model_.store());
    if (disc_) disc_ema_->update(disc_->store());
    // Rank 0's BatchNorm running statistics (both discriminator calls of the step have moved them).
    if (st.gan) timed([&] { comm_.broadcast(disc_->store().flat_buffers()); });
    reader_.finish();
    st.step = ++step_;
    st.comm_s = comm_s_;
    st.data_s = reader_.take_waited_s();
    st.compute_s = seconds_since(t0) - comm_s_ - st.data_s;
    return st;
  }

  // Appends a value to a metric series stored with the checkpoint (e.g. losses every log interval).
  void record(const std::string& series, double value) { metrics_[series].push_back(value); }

  void save(const std::string& path, const std::string& config_text) const {
    CheckpointMeta meta{"tokenizer", step_, step_ / steps_per_epoch_, config_text, comm_.size(), cfg_.seed};
    std::function<void(h5::File&)> disc_groups;
    if (disc_)
      disc_groups = [&](h5::File& f) {
        write_store_groups(f, "disc/", disc_->store(), disc_adam_.get(), &std::as_const(*disc_ema_).shadow());
        f.set_attr("disc", "lecam_real", lecam_.real());
        f.set_attr("disc", "lecam_fake", lecam_.fake());
      };
    save_checkpoint(path, meta, model_.store(), &adam_, metrics_, &std::as_const(ema_).shadow(), disc_groups);
  }

  // Restores parameters, EMA, Adam moments, the step and the metric series (and the discriminator with its
  // optimizer, EMA and LeCam anchors); the seed must match.
  CheckpointMeta resume(const std::string& path) {
    auto meta = load_checkpoint(path, "tokenizer", model_.store(), &adam_, &ema_.shadow());
    IBQ_CHECK(meta.seed == cfg_.seed, "'" << path << "' was trained with seed " << meta.seed << ", this run has train.seed = "
                                          << cfg_.seed << "; resume with the same seed to continue the same run");
    const h5::File f(path, h5::File::Mode::read);
    if (disc_) {
      IBQ_CHECK(f.exists("disc"), "'" << path << "' has no discriminator (disc/): it was trained without the GAN; "
                                      "resume it with loss.gen_loss_weight = 0, or start a new run");
      read_store_groups(f, path, "disc/", disc_->store(), disc_adam_.get(), &disc_ema_->shadow());
      lecam_.set(f.attr<double>("disc", "lecam_real"), f.attr<double>("disc", "lecam_fake"));
    } else {
      IBQ_CHECK(!f.exists("disc"), "'" << path << "' holds a discriminator (disc/): it was trained with the GAN; "
                                       "resume it with its loss.gen_loss_weight, or start a new run");
    }
    step_ = meta.step;
    metrics_ = load_checkpoint_metrics(path);
    return meta;
  }

  long step_count() const { return step_; }
  const dist::Communicator& comm() const { return comm_; }
  long steps_per_epoch() const { return steps_per_epoch_; }
  Ema<T, Space>& ema() { return ema_; }
  const PatchDiscriminator<T, Space>* discriminator() const { return disc_.get(); }
  const std::map<std::string, std::vector<double>>& metrics() const { return metrics_; }

 private:
  // The logged numbers of a step, in their slots of stats_ (read to the host once, in read_stats).
  struct Stat {
    enum : int { l1, l2, perceptual, quant_loss, sample_entropy, batch_entropy, entropy_loss, d_loss, lecam, g_loss,
                 logits_real, logits_fake, gen_weight, count };
  };
  void keep(int slot, const Var<T, Space>& v) const { stats_.keep(slot, v.value()); }
  void read_stats(TokenizerStepStats& st) const {
    const std::vector<double> h = stats_.read();
    st.l1 = h[Stat::l1], st.l2 = h[Stat::l2], st.perceptual = h[Stat::perceptual];
    st.quant_loss = h[Stat::quant_loss], st.sample_entropy = h[Stat::sample_entropy];
    st.batch_entropy = h[Stat::batch_entropy], st.entropy_loss = h[Stat::entropy_loss];
    if (!st.gan) return;
    st.d_loss = h[Stat::d_loss], st.lecam = h[Stat::lecam], st.g_loss = h[Stat::g_loss];
    st.logits_real = h[Stat::logits_real], st.logits_fake = h[Stat::logits_fake];
    st.gen_weight = cfg_.gan.disc_factor * (cfg_.gan.adaptive_weight ? h[Stat::gen_weight] : cfg_.gan.gen_loss_weight);
  }

  // The discriminator step on (x, sg x_hat): its own tape, Adam and zeroed gradients afterwards.
  void disc_step(const Tensor<T, Space>& x, const Tensor<T, Space>& x_hat, long s) {
    Tape<T, Space> td;
    auto real_in = td.leaf(x), fake_in = td.leaf(x_hat);
    Var<T, Space> real, fake;
    if (cfg_.gan.joint_disc_call) {
      const index_t b = x.dim(0);
      auto both = disc_->forward(concat({real_in, fake_in}, 0), /*training=*/true);
      real = slice(both, 0, 0, b);
      fake = slice(both, 0, b, 2 * b);
    } else {
      real = disc_->forward(real_in, /*training=*/true);
      fake = disc_->forward(fake_in, /*training=*/true);
    }
    // Global mean logits, kept on the device: they move the LeCam anchors, which must stay the same on every
    // rank.
    const auto logits = global_mean(detail::pack2(mean_forward(real.value()), mean_forward(fake.value())));
    stats_.keep(Stat::logits_real, logits, 0);
    stats_.keep(Stat::logits_fake, logits, 1);
    auto l_d = disc_loss(cfg_.gan.disc_loss, real, fake);
    keep(Stat::d_loss, l_d);
    if (cfg_.gan.lecam_weight > 0) {
      lecam_.update(logits);  // before the regulariser, as the reference
      auto r = lecam_loss(real, fake, lecam_);
      keep(Stat::lecam, r);
      l_d = l_d + cfg_.gan.lecam_weight * r;
    }
    td.backward(cfg_.gan.disc_factor * l_d);
    td.clear();
    reduce_grads(disc_->store());
    disc_adam_->set_lr(cfg_.gan.disc_lr > 0 ? cfg_.gan.disc_lr * lr_at(s) / cfg_.lr : lr_at(s));
    disc_adam_->step();
    disc_->store().zero_grad();
  }

  using Clock = std::chrono::steady_clock;
  static double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
  template <class F>
  void timed(F&& f) const {
    const auto t = Clock::now();
    f();
    comm_s_ += seconds_since(t);
  }

  static index_t checked_count(const ImageSource& train, const TokenizerTrainConfig& cfg) {
    cfg.validate();
    return train.count;
  }

  void broadcast_store(ParamStore<T, Space>& store) const {
    comm_.broadcast(store.flat_values());
    if (store.flat_buffers().size() > 0) comm_.broadcast(store.flat_buffers());
    store.mark_values_modified();
  }

  // g <- sum_r w_r g_r: the global batch mean, the same bits on every rank.
  void reduce_grads(ParamStore<T, Space>& store) const {
    if (!comm_.distributed()) return;
    detail::scale(store.flat_grads(), T(weight_));
    timed([&] { comm_.allreduce_sum(store.flat_grads()); });
  }
  Tensor<T, Space> global_mean(Tensor<T, Space> t) const {
    if (!comm_.distributed()) return t;
    detail::scale(t, T(weight_));
    timed([&] { comm_.allreduce_sum(t); });
    return t;
  }

  // The logged statistics as global batch means (one allreduce of a few doubles).
  void average_stats(TokenizerStepStats& st) const {
    if (!comm_.distributed()) return;
    double* fields[] = {&st.l1, &st.l2, &st.perceptual, &st.quant_loss, &st.sample_entropy, &st.batch_entropy,
                        &st.entropy_loss, &st.d_loss, &st.lecam, &st.g_loss};
    constexpr std::size_t n = sizeof(fields) / sizeof(fields[0]);
    double v[n];
    for (std::size_t i = 0; i < n; ++i) v[i] = weight_ * *fields[i];
    timed([&] { comm_.allreduce_sum(v, n); });
    for (std::size_t i = 0; i < n; ++i) *fields[i] = v[i];
  }

  // Rank 0 gets the codes of every rank's real images (for codebook usage); other ranks keep theirs.
  // A single process keeps its tensor as it is (no copy through the host on a hot path).
  Tensor<std::int32_t> gather_indices(const Tensor<std::int32_t, Space>& local, bool placeholder) const {
    if (!comm_.distributed()) return local;
    std::vector<std::int32_t> mine = placeholder ? std::vector<std::int32_t>{} : local.to_host();
    std::vector<std::int32_t> all;
    timed([&] { all = comm_.gather_to_root(mine); });
    if (!comm_.root()) return local;
    return Tensor<std::int32_t>::from_host({index_t(all.size())}, all);
  }

  // With cfg.sync_entropy: the per-rank mean code distribution becomes the global batch's.
  BatchMeanHook<T, Space> sync_entropy_hook() const {
    if (!cfg_.sync_entropy || !comm_.distributed()) return {};
    return [this](const Var<T, Space>& pbar) { return weighted_allreduce(pbar); };
  }
  // Forward: sum_r w_r v_r on every rank. Backward: the identity, because each rank's parameter gradient
  // is then weighted by w_r in reduce_grads.
  Var<T, Space> weighted_allreduce(const Var<T, Space>& v) const {
    return v.tape().record("dist_weighted_allreduce", global_mean(v.value().clone()), {v},
                           [iv = v.id()](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                             auto gx = t.grad_for(iv);
                             if (gx.defined()) detail::accumulate(gx, gy);
                           });
  }

  // d nll / d x_hat (nll = w_1 mean|x - x_hat| + w_2 mean (x - x_hat)^2), with the terms' values in st.
  Tensor<T, Space> reconstruction_grad(const Tensor<T, Space>& x, const Tensor<T, Space>& x_hat, long s,
                                       TokenizerStepStats& st) const {
    Tape<T, Space> rec;
    auto xh = rec.leaf(x_hat, /*requires_grad=*/true);
    auto diff = xh - rec.leaf(x);
    Var<T, Space> nll;
    auto add = [&](const Var<T, Space>& term, double w) { nll = nll.defined() ? nll + w * term : w * term; };
    st.l1_weight = cfg_.l1_weight, st.l2_weight = cfg_.l2_weight, st.perceptual_weight = cfg_.perceptual_weight;
    if (cfg_.l1_weight > 0) {
      auto l1 = mean(abs(diff));
      keep(Stat::l1, l1);
      add(l1, cfg_.l1_weight);
    }
    if (cfg_.l2_weight > 0) {
      auto l2 = mean(square(diff));
      keep(Stat::l2, l2);
      add(l2, cfg_.l2_weight);
    }
    if (lpips_) {  // mean LPIPS over the batch; grey images are compared as three equal channels
      auto rgb = [](const Var<T, Space>& v) { return v.shape()[1] == 3 ? v : concat({v, v, v}, 1); };
      auto p = mean(lpips_->forward(rgb(rec.leaf(x)), rgb(xh), Rng{cfg_.seed, 0x1b1b5}.split(std::uint64_t(s)),
                                    /*training=*/true));
      keep(Stat::perceptual, p);
      add(p, cfg_.perceptual_weight);
    }
    rec.backward(nll);
    if (lpips_) lpips_->store().zero_grad();  // LPIPS is frozen: its gradients are dropped
    return xh.grad();
  }

  // The gradient at decoder.conv_out.weight of a loss whose gradient at x_hat is g.
  Tensor<T, Space> last_layer_grad(const TokenizerOutput<T, Space>& out, const Tensor<T, Space>& g) const {
    const auto& conv = model_.decoder().conv_out();
    const auto& w = model_.store().value(conv.weight);
    Tensor<T, Space> gw(w.shape(), "ibq::last_layer_grad");
    // torch.autograd.grad through the last layer as it ran: in bf16 under autocast.
    conv2d_backward(out.decoder_features.value(), w, g, conv.args, Tensor<T, Space>(), gw, Tensor<T, Space>(),
                    autocast_precision<T>());
    return gw;
  }


  const std::vector<index_t>& epoch_order(long epoch) {
    const std::size_t slot = std::size_t(epoch % 2);
    if (order_epochs_[slot] != epoch) {
      orders_[slot] = train_.epoch_order(cfg_.seed, std::uint64_t(epoch));
      order_epochs_[slot] = epoch;
    }
    return orders_[slot];
  }

  Tokenizer<T, Space>& model_;
  const ImageSource& train_;
  TokenizerTrainConfig cfg_;
  dist::Communicator comm_;
  dist::ShardedSampler sampler_;
  double weight_ = 1.0;         // this rank's share of the current global batch, n_r / n
  mutable double comm_s_ = 0;   // seconds in collectives this step
  Adam<T, Space> adam_;
  Ema<T, Space> ema_;
  long step_ = 0, steps_per_epoch_ = 1;
  // The image orders of the two epochs a step and its successor read: permutations of (seed, epoch).
  std::array<std::vector<index_t>, 2> orders_;
  std::array<long, 2> order_epochs_{-1, -1};
  BatchReader<T> reader_;
  std::map<std::string, std::vector<double>> metrics_;
  std::unique_ptr<Lpips<T, Space>> lpips_;              // with perceptual_weight > 0 only
  std::unique_ptr<PatchDiscriminator<T, Space>> disc_;  // with the GAN only
  std::unique_ptr<Adam<T, Space>> disc_adam_;
  std::unique_ptr<Ema<T, Space>> disc_ema_;
  LecamAnchors<Space> lecam_;
  StepStatsBuffer<Space> stats_{Stat::count};
};

}  // namespace ibq
