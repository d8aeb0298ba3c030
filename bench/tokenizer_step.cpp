// tokenizer_step — one tokenizer training step (forward, L1 + quantizer losses, backward, Adam) against a
// PyTorch reference of the same model in the same run, with peak memory and where the time goes.
//
//   bench/run_bench.sh 2 tokenizer_step                 # quickstart and mid-size presets, with the torch peer
//   build/bin/tokenizer_step --preset mid [--reps 5] [--no-peer]
//   build/bin/tokenizer_step --ch 32 --mult 1,2,2 --blocks 1 --attn 8 --res 32 --in 1 --z 64 --d 64 --k 1024 --batch 64
//
// Presets: quickstart = experiments/quickstart.ini's model and batch (32x32x1, ch 32, K = 1024, D = 64, batch
// 16); mid = 64x64 RGB, ch 64 x (1, 2, 2), 2 blocks a level, attention at 16x16, and the reference quantizer
// (16x16 tokens, K = 16384, D = 256) at batch 4, i.e. the reference's N = 1024 tokens per device.
// Every configuration runs in its own process (peak resident memory is per process): the step's median over
// --reps after a warm-up, then one more step with the tape's profile on (autodiff/op_profile.hpp), which
// splits the time into conv / norm / attention / quantizer / other, forward and backward, and Adam.
// The PyTorch peer is bench/tokenizer_step_torch.py with the same configuration and thread count.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "gemm_peak.hpp"
#include "device_memory.hpp"
#include "ibq/core/host_memory.hpp"
#include "ibq/core/process_env.hpp"
#include "ibq/models/tokenizer.hpp"
#include "ibq/optim/adam.hpp"

namespace {
using ibq::index_t;

struct Config {
  std::string name = "custom";
  long ch = 32, blocks = 1, res = 32, in = 1, z = 64, d = 64, k = 1024, batch = 16, groups = 8;
  std::string mult = "1,2,2", attn = "";
  std::string args() const {
    std::ostringstream s;
    s << " --ch " << ch << " --mult " << mult << " --blocks " << blocks << " --attn '" << attn << "' --res " << res
      << " --in " << in << " --z " << z << " --d " << d << " --k " << k << " --batch " << batch << " --groups "
      << groups;
    return s.str();
  }
};

Config preset(const std::string& name) {
  Config c;
  c.name = name;
  if (name == "quickstart") return c;
  if (name == "mid") {
    c.ch = 64, c.mult = "1,2,2", c.blocks = 2, c.attn = "16", c.res = 64, c.in = 3, c.z = 256, c.d = 256;
    c.k = 16384, c.batch = 4, c.groups = 32;
    return c;
  }
  std::fprintf(stderr, "tokenizer_step: unknown preset '%s' (quickstart or mid)\n", name.c_str());
  std::exit(2);
}

std::vector<index_t> list(const std::string& s) {
  std::vector<index_t> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) if (!item.empty()) v.push_back(std::stol(item));
  return v;
}

// Which part of the model an op's time belongs to.
std::string op_class(const std::string& region, const std::string& op) {
  if (region == "quantizer") return "quantizer";
  if (op == "conv2d") return "conv";
  if (op == "group_norm") return "norm";
  if (op == "attention") return "attention";
  return "other";
}

int run_child(const Config& c, int reps, ibq::Precision precision) {
  ibq::keep_host_memory_warm();
  ibq::TokenizerConfig cfg;
  cfg.ae.ch = c.ch, cfg.ae.ch_mult = list(c.mult), cfg.ae.num_res_blocks = c.blocks, cfg.ae.attn_resolutions = list(c.attn);
  cfg.ae.resolution = c.res, cfg.ae.in_channels = cfg.ae.out_ch = c.in, cfg.ae.z_channels = c.z;
  cfg.ae.norm_groups = int(c.groups);
  cfg.codebook_size = c.k, cfg.embed_dim = c.d;
  ibq::Tokenizer<float> model(cfg, 1);
  ibq::Adam<float> adam(model.store(), {1e-4, 0.5, 0.9});
  std::vector<float> host(std::size_t(c.batch * c.in * c.res * c.res));
  for (std::size_t i = 0; i < host.size(); ++i) host[i] = float(std::sin(0.37 * double(i)));
  auto x = ibq::Tensor<float>::from_host({c.batch, c.in, c.res, c.res}, host);
  const bench::PeakMemory<ibq::DefaultSpace> memory;
  std::vector<double> adam_s;
  auto step = [&](ibq::OpProfile* prof) {
    ibq::Tape<float> tape;
    tape.profile_into(prof);
    auto xin = tape.leaf(x);
    ibq::Var<float> loss;
    {
      const ibq::Autocast autocast(precision);
      auto out = model.forward(xin, {}, true);
      loss = ibq::mean(ibq::abs(out.x_hat - xin)) + out.quant_loss + 0.05 * out.entropy_loss;
    }
    tape.backward(loss);
    Kokkos::fence();
    const auto t0 = std::chrono::steady_clock::now();
    adam.step();
    model.store().zero_grad();
    Kokkos::fence();
    adam_s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  };
  const double t = bench::median_seconds([&] { step(nullptr); }, reps);
  std::sort(adam_s.begin(), adam_s.end());
  const double adam_median = adam_s[adam_s.size() / 2];
  const double peak = memory.peak_mib();
  ibq::product_flops() = 0;
  step(nullptr);
  const double flops = ibq::product_flops();
  ibq::OpProfile prof;
  step(&prof);
  std::map<std::string, double> fwd, bwd;
  for (const auto& [key, s] : prof.forward) fwd[op_class(key.first, key.second)] += s;
  for (const auto& [key, s] : prof.backward) bwd[op_class(key.first, key.second)] += s;
  index_t params = 0;
  for (const auto& [name, n] : ibq::Tokenizer<float>::parameter_counts(cfg)) params += n;
  std::printf("{\"seconds\": %.6f, \"peak_mib\": %.1f, \"adam_s\": %.6f, \"params\": %ld, \"flops\": %.0f", t, peak,
              adam_median, long(params), flops);
  for (const char* cls : {"conv", "norm", "attention", "quantizer", "other"})
    std::printf(", \"fwd_%s\": %.6f, \"bwd_%s\": %.6f", cls, fwd[cls], cls, bwd[cls]);
  std::printf("}\n");
  return 0;
}

std::string ms(const std::map<std::string, double>& j, const std::string& key) {
  const auto it = j.find(key);
  if (it == j.end()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", it->second * 1e3);
  return buf;
}
}  // namespace

constexpr char usage[] =
    "usage: tokenizer_step [--preset quickstart|mid]... [--precision fp32,bf16] [--reps 5] [--no-peer] [shape options]\n"
    "  One tokenizer training step (forward, L1 + quantizer losses, backward, Adam) against a PyTorch\n"
    "  reference of the same model (bench/tokenizer_step_torch.py) in the same run, with peak memory and\n"
    "  where the time goes. Default: the quickstart and mid presets.\n"
    "  --preset NAME   quickstart (experiments/quickstart.ini's model, batch 16) or mid (64x64 RGB, K 16384)\n"
    "  --precision P   fp32, bf16 or fp32,bf16 (default): bf16 is ibq::Autocast against torch.autocast\n"
    "  --reps N        median of N steps after a warm-up\n"
    "  --no-peer       skip PyTorch\n"
    "  shape options, for a configuration of your own:\n"
    "    --ch C --mult 1,2,2 --blocks B --attn 8 --res R --in CHANNELS --z Z --d D --k K --batch N --groups G\n"
    "  bench/run_bench.sh 2 tokenizer_step runs it the reproducible way (2 threads, same malloc).\n";

int main(int argc, char** argv) {
  bench::exit_on_help(argc, argv, usage);
  ibq::settle_process_environment(argv);  // OpenBLAS kernel + OpenMP spin, before they are read
  Kokkos::ScopeGuard kokkos(argc, argv);
  std::vector<Config> configs;
  Config custom;
  bool have_custom = false, child = false, peer = true;
  int reps = 5;
  std::string precisions = "fp32,bf16";
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--no-peer") { peer = false; continue; }
    if (k == "--child") { child = true; continue; }
    if (k.rfind("--kokkos", 0) == 0) continue;
    if (i + 1 >= argc) { std::fprintf(stderr, "tokenizer_step: %s needs a value\n", k.c_str()); return 2; }
    const std::string v = argv[++i];
    bool shape = true;
    if (k == "--preset") configs.push_back(preset(v)), shape = false;
    else if (k == "--reps") reps = std::max(1, std::atoi(v.c_str())), shape = false;
    else if (k == "--precision") precisions = v, shape = false;
    else if (k == "--ch") custom.ch = std::atol(v.c_str());
    else if (k == "--mult") custom.mult = v;
    else if (k == "--blocks") custom.blocks = std::atol(v.c_str());
    else if (k == "--attn") custom.attn = v;
    else if (k == "--res") custom.res = std::atol(v.c_str());
    else if (k == "--in") custom.in = std::atol(v.c_str());
    else if (k == "--z") custom.z = std::atol(v.c_str());
    else if (k == "--d") custom.d = std::atol(v.c_str());
    else if (k == "--k") custom.k = std::atol(v.c_str());
    else if (k == "--batch") custom.batch = std::atol(v.c_str());
    else if (k == "--groups") custom.groups = std::atol(v.c_str());
    else { std::fprintf(stderr, "tokenizer_step: unknown option %s (try --help)\n", k.c_str()); return 2; }
    have_custom = have_custom || shape;
  }
  std::vector<ibq::Precision> precs;
  for (const auto& p : bench::split_list(precisions)) precs.push_back(ibq::parse_precision(p, "--precision"));
  if (child) return run_child(custom, reps, precs.front());
  if (have_custom) configs.push_back(custom);
  if (configs.empty()) configs = {preset("quickstart"), preset("mid")};

  const int threads = Kokkos::DefaultExecutionSpace().concurrency();
  const std::string self = "/proc/" + std::to_string(getpid()) + "/exe";
  std::printf("CPU: %s; host BLAS: %s, kernel %s; host float conv: %s; Kokkos %s with %d threads; %s\n",
              bench::cpu_model().c_str(), ibq::gemm_host_description().c_str(), ibq::openblas_core_name().c_str(),
              ibq::conv2d_host_backend().c_str(), Kokkos::DefaultExecutionSpace::name(), threads,
              ibq::settled_environment().c_str());
  const auto peaks = bench::measure_gemm_peaks();
  bench::print_gemm_peaks(peaks);
  std::printf("\n| config | precision | batch | ibq ms | torch ms | torch / ibq | ibq fp32 / ibq | GFLOP/s | ibq share "
              "| torch share | ibq MiB | torch MiB | ibq MiB / torch |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  struct Result {
    std::string name;
    std::map<std::string, double> ours, torch;
  };
  std::vector<Result> results;
  for (const auto& c : configs) {
    double fp32_seconds = 0;
    for (const ibq::Precision prec : precs) {
      const bool bf16 = prec == ibq::Precision::bf16;
      std::ostringstream cmd;
      cmd << self << " --child --reps " << reps << " --precision " << ibq::precision_name(prec) << c.args();
      auto ours = bench::run_json(cmd.str());
      std::map<std::string, double> torch;
      if (peer) {
        std::ostringstream pc;
        pc << "/usr/bin/python3 " << IBQ_SOURCE_DIR << "/bench/tokenizer_step_torch.py --threads " << threads
           << " --device " << bench::PeakMemory<ibq::DefaultSpace>::torch_device() << " --reps " << reps << c.args()
           << (bf16 ? " --autocast" : "");
        torch = bench::run_json(pc.str(), "torch");
      }
      if (!bf16 && ours.count("seconds")) fp32_seconds = ours["seconds"];
      const double peak = bf16 ? peaks.bf16 : peaks.fp32, flops = ours.count("flops") ? ours["flops"] : 0;
      auto share = [&](const std::map<std::string, double>& j) {
        return j.count("seconds") && flops > 0 ? bench::format("%.2f", flops / j.at("seconds") / 1e9 / peak)
                                              : std::string("-");
      };
      auto ratio = [](const std::map<std::string, double>& a, const std::map<std::string, double>& b,
                      const char* key, const char* fmt) {
        return a.count(key) && b.count(key) ? bench::format(fmt, a.at(key) / b.at(key)) : std::string("-");
      };
      std::printf("| %s | %s | %ld | %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.name.c_str(),
                  ibq::precision_name(prec), c.batch, ms(ours, "seconds").c_str(), ms(torch, "seconds").c_str(),
                  bf16 && peer ? " (autocast)" : "", ratio(torch, ours, "seconds", "%.2fx").c_str(),
                  bf16 && fp32_seconds > 0 && ours.count("seconds")
                      ? bench::format("%.2fx", fp32_seconds / ours["seconds"]).c_str() : "-",
                  ours.count("seconds") && flops > 0 ? bench::format("%.0f", flops / ours["seconds"] / 1e9).c_str() : "-",
                  share(ours).c_str(), share(torch).c_str(), bench::fmt(ours, "peak_mib", 1, "%.0f").c_str(),
                  bench::fmt(torch, "peak_mib", 1, "%.0f").c_str(), ratio(ours, torch, "peak_mib", "%.2f").c_str());
      std::fflush(stdout);
      results.push_back({c.name + " " + ibq::precision_name(prec), ours, torch});
    }
  }
  std::printf("\n(ibq ms and torch ms: medians of %d steps)\n", reps);
  std::printf("\nWhere ibq's time goes (ms, one profiled step: every op fenced and timed):\n\n"
              "| config | conv fwd/bwd | norm fwd/bwd | attention fwd/bwd | quantizer fwd/bwd | other fwd/bwd | Adam |\n"
              "|---|---|---|---|---|---|---|\n");
  for (const auto& r : results) {
    std::printf("| %s |", r.name.c_str());
    for (const char* cls : {"conv", "norm", "attention", "quantizer", "other"})
      std::printf(" %s / %s |", ms(r.ours, std::string("fwd_") + cls).c_str(), ms(r.ours, std::string("bwd_") + cls).c_str());
    std::printf(" %s |\n", ms(r.ours, "adam_s").c_str());
  }
  if (peer) {
    std::printf("\nPyTorch's split (ms, wall clock around each part of the same steps):\n\n"
                "| config | encoder fwd | quantizer fwd | decoder fwd + loss | backward | Adam |\n|---|---|---|---|---|---|\n");
    for (const auto& r : results) {
      const auto& t = r.torch;
      std::printf("| %s | %s | %s | %s | %s | %s |\n", r.name.c_str(), ms(t, "encoder_s").c_str(),
                  ms(t, "quantizer_s").c_str(), ms(t, "decoder_s").c_str(), ms(t, "backward_s").c_str(),
                  ms(t, "adam_s").c_str());
    }
  }
  return 0;
}
