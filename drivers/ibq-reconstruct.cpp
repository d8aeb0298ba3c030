// ibq-reconstruct: a tokenizer checkpoint + its dataset's test split -> test-set PSNR, SSIM and codebook
// utilisation, and a PNG grid of originals above their reconstructions.
//
//   ibq-reconstruct --input.checkpoint runs/quickstart/ckpt-00002000.h5 --output.grid runs/quickstart/recon.png
//
// The model and data options are read from the configuration stored in the checkpoint, so the images are
// prepared exactly as in training; data.images names other shards (an imported SEED-Voken checkpoint,
// hpc/import_seed_voken.py, stores no data: e.g. ImageNet's validation set from ibq-prepare-data). Metrics follow the reference evaluation (docs/math.md): EMA
// weights by default, reconstructions clamped to [-1, 1] and quantised to uint8, PSNR/SSIM as scikit-image
// computes them, averaged over images; utilisation = distinct codes over the whole set / K.
//
// input.tokens decodes a token dataset of the same split (ibq-tokenize) instead of encoding the images;
// output.images writes the uint8 reconstructions as an HDF5 image shard (images [N, H, W, C], labels).
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "common/progress.hpp"
#include "common/runtime.hpp"
#include "common/tokenizer_options.hpp"
#include "ibq/data/image_grid.hpp"
#include "ibq/io/checkpoint.hpp"
#include "ibq/io/png.hpp"
#include "ibq/io/token_dataset.hpp"
#include "ibq/metrics/sharpness.hpp"
#include "ibq/metrics/ssim.hpp"
#include "ibq/quant/codebook_usage.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  ibq::settle_process_environment(argv);  // OpenBLAS kernel + OpenMP spin, before they are read
  const std::string prog = "ibq-reconstruct";
  return ibq::cli::run_main(prog, [&] {
    ibq::cli::Options opt(prog, "reconstructs a test set with a tokenizer checkpoint: PSNR, SSIM, utilisation, PNG grid");
    opt.add<std::string>("input.checkpoint", "", "tokenizer checkpoint (ibq-train-tokenizer's ckpt-*.h5)")
        .add<std::string>("input.weights", "ema", "ema (the reference's evaluation weights) or params")
        .add<std::string>("data.split", "test", "test or train")
        .add<long>("data.limit", 0, "reconstruct only the first N images (0: the whole split)")
        .add<std::string>("data.images", "", "HDF5 image shards (ibq-prepare-data) to reconstruct instead of the split "
                                             "the checkpoint names; an imported checkpoint names none")
        .add<long>("eval.batch_size", 100, "images per forward pass")
        .add<std::string>("output.grid", "", "PNG file for the grid (empty: no grid)")
        .add<long>("output.grid_columns", 16, "images per grid row")
        .add<long>("output.grid_rows", 2, "pairs of rows (originals above reconstructions)")
        .add<int>("output.grid_scale", 2, "pixel repetition factor of the grid")
        .add<std::string>("output.json", "", "also write the metrics as JSON to this file")
        .add<std::string>("input.tokens", "", "decode this token dataset (ibq-tokenize, same split and order) "
                                              "instead of encoding the images")
        .add<std::string>("output.images", "", "HDF5 image shard of the uint8 reconstructions (empty: none)")
        .add<bool>("output.overwrite", false, "replace an existing output.images")
        .add<int>("runtime.threads", 0, "CPU threads (0: OMP_NUM_THREADS or all cores)")
        .add<bool>("runtime.tf32", false, ibq::cli::kTf32Help)
        .add<std::string>("runtime.precision", "fp32",
                          "fp32, or bf16: products on bf16 operands with fp32 sums (as torch.autocast)");
    const auto args = opt.parse(argc, argv);
    const std::string ckpt = args.get<std::string>("input.checkpoint");
    const std::string weights = args.get<std::string>("input.weights");
    const std::string split = args.get<std::string>("data.split");
    IBQ_CHECK(split == "test" || split == "train", "data.split must be test or train, got '" << split << "'");
    const long batch = args.get<long>("eval.batch_size");
    IBQ_CHECK(batch > 0, "eval.batch_size must be positive");
    const std::string tokens_path = args.get<std::string>("input.tokens");
    const std::string images_path = args.get<std::string>("output.images");
    IBQ_CHECK(images_path.empty() || !fs::exists(images_path) || args.get<bool>("output.overwrite"),
              "output.images '" << images_path << "' exists; pass --output.overwrite=true to replace it");

    ibq::cli::apply_tf32(args);
    ibq::cli::Runtime runtime(args.get<int>("runtime.threads"));
    runtime.require_single_process(prog);
    const auto precision = ibq::parse_precision(args.get<std::string>("runtime.precision"), "runtime.precision");
    const ibq::Autocast autocast(precision);  // every forward pass below
    std::cerr << prog << ": " << ibq::cli::Runtime::describe() << "; " << ibq::cli::Runtime::describe(precision)
              << "\n";
    const auto loaded = ibq::cli::load_checkpoint_tokenizer(prog, ckpt, weights);
    const auto& stored = loaded.stored;
    const auto& model_cfg = loaded.config;
    const auto& model = *loaded.model;
    const auto source = ibq::cli::evaluation_images(stored, split, args.get<std::string>("data.images"),
                                                    args.get<long>("data.limit"));
    const ibq::ImageSource& set = *source;
    const ibq::index_t H = set.height, W = set.width, C = set.channels;
    std::vector<ibq::index_t> order(set.count);
    for (ibq::index_t i = 0; i < set.count; ++i) order[i] = i;
    std::unique_ptr<ibq::TokenDataset> token_set;
    if (!tokens_path.empty()) {
      token_set = std::make_unique<ibq::TokenDataset>(tokens_path);
      IBQ_CHECK(token_set->count() == set.count && token_set->info().codebook_size == model_cfg.codebook_size,
                "input.tokens '" << tokens_path << "' holds " << token_set->count() << " grids of K = "
                                 << token_set->info().codebook_size << " but the " << split << " split has " << set.count
                                 << " images and the tokenizer K = " << model_cfg.codebook_size
                                 << " (set data.split/data.limit as when it was made)");
    }
    std::vector<std::uint8_t> all_recon;
    std::vector<std::int32_t> all_labels;
    ibq::CodebookUsage<> usage(model_cfg.codebook_size);
    double psnr_sum = 0, ssim_sum = 0, sharp_recon = 0, sharp_orig = 0;
    long identical = 0;
    const long cols = args.get<long>("output.grid_columns"), pairs = args.get<long>("output.grid_rows");
    std::vector<std::vector<std::uint8_t>> grid_rows;
    ibq::cli::Progress bar("reconstruct", set.count);
    for (ibq::index_t first = 0; first < set.count; first += batch) {
      const ibq::index_t n = std::min<ibq::index_t>(batch, set.count - first);
      ibq::Tensor<std::int32_t> tokens;
      const auto labels = set.batch_labels<ibq::HostSpace>(order, first, n).to_host();
      if (token_set) {
        std::vector<std::int32_t> t, l;
        token_set->read(first, n, t, l);
        IBQ_CHECK(l == labels, "input.tokens '" << tokens_path << "': the labels of images [" << first << ", "
                                                << first + n << ") differ from the " << split
                                                << " split's: the tokens are of another set or order");
        tokens = ibq::Tensor<std::int32_t>::from_host({n, token_set->info().grid_h, token_set->info().grid_w}, t);
      } else {
        tokens = model.encode(set.batch<float>(order, first, n));
      }
      usage.update(tokens);
      const auto recon = ibq::to_uint8_nhwc(model.decode(tokens));
      const auto orig = ibq::image_set_nhwc(set, first, n);
      if (!images_path.empty()) {
        all_recon.insert(all_recon.end(), recon.begin(), recon.end());
        all_labels.insert(all_labels.end(), labels.begin(), labels.end());
      }
      const ibq::index_t per = H * W * C;
      for (ibq::index_t i = 0; i < n; ++i) {
        const double p = ibq::metrics::psnr(orig.data() + i * per, recon.data() + i * per, H, W, C);
        if (std::isinf(p)) ++identical; else psnr_sum += p;
        ssim_sum += ibq::metrics::ssim(orig.data() + i * per, recon.data() + i * per, H, W, C);
        sharp_recon += ibq::metrics::laplacian_variance(recon.data() + i * per, H, W, C);
        sharp_orig += ibq::metrics::laplacian_variance(orig.data() + i * per, H, W, C);
      }
      // Grid: the first cols * pairs images, each row of originals followed by its reconstructions.
      for (ibq::index_t r = 0; r < pairs && first == 0; ++r)
        if ((r + 1) * cols <= n) {
          grid_rows.emplace_back(orig.begin() + r * cols * per, orig.begin() + (r + 1) * cols * per);
          grid_rows.emplace_back(recon.begin() + r * cols * per, recon.begin() + (r + 1) * cols * per);
        }
      bar.update(first + n);
    }
    bar.finish();
    const long finite = long(set.count) - identical;
    const double psnr = finite > 0 ? psnr_sum / double(finite) : INFINITY;
    const double ssim = ssim_sum / double(set.count);
    std::cout << std::fixed << std::setprecision(3) << "images " << set.count << " (" << split << ", " << weights
              << " weights)  PSNR " << psnr << " dB  SSIM " << std::setprecision(4) << ssim << "  utilisation "
              << usage.usage() << " (" << usage.distinct() << " of " << model_cfg.codebook_size << " codes)"
              << "  perplexity " << std::setprecision(1) << usage.perplexity() << "\n";
    if (identical > 0) std::cout << identical << " images were reconstructed exactly (PSNR = inf, left out of the mean)\n";
    // Detail kept: mean Laplacian variance of the reconstructions over that of the originals (1: as sharp).
    const double sharpness = sharp_orig > 0 ? sharp_recon / sharp_orig : 0.0;
    std::cout << std::setprecision(3) << "sharpness " << sharpness << " (Laplacian variance, reconstructions / originals)\n";

    const std::string grid_path = args.get<std::string>("output.grid");
    if (!grid_path.empty()) {
      IBQ_CHECK(!grid_rows.empty(), "output.grid: the first batch holds fewer than output.grid_columns = " << cols
                                                                                                          << " images");
      const auto g = ibq::image_grid(grid_rows, cols, H, W, C, args.get<int>("output.grid_scale"));
      ibq::write_png(grid_path, g.pixels, g.height, g.width, int(C));
      std::cout << "grid written to " << grid_path << "\n";
    }
    if (!images_path.empty()) {
      ibq::ImageSet out;
      out.count = set.count, out.channels = C, out.height = H, out.width = W;
      out.pixels.resize(all_recon.size());
      ibq::detail::nhwc_to_nchw(all_recon.data(), set.count, C, H * W, out.pixels.data());
      out.labels = all_labels;
      ibq::write_image_shard(images_path, out, "ibq-reconstruct of " + ckpt + (token_set ? " from " + tokens_path : ""));
      std::cout << "reconstructions written to " << images_path << "\n";
    }
    const std::string json = args.get<std::string>("output.json");
    if (!json.empty()) {
      std::ostringstream out;
      out << std::setprecision(6) << "{\"checkpoint\": \"" << ckpt << "\", \"weights\": \"" << weights
          << "\", \"split\": \"" << split << "\", \"images\": " << set.count << ", \"psnr\": " << psnr
          << ", \"ssim\": " << ssim << ", \"utilisation\": " << usage.usage() << ", \"codes_used\": "
          << usage.distinct() << ", \"codebook_size\": " << model_cfg.codebook_size << ", \"perplexity\": "
          << usage.perplexity() << ", \"sharpness\": " << sharpness << "}\n";
      ibq::write_text_file(json, out.str(), "output.json");
    }
    return 0;
  });
}
