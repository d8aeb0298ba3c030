// inception — FID Inception features (pool3 and logits) of a batch of images against pytorch-fid's network in
// PyTorch (bench/inception_torch.py), in the same run and with the same thread count.
//
//   bench/run_bench.sh 2 inception                      # batch 50 of 299x299 images, with the torch peer
//   build/bin/inception --batch 50 --res 299 [--reps 3] [--weights pt_inception.h5] [--no-peer]
//
// Both sides run the whole pytorch-fid path on images in [0, 1]: bilinear resize to 299x299 (the identity at
// --res 299), 2x - 1, the network, the average pool and the logits. Weights are random on both sides and
// need not agree (timing does not depend on them): He-uniform convolutions, so activations keep their scale
// and no denormals slow either side; --weights times a real file instead. PyTorch runs twice: on plain NCHW
// tensors, as pytorch-fid does (the comparison that matters to its users), and with channels_last, the NHWC
// layout in which ibq keeps its activations (both then run the same oneDNN kernels). Each run is its own
// process (peak resident memory is per process): the median of --reps batches after a warm-up batch, then,
// for ibq, one batch with FidInception::profile_into on, which splits the time over the blocks.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "device_memory.hpp"
#include "ibq/core/host_memory.hpp"
#include "ibq/core/process_env.hpp"
#include "ibq/core/random.hpp"
#include "ibq/metrics/inception.hpp"

namespace {
using ibq::index_t;
using Space = ibq::DefaultSpace;

// He-uniform convolutions (bias 0) and a uniform fc: O(1) activations through the 94 convs.
ibq::metrics::FidInceptionWeights<Space> random_weights() {
  ibq::metrics::FidInceptionWeights<Space> w;
  std::uint64_t seed = 1;
  for (const auto& s : ibq::metrics::fid_inception_convs()) {
    const double fan_in = double(s.cin * s.kh * s.kw);
    auto weight = bench::random_f<Space>({s.cout, s.cin, s.kh, s.kw}, seed++, std::sqrt(6.0 / fan_in));
    const ibq::Conv2dArgs args{s.stride, s.pad_h, s.pad_h, s.pad_w, s.pad_w};
    w.convs.emplace(s.name, ibq::FrozenConvRelu<float, Space>(weight, ibq::Tensor<float, Space>({s.cout}), args));
  }
  w.fc_weight = bench::random_f<Space>({1008, 2048}, seed++, 1.0 / std::sqrt(2048.0));
  w.fc_bias = ibq::Tensor<float, Space>({1008});
  return w;
}

int run_child(long batch, long res, int reps, const std::string& weights) {
  ibq::keep_host_memory_warm();
  auto net = weights.empty() ? ibq::metrics::FidInception<Space>(random_weights())
                             : ibq::metrics::FidInception<Space>(weights);
  std::vector<float> pixels(std::size_t(batch * 3 * res * res));
  const ibq::Rng rng{7, 3};
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = float(rng.uniform(i));  // in [0, 1)
  const auto images = ibq::Tensor<float, Space>::from_host({batch, 3, res, res}, pixels);
  const bench::PeakMemory<Space> memory;
  double checksum = 0;
  const double t = bench::median_seconds(
      [&] {
        const auto out = net.forward(images);
        checksum = double(out.pool3.to_host()[0]);
      },
      reps);
  const double peak = memory.peak_mib();
  std::map<std::string, double> stages;
  net.profile_into(&stages);
  net.forward(images);
  net.profile_into(nullptr);
  std::printf("{\"seconds\": %.6f, \"peak_mib\": %.1f, \"checksum\": %.6g, \"nhwc\": %d", t, peak, checksum,
              net.layout() == ibq::ImageLayout::nhwc ? 1 : 0);
  for (const auto& [name, s] : stages) std::printf(", \"stage_%s\": %.6f", name.c_str(), s);
  std::printf("}\n");
  return 0;
}
}  // namespace

constexpr char usage[] =
    "usage: inception [--batch 50] [--res 299] [--reps 3] [--weights FILE.h5] [--no-peer]\n"
    "  FID Inception features (pytorch-fid's path: resize to 299x299, 2x - 1, the network, pool3 and logits)\n"
    "  of a batch of random images in [0, 1], against PyTorch (bench/inception_torch.py) with the same threads,\n"
    "  on NCHW tensors as pytorch-fid runs it and with channels_last.\n"
    "  --batch N       images per forward\n"
    "  --res R         input images are R x R (299: the resize is the identity)\n"
    "  --reps N        median of N batches after a warm-up batch\n"
    "  --weights FILE  real weights (hpc/make_inception_weights.py) instead of random ones, for ibq\n"
    "  --no-peer       skip PyTorch\n"
    "  bench/run_bench.sh 2 inception runs it the reproducible way (2 threads, same malloc).\n";

int main(int argc, char** argv) {
  bench::exit_on_help(argc, argv, usage);
  ibq::settle_process_environment(argv);  // OpenBLAS kernel + OpenMP spin, before they are read
  Kokkos::ScopeGuard kokkos(argc, argv);
  long batch = 50, res = 299;
  int reps = 3;
  bool child = false, peer = true;
  std::string weights;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--no-peer") { peer = false; continue; }
    if (k == "--child") { child = true; continue; }
    if (k.rfind("--kokkos", 0) == 0) continue;
    if (i + 1 >= argc) { std::fprintf(stderr, "inception: %s needs a value\n", k.c_str()); return 2; }
    const std::string v = argv[++i];
    if (k == "--batch") batch = std::max(1L, std::atol(v.c_str()));
    else if (k == "--res") res = std::max(75L, std::atol(v.c_str()));
    else if (k == "--reps") reps = std::max(1, std::atoi(v.c_str()));
    else if (k == "--weights") weights = v;
    else { std::fprintf(stderr, "inception: unknown option %s (try --help)\n", k.c_str()); return 2; }
  }
  if (child) {
    try {
      return run_child(batch, res, reps, weights);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "inception: %s\n", e.what());
      return 1;
    }
  }

  const int threads = Kokkos::DefaultExecutionSpace().concurrency();
  const std::string self = "/proc/" + std::to_string(getpid()) + "/exe";
  std::printf("CPU: %s\nibq: host BLAS %s; host float conv %s; Kokkos %s with %d threads; %s\n",
              bench::cpu_model().c_str(), ibq::gemm_host_description().c_str(), ibq::conv2d_host_backend().c_str(),
              Kokkos::DefaultExecutionSpace::name(), threads, ibq::settled_environment().c_str());
  bool ok = false;
  std::ostringstream cmd;
  cmd << self << " --child --batch " << batch << " --res " << res << " --reps " << reps;
  if (!weights.empty()) cmd << " --weights '" << weights << "'";
  std::fprintf(stderr, "  %s\n", cmd.str().c_str());
  const auto ours = bench::last_json(bench::run_command(cmd.str(), ok));
  if (!ok) {
    std::fprintf(stderr, "inception: the ibq run failed (its error is above)\n");
    return 1;
  }
  // PyTorch as pytorch-fid runs it (plain NCHW tensors), and with channels_last (NHWC, as ibq keeps them).
  std::vector<std::pair<std::string, std::map<std::string, double>>> rows{
      {std::string("ibq, ") + (ours.count("nhwc") && ours.at("nhwc") > 0 ? "NHWC" : "NCHW"), ours}};
  for (const bool channels_last : {false, true}) {
    if (!peer) break;
    std::ostringstream pc;
    pc << "/usr/bin/python3 " << IBQ_SOURCE_DIR << "/bench/inception_torch.py --threads " << threads << " --batch "
       << batch << " --res " << res << " --reps " << reps << " --device " << bench::PeakMemory<Space>::torch_device()
       << (channels_last ? " --channels-last" : "");
    std::fprintf(stderr, "  %s\n", pc.str().c_str());
    const std::string text = bench::run_command(pc.str(), ok);
    if (!ok) std::fprintf(stderr, "  (torch failed)\n%s", text.c_str());
    const std::size_t at = text.find("torch ");
    if (!channels_last && at != std::string::npos) std::printf("%s\n", text.substr(at, text.find('\n', at) - at).c_str());
    rows.emplace_back(channels_last ? "torch, channels_last" : "torch, NCHW (as pytorch-fid)", bench::last_json(text));
  }
  std::printf("\n| %ld images of %ldx%ld | images/s | ms per batch | peak MiB | ibq speed-up |\n|---|---|---|---|---|\n",
              batch, res, res);
  for (const auto& [name, j] : rows) {
    const bool timed = j.count("seconds") && j.at("seconds") > 0, both = timed && ours.count("seconds");
    std::printf("| %s | %s | %s | %s | %s |\n", name.c_str(),
                timed ? bench::fmt({{"r", double(batch) / j.at("seconds")}}, "r", 1, "%.2f").c_str() : "-",
                bench::fmt(j, "seconds", 1e3, "%.0f").c_str(), bench::fmt(j, "peak_mib", 1, "%.0f").c_str(),
                both ? bench::fmt(j, "seconds", 1.0 / ours.at("seconds"), "%.2fx").c_str() : "-");
  }
  std::printf("\n(medians of %d batches after a warm-up; ibq speed-up: the row's time over ibq's; MiB: %s)\n", reps,
              bench::PeakMemory<Space>::what());
  std::printf("\nWhere ibq's time goes (ms, one profiled batch, fenced after each stage):");
  double total = 0;
  for (const char* stage : {"resize", "stem", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c",
                            "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "pool3"}) {
    const auto it = ours.find(std::string("stage_") + stage);
    if (it != ours.end()) std::printf(" %s %.0f,", stage, it->second * 1e3), total += it->second;
  }
  std::printf(" total %.0f\n", total * 1e3);
  return 0;
}
