// ibq-eval: the evaluation suite, in two modes, each writing a JSON file and a Markdown table row.
//
//   ibq-eval --input.checkpoint ibq_16384.h5 --data.images imagenet_val.h5 --eval.inception_weights pt_inception.h5
//   ibq-eval --eval.mode samples --input.samples samples.npz --eval.inception_weights pt_inception.h5
//            --eval.reference_batch VIRTUAL_imagenet256_labeled.npz
//   ibq-eval --input.checkpoint runs/quickstart/ckpt-00001800.h5 --eval.classifier runs/fashion_mnist_classifier.h5
//
// Two families of scores, each present when its network is given:
// - eval.inception_weights (pytorch-fid's FID Inception, hpc/make_inception_weights.py): the standard scores
//   the paper reports. tokenizer mode: rfid, SEED-Voken's evaluation_image.py protocol (originals against
//   the EMA reconstructions, clamped to [-1, 1] and fed as floats). samples mode: is (ADM's evaluator: the
//   1008-way softmax of pool3's logits, over eval.is_splits parts of a fixed shuffle of the samples) and,
//   with eval.reference_batch (ADM's .npz of mu/sigma, or any .npz of images as arr_0), fid.
// - eval.classifier (ibq-train-classifier): Fashion-MNIST feature scores that rank models trained here, not
//   comparable with the paper: rfd_fmnist / fd_fmnist (the same Fréchet protocols in the classifier's
//   feature space), is_fmnist, recon/class accuracy, and the real-data floor of the sample scores (real_*).
// Always (tokenizer mode): PSNR, SSIM, codebook utilisation and perplexity over the whole set, and LPIPS
// with eval.lpips_weights; images are the checkpoint's test split or data.images (shards; an imported
// checkpoint names none). Every number says which network and weights produced it.
//
// Under mpirun/srun each rank scores a contiguous share of the images and the statistics are merged (sums,
// histograms, Fréchet moments, IS parts; the classifier's small features are gathered), so N ranks give the
// numbers one process would, N times faster. output.npz / output.reference_npz need one process.
#include <filesystem>
#include <iomanip>
#include <numeric>
#include <optional>
#include <random>

#include "common/classifier_eval.hpp"
#include "common/eval_report.hpp"
#include "common/inception_eval.hpp"
#include "common/progress.hpp"
#include "common/runtime.hpp"
#include "common/tokenizer_options.hpp"
#include "ibq/data/image_grid.hpp"
#include "ibq/gan/perceptual.hpp"
#include "ibq/metrics/inception_score.hpp"
#include "ibq/metrics/psnr.hpp"
#include "ibq/metrics/ssim.hpp"
#include "ibq/quant/codebook_usage.hpp"

namespace fs = std::filesystem;
using ibq::cli::fixed;
using ibq::index_t;

namespace {

// What both modes share: the two optional judges, the communicator, and the report being built.
struct Context {
  const ibq::cli::Args& args;
  const ibq::dist::Communicator& comm;
  std::optional<ibq::cli::Judge> judge;
  std::optional<ibq::cli::InceptionEval> inception;
  ibq::cli::EvalReport report;
  long batch = 100;
  // This rank's contiguous share [lo, hi) of n items.
  std::pair<index_t, index_t> share(index_t n) const {
    return {n * comm.rank() / comm.size(), n * (comm.rank() + 1) / comm.size()};
  }
};

ibq::metrics::Gaussian judge_gaussian(const ibq::cli::Judge::Scores& s, index_t n) {
  return ibq::metrics::fit_gaussian(s.features.data(), n, s.dim);
}

// Every rank's judge scores, in rank order (= image order, since shares are contiguous), on the root.
ibq::cli::Judge::Scores gather(const ibq::cli::Judge::Scores& s, const ibq::dist::Communicator& comm) {
  ibq::cli::Judge::Scores all = s;
  all.features = comm.gather_to_root(s.features);
  all.probs = comm.gather_to_root(s.probs);
  return all;
}

// The IS analogue over a fixed shuffle (the samples come class by class; each part must mix the classes).
ibq::metrics::InceptionScore shuffled_is(const ibq::cli::Judge::Scores& s, index_t n, long splits, const std::vector<index_t>& order) {
  std::vector<float> p;
  p.reserve(std::size_t(n * s.classes));
  for (auto i : order) p.insert(p.end(), s.probs.begin() + i * s.classes, s.probs.begin() + (i + 1) * s.classes);
  return ibq::metrics::inception_score(p.data(), n, s.classes, splits);
}

std::vector<index_t> shuffled(index_t n, unsigned long seed) {
  std::vector<index_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  return order;
}

// Distinct codes and perplexity of a merged histogram.
std::pair<index_t, double> usage_of(const std::vector<std::int64_t>& hist) {
  double total = 0, entropy = 0;
  index_t distinct = 0;
  for (auto c : hist) total += double(c), distinct += c > 0;
  for (auto c : hist)
    if (c > 0) entropy -= double(c) / total * std::log(double(c) / total);
  return {distinct, std::exp(entropy)};
}

void evaluate_tokenizer(Context& cx, const std::string& prog) {
  const auto& args = cx.args;
  auto& r = cx.report;
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
  const std::string images = args.get<std::string>("data.images");
  const auto source = ibq::cli::evaluation_images(loaded.stored, split, images, args.get<long>("data.limit"));
  const ibq::ImageSource& set = *source;
  const index_t N = set.count, H = set.height, W = set.width, C = set.channels, per = H * W * C;
  IBQ_CHECK(N >= 2, "the evaluated set holds " << N << " image(s): the Fréchet distances need at least 2");
  const auto [lo, hi] = cx.share(N);
  std::vector<index_t> order(static_cast<std::size_t>(N));
  std::iota(order.begin(), order.end(), 0);
  // Images are kept only for the exports; the judges score each batch as it is reconstructed, so a shape
  // one cannot take fails on the first batch, and memory stays at their statistics.
  const bool keep = !args.get<std::string>("output.npz").empty() || !args.get<std::string>("output.reference_npz").empty();
  std::vector<std::uint8_t> recon_all, orig_all;
  ibq::cli::Judge::Scores so, sr;
  std::vector<std::int32_t> labels;
  ibq::CodebookUsage<> usage(loaded.config.codebook_size);
  ibq::metrics::GaussianMoments inc_orig(ibq::cli::InceptionEval::feature_dim), inc_recon(ibq::cli::InceptionEval::feature_dim);
  double psnr_sum = 0, ssim_sum = 0, lpips_sum = 0, identical = 0;
  ibq::cli::Progress bar("evaluate", hi - lo);
  for (index_t first = lo; first < hi; first += cx.batch) {
    const index_t n = std::min<index_t>(cx.batch, hi - first);
    const auto l = set.batch_labels<ibq::HostSpace>(order, first, n).to_host();
    labels.insert(labels.end(), l.begin(), l.end());
    const auto x = set.batch<float>(order, first, n);
    const auto tokens = model.encode(x);
    usage.update(tokens);
    const auto decoded = model.decode(tokens);
    const auto recon = ibq::to_uint8_nhwc(decoded);
    const auto orig = ibq::image_set_nhwc(set, first, n);
    for (index_t i = 0; i < n; ++i) {
      const double p = ibq::metrics::psnr(orig.data() + i * per, recon.data() + i * per, H, W, C);
      if (std::isinf(p)) ++identical; else psnr_sum += p;
      ssim_sum += ibq::metrics::ssim(orig.data() + i * per, recon.data() + i * per, H, W, C, ssim_opt);
    }
    if (lpips) {  // on the uint8 pair mapped back to [-1, 1], grey replicated to the 3 channels VGG takes
      auto to_unit = [&](const std::vector<std::uint8_t>& u8) {
        std::vector<float> v(std::size_t(n * 3 * H * W));
        for (index_t i = 0; i < n; ++i)
          for (index_t c = 0; c < 3; ++c)
            for (index_t y = 0; y < H * W; ++y)
              v[std::size_t((i * 3 + c) * H * W + y)] = float(u8[std::size_t((i * H * W + y) * C + (C == 3 ? c : 0))] / 127.5 - 1.0);
        return ibq::Tensor<float>::from_host(ibq::Shape{n, 3, H, W}, v);
      };
      ibq::Tape<float> tape;
      auto guard = tape.no_grad();
      const auto d = lpips->forward(tape.leaf(to_unit(orig)), tape.leaf(to_unit(recon)), ibq::Rng{0, 0}, false)
                         .value().to_host();
      for (float v : d) lpips_sum += v;
    }
    if (cx.inception) {  // SEED-Voken's rFID: the float images in [-1, 1], reconstructions clamped
      cx.inception->add_signed(x, inc_orig);
      cx.inception->add_signed(decoded, inc_recon);
    }
    if (cx.judge) {
      so.append(cx.judge->score(orig, n, H, C));
      sr.append(cx.judge->score(recon, n, H, C));
    }
    if (keep) {
      recon_all.insert(recon_all.end(), recon.begin(), recon.end());
      orig_all.insert(orig_all.end(), orig.begin(), orig.end());
    }
    bar.update(first + n - lo);
  }
  bar.finish();
  // Merge the ranks' shares.
  const auto& comm = cx.comm;
  psnr_sum = comm.sum(psnr_sum), ssim_sum = comm.sum(ssim_sum), lpips_sum = comm.sum(lpips_sum);
  identical = comm.sum(identical);
  auto hist = usage.histogram();
  comm.allreduce_sum(hist.data(), hist.size());
  const auto [distinct, perplexity] = usage_of(hist);
  const double utilisation = double(distinct) / double(loaded.config.codebook_size);
  double rfid = NAN;
  if (cx.inception) {
    comm.allreduce_sum(inc_orig.data(), inc_orig.size());
    comm.allreduce_sum(inc_recon.data(), inc_recon.size());
    rfid = ibq::metrics::frechet_distance(inc_orig.gaussian(), inc_recon.gaussian());
  }
  const auto all_labels = comm.gather_to_root(labels);
  double rfd = NAN, recon_acc = NAN, orig_acc = NAN;
  if (cx.judge) {
    const auto go = gather(so, comm), gr = gather(sr, comm);
    if (comm.root()) {
      rfd = ibq::metrics::frechet_distance(judge_gaussian(go, N), judge_gaussian(gr, N));
      recon_acc = gr.accuracy(all_labels), orig_acc = go.accuracy(all_labels);
    }
  }
  const double psnr = N > identical ? psnr_sum / (double(N) - identical) : INFINITY, ssim = ssim_sum / double(N);
  const double lp = lpips ? lpips_sum / double(N) : NAN;
  r.str("mode", "tokenizer").str("checkpoint", ckpt).str("weights", weights).str("split", images.empty() ? split : "");
  r.str("images_from", images.empty() ? "the checkpoint's " + split + " split" : images).num("images", double(N));
  r.num("psnr", psnr).num("ssim", ssim).str("ssim_window", window).num("lpips", lp);
  r.num("utilisation", utilisation).num("codes_used", double(distinct));
  r.num("codebook_size", double(loaded.config.codebook_size)).num("perplexity", perplexity);
  if (cx.inception) r.num("rfid", rfid).str("inception", cx.inception->describe());
  if (cx.judge)
    r.num("rfd_fmnist", rfd).num("recon_accuracy", recon_acc).num("orig_accuracy", orig_acc).str("classifier", cx.judge->path());
  r.num("ranks", double(comm.size()));
  r.column("images", std::to_string(N));
  r.column("PSNR (dB)", fixed(psnr, 2)), r.column("SSIM", fixed(ssim, 4)), r.column("LPIPS", fixed(lp, 4));
  if (cx.inception) r.column("rFID", fixed(rfid, 2));
  if (cx.judge) r.column("rFD (FMNIST)", fixed(rfd, 2));
  r.column("utilisation", fixed(100 * utilisation, 1) + "%");
  r.column("codes", std::to_string(distinct) + " / " + std::to_string(loaded.config.codebook_size));
  if (cx.judge) r.column("recon. accuracy", fixed(100 * recon_acc, 1) + "%");
  std::cout << std::fixed << std::setprecision(3) << "images " << N << " (" << (images.empty() ? split : images) << ", "
            << weights << " weights)  PSNR " << psnr << " dB  SSIM " << std::setprecision(4) << ssim << "  LPIPS "
            << (lpips ? fixed(lp, 4) : "-") << std::setprecision(3);
  if (cx.judge) std::cout << "  rFD(FMNIST) " << rfd;
  if (cx.inception) std::cout << "  rFID " << rfid;
  std::cout << "  utilisation " << utilisation << " (" << distinct << " of " << loaded.config.codebook_size
            << " codes)  perplexity " << std::setprecision(1) << perplexity;
  if (cx.judge) std::cout << std::setprecision(3) << "  recon accuracy " << recon_acc << " (originals " << orig_acc << ")";
  std::cout << "\n";
  if (cx.inception)
    std::cout << "rFID: originals vs reconstructions as floats in [-1, 1], " << cx.inception->describe() << "\n";
  if (identical > 0) std::cout << identical << " images were reconstructed exactly (PSNR = inf, left out of the mean)\n";
  auto export_npz = [&](const char* key, const std::vector<std::uint8_t>& px) {
    const std::string p = args.get<std::string>(key);
    if (p.empty()) return;
    ibq::write_npz(p, {ibq::NpzArray{"arr_0", px, {N, H, W, C}}, ibq::npz_int64("arr_1", labels)});
    std::cout << "wrote " << p << " (arr_0 uint8 [" << N << ", " << H << ", " << W << ", " << C << "], arr_1 labels)\n";
  };
  export_npz("output.npz", recon_all);
  export_npz("output.reference_npz", orig_all);
}

void evaluate_samples(Context& cx) {
  const auto& args = cx.args;
  const auto& comm = cx.comm;
  auto& r = cx.report;
  const std::string path = args.get<std::string>("input.samples");
  IBQ_CHECK(!path.empty(), "input.samples is required in eval.mode=samples (an .npz from ibq-sample --output.npz)");
  IBQ_CHECK(fs::exists(path), "input.samples '" << path << "' does not exist");
  ibq::NpzRows images(path, "arr_0");
  const auto& shape = images.shape();
  IBQ_CHECK(shape.size() == 4 && (shape[3] == 1 || shape[3] == 3),
            "input.samples '" << path << "': arr_0 must be uint8 [N, H, W, C] with C = 1 or 3");
  const index_t N = shape[0], H = shape[1], W = shape[2], C = shape[3];
  std::vector<std::int32_t> labels;
  for (auto v : ibq::read_npz_int64(path, "arr_1")) labels.push_back(std::int32_t(v));
  IBQ_CHECK(index_t(labels.size()) == N, "input.samples '" << path << "': " << labels.size() << " labels (arr_1) for "
                                                            << N << " images (arr_0)");
  const long splits = args.get<long>("eval.is_splits");
  IBQ_CHECK(N >= splits && N >= 2, "input.samples '" << path << "' holds " << N << " images: too few for eval.is_splits = "
                                                     << splits);
  IBQ_CHECK(!cx.judge || H == W, "input.samples '" << path << "': the classifier takes square images, these are " << H
                                                   << "x" << W);
  const unsigned long seed = args.get<unsigned long>("eval.seed");
  // The IS parts: consecutive parts of one fixed shuffle of all samples (every rank computes the same one).
  const auto order = shuffled(N, seed);
  const auto part_of_position = ibq::metrics::split_of_positions(N, splits);
  std::vector<index_t> split_of(static_cast<std::size_t>(N));
  for (index_t j = 0; j < N; ++j) split_of[std::size_t(order[std::size_t(j)])] = part_of_position[std::size_t(j)];
  const auto [lo, hi] = cx.share(N);
  ibq::metrics::GaussianMoments inc(ibq::cli::InceptionEval::feature_dim);
  ibq::metrics::InceptionScoreParts is_parts(splits, ibq::cli::InceptionEval::classes);
  ibq::cli::Judge::Scores ss;
  ibq::cli::Progress bar("evaluate", hi - lo);
  for (index_t first = lo; first < hi; first += cx.batch) {
    const index_t n = std::min<index_t>(cx.batch, hi - first);
    const auto px = images.read(first, n);
    if (cx.inception) cx.inception->add_uint8(px, n, H, W, C, inc, &is_parts, [&](index_t i) { return split_of[std::size_t(first + i)]; });
    if (cx.judge) ss.append(cx.judge->score(px, n, H, C));
    bar.update(first + n - lo);
  }
  bar.finish();
  r.str("mode", "samples").str("samples", path).num("images", double(N)).num("is_splits", double(splits));
  r.column("samples", std::to_string(N));
  if (cx.inception) {
    comm.allreduce_sum(inc.data(), inc.size());
    comm.allreduce_sum(is_parts.data(), is_parts.size());
    const auto is = is_parts.score();
    const std::string ref = args.get<std::string>("eval.reference_batch");
    double fid = NAN;
    if (!ref.empty()) fid = ibq::metrics::frechet_distance(inc.gaussian(), cx.inception->reference(ref, comm, cx.batch));
    r.num("fid", fid).str("reference_batch", ref).num("is", is.mean).num("is_std", is.std);
    r.str("inception", cx.inception->describe());
    r.column("FID", fixed(fid, 2)), r.column("IS", fixed(is.mean, 2) + " ± " + fixed(is.std, 2));
    std::cout << std::fixed << std::setprecision(3) << "samples " << N << " (" << H << "x" << W << ")  FID "
              << (ref.empty() ? std::string("- (no eval.reference_batch)") : fixed(fid, 3) + " vs " + ref) << "  IS "
              << is.mean << " +- " << is.std << " (" << splits << " parts)\n"
              << "  (" << cx.inception->describe() << ")\n";
  }
  if (cx.judge) {
    const auto gs = gather(ss, comm);
    double fd = NAN, fd_real = NAN, acc = NAN, real_acc = NAN;
    ibq::metrics::InceptionScore is{}, is_real{};
    index_t test_count = 0;
    if (comm.root()) {  // the Fashion-MNIST references are small: the root scores them
      const auto test = ibq::load_fashion_mnist(args.get<std::string>("data.dir"), "test");
      auto train = ibq::load_fashion_mnist(args.get<std::string>("data.dir"), "train");
      IBQ_CHECK(N <= train.count, "input.samples holds " << N << " images, more than the " << train.count
                                                        << " training images of the real reference");
      // The real reference: N training images drawn at random, with their labels.
      const auto pick = shuffled(train.count, seed + 1);
      const index_t S = train.height;
      std::vector<std::uint8_t> real(std::size_t(N * S * S));
      std::vector<std::int32_t> real_labels;
      for (index_t i = 0; i < N; ++i) {
        std::copy_n(train.pixels.data() + pick[std::size_t(i)] * S * S, S * S, real.data() + i * S * S);
        real_labels.push_back(train.labels[std::size_t(pick[std::size_t(i)])]);
      }
      const auto st = cx.judge->score(test.pixels, test.count, test.height, 1);
      const auto sreal = cx.judge->score(real, N, S, 1);
      const auto gt = judge_gaussian(st, test.count);
      fd = ibq::metrics::frechet_distance(judge_gaussian(gs, N), gt);
      fd_real = ibq::metrics::frechet_distance(judge_gaussian(sreal, N), gt);
      is = shuffled_is(gs, N, splits, order), is_real = shuffled_is(sreal, N, splits, order);
      acc = gs.accuracy(labels), real_acc = sreal.accuracy(real_labels);
      test_count = test.count;
    }
    r.num("fd_fmnist", fd).num("is_fmnist", is.mean).num("is_fmnist_std", is.std).num("class_accuracy", acc);
    r.num("real_images", double(N)).num("real_fd_fmnist", fd_real).num("real_is_fmnist", is_real.mean);
    r.num("real_class_accuracy", real_acc).num("reference_images", double(test_count)).str("classifier", cx.judge->path());
    r.column("FD (FMNIST)", fixed(fd, 2)), r.column("IS (FMNIST)", fixed(is.mean, 2) + " ± " + fixed(is.std, 2));
    r.column("class accuracy", fixed(100 * acc, 1) + "%");
    r.column("real: FD / IS", fixed(fd_real, 2) + " / " + fixed(is_real.mean, 2));
    std::cout << std::fixed << std::setprecision(3) << "samples " << N << " (" << H << "x" << W << ")  FD(FMNIST) " << fd
              << " vs the " << test_count << " test images  IS(FMNIST) " << is.mean << " +- " << is.std
              << "  class accuracy " << acc << "\n"
              << "real reference: " << N << " training images  FD(FMNIST) " << fd_real << "  IS(FMNIST) "
              << is_real.mean << "  class accuracy " << real_acc << "\n";
  }
  r.num("ranks", double(comm.size()));
}

}  // namespace

int main(int argc, char** argv) {
  ibq::settle_process_environment(argv);
  const std::string prog = "ibq-eval";
  return ibq::cli::run_main(prog, [&] {
    ibq::cli::Options opt(prog, "evaluates a tokenizer (rFID, PSNR, SSIM, LPIPS, utilisation) or generated samples "
                                "(FID, IS) with pytorch-fid's Inception, and/or Fashion-MNIST classifier scores");
    opt.add<std::string>("eval.mode", "tokenizer", "tokenizer (reconstruct a test split) or samples (score an .npz)")
        .add<std::string>("eval.inception_weights", "", "pytorch-fid's FID Inception weights (hpc/make_inception_weights.py): "
                                                        "adds rfid (tokenizer mode), fid and is (samples mode)")
        .add<std::string>("eval.reference_batch", "", "samples mode: the FID reference, an .npz with ADM's mu and sigma "
                                                      "(e.g. VIRTUAL_imagenet256_labeled.npz) or images as arr_0")
        .add<std::string>("eval.classifier", "", "classifier checkpoint (ibq-train-classifier): adds the Fashion-MNIST "
                                                 "feature scores (rfd_fmnist, fd_fmnist, is_fmnist, accuracies)")
        .add<std::string>("eval.lpips_weights", "", "tokenizer mode: LPIPS VGG16 weights (hpc/make_lpips_weights.py); "
                                                    "empty: no LPIPS")
        .add<std::string>("eval.ssim_window", "uniform", "tokenizer mode: uniform (7x7, skimage's default, as the reference "
                                                        "calls it) or gaussian (sigma 1.5, Wang et al. 2004)")
        .add<long>("eval.batch_size", 100, "images per forward pass")
        .add<long>("eval.is_splits", 10, "parts the Inception Score (and its analogue) is averaged over")
        .add<unsigned long>("eval.seed", 0, "shuffle of the samples before the IS split, and of the real reference")
        .add<std::string>("input.checkpoint", "", "tokenizer mode: tokenizer checkpoint (ibq-train-tokenizer's, or "
                                                  "imported by hpc/import_seed_voken.py)")
        .add<std::string>("input.weights", "ema", "tokenizer mode: ema (the reference's evaluation weights) or params")
        .add<std::string>("input.samples", "", "samples mode: .npz with arr_0 uint8 [N, H, W, C] and arr_1 int64 labels "
                                               "(ibq-sample --output.npz)")
        .add<std::string>("data.split", "test", "tokenizer mode: test or train split of the checkpoint's data")
        .add<std::string>("data.images", "", "tokenizer mode: HDF5 image shards (ibq-prepare-data) to evaluate instead "
                                             "of the checkpoint's split (an imported checkpoint names none)")
        .add<long>("data.limit", 0, "tokenizer mode: only the first N images (0: all)")
        .add<std::string>("data.dir", "/usr/share/datasets/fashion-mnist", "samples mode with eval.classifier: "
                                                                           "Fashion-MNIST IDX folder (the reference sets)")
        .add<std::string>("output.json", "", "JSON file of the scores (empty: none)")
        .add<std::string>("output.markdown", "", "Markdown file: a table header and this evaluation's row (empty: none)")
        .add<std::string>("output.npz", "", "tokenizer mode: the uint8 reconstructions (arr_0) and labels (arr_1)")
        .add<std::string>("output.reference_npz", "", "tokenizer mode: the uint8 originals, in the same layout")
        .add<bool>("output.overwrite", false, "replace existing output files")
        .add<int>("runtime.threads", 0, "CPU threads (0: OMP_NUM_THREADS or all cores)")
        .add<bool>("runtime.tf32", false, ibq::cli::kTf32Help);
    const auto args = opt.parse(argc, argv);
    const std::string mode = args.get<std::string>("eval.mode");
    IBQ_CHECK(mode == "tokenizer" || mode == "samples", "eval.mode must be tokenizer or samples, got '" << mode << "'");
    const long batch = args.get<long>("eval.batch_size"), splits = args.get<long>("eval.is_splits");
    IBQ_CHECK(batch > 0, "eval.batch_size must be positive");
    IBQ_CHECK(splits > 0, "eval.is_splits must be positive");
    const std::string clf_path = args.get<std::string>("eval.classifier");
    const std::string inc_path = args.get<std::string>("eval.inception_weights");
    IBQ_CHECK(!clf_path.empty() || !inc_path.empty(),
              "give eval.inception_weights (the standard rFID/FID/IS; make the file with hpc/make_inception_weights.py) "
              "and/or eval.classifier (Fashion-MNIST feature scores; train one with ibq-train-classifier --config "
              "experiments/fashion_mnist_classifier.ini)");
    const std::vector<std::string> outputs = {"output.json", "output.markdown", "output.npz", "output.reference_npz"};
    for (const auto& key : outputs) {
      const std::string p = args.get<std::string>(key);
      IBQ_CHECK(p.empty() || !fs::exists(p) || args.get<bool>("output.overwrite"),
                key << " '" << p << "' exists; pass --output.overwrite=true to replace it");
    }
    if (mode == "samples")
      for (const char* key : {"input.checkpoint", "eval.lpips_weights", "output.npz", "output.reference_npz", "data.images"})
        IBQ_CHECK(args.get<std::string>(key).empty(), key << " is for eval.mode=tokenizer");
    else
      for (const char* key : {"input.samples", "eval.reference_batch"})
        IBQ_CHECK(args.get<std::string>(key).empty(), key << " is for eval.mode=samples");
    IBQ_CHECK(args.get<std::string>("eval.reference_batch").empty() || !inc_path.empty(),
              "eval.reference_batch is the FID reference: give eval.inception_weights too");

    ibq::cli::apply_tf32(args);
    ibq::cli::Runtime runtime(args.get<int>("runtime.threads"));
    const auto& comm = runtime.comm();
    IBQ_CHECK(!comm.distributed() || (args.get<std::string>("output.npz").empty() &&
                                      args.get<std::string>("output.reference_npz").empty()),
              "output.npz and output.reference_npz are written by a single-process run (without mpirun/srun)");
    Context cx{args, comm, std::nullopt, std::nullopt, {}, batch};
    if (!clf_path.empty()) cx.judge.emplace(prog, clf_path);
    if (!inc_path.empty()) cx.inception.emplace(prog, inc_path);
    std::cerr << prog << ": " << ibq::cli::Runtime::describe() << (comm.distributed() ? "; " + std::to_string(comm.size()) + " ranks" : "") << "\n";
    if (mode == "tokenizer")
      evaluate_tokenizer(cx, prog);
    else
      evaluate_samples(cx);
    if (cx.judge) std::cout << "Fashion-MNIST feature scores (classifier " << clf_path << "), not ImageNet FID/IS\n";
    std::cout << cx.report.markdown_row() << "\n";
    const std::string json = args.get<std::string>("output.json"), md = args.get<std::string>("output.markdown");
    if (comm.root() && !json.empty()) ibq::write_text_file(json, cx.report.json(), "output.json");
    if (comm.root() && !md.empty()) ibq::write_text_file(md, cx.report.markdown_table(), "output.markdown");
    return 0;
  });
}
