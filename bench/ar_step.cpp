// ar_step — one AR transformer training step (teacher-forced logits, cross-entropy, backward, AdamW) against
// the PyTorch reference model of tests/reference/ar_reference.py in the same run, with peak memory and
// where the time goes.
//
//   bench/run_bench.sh 2 ar_step                    # fmnist-s and fmnist-l at batch 64, with the torch peer
//   build/bin/ar_step --preset fmnist-m --batch 32 [--reps 5] [--no-peer]
//
// Dropouts are off on both sides (the reference module has none), AdamW (0.9, 0.95) decays every group on
// both. Each configuration runs in its own process (peak resident memory is per process): the step's median
// over --reps after a warm-up, then one step with the tape's profile on (autodiff/op_profile.hpp), summed
// per op (forward + backward). The peer is bench/ar_step_torch.py with the same sizes and thread count.
// --precision bf16 runs the step under ibq::Autocast and the peer under torch.autocast("cpu", bfloat16).
// GFLOP/s are the step's GEMM flops (linalg/flop_counter.hpp) over its time; "share" divides them by this
// run's GEMM peak of the same precision (bench/gemm_peak.hpp), for ibq and for torch (the same flops).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "gemm_peak.hpp"
#include "ibq/core/host_memory.hpp"
#include "ibq/core/process_env.hpp"
#include "ibq/models/ar_transformer.hpp"
#include "ibq/optim/adam.hpp"

namespace {
using ibq::index_t;

// "in-slice": an ImageNet-shaped slice of the B/L models (width 1024, 16 heads, 256 tokens + class, K 16384,
// 1000 classes) with 2 blocks, the size at which one step fits a benchmark.
ibq::ArConfig model_config(const std::string& preset) {
  auto c = ibq::ArConfig::preset(preset == "in-slice" ? "B" : preset);
  if (preset == "in-slice") c.n_layer = 2;
  c.class_dropout = c.token_dropout = c.resid_dropout = c.ffn_dropout = 0;
  return c;
}
long default_batch(const std::string& preset) { return preset == "in-slice" ? 8 : 64; }

int run_child(const std::string& preset, long batch, int reps, ibq::Precision precision) {
  ibq::keep_host_memory_warm();
  const auto cfg = model_config(preset);
  ibq::ArTransformer<float> model(cfg, 1);
  ibq::Adam<float> adam(model.store(), {1e-3, 0.9, 0.95, 1e-8, 0.05, true});
  const index_t n = cfg.grid * cfg.grid;
  std::vector<std::int32_t> tok(static_cast<std::size_t>(batch * n)), lab(static_cast<std::size_t>(batch));
  for (std::size_t i = 0; i < tok.size(); ++i) tok[i] = std::int32_t((i * 7919) % std::size_t(cfg.vocab_size));
  for (std::size_t i = 0; i < lab.size(); ++i) lab[i] = std::int32_t(i % std::size_t(cfg.num_classes + 1));
  const auto tokens = ibq::Tensor<std::int32_t>::from_host({batch, n}, tok);
  const auto labels = ibq::Tensor<std::int32_t>::from_host({batch}, lab);
  const double base = bench::resident_mib();
  auto step = [&](ibq::OpProfile* prof) {
    ibq::Tape<float> tape;
    tape.profile_into(prof);
    const ibq::Autocast autocast(precision);
    auto loss = model.loss(tape, tokens, labels, true, ibq::Rng{1, 2});
    tape.backward(loss);
    adam.step();
    model.store().zero_grad();
    Kokkos::fence();
  };
  const double t = bench::median_seconds([&] { step(nullptr); }, reps);
  const double peak = bench::peak_resident_mib() - base;
  ibq::product_flops() = 0;
  step(nullptr);
  const double flops = ibq::product_flops();
  ibq::OpProfile prof;
  step(&prof);
  std::map<std::string, double> per_op;
  for (const auto& [key, s] : prof.forward) per_op[key.second] += s;
  for (const auto& [key, s] : prof.backward) per_op[key.second] += s;
  index_t params = 0;
  for (const auto& [name, k] : ibq::ArTransformer<float>::declared_counts(cfg)) params += k;
  std::printf("{\"seconds\": %.6f, \"peak_mib\": %.1f, \"params\": %ld, \"flops\": %.0f", t, peak, long(params),
              flops);
  for (const auto& [op, s] : per_op) std::printf(", \"op_%s\": %.6f", op.c_str(), s);
  std::printf("}\n");
  return 0;
}
}  // namespace

constexpr char usage[] =
    "usage: ar_step [--preset NAME]... [--batch N] [--precision fp32,bf16] [--reps 5] [--no-peer]\n"
    "  One AR transformer training step (logits, cross-entropy, backward, AdamW) against the PyTorch\n"
    "  reference (bench/ar_step_torch.py) in the same run, with peak memory, the share of the GEMM peak\n"
    "  and a per-op profile.\n"
    "  --preset NAME   model preset (fmnist-s, fmnist-m, fmnist-l, in-slice, B, L, XL, XXL); repeatable;\n"
    "                  default fmnist-s, fmnist-l and in-slice (ImageNet-shaped: width 1024, 256 tokens, 2 blocks)\n"
    "  --batch N       sequences per step (default 64; 8 for in-slice)\n"
    "  --precision P   fp32, bf16 or fp32,bf16 (default): bf16 is ibq::Autocast against torch.autocast\n"
    "  --reps N        median of N steps after a warm-up\n"
    "  --no-peer       skip PyTorch\n"
    "  bench/run_bench.sh 2 ar_step runs it the reproducible way (2 threads, same malloc).\n";

int main(int argc, char** argv) {
  bench::exit_on_help(argc, argv, usage);
  ibq::settle_process_environment(argv);  // OpenBLAS kernel + OpenMP spin, before they are read
  Kokkos::ScopeGuard kokkos(argc, argv);
  std::vector<std::string> presets;
  long batch = 0;  // 0: the preset's default
  std::string precisions = "fp32,bf16";
  bool child = false, peer = true;
  int reps = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--no-peer") { peer = false; continue; }
    if (k == "--child") { child = true; continue; }
    if (k.rfind("--kokkos", 0) == 0) continue;
    if (i + 1 >= argc) { std::fprintf(stderr, "ar_step: %s needs a value\n", k.c_str()); return 2; }
    const std::string v = argv[++i];
    if (k == "--preset") presets.push_back(v);
    else if (k == "--reps") reps = std::max(1, std::atoi(v.c_str()));
    else if (k == "--batch") batch = std::max(1L, std::atol(v.c_str()));
    else if (k == "--precision") precisions = v;
    else { std::fprintf(stderr, "ar_step: unknown option %s (try --help)\n", k.c_str()); return 2; }
  }
  if (presets.empty()) presets = {"fmnist-s", "fmnist-l", "in-slice"};
  std::vector<ibq::Precision> precs;
  for (const auto& p : bench::split_list(precisions)) precs.push_back(ibq::parse_precision(p, "--precision"));
  if (child) return run_child(presets.front(), batch, reps, precs.front());

  const int threads = Kokkos::DefaultExecutionSpace().concurrency();
  const std::string self = "/proc/" + std::to_string(getpid()) + "/exe";
  std::printf("CPU: %s; host BLAS: %s, kernel %s; Kokkos %s with %d threads; %s\n", bench::cpu_model().c_str(),
              ibq::gemm_host_description().c_str(), ibq::openblas_core_name().c_str(), Kokkos::DefaultExecutionSpace::name(),
              threads, ibq::settled_environment().c_str());
  const auto peaks = bench::measure_gemm_peaks();
  bench::print_gemm_peaks(peaks);
  std::printf("\n| config | precision | batch | ibq ms | torch ms | torch / ibq | ibq fp32 / ibq | GFLOP/s | ibq share "
              "| torch share | ibq MiB | torch MiB |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::vector<std::pair<std::string, std::map<std::string, double>>> ours_all;
  for (const auto& p : presets) {
    const auto c = model_config(p);
    const long b = batch > 0 ? batch : default_batch(p);
    double fp32_seconds = 0;
    for (const ibq::Precision prec : precs) {
      const bool bf16 = prec == ibq::Precision::bf16;
      std::ostringstream cmd;
      cmd << self << " --child --reps " << reps << " --preset " << p << " --batch " << b << " --precision "
          << ibq::precision_name(prec);
      auto ours = bench::run_json(cmd.str());
      std::map<std::string, double> torch;
      if (peer) {
        std::ostringstream pc;
        pc << "/usr/bin/python3 " << IBQ_SOURCE_DIR << "/bench/ar_step_torch.py --threads " << threads << " --reps "
           << reps << " --layers " << c.n_layer << " --dim " << c.dim << " --heads " << c.n_head << " --vocab "
           << c.vocab_size << " --grid " << c.grid << " --classes " << c.num_classes << " --multiple_of "
           << c.multiple_of << " --batch " << b << (bf16 ? " --autocast" : "");
        torch = bench::run_json(pc.str(), "torch");
      }
      if (!bf16 && ours.count("seconds")) fp32_seconds = ours["seconds"];
      const double peak = bf16 ? peaks.bf16 : peaks.fp32;
      const double flops = ours.count("flops") ? ours["flops"] : 0;
      auto share = [&](const std::map<std::string, double>& j) {
        return j.count("seconds") && flops > 0 ? bench::format("%.2f", flops / j.at("seconds") / 1e9 / peak)
                                              : std::string("-");
      };
      const std::string ratio = ours.count("seconds") && torch.count("seconds")
                                    ? bench::format("%.2fx", torch["seconds"] / ours["seconds"]) : std::string("-");
      const std::string self_ratio = bf16 && fp32_seconds > 0 && ours.count("seconds")
                                         ? bench::format("%.2fx", fp32_seconds / ours["seconds"]) : std::string("-");
      const std::string gflops = ours.count("seconds") && flops > 0
                                     ? bench::format("%.0f", flops / ours["seconds"] / 1e9) : std::string("-");
      std::printf("| %s | %s | %ld | %s | %s%s | %s | %s | %s | %s | %s | %s | %s |\n", p.c_str(),
                  ibq::precision_name(prec), b, bench::fmt(ours, "seconds", 1e3, "%.0f").c_str(),
                  bench::fmt(torch, "seconds", 1e3, "%.0f").c_str(), bf16 && peer ? " (autocast)" : "",
                  ratio.c_str(), self_ratio.c_str(), gflops.c_str(), share(ours).c_str(), share(torch).c_str(),
                  bench::fmt(ours, "peak_mib", 1, "%.0f").c_str(), bench::fmt(torch, "peak_mib", 1, "%.0f").c_str());
      std::fflush(stdout);
      ours_all.push_back({p + " " + ibq::precision_name(prec), ours});
    }
  }
  std::printf("\nWhere ibq's time goes (ms, forward + backward of one profiled step, every op fenced; ops >= 2%%):\n\n");
  for (const auto& [name, ours] : ours_all) {
    std::vector<std::pair<double, std::string>> ops;
    double total = 0;
    for (const auto& [key, s] : ours)
      if (key.rfind("op_", 0) == 0) ops.push_back({s, key.substr(3)}), total += s;
    std::sort(ops.rbegin(), ops.rend());
    std::printf("%s:", name.c_str());
    for (const auto& [s, op] : ops)
      if (s >= 0.02 * total) std::printf(" %s %.0f,", op.c_str(), s * 1e3);
    std::printf(" total %.0f\n", total * 1e3);
  }
  return 0;
}
