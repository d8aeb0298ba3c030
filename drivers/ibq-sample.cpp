// ibq-sample: class-conditional images from a trained AR model, decoded by its tokenizer.
//
//   ibq-sample --input.checkpoint runs/fmnist-ar/ckpt-00003752.h5 --sample.cfg 2.0 --output.png grid.png
//
// The AR model is rebuilt from the configuration stored in its checkpoint; the tokenizer is the one its
// token dataset names (tokenizer_checkpoint attribute), or for an imported model (hpc/import_seed_voken.py)
// the one the checkpoint itself names, unless input.tokenizer is given, and its EMA weights decode. Each requested class gets sample.per_class images: the PNG grid has one row per class,
// the .npz holds uint8 NHWC images as arr_0 and their int64 class labels as arr_1 (the layout of ADM's
// class-conditional sampler and evaluation suite; ibq-eval --eval.mode samples reads it), class by class in
// the order of sample.classes, per_class each; output.tokens the token grids (int64 [N, grid, grid], raster
// order, as arr_0, labels as arr_1), which SEED-Voken's decoder or ibq-reconstruct can take. Draws come from the counter-based RNG: the same seed gives the
// same images.
#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "common/ar_options.hpp"
#include "common/classifier_eval.hpp"
#include "common/progress.hpp"
#include "common/runtime.hpp"
#include "common/tokenizer_options.hpp"
#include "ibq/data/image_grid.hpp"
#include "ibq/io/checkpoint.hpp"
#include "ibq/io/npz.hpp"
#include "ibq/io/png.hpp"
#include "ibq/io/shard_names.hpp"
#include "ibq/io/token_dataset.hpp"
#include "ibq/models/ar_sampler.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  ibq::settle_process_environment(argv);
  const std::string prog = "ibq-sample";
  return ibq::cli::run_main(prog, [&] {
    ibq::cli::Options opt(prog, "samples class-conditional images from an AR checkpoint (ibq-train-ar)");
    opt.add<std::string>("input.checkpoint", "", "AR checkpoint (ibq-train-ar's ckpt-*.h5)")
        .add<std::string>("input.tokenizer", "", "tokenizer checkpoint (empty: the one the AR model's tokens came from)")
        .add<std::string>("sample.classes", "", "comma-separated classes (empty: every class)")
        .add<long>("sample.per_class", 8, "images per class")
        .add<double>("sample.cfg", 1.0, "classifier-free guidance scale (> 1: guided with the null class)")
        .add<double>("sample.temperature", 1.0, "softmax temperature")
        .add<long>("sample.top_k", 0, "keep the k most likely tokens (0: off)")
        .add<double>("sample.top_p", 1.0, "keep the most likely tokens up to this probability mass (1: off)")
        .add<unsigned long>("sample.seed", 42, "sampling seed")
        .add<long>("sample.batch_size", 64, "images sampled together")
        .add<std::string>("eval.classifier", "", "classifier checkpoint (ibq-train-classifier): report how often it "
                                                 "assigns each sample its requested class (1-channel images of 28x28 "
                                                 "or padded to more, as the quick start's 32x32)")
        .add<std::string>("output.png", "samples.png", "PNG grid, one row per class (none or empty: no grid)")
        .add<std::string>("output.npz", "", "uint8 NHWC images as arr_0, class by class (none or empty: no file)")
        .add<std::string>("output.tokens", "", "int64 token grids [N, grid, grid] as arr_0, labels as arr_1 (.npz; "
                                               "none or empty: no file)")
        .add<long>("output.scale", 2, "PNG pixel scale")
        .add<bool>("output.overwrite", false, "replace existing output files")
        .add<int>("runtime.threads", 0, "CPU threads (0: OMP_NUM_THREADS or all cores)")
        .add<bool>("runtime.tf32", false, ibq::cli::kTf32Help)
        .add<std::string>("runtime.precision", "fp32",
                          "fp32, or bf16: products on bf16 operands with fp32 sums (as torch.autocast)");
    const auto args = opt.parse(argc, argv);
    const std::string ckpt = args.get<std::string>("input.checkpoint");
    IBQ_CHECK(!ckpt.empty(), "input.checkpoint is required (a ckpt-*.h5 file written by ibq-train-ar)");
    IBQ_CHECK(fs::exists(ckpt), "input.checkpoint '" << ckpt << "' does not exist");
    // "none" as well as "": the command line cannot pass an empty value.
    auto output_path = [&](const char* key) {
      const std::string p = args.get<std::string>(key);
      return p == "none" ? std::string() : p;
    };
    const std::string png_path = output_path("output.png"), npz_path = output_path("output.npz"),
                      tokens_path = output_path("output.tokens");
    for (const auto& p : {png_path, npz_path, tokens_path})
      IBQ_CHECK(p.empty() || !fs::exists(p) || args.get<bool>("output.overwrite"),
                "'" << p << "' exists; pass --output.overwrite=true to replace it");
    ibq::SampleConfig sc;
    sc.cfg_scale = args.get<double>("sample.cfg");
    sc.temperature = args.get<double>("sample.temperature");
    sc.top_k = args.get<long>("sample.top_k");
    sc.top_p = args.get<double>("sample.top_p");
    sc.seed = args.get<unsigned long>("sample.seed");
    sc.validate();
    const long per_class = args.get<long>("sample.per_class"), batch = args.get<long>("sample.batch_size");
    IBQ_CHECK(per_class >= 1 && batch >= 1, "sample.per_class and sample.batch_size must be >= 1");

    ibq::cli::apply_tf32(args);
    ibq::cli::Runtime runtime(args.get<int>("runtime.threads"));
    runtime.require_single_process(prog);
    const auto precision = ibq::parse_precision(args.get<std::string>("runtime.precision"), "runtime.precision");
    const ibq::Autocast autocast(precision);  // sampling and decoding
    // The AR model from the configuration stored with it.
    ibq::cli::Options stored_opt(prog, "");
    stored_opt.add<std::string>("data.tokens", "", "");
    ibq::cli::add_ar_model_options(stored_opt);
    const auto stored = stored_opt.parse_text(ibq::h5::File(ckpt, ibq::h5::File::Mode::read).attr_string("/", "config"),
                                              "'" + ckpt + "'");
    const ibq::ArConfig mc = ibq::cli::ar_model_config(stored);
    ibq::ArTransformer<float> model(mc, 0);
    ibq::load_checkpoint(ckpt, "ar", model.store());
    std::string tok_ckpt = args.get<std::string>("input.tokenizer");
    ibq::h5::File ar_file(ckpt, ibq::h5::File::Mode::read);
    if (tok_ckpt.empty() && stored.get<std::string>("data.tokens").empty() &&
        ar_file.has_attr("/", "tokenizer_checkpoint")) {
      // An imported model names its tokenizer, relative to its own folder.
      const fs::path named = ar_file.attr_string("/", "tokenizer_checkpoint");
      tok_ckpt = (named.is_absolute() ? named : fs::path(ckpt).parent_path() / named).string();
    }
    if (tok_ckpt.empty()) {
      const std::string tokens = stored.get<std::string>("data.tokens");
      const auto files = fs::exists(tokens) ? std::vector<std::string>{tokens} : ibq::list_shards(tokens);
      IBQ_CHECK(!files.empty(), "the AR model's token dataset '" << tokens << "' is gone, so its tokenizer is unknown; "
                                                                 << "give input.tokenizer");
      tok_ckpt = ibq::TokenDataset(files).info().tokenizer_checkpoint;
    }
    const auto tok = ibq::cli::load_checkpoint_tokenizer(prog, tok_ckpt, "ema");
    IBQ_CHECK(tok.config.codebook_size == mc.vocab_size && tok.config.ae.latent_resolution() == mc.grid,
              "tokenizer '" << tok_ckpt << "' makes " << tok.config.ae.latent_resolution() << "x"
                            << tok.config.ae.latent_resolution() << " grids of K = " << tok.config.codebook_size
                            << ", the AR model expects " << mc.grid << "x" << mc.grid << " and K = " << mc.vocab_size);

    std::vector<std::int32_t> classes;
    const std::string list = args.get<std::string>("sample.classes");
    if (list.empty())
      for (ibq::index_t c = 0; c < mc.num_classes; ++c) classes.push_back(std::int32_t(c));
    else
      for (long c : ibq::cli::parse_int_list(list, "sample.classes", false, 0)) classes.push_back(std::int32_t(c));
    std::vector<std::int32_t> labels;
    for (auto c : classes)
      for (long i = 0; i < per_class; ++i) labels.push_back(c);

    std::cerr << prog << ": " << ibq::cli::Runtime::describe() << "; " << ibq::cli::Runtime::describe(precision)
              << "\n"
              << prog << ": " << labels.size() << " images (" << classes.size() << " classes x " << per_class
              << "), cfg " << sc.cfg_scale << ", temperature " << sc.temperature << ", top-k " << sc.top_k
              << ", top-p " << sc.top_p << ", seed " << sc.seed << "; tokenizer " << tok_ckpt << "\n";
    const ibq::index_t R = tok.config.ae.resolution, C = tok.config.ae.out_ch;
    std::vector<std::uint8_t> pixels;
    std::vector<std::int32_t> all_tokens;
    ibq::cli::Progress bar("sample", ibq::index_t(labels.size()), 10.0, false);
    for (std::size_t first = 0; first < labels.size(); first += std::size_t(batch)) {
      const std::size_t n = std::min(labels.size() - first, std::size_t(batch));
      const std::vector<std::int32_t> part(labels.begin() + std::ptrdiff_t(first), labels.begin() + std::ptrdiff_t(first + n));
      const auto tokens = ibq::sample_tokens(model, part, sc, first);
      if (!tokens_path.empty()) all_tokens.insert(all_tokens.end(), tokens.begin(), tokens.end());
      const auto images = tok.model->decode(
          ibq::Tensor<std::int32_t>::from_host(ibq::Shape{ibq::index_t(n), mc.grid, mc.grid}, tokens));
      const auto u8 = ibq::to_uint8_nhwc(images);
      pixels.insert(pixels.end(), u8.begin(), u8.end());
      bar.update(ibq::index_t(first + n), "");
    }
    bar.finish("sampled");
    const std::string clf_path = args.get<std::string>("eval.classifier");
    if (!clf_path.empty()) {
      const double acc = ibq::cli::Judge(prog, clf_path).score(pixels, ibq::index_t(labels.size()), R, C).accuracy(labels);
      std::cout << "class accuracy " << std::fixed << std::setprecision(4) << acc << std::defaultfloat << " ("
                << labels.size() << " samples, cfg " << sc.cfg_scale << ", classifier " << clf_path << ")\n";
    }
    if (!png_path.empty()) {
      std::vector<std::vector<std::uint8_t>> rows;
      const std::size_t per_image = std::size_t(R * R * C);
      for (std::size_t c = 0; c < classes.size(); ++c)
        rows.emplace_back(pixels.begin() + std::ptrdiff_t(c * per_class * per_image),
                          pixels.begin() + std::ptrdiff_t((c + 1) * per_class * per_image));
      const auto grid = ibq::image_grid(rows, per_class, R, R, C, args.get<long>("output.scale"));
      ibq::write_png(png_path, grid.pixels, int(grid.height), int(grid.width), int(C));
      std::cout << "wrote " << png_path << " (" << classes.size() << " rows of " << per_class << ")\n";
    }
    if (!npz_path.empty()) {
      ibq::write_npz(npz_path, {ibq::NpzArray{"arr_0", pixels, {ibq::index_t(labels.size()), R, R, C}},
                                 ibq::npz_int64("arr_1", labels)});
      std::cout << "wrote " << npz_path << " (arr_0 uint8 [" << labels.size() << ", " << R << ", " << R << ", " << C
                << "], arr_1 int64 labels)\n";
    }
    if (!tokens_path.empty()) {
      auto grids = ibq::npz_int64("arr_0", all_tokens);
      grids.shape = {ibq::index_t(labels.size()), mc.grid, mc.grid};
      ibq::write_npz(tokens_path, {grids, ibq::npz_int64("arr_1", labels)});
      std::cout << "wrote " << tokens_path << " (arr_0 int64 tokens [" << labels.size() << ", " << mc.grid << ", "
                << mc.grid << "], arr_1 int64 labels)\n";
    }
    return 0;
  });
}
