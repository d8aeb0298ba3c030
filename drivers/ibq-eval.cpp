// ibq-eval: the evaluation suite, in two modes, each writing a JSON file and a Markdown table row.
//
//   ibq-eval --input.checkpoint runs/quickstart/ckpt-00001800.h5 --eval.classifier runs/fashion_mnist_classifier.h5
//   ibq-eval --eval.mode samples --input.samples samples.npz --eval.classifier runs/fashion_mnist_classifier.h5
//
// tokenizer: reconstructs a test split as ibq-reconstruct does (the reference protocol, docs/math.md:
//   EMA weights, uint8 outputs) and reports PSNR, SSIM, codebook utilisation over the whole set,
//   LPIPS when eval.lpips_weights is given, and rfd_fmnist: the Fréchet distance between the originals and
//   their reconstructions in the feature space of the order-1 Fashion-MNIST classifier (the rFID protocol,
//   with that classifier in place of Inception), plus how often the classifier still names the class of a
//   reconstruction (recon_accuracy) against the originals (orig_accuracy).
// samples: reads class-conditional samples from an .npz (ibq-sample's: arr_0 uint8 NHWC images, arr_1
//   int64 labels) and reports fd_fmnist (samples vs the Fashion-MNIST test set: the gFID protocol on the
//   same features), is_fmnist (the Inception-Score formula on the classifier's softmax, mean and std over
//   eval.is_splits parts of a fixed shuffle) and class_accuracy. The same scores of as many real training
//   images as there are samples are reported next to them (`real_*`): a few hundred samples carry a
//   large small-sample bias in FD, and the real-data value shows that floor.
//
// These are Fashion-MNIST feature scores, not ImageNet FID/IS: they rank models trained here against each
// other and are not comparable to the paper's numbers. For the standard evaluators, output.npz writes the
// reconstructions (tokenizer mode) in the ADM layout and output.reference_npz the originals.
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <numeric>
#include <random>
#include <sstream>

#include "common/classifier_eval.hpp"
#include "common/progress.hpp"
#include "common/runtime.hpp"
#include "common/tokenizer_options.hpp"
#include "ibq/data/image_grid.hpp"
#include "ibq/gan/perceptual.hpp"
#include "ibq/io/npz.hpp"
#include "ibq/metrics/frechet.hpp"
#include "ibq/metrics/inception_score.hpp"
#include "ibq/metrics/psnr.hpp"
#include "ibq/metrics/ssim.hpp"
#include "ibq/quant/codebook_usage.hpp"

namespace fs = std::filesystem;

namespace {

// An ordered list of JSON fields, printed as one object; NaN and inf are written as null (JSON has neither).
struct Report {
  std::vector<std::pair<std::string, std::string>> fields;
  Report& num(const std::string& k, double v) {
    std::ostringstream s;
    if (std::isfinite(v)) s << std::setprecision(7) << v; else s << "null";
    fields.emplace_back(k, s.str());
    return *this;
  }
  Report& str(const std::string& k, const std::string& v) {
    std::string e;
    for (char c : v) e += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    fields.emplace_back(k, "\"" + e + "\"");
    return *this;
  }
  std::string json() const {
    std::string s = "{";
    for (std::size_t i = 0; i < fields.size(); ++i) s += (i ? ", \"" : "\"") + fields[i].first + "\": " + fields[i].second;
    return s + "}\n";
  }
};

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

void write_text(const std::string& path, const std::string& text, const char* key) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    IBQ_CHECK(out << text, key << ": cannot write '" << path << "' (does its directory exist?)");
  }
  fs::rename(tmp, path);
}

ibq::metrics::Gaussian judge_gaussian(const ibq::cli::Judge::Scores& s, ibq::index_t n) {
  return ibq::metrics::fit_gaussian(s.features.data(), n, s.dim);
}

// The IS analogue over a fixed shuffle (the samples come class by class; each part must mix the classes).
ibq::metrics::InceptionScore shuffled_is(const ibq::cli::Judge::Scores& s, ibq::index_t n, long splits, unsigned long seed) {
  std::vector<ibq::index_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  std::vector<float> p;
  p.reserve(std::size_t(n * s.classes));
  for (auto i : order) p.insert(p.end(), s.probs.begin() + i * s.classes, s.probs.begin() + (i + 1) * s.classes);
  return ibq::metrics::inception_score(p.data(), n, s.classes, splits);
}

}  // namespace

int main(int argc, char** argv) {
  ibq::settle_process_environment(argv);
  const std::string prog = "ibq-eval";
  return ibq::cli::run_main(prog, [&] {
    ibq::cli::Options opt(prog, "evaluates a tokenizer (rFD, PSNR, SSIM, LPIPS, utilisation) or generated samples "
                                "(FD, IS analogue, class accuracy) with the Fashion-MNIST classifier's features");
    opt.add<std::string>("eval.mode", "tokenizer", "tokenizer (reconstruct a test split) or samples (score an .npz)")
        .add<std::string>("eval.classifier", "", "classifier checkpoint (ibq-train-classifier) whose features and "
                                                 "softmax the FD and IS scores use")
        .add<std::string>("eval.lpips_weights", "", "tokenizer mode: LPIPS VGG16 weights (hpc/make_lpips_weights.py); "
                                                    "empty: no LPIPS")
        .add<std::string>("eval.ssim_window", "uniform", "tokenizer mode: uniform (7x7, skimage's default, as the reference "
                                                        "calls it) or gaussian (sigma 1.5, Wang et al. 2004)")
        .add<long>("eval.batch_size", 100, "images per forward pass")
        .add<long>("eval.is_splits", 10, "parts the IS analogue is averaged over")
        .add<unsigned long>("eval.seed", 0, "shuffle of the samples before the IS split, and of the real reference")
        .add<std::string>("input.checkpoint", "", "tokenizer mode: tokenizer checkpoint (ibq-train-tokenizer's ckpt-*.h5)")
        .add<std::string>("input.weights", "ema", "tokenizer mode: ema (the reference's evaluation weights) or params")
        .add<std::string>("input.samples", "", "samples mode: .npz with arr_0 uint8 [N, H, W, C] and arr_1 int64 labels "
                                               "(ibq-sample --output.npz)")
        .add<std::string>("data.split", "test", "tokenizer mode: test or train")
        .add<long>("data.limit", 0, "tokenizer mode: only the first N images (0: the whole split)")
        .add<std::string>("data.dir", "/usr/share/datasets/fashion-mnist", "samples mode: Fashion-MNIST IDX folder "
                                                                           "(the reference sets)")
        .add<std::string>("output.json", "", "JSON file of the scores (empty: none)")
        .add<std::string>("output.markdown", "", "Markdown file: a table header and this evaluation's row (empty: none)")
        .add<std::string>("output.npz", "", "tokenizer mode: the uint8 reconstructions (arr_0) and labels (arr_1)")
        .add<std::string>("output.reference_npz", "", "tokenizer mode: the uint8 originals, in the same layout")
        .add<bool>("output.overwrite", false, "replace existing output files")
        .add<int>("runtime.threads", 0, "CPU threads (0: OMP_NUM_THREADS or all cores)");
    const auto args = opt.parse(argc, argv);
    const std::string mode = args.get<std::string>("eval.mode");
    IBQ_CHECK(mode == "tokenizer" || mode == "samples", "eval.mode must be tokenizer or samples, got '" << mode << "'");
    const long batch = args.get<long>("eval.batch_size"), splits = args.get<long>("eval.is_splits");
    IBQ_CHECK(batch > 0, "eval.batch_size must be positive");
    IBQ_CHECK(splits > 0, "eval.is_splits must be positive");
    const std::string clf_path = args.get<std::string>("eval.classifier");
    IBQ_CHECK(!clf_path.empty(), "eval.classifier is required: the FD and IS scores use its features (train one with "
                                 "ibq-train-classifier --config experiments/fashion_mnist_classifier.ini)");
    const std::vector<std::string> outputs = {"output.json", "output.markdown", "output.npz", "output.reference_npz"};
    for (const auto& key : outputs) {
      const std::string p = args.get<std::string>(key);
      IBQ_CHECK(p.empty() || !fs::exists(p) || args.get<bool>("output.overwrite"),
                key << " '" << p << "' exists; pass --output.overwrite=true to replace it");
    }
    if (mode == "samples")
      for (const char* key : {"input.checkpoint", "eval.lpips_weights", "output.npz", "output.reference_npz"})
        IBQ_CHECK(args.get<std::string>(key).empty(), key << " is for eval.mode=tokenizer");
    else
      IBQ_CHECK(args.get<std::string>("input.samples").empty(), "input.samples is for eval.mode=samples");

    ibq::cli::Runtime runtime(args.get<int>("runtime.threads"));
    runtime.require_single_process(prog);
    const ibq::cli::Judge judge(prog, clf_path);
    Report r;
    std::vector<std::string> md_head, md_row;
    auto column = [&](const std::string& head, const std::string& cell) { md_head.push_back(head), md_row.push_back(cell); };

    if (mode == "tokenizer") {
      const std::string ckpt = args.get<std::string>("input.checkpoint"), weights = args.get<std::string>("input.weights");
      const std::string split = args.get<std::string>("data.split");
      IBQ_CHECK(split == "test" || split == "train", "data.split must be test or train, got '" << split << "'");
      const std::string window = args.get<std::string>("eval.ssim_window");
      IBQ_CHECK(window == "uniform" || window == "gaussian", "eval.ssim_window must be uniform or gaussian, got '" << window << "'");
      const auto ssim_opt = window == "gaussian" ? ibq::metrics::SsimOptions::wang2004() : ibq::metrics::SsimOptions{};
      const std::string lpips_path = args.get<std::string>("eval.lpips_weights");
      std::unique_ptr<ibq::Lpips<float>> lpips;
      if (!lpips_path.empty()) {
        IBQ_CHECK(fs::exists(lpips_path), "eval.lpips_weights '" << lpips_path << "' does not exist; make it with "
                                          "'python3 hpc/make_lpips_weights.py " << lpips_path << "', or leave the option out");
        ibq::LpipsConfig lc;
        lc.dropout_in_training = false;
        lpips = std::make_unique<ibq::Lpips<float>>(lc, 0);
        ibq::load_lpips_weights(*lpips, lpips_path);
      }
      const auto loaded = ibq::cli::load_checkpoint_tokenizer(prog, ckpt, weights);
      const auto& model = *loaded.model;
      const auto source = ibq::cli::load_tokenizer_images(loaded.stored, split);
      source->truncate(args.get<long>("data.limit"));
      const ibq::ImageSource& set = *source;
      const ibq::index_t N = set.count, H = set.height, W = set.width, C = set.channels, per = H * W * C;
      IBQ_CHECK(N >= 2, "the " << split << " split holds " << N << " image(s): the FD needs at least 2");
      std::vector<ibq::index_t> order(static_cast<std::size_t>(N));
      std::iota(order.begin(), order.end(), 0);
      // Images are kept only for the exports; the judge scores each batch as it is reconstructed, so a
      // shape it cannot take fails on the first batch and memory stays at its 128 features per image.
      const bool keep = !args.get<std::string>("output.npz").empty() || !args.get<std::string>("output.reference_npz").empty();
      std::vector<std::uint8_t> recon_all, orig_all;
      ibq::cli::Judge::Scores so, sr;
      std::vector<std::int32_t> labels;
      ibq::CodebookUsage<> usage(loaded.config.codebook_size);
      double psnr_sum = 0, ssim_sum = 0, lpips_sum = 0;
      long identical = 0;
      ibq::cli::Progress bar("evaluate", N);
      for (ibq::index_t first = 0; first < N; first += batch) {
        const ibq::index_t n = std::min<ibq::index_t>(batch, N - first);
        const auto l = set.batch_labels<ibq::HostSpace>(order, first, n).to_host();
        labels.insert(labels.end(), l.begin(), l.end());
        const auto tokens = model.encode(set.batch<float>(order, first, n));
        usage.update(tokens);
        const auto recon = ibq::to_uint8_nhwc(model.decode(tokens));
        const auto orig = ibq::image_set_nhwc(set, first, n);
        for (ibq::index_t i = 0; i < n; ++i) {
          const double p = ibq::metrics::psnr(orig.data() + i * per, recon.data() + i * per, H, W, C);
          if (std::isinf(p)) ++identical; else psnr_sum += p;
          ssim_sum += ibq::metrics::ssim(orig.data() + i * per, recon.data() + i * per, H, W, C, ssim_opt);
        }
        if (lpips) {  // on the uint8 pair mapped back to [-1, 1], grey replicated to the 3 channels VGG takes
          auto to_unit = [&](const std::vector<std::uint8_t>& u8) {
            std::vector<float> x(std::size_t(n * 3 * H * W));
            for (ibq::index_t i = 0; i < n; ++i)
              for (ibq::index_t c = 0; c < 3; ++c)
                for (ibq::index_t y = 0; y < H * W; ++y)
                  x[std::size_t((i * 3 + c) * H * W + y)] = float(u8[std::size_t((i * H * W + y) * C + (C == 3 ? c : 0))] / 127.5 - 1.0);
            return ibq::Tensor<float>::from_host(ibq::Shape{n, 3, H, W}, x);
          };
          ibq::Tape<float> tape;
          auto guard = tape.no_grad();
          const auto d = lpips->forward(tape.leaf(to_unit(orig)), tape.leaf(to_unit(recon)), ibq::Rng{0, 0}, false)
                             .value().to_host();
          for (float v : d) lpips_sum += v;
        }
        so.append(judge.score(orig, n, H, C));
        sr.append(judge.score(recon, n, H, C));
        if (keep) {
          recon_all.insert(recon_all.end(), recon.begin(), recon.end());
          orig_all.insert(orig_all.end(), orig.begin(), orig.end());
        }
        bar.update(first + n);
      }
      bar.finish();
      const double rfd = ibq::metrics::frechet_distance(judge_gaussian(so, N), judge_gaussian(sr, N));
      const double psnr = N > identical ? psnr_sum / double(N - identical) : INFINITY, ssim = ssim_sum / double(N);
      const double lp = lpips ? lpips_sum / double(N) : NAN;
      r.str("mode", mode).str("checkpoint", ckpt).str("weights", weights).str("split", split).num("images", double(N));
      r.num("psnr", psnr).num("ssim", ssim).str("ssim_window", window).num("lpips", lp).num("rfd_fmnist", rfd);
      r.num("utilisation", usage.usage()).num("codes_used", double(usage.distinct()));
      r.num("codebook_size", double(loaded.config.codebook_size)).num("perplexity", usage.perplexity());
      r.num("recon_accuracy", sr.accuracy(labels)).num("orig_accuracy", so.accuracy(labels));
      r.str("classifier", clf_path);
      column("images", std::to_string(N));
      column("PSNR (dB)", fixed(psnr, 2)), column("SSIM", fixed(ssim, 4)), column("LPIPS", fixed(lp, 4));
      column("rFD (FMNIST)", fixed(rfd, 2)), column("utilisation", fixed(100 * usage.usage(), 1) + "%");
      column("codes", std::to_string(usage.distinct()) + " / " + std::to_string(loaded.config.codebook_size));
      column("recon. accuracy", fixed(100 * sr.accuracy(labels), 1) + "%");
      std::cout << std::fixed << std::setprecision(3) << "images " << N << " (" << split << ", " << weights
                << " weights)  PSNR " << psnr << " dB  SSIM " << std::setprecision(4) << ssim << "  LPIPS "
                << (lpips ? fixed(lp, 4) : "-") << "  rFD(FMNIST) " << std::setprecision(3) << rfd << "  utilisation "
                << usage.usage() << " (" << usage.distinct() << " of " << loaded.config.codebook_size << " codes)"
                << "  recon accuracy " << sr.accuracy(labels) << " (originals " << so.accuracy(labels) << ")\n";
      if (identical > 0) std::cout << identical << " images were reconstructed exactly (PSNR = inf, left out of the mean)\n";
      auto export_npz = [&](const char* key, const std::vector<std::uint8_t>& px) {
        const std::string p = args.get<std::string>(key);
        if (p.empty()) return;
        ibq::write_npz(p, {ibq::NpzArray{"arr_0", px, {N, H, W, C}}, ibq::npz_int64("arr_1", labels)});
        std::cout << "wrote " << p << " (arr_0 uint8 [" << N << ", " << H << ", " << W << ", " << C << "], arr_1 labels)\n";
      };
      export_npz("output.npz", recon_all);
      export_npz("output.reference_npz", orig_all);
    } else {
      const std::string path = args.get<std::string>("input.samples");
      IBQ_CHECK(!path.empty(), "input.samples is required in eval.mode=samples (an .npz from ibq-sample --output.npz)");
      IBQ_CHECK(fs::exists(path), "input.samples '" << path << "' does not exist");
      const auto images = ibq::read_npz_uint8(path, "arr_0");
      IBQ_CHECK(images.shape.size() == 4 && images.shape[1] == images.shape[2],
                "input.samples '" << path << "': arr_0 must be [N, H, W, C] with square images");
      const ibq::index_t N = images.shape[0], R = images.shape[1], C = images.shape[3];
      std::vector<std::int32_t> labels;
      for (auto v : ibq::read_npz_int64(path, "arr_1")) labels.push_back(std::int32_t(v));
      IBQ_CHECK(ibq::index_t(labels.size()) == N, "input.samples '" << path << "': " << labels.size() << " labels (arr_1) for "
                                                                     << N << " images (arr_0)");
      IBQ_CHECK(N >= splits && N >= 2, "input.samples '" << path << "' holds " << N << " images: too few for eval.is_splits = "
                                                         << splits);
      const auto test = ibq::load_fashion_mnist(args.get<std::string>("data.dir"), "test");
      auto train = ibq::load_fashion_mnist(args.get<std::string>("data.dir"), "train");
      // The real reference: N training images drawn at random, with their labels.
      std::vector<ibq::index_t> pick(std::size_t(train.count));
      std::iota(pick.begin(), pick.end(), 0);
      std::shuffle(pick.begin(), pick.end(), std::mt19937_64(args.get<unsigned long>("eval.seed") + 1));
      IBQ_CHECK(N <= train.count, "input.samples holds " << N << " images, more than the " << train.count
                                                        << " training images of the real reference");
      const ibq::index_t S = train.height;
      std::vector<std::uint8_t> real(std::size_t(N * S * S));
      std::vector<std::int32_t> real_labels;
      for (ibq::index_t i = 0; i < N; ++i) {
        std::copy_n(train.pixels.data() + pick[std::size_t(i)] * S * S, S * S, real.data() + i * S * S);
        real_labels.push_back(train.labels[std::size_t(pick[std::size_t(i)])]);
      }
      const auto ss = judge.score(images.data, N, R, C);
      const auto st = judge.score(test.pixels, test.count, test.height, 1);
      const auto sreal = judge.score(real, N, S, 1);
      const auto gt = judge_gaussian(st, test.count);
      const double fd = ibq::metrics::frechet_distance(judge_gaussian(ss, N), gt);
      const double fd_real = ibq::metrics::frechet_distance(judge_gaussian(sreal, N), gt);
      const unsigned long seed = args.get<unsigned long>("eval.seed");
      const auto is = shuffled_is(ss, N, splits, seed), is_real = shuffled_is(sreal, N, splits, seed);
      r.str("mode", mode).str("samples", path).num("images", double(N)).num("fd_fmnist", fd);
      r.num("is_fmnist", is.mean).num("is_fmnist_std", is.std).num("class_accuracy", ss.accuracy(labels));
      r.num("real_images", double(N)).num("real_fd_fmnist", fd_real).num("real_is_fmnist", is_real.mean);
      r.num("real_class_accuracy", sreal.accuracy(real_labels)).num("reference_images", double(test.count));
      r.num("is_splits", double(splits)).str("classifier", clf_path);
      column("samples", std::to_string(N)), column("FD (FMNIST)", fixed(fd, 2));
      column("IS (FMNIST)", fixed(is.mean, 2) + " ± " + fixed(is.std, 2));
      column("class accuracy", fixed(100 * ss.accuracy(labels), 1) + "%");
      column("real: FD / IS", fixed(fd_real, 2) + " / " + fixed(is_real.mean, 2));
      std::cout << std::fixed << std::setprecision(3) << "samples " << N << " (" << R << "x" << R << ")  FD(FMNIST) " << fd
                << " vs the " << test.count << " test images  IS(FMNIST) " << is.mean << " +- " << is.std
                << "  class accuracy " << ss.accuracy(labels) << "\n"
                << "real reference: " << N << " training images  FD(FMNIST) " << fd_real << "  IS(FMNIST) "
                << is_real.mean << "  class accuracy " << sreal.accuracy(real_labels) << "\n";
    }
    std::cout << "Fashion-MNIST feature scores (classifier " << clf_path << "), not ImageNet FID/IS\n";
    std::string head = "|", rule = "|", row = "|";
    for (std::size_t i = 0; i < md_head.size(); ++i) head += " " + md_head[i] + " |", rule += " ---: |", row += " " + md_row[i] + " |";
    std::cout << row << "\n";
    const std::string json = args.get<std::string>("output.json"), md = args.get<std::string>("output.markdown");
    if (!json.empty()) write_text(json, r.json(), "output.json");
    if (!md.empty()) write_text(md, head + "\n" + rule + "\n" + row + "\n", "output.markdown");
    return 0;
  });
}
