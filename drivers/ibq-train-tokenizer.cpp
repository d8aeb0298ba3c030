// ibq-train-tokenizer: trains an IBQ (or VQ) tokenizer and writes HDF5 checkpoints into a run directory.
//
//   ibq-train-tokenizer --config experiments/quickstart.ini [--section.key=value ...]
//
// A run directory holds ckpt-<step>.h5 files (params, EMA, Adam moments, step, seed, config, metrics),
// each written atomically. train.resume = auto continues from the newest one, so a restarted job picks up
// where it stopped; train.stop_after and train.time_limit end a run early with a checkpoint.
//
// Under mpirun/srun every rank trains on its share of each global batch (train.batch_size per rank) and
// rank 0 logs and writes. SIGUSR1 (SLURM's --signal warning), SIGTERM or SIGINT makes every rank stop after
// the current step; rank 0 writes a checkpoint and the program exits with status 3 (resumable).
#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "common/progress.hpp"
#include "common/run_dir.hpp"
#include "common/train_loop.hpp"
#include "common/runtime.hpp"
#include "common/stop_signal.hpp"
#include "common/tokenizer_options.hpp"
#include "ibq/quant/codebook_usage.hpp"
#include "ibq/train/tokenizer.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  ibq::settle_process_environment(argv);  // OpenBLAS kernel + OpenMP spin, before they are read
  const std::string prog = "ibq-train-tokenizer";
  return ibq::cli::run_main(prog, [&] {
    ibq::cli::Options opt(prog, "trains an IBQ/VQ tokenizer (docs/math.md) with HDF5 checkpoints");
    ibq::cli::add_data_options(opt);
    ibq::cli::add_model_options(opt);
    opt.add<double>("loss.l1_weight", 1.0, "weight of mean |x - x_hat| (the reference's reconstruction loss)")
        .add<double>("loss.l2_weight", 0.0, "weight of mean (x - x_hat)^2 (not in the reference)")
        .add<double>("loss.quant_loss_weight", 1.0, "weight of the quantization loss")
        .add<double>("loss.entropy_loss_weight", 0.05, "IBQ: weight of the entropy loss")
        .add<double>("loss.perceptual_weight", 1.0, "weight of LPIPS(x, x_hat) (the reference: 1.0; 0: no LPIPS)")
        .add<std::string>("loss.lpips_weights", "", "HDF5 file of LPIPS VGG16 weights (make it with hpc/make_lpips_weights.py)")
        .add<bool>("loss.lpips_dropout", false,
                   "dropout before the LPIPS heads while training (the reference: off, LPIPS().eval() under "
                   "Lightning 2.2; true: as under Lightning 2.1)")
        .add<double>("loss.gen_loss_weight", 0.1, "weight of the generator's GAN loss (0: no GAN, no discriminator)")
        .add<std::string>("loss.disc_loss", "hinge", "discriminator loss: hinge (the reference) or vanilla")
        .add<double>("loss.disc_factor", 1.0, "factor of both adversarial terms once disc_start is reached")
        .add<long>("loss.disc_start", 0, "optimizer steps before the discriminator and the GAN loss start")
        .add<double>("loss.lecam_weight", 0.05, "weight of the LeCam regulariser in the discriminator loss")
        .add<double>("loss.lecam_decay", 0.999, "decay of LeCam's EMA anchors of the mean real/fake logits")
        .add<bool>("loss.adaptive_weight", false, "generator weight = |grad nll| / |grad L_G| at decoder.conv_out "
                                                  "x loss.disc_weight (the reference: off, constant weight)")
        .add<double>("loss.disc_weight", 0.4, "factor of the adaptive weight")
        .add<long>("disc.ndf", 64, "discriminator width (first layer)")
        .add<long>("disc.n_layers", 3, "discriminator stride-2 layers")
        .add<bool>("disc.joint_call", false, "real and fake images through one discriminator call (the reference: two)")
        .add<double>("train.disc_lr", 0.0, "discriminator learning rate (0: train.lr), on the generator's schedule")
        .add<long>("train.batch_size", 4, "images per step (the reference: 4 per device)")
        .add<double>("train.epochs", 330, "length in epochs (used when train.steps = 0)")
        .add<long>("train.steps", 0, "length in optimizer steps (0: from train.epochs)")
        .add<double>("train.lr", 1e-4, "base learning rate")
        .add<double>("train.beta1", 0.5, "Adam beta1")
        .add<double>("train.beta2", 0.9, "Adam beta2")
        .add<std::string>("train.lr_schedule", "step", "step (constant, x lr_drop_factor after each lr_drop_epochs) or cosine")
        .add<std::string>("train.lr_drop_epochs", "250,300", "step schedule: epochs after which the lr drops (empty: none)")
        .add<double>("train.lr_drop_factor", 0.1, "step schedule: factor per drop")
        .add<long>("train.warmup_steps", 0, "cosine schedule: linear warm-up steps")
        .add<double>("train.min_lr", 0.0, "cosine schedule: final learning rate")
        .add<double>("train.ema_decay", 0.999, "EMA decay of the parameters, every step")
        .add<unsigned long>("train.seed", 1, "initialisation, data order and dropout seed")
        .add<std::string>("train.precision", "fp32", "fp32, or bf16: mixed precision as torch.autocast (bf16 products, fp32 weights and sums)")
        .add<std::string>("train.resume", "auto", "auto (newest checkpoint in output.dir, if any), never, or a checkpoint path")
        .add<long>("train.stop_after", 0, "stop (with a checkpoint) once this many steps are done (0: run to the end)")
        .add<double>("train.time_limit", 0, "stop (with a checkpoint) after this many minutes of training (0: none)")
        .add<long>("log.every", 50, "steps between log lines (losses, codebook usage, lr, throughput)")
        .add<std::string>("output.dir", "runs/tokenizer", "run directory for checkpoints")
        .add<long>("output.checkpoint_every", 1000, "steps between checkpoints (and one at the end)")
        .add<long>("output.keep", 2, "checkpoints kept in output.dir (older ones are deleted)")
        .add<bool>("output.overwrite", false, "start afresh even if output.dir holds checkpoints (they are deleted)")
        .add<bool>("dist.sync_entropy", false, "with several ranks: the entropy loss's batch distribution over the "
                                               "global batch (the reference: per rank)")
        .add<int>("runtime.threads", 0, "CPU threads (0: OMP_NUM_THREADS or all cores)")
        .add<bool>("runtime.tf32", false, ibq::cli::kTf32Help);
    const auto args = opt.parse(argc, argv);

    const auto model_cfg = ibq::cli::tokenizer_config(args);
    ibq::TokenizerTrainConfig tc;
    tc.batch_size = args.get<long>("train.batch_size");
    tc.lr = args.get<double>("train.lr");
    tc.beta1 = args.get<double>("train.beta1");
    tc.beta2 = args.get<double>("train.beta2");
    tc.lr_schedule = ibq::parse_lr_schedule(args.get<std::string>("train.lr_schedule"));
    for (long e : ibq::cli::parse_int_list(args.get<std::string>("train.lr_drop_epochs"), "train.lr_drop_epochs", true))
      tc.lr_drop_epochs.push_back(double(e));
    tc.lr_drop_factor = args.get<double>("train.lr_drop_factor");
    tc.warmup_steps = args.get<long>("train.warmup_steps");
    tc.min_lr = args.get<double>("train.min_lr");
    tc.ema_decay = args.get<double>("train.ema_decay");
    tc.l1_weight = args.get<double>("loss.l1_weight");
    tc.l2_weight = args.get<double>("loss.l2_weight");
    tc.quant_loss_weight = args.get<double>("loss.quant_loss_weight");
    tc.entropy_loss_weight = args.get<double>("loss.entropy_loss_weight");
    tc.perceptual_weight = args.get<double>("loss.perceptual_weight");
    tc.lpips_weights = args.get<std::string>("loss.lpips_weights");
    tc.lpips_dropout = args.get<bool>("loss.lpips_dropout");
    tc.gan.gen_loss_weight = args.get<double>("loss.gen_loss_weight");
    tc.gan.disc_loss = ibq::parse_disc_loss(args.get<std::string>("loss.disc_loss"));
    tc.gan.disc_factor = args.get<double>("loss.disc_factor");
    tc.gan.disc_start = args.get<long>("loss.disc_start");
    tc.gan.lecam_weight = args.get<double>("loss.lecam_weight");
    tc.gan.lecam_decay = args.get<double>("loss.lecam_decay");
    tc.gan.adaptive_weight = args.get<bool>("loss.adaptive_weight");
    tc.gan.disc_weight = args.get<double>("loss.disc_weight");
    tc.gan.disc.in_channels = model_cfg.ae.out_ch;
    tc.gan.disc.ndf = args.get<long>("disc.ndf");
    tc.gan.disc.n_layers = args.get<long>("disc.n_layers");
    tc.gan.joint_disc_call = args.get<bool>("disc.joint_call");
    tc.gan.disc_lr = args.get<double>("train.disc_lr");
    tc.seed = args.get<unsigned long>("train.seed");
    tc.read_ahead = args.get<bool>("data.read_ahead");
    tc.precision = ibq::parse_precision(args.get<std::string>("train.precision"));
    tc.sync_entropy = args.get<bool>("dist.sync_entropy");
    const long log_every = std::max(1L, args.get<long>("log.every"));
    const long keep = std::max(1L, args.get<long>("output.keep"));
    IBQ_CHECK(args.get<long>("output.checkpoint_every") > 0, "output.checkpoint_every must be positive");

    ibq::cli::apply_tf32(args);
    ibq::cli::Runtime runtime(args.get<int>("runtime.threads"));
    const auto& comm = runtime.comm();
    ibq::cli::StopSignals stop_signals;

    // Decide about the run directory before spending minutes loading and training (rank 0 decides).
    const fs::path dir = args.get<std::string>("output.dir");
    const auto run = ibq::cli::RunDirectory::open(dir, args.get<std::string>("train.resume"),
                                                  args.get<bool>("output.overwrite"), comm);
    const std::string& resume_from = run.resume_from;
    std::cerr << prog << ": " << ibq::cli::Runtime::describe() << "; " << ibq::cli::Runtime::describe(tc.precision)
              << "\n";
    const auto crop = ibq::cli::training_crop(args, tc.seed);
    const auto train_source = ibq::cli::load_tokenizer_images(args, "train", &crop);
    const ibq::ImageSource& train_set = *train_source;
    ibq::Tokenizer<float> model(model_cfg, tc.seed);
    long params = 0;
    for (const auto& [name, n] : ibq::Tokenizer<float>::parameter_counts(model_cfg)) params += n;
    tc.validate();
    const long per_epoch = ibq::dist::ShardedSampler(train_set.count, comm.size(), tc.batch_size).steps_per_epoch();
    tc.steps = args.get<long>("train.steps");
    if (tc.steps == 0) tc.steps = long(std::ceil(args.get<double>("train.epochs") * double(per_epoch)));
    ibq::TokenizerTrainer<float> trainer(model, train_set, tc, comm);
    std::cerr << prog << ": " << train_set.count << " training images " << train_set.channels << "x" << train_set.height
              << "x" << train_set.width << " (" << ibq::cli::describe_crops(train_set) << "), " << params << " parameters, K = " << model_cfg.codebook_size << ", "
              << tc.steps << " steps of " << tc.batch_size << (comm.distributed() ? " per rank x " + std::to_string(comm.size()) + " ranks" : std::string())
              << " (" << per_epoch << " per epoch)\n";
    if (const auto* d = trainer.discriminator())
      std::cerr << prog << ": GAN: PatchGAN discriminator with " << d->store().num_params() << " parameters ("
                << d->config().n_layers << " layers, ndf " << d->config().ndf << "), " << args.get<std::string>("loss.disc_loss")
                << " loss, generator weight "
                << (tc.gan.adaptive_weight ? std::string("adaptive") : ibq::cli::format_number(tc.gan.gen_loss_weight))
                << ", LeCam " << tc.gan.lecam_weight << ", from step " << tc.gan.disc_start << "\n";
    if (!resume_from.empty()) {
      const auto meta = trainer.resume(resume_from);
      std::cerr << prog << ": resumed from " << resume_from << " at step " << trainer.step_count()
                << (meta.world_size != comm.size() ? " (written by " + std::to_string(meta.world_size) + " ranks)" : "")
                << "\n";
    } else {
      run.clear_old();  // only reached with output.overwrite (checked above)
    }

    const std::string config_text = args.resolved_ini();
    auto save = [&] {  // rank 0 writes; the others only need the name
      return run.save(trainer.step_count(), keep, [&](const std::string& p) { trainer.save(p, config_text); });
    };

    ibq::cli::TrainLoop loop(trainer.step_count(), tc.steps, args, comm, stop_signals);
    ibq::CodebookUsage<> usage(model_cfg.codebook_size);
    // Window means of the step statistics, in log order (the adversarial ones only with the GAN).
    const std::vector<std::string> names = {"loss", "l1", "quant_loss", "sample_entropy", "batch_entropy", "usage_batch",
                                            "perceptual", "d_loss", "lecam", "logits_real", "logits_fake", "g_loss",
                                            "gen_weight"};
    const std::vector<std::string> labels = {"loss", "l1", "quant", "H_sample", "H_avg", "usage_batch", "lpips",
                                             "d_loss", "lecam", "logit_real", "logit_fake", "g_loss", "g_weight"};
    // Shown: the first six always, LPIPS with perceptual_weight > 0, the adversarial ones with the GAN.
    auto shown = [&](std::size_t i) { return i < 6 || (i == 6 && tc.perceptual_weight > 0) || (i > 6 && tc.gan.enabled()); };
    std::vector<double> sums(names.size(), 0.0);
    double compute_s = 0, comm_s = 0, data_s = 0, images = 0;
    long in_window = 0;
    while (trainer.step_count() < loop.end()) {
      const auto st = trainer.step();
      compute_s += st.compute_s;
      comm_s += st.comm_s;
      data_s += st.data_s;
      images += double(st.images);
      if (comm.root()) usage.update(st.indices);
      const double v[] = {st.loss, st.l1, st.quant_loss, st.sample_entropy, st.batch_entropy, usage.batch_usage(),
                          st.perceptual, st.d_loss, st.lecam, st.logits_real, st.logits_fake, st.g_loss, st.gen_weight};
      for (std::size_t i = 0; i < names.size(); ++i) sums[i] += v[i];
      ++in_window;
      std::ostringstream status;
      status << std::setprecision(4) << "loss " << st.loss << " usage " << std::fixed << std::setprecision(3)
             << usage.usage();
      loop.bar().update(st.step - loop.first(), status.str());
      if (st.step % log_every == 0 || st.step == loop.end()) {
        const double n = double(in_window);
        std::cout << std::setprecision(5) << "step " << st.step << "/" << tc.steps << " epoch "
                  << std::setprecision(3) << double(st.step) / double(per_epoch) << std::setprecision(5);
        for (std::size_t i = 0; i < 5; ++i) std::cout << " " << labels[i] << " " << sums[i] / n;
        std::cout << " usage_batch " << sums[5] / n << " usage_window " << usage.usage() << " perplexity "
                  << usage.perplexity();
        for (std::size_t i = 6; i < names.size(); ++i)
          if (shown(i)) std::cout << " " << labels[i] << " " << sums[i] / n;
        std::cout << " lr " << st.lr << " img_per_s " << std::setprecision(4) << images / (compute_s + comm_s + data_s);
        // Rank 0's wall time per step: waiting for images, local work, and (with ranks) MPI collectives.
        std::cout << " data_ms " << 1e3 * data_s / n << " compute_ms " << 1e3 * compute_s / n;
        if (comm.distributed()) std::cout << " comm_ms " << 1e3 * comm_s / n;
        std::cout << " elapsed_s " << std::fixed << std::setprecision(1) << loop.bar().elapsed() << std::defaultfloat
                  << std::endl;
        compute_s = comm_s = data_s = images = 0;
        trainer.record("step", double(st.step));
        for (std::size_t i = 0; i < names.size(); ++i)
          if (shown(i)) trainer.record(names[i], sums[i] / n);
        trainer.record("usage_window", usage.usage());
        trainer.record("perplexity", usage.perplexity());
        trainer.record("lr", st.lr);
        usage.reset();
        std::fill(sums.begin(), sums.end(), 0.0);
        in_window = 0;
      }
      if (!loop.keep_going(st.step, save)) break;
    }
    return loop.finish(trainer.step_count(), save);
  });
}
