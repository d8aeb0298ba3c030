// ibq-train-ar: trains the class-conditional AR transformer on a token dataset (ibq-tokenize's output).
//
//   ibq-train-ar --config experiments/fashion_mnist_ar.ini [--section.key=value ...]
//
// The run directory holds ckpt-<step>.h5 files (params, AdamW moments, step, seed, config, metrics), each
// written atomically; train.resume = auto continues from the newest, train.stop_after and
// train.time_limit end a run early with a checkpoint. Under mpirun/srun each rank trains on its share of
// every global batch (train.batch_size per rank); rank 0 logs and writes. SIGUSR1, SIGTERM or SIGINT stops
// every rank after the current step with a checkpoint and exit status 3 (resumable).
//
// Tokens: the file's random crops when ibq-tokenize stored some (--data.crops V; one drawn per image and
// epoch), else its centre crops; or with data.encode_on_the_fly = true a new random crop of every image
// encoded each step by the tokenizer checkpoint data.tokenizer, as the reference (an encoder pass per
// step: the natural choice on a GPU).
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "common/ar_options.hpp"
#include "common/progress.hpp"
#include "common/run_dir.hpp"
#include "common/train_loop.hpp"
#include "common/runtime.hpp"
#include "common/stop_signal.hpp"
#include "common/tokenizer_options.hpp"
#include "ibq/io/shard_names.hpp"
#include "ibq/train/ar.hpp"

namespace fs = std::filesystem;

namespace {

// A token file, or the shards <stem>-00000.h5, ... of a stem.
std::vector<std::string> token_files(const std::string& path) {
  if (fs::exists(path)) return {path};
  auto shards = ibq::list_shards(path);
  IBQ_CHECK(!shards.empty(), "data.tokens: '" << path << "' does not exist, nor do shards of it; write it with "
                                              << "ibq-tokenize");
  return shards;
}

}  // namespace

int main(int argc, char** argv) {
  ibq::settle_process_environment(argv);  // OpenBLAS kernel + OpenMP spin, before they are read
  const std::string prog = "ibq-train-ar";
  return ibq::cli::run_main(prog, [&] {
    ibq::cli::Options opt(prog, "trains the class-conditional AR transformer (docs/math.md) on HDF5 tokens");
    opt.add<std::string>("data.tokens", "runs/tokens/train.h5", "token dataset from ibq-tokenize (a file or a shard stem)")
        .add<std::string>("data.crop", "random",
                          "random: one of the file's random crops per image and epoch (ibq-tokenize --data.crops), or "
                          "with encode_on_the_fly a new random crop; center: the centre crops")
        .add<bool>("data.encode_on_the_fly", false,
                   "encode the images every step with data.tokenizer (the reference) instead of reading data.tokens")
        .add<std::string>("data.tokenizer", "", "encode_on_the_fly: the tokenizer checkpoint (EMA weights); its "
                                                "stored data options give the images");
    ibq::cli::add_ar_model_options(opt);
    opt.add<long>("train.batch_size", 24, "sequences per step and rank (the reference: 24 x 32 ranks for B)")
        .add<double>("train.epochs", 300, "length in epochs (used when train.steps = 0)")
        .add<long>("train.steps", 0, "length in optimizer steps (0: from train.epochs)")
        .add<double>("train.lr", 3e-4, "peak learning rate")
        .add<double>("train.beta1", 0.9, "AdamW beta1")
        .add<double>("train.beta2", 0.95, "AdamW beta2")
        .add<double>("train.weight_decay", 0.05, "AdamW weight decay (at the start)")
        .add<double>("train.weight_decay_end", 0.0, "weight decay at the end, by a cosine (0: constant)")
        .add<bool>("train.decay_all", true, "decay norms and biases too (the reference's behaviour); false: only "
                                            "weights of rank >= 2")
        .add<double>("train.warmup_epochs", 6, "linear warm-up from warmup_start x lr (B 6, L 7, XL 8, XXL 9)")
        .add<double>("train.warmup_start", 0.005, "first learning rate, as a fraction of train.lr")
        .add<double>("train.final_lr", 0.1, "last learning rate, as a fraction of train.lr (B/L 0.1, XL/XXL 0.01)")
        .add<double>("train.flat_fraction", 0.05, "fraction of the post-warm-up steps at the peak before the decay")
        .add<double>("train.clip", 1.0, "clip the global gradient norm (0: off)")
        .add<unsigned long>("train.seed", 1, "initialisation, data order, label and dropout seed")
        .add<std::string>("train.precision", "fp32", "fp32, or bf16: mixed precision as torch.autocast (bf16 products, fp32 weights and sums)")
        .add<std::string>("train.resume", "auto", "auto (newest checkpoint in output.dir, if any), never, or a path")
        .add<long>("train.stop_after", 0, "stop (with a checkpoint) once this many steps are done (0: run to the end)")
        .add<double>("train.time_limit", 0, "stop (with a checkpoint) after this many minutes of training (0: none)")
        .add<long>("log.every", 50, "steps between log lines")
        .add<std::string>("output.dir", "runs/ar", "run directory for checkpoints")
        .add<long>("output.checkpoint_every", 1000, "steps between checkpoints (and one at the end)")
        .add<long>("output.keep", 2, "checkpoints kept in output.dir (older ones are deleted)")
        .add<bool>("output.overwrite", false, "start afresh even if output.dir holds checkpoints (they are deleted)")
        .add<int>("runtime.threads", 0, "CPU threads (0: OMP_NUM_THREADS or all cores)")
        .add<bool>("runtime.tf32", false, ibq::cli::kTf32Help);
    const auto args = opt.parse(argc, argv);

    const ibq::ArConfig mc = ibq::cli::ar_model_config(args);
    ibq::ArTrainConfig tc;
    tc.batch_size = args.get<long>("train.batch_size");
    tc.epochs = args.get<double>("train.epochs");
    tc.steps = args.get<long>("train.steps");
    tc.lr = args.get<double>("train.lr");
    tc.beta1 = args.get<double>("train.beta1");
    tc.beta2 = args.get<double>("train.beta2");
    tc.weight_decay = args.get<double>("train.weight_decay");
    tc.weight_decay_end = args.get<double>("train.weight_decay_end");
    tc.decay_all = args.get<bool>("train.decay_all");
    tc.warmup_epochs = args.get<double>("train.warmup_epochs");
    tc.warmup_start = args.get<double>("train.warmup_start");
    tc.final_lr = args.get<double>("train.final_lr");
    tc.flat_fraction = args.get<double>("train.flat_fraction");
    tc.clip = args.get<double>("train.clip");
    tc.seed = args.get<unsigned long>("train.seed");
    tc.precision = ibq::parse_precision(args.get<std::string>("train.precision"));
    tc.validate();
    const long log_every = std::max(1L, args.get<long>("log.every"));
    const long keep = args.get<long>("output.keep");
    IBQ_CHECK(args.get<long>("output.checkpoint_every") > 0, "output.checkpoint_every must be positive");

    ibq::cli::apply_tf32(args);
    ibq::cli::Runtime runtime(args.get<int>("runtime.threads"));
    const auto& comm = runtime.comm();
    ibq::cli::StopSignals stop_signals;
    const auto run = ibq::cli::RunDirectory::open(args.get<std::string>("output.dir"), args.get<std::string>("train.resume"),
                                                  args.get<bool>("output.overwrite"), comm);
    std::cerr << prog << ": " << ibq::cli::Runtime::describe() << "; " << ibq::cli::Runtime::describe(tc.precision)
              << "\n";

    const auto crop_mode = ibq::parse_crop_mode(args.get<std::string>("data.crop"), "data.crop");
    std::shared_ptr<const ibq::ArTokenSource> tokens;
    std::string tokenizer_path;
    std::unique_ptr<ibq::cli::CheckpointTokenizer> encoder;  // encode_on_the_fly only
    std::unique_ptr<ibq::ImageSource> images;
    if (args.get<bool>("data.encode_on_the_fly")) {
      tokenizer_path = args.get<std::string>("data.tokenizer");
      IBQ_CHECK(!tokenizer_path.empty(), "data.encode_on_the_fly needs data.tokenizer: a tokenizer checkpoint "
                                         "(ibq-train-tokenizer's ckpt-*.h5)");
      encoder = std::make_unique<ibq::cli::CheckpointTokenizer>(
          ibq::cli::load_checkpoint_tokenizer(prog, tokenizer_path, "ema"));
      const ibq::CropPolicy crop{crop_mode, false, tc.seed};
      images = ibq::cli::load_tokenizer_images(encoder->stored, "train", &crop);
      tokens = std::make_shared<ibq::EncodedCrops>(*encoder->model, *images);
    } else {
      const ibq::TokenDataset data(token_files(args.get<std::string>("data.tokens")));
      tokenizer_path = data.info().tokenizer_checkpoint;
      tokens = std::make_shared<ibq::StoredTokens>(data, crop_mode == ibq::CropMode::random, tc.seed);
    }
    ibq::ArTransformer<float> model(mc, tc.seed);
    ibq::ArTrainer<float> trainer(model, tokens, tc, comm);
    std::cerr << prog << ": " << tokens->count() << " token grids " << mc.grid << "x" << mc.grid << " (K = " << mc.vocab_size
              << ", tokenizer " << tokenizer_path << "; " << tokens->describe() << "), " << model.store().num_params()
              << " parameters (" << mc.n_layer << " layers, dim " << mc.dim << ", " << mc.n_head << " heads), "
              << trainer.total_steps() << " steps of " << tc.batch_size
              << (comm.distributed() ? " per rank x " + std::to_string(comm.size()) + " ranks" : std::string()) << " ("
              << trainer.steps_per_epoch() << " per epoch)\n";
    if (!run.resume_from.empty()) {
      const auto meta = trainer.resume(run.resume_from);
      std::cerr << prog << ": resumed from " << run.resume_from << " at step " << trainer.step_count()
                << (meta.world_size != comm.size() ? " (written by " + std::to_string(meta.world_size) + " ranks)" : "")
                << "\n";
    } else {
      run.clear_old();
    }

    const std::string config_text = args.resolved_ini();
    auto save = [&] {
      return run.save(trainer.step_count(), keep, [&](const std::string& p) { trainer.save(p, config_text); });
    };
    const long total = trainer.total_steps();
    ibq::cli::TrainLoop loop(trainer.step_count(), total, args, comm, stop_signals);
    double loss_sum = 0, norm_sum = 0, compute_s = 0, comm_s = 0, data_s = 0, seqs = 0;
    long in_window = 0;
    while (trainer.step_count() < loop.end()) {
      const auto st = trainer.step();
      loss_sum += st.loss, norm_sum += st.grad_norm, compute_s += st.compute_s, comm_s += st.comm_s, data_s += st.data_s;
      seqs += double(st.images);
      ++in_window;
      std::ostringstream status;
      status << std::setprecision(4) << "loss " << st.loss;
      loop.bar().update(st.step - loop.first(), status.str());
      if (st.step % log_every == 0 || st.step == loop.end()) {
        const double n = double(in_window);
        std::cout << std::setprecision(5) << "step " << st.step << "/" << total << " epoch " << std::setprecision(3)
                  << double(st.step) / double(trainer.steps_per_epoch()) << std::setprecision(5) << " loss "
                  << loss_sum / n << " grad_norm " << norm_sum / n << " lr " << st.lr << " wd " << st.weight_decay
                  << " seq_per_s " << std::setprecision(4) << seqs / (compute_s + comm_s + data_s) << " data_ms "
                  << 1e3 * data_s / n << " compute_ms " << 1e3 * compute_s / n;
        if (comm.distributed()) std::cout << " comm_ms " << 1e3 * comm_s / n;
        std::cout << " elapsed_s " << std::fixed << std::setprecision(1) << loop.bar().elapsed() << std::defaultfloat
                  << std::endl;
        trainer.record("step", double(st.step));
        trainer.record("loss", loss_sum / n);
        trainer.record("grad_norm", norm_sum / n);
        trainer.record("lr", st.lr);
        loss_sum = norm_sum = compute_s = comm_s = data_s = seqs = 0;
        in_window = 0;
      }
      if (!loop.keep_going(st.step, save)) break;
    }
    return loop.finish(trainer.step_count(), save);
  });
}
