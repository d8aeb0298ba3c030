// ibq_quantizer — one IBQ quantizer step (forward, double quantization loss + entropy loss, backward) against
// PyTorch 1.13 running the reference code, the GEMM floor, and peak memory.
//
//   bench/run_bench.sh 2 ibq_quantizer                      # the reproducible way (threads pinned, same malloc)
//   build/bin/ibq_quantizer [--n 1024] [--d 256] [--k 1024,16384,65536,262144] [--reps 5] [--big-n 4096]
//                           [--plain-max-k 65536] [--block-rows 0] [--no-peer]
//
// Every (implementation, K) runs in its own process, so that its peak resident memory can be read:
// peak = the process's maximum resident set minus its resident set once the inputs exist (the same rule
// for bench/ibq_quantizer_torch.py). On a GPU build both sides run on the GPU (the peer with --device cuda)
// and peak is device memory allocated above what the inputs hold (bench/device_memory.hpp). Times are medians of --reps steps after a warm-up (K >= 65536: at most
// 3). The GEMM floor is 8 N K D flops (four N x K x D GEMMs: logits, G E^T, dl E, dl^T z, which any dense
// implementation needs) at the sgemm rate this run measures for the logits' shape.
//
// The step: z [N / 256, D, 16, 16] (16 x 16 tokens per image, as the reference's 256^2 images) uniform in
// +-1/sqrt(D), the codebook N(0, 1)-like uniform in +-sqrt(3), and loss = L_Q + 0.05 L_ent + sum(z_q R) / N
// with a fixed random R standing in for the decoder's gradient. --big-n adds a fused-only run at that N and
// the largest K (the memory target: K = 2^18, N = 4096 under 4 GiB).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "device_memory.hpp"
#include "ibq/core/process_env.hpp"
#include "ibq/linalg/gemm_bf16.hpp"
#include "ibq/quant/ibq.hpp"

namespace {
using Space = ibq::DefaultSpace;
using ibq::index_t;

struct Args {
  index_t n = 1024, d = 256, big_n = 4096, plain_max_k = 65536, block_rows = 0;
  std::vector<index_t> ks = {1024, 16384, 65536, 262144};
  int reps = 5;
  bool peer = true;
  std::string child;  // "fused" or "plain": run one step configuration and print its JSON
  ibq::Precision precision = ibq::Precision::fp32;  // the child's products (bf16: the reference under 16-mixed)
};

std::vector<index_t> parse_list(const std::string& s) {
  std::vector<index_t> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(std::atol(item.c_str()));
  return v;
}

int reps_for(index_t k, int reps) { return k >= 65536 ? std::min(reps, 3) : reps; }

// One step configuration in this process: {"seconds": median, "peak_mib": ..., "loss": ...}.
int run_child(const Args& a) {
  const index_t K = a.ks.at(0), N = a.n, D = a.d;
  const bool hw = N % 256 == 0;  // 16 x 16 grids, else one row of N tokens
  const ibq::Shape zs = hw ? ibq::Shape{N / 256, D, 16, 16} : ibq::Shape{1, D, 1, N};
  auto z = bench::random_f(zs, 1, 1.0 / std::sqrt(double(D)));
  auto e = bench::random_f({K, D}, 2, std::sqrt(3.0));
  auto r = bench::random_f(zs, 3);
  ibq::IbqConfig cfg;
  cfg.codebook_size = K;
  cfg.embed_dim = D;
  cfg.fused = a.child == "fused";
  cfg.fused_block_rows = a.block_rows;
  const bench::PeakMemory<Space> memory;
  double loss = 0;
  const double t = bench::median_seconds(
      [&] {
        ibq::Tape<float, Space> tape;
        auto zv = tape.leaf(z, true), ev = tape.leaf(e, true), rv = tape.leaf(r);
        const ibq::Autocast autocast(a.precision);
        auto q = ibq::ibq_quantize(zv, ev, cfg);
        auto l = q.quant_loss + 0.05 * q.entropy_loss + ibq::sum(q.z_q * rv) / double(N);
        tape.backward(l);
        loss = l.value().to_host()[0];
      },
      reps_for(K, a.reps));
  std::printf("{\"seconds\": %.6f, \"peak_mib\": %.1f, \"loss\": %.6g}\n", t, memory.peak_mib(), loss);
  return 0;
}

struct Cell {
  double seconds = NAN, peak_mib = NAN;
};

// Runs one child configuration (this binary or the PyTorch peer) and reads its result line.
Cell run_cell(const std::string& cmd) {
  std::printf("  %s\n", cmd.c_str());
  bool ok = false;
  auto j = bench::last_json(bench::run_command(cmd, ok));
  if (!ok || !j.count("seconds")) {
    std::printf("  (failed)\n");
    return {};
  }
  return {j["seconds"], j["peak_mib"]};
}

Cell run_self(const std::string& self, const std::string& impl, index_t n, index_t d, index_t k, int reps,
              index_t block_rows, ibq::Precision precision = ibq::Precision::fp32) {
  std::ostringstream cmd;
  cmd << self << " --child " << impl << " --n " << n << " --d " << d << " --k " << k << " --reps " << reps
      << " --block-rows " << block_rows << " --precision " << ibq::precision_name(precision);
  return run_cell(cmd.str());
}

Cell run_torch(const std::string& variant, int threads, index_t n, index_t d, index_t k, int reps) {
  std::ostringstream cmd;
  cmd << "/usr/bin/python3 " << IBQ_SOURCE_DIR << "/bench/ibq_quantizer_torch.py --threads " << threads
      << " --device " << bench::PeakMemory<Space>::torch_device() << " --variant " << variant << " --n " << n << " --d " << d << " --k " << k << " --reps " << reps_for(k, reps);
  return run_cell(cmd.str());
}

// GEMM rate (GFLOP/s) of the logits' shape: [N, D] x [D, K], in fp32 (sgemm) or bf16 (pre-converted operands).
double gemm_rate(index_t n, index_t k, index_t d, int reps, bool bf16 = false) {
  auto a = bench::random_f({n, d}, 4), b = bench::random_f({k, d}, 5);
  ibq::Tensor<float, Space> c({n, k});
  const auto ab = ibq::Bf16Matrix<Space>::pack(a.data(), ibq::Trans::N, n, d, d);
  const auto bb = ibq::Bf16Matrix<Space>::pack(b.data(), ibq::Trans::T, d, k, d);
  const double t = bench::median_seconds(
      [&] {
        if (bf16)
          ibq::gemm_bf16<Space>(ibq::Trans::N, ibq::Trans::T, n, k, d, 1.0f, ab, bb, 0.0f, c.data(), k, 0, 1);
        else
          ibq::gemm<Space>(ibq::Trans::N, ibq::Trans::T, n, k, d, 1.0f, a.data(), d, b.data(), d, 0.0f, c.data(), k);
      },
      reps);
  return 2.0 * double(n) * double(k) * double(d) / t / 1e9;
}

std::string num(double v, const char* fmt) {
  if (std::isnan(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}
}  // namespace

constexpr char usage[] =
    "usage: ibq_quantizer [--n 1024] [--d 256] [--k 1024,16384,65536,262144] [--reps 5] [--big-n 4096]\n"
    "                     [--plain-max-k 65536] [--block-rows 0] [--no-peer]\n"
    "  One IBQ quantizer step (forward, double quantization + entropy losses, backward), fused and plain,\n"
    "  against PyTorch running the reference code (bench/ibq_quantizer_torch.py), the GEMM floor and peak memory.\n"
    "  --n N             tokens (N / 256 images of 16x16)\n"
    "  --d D             code dimension\n"
    "  --k K1,K2,...     codebook sizes\n"
    "  --reps N          median of N steps after a warm-up (at most 3 from K = 65536 on)\n"
    "  --big-n N         add a fused-only run at this N and the largest K (0: none)\n"
    "  --plain-max-k K   the largest K for the plain (N x K) path\n"
    "  --block-rows R    the fused path's rows per tile (0: automatic)\n"
    "  --no-peer         skip PyTorch\n"
    "  bench/run_bench.sh 2 ibq_quantizer runs it the reproducible way (2 threads, same malloc).\n";

int main(int argc, char** argv) {
  bench::exit_on_help(argc, argv, usage);
  ibq::settle_process_environment(argv);
  Kokkos::ScopeGuard kokkos(argc, argv);
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ibq_quantizer: %s needs a value\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--n") a.n = std::atol(next().c_str());
    else if (k == "--d") a.d = std::atol(next().c_str());
    else if (k == "--k") a.ks = parse_list(next());
    else if (k == "--reps") a.reps = std::max(1, std::atoi(next().c_str()));
    else if (k == "--big-n") a.big_n = std::atol(next().c_str());
    else if (k == "--plain-max-k") a.plain_max_k = std::atol(next().c_str());
    else if (k == "--no-peer") a.peer = false;
    else if (k == "--block-rows") a.block_rows = std::atol(next().c_str());
    else if (k == "--child") a.child = next();
    else if (k == "--precision") a.precision = ibq::parse_precision(next(), "--precision");
    else if (k.rfind("--kokkos", 0) == 0) continue;
    else {
      std::fprintf(stderr, "ibq_quantizer: unknown option '%s' (try --help)\n", k.c_str());
      return 2;
    }
  }
  if (!a.child.empty()) return run_child(a);

  const int threads = Kokkos::DefaultExecutionSpace().concurrency();
  const std::string self = "/proc/" + std::to_string(getpid()) + "/exe";
  std::printf("host BLAS: %s; Kokkos %s with %d threads; %s\n", ibq::gemm_host_description().c_str(),
              Kokkos::DefaultExecutionSpace::name(), threads, ibq::settled_environment().c_str());
  const double rate = gemm_rate(a.n, 16384, a.d, a.reps), rate16 = gemm_rate(a.n, 16384, a.d, a.reps, true);
  std::printf("CPU: %s\n", bench::cpu_model().c_str());
  std::printf("sgemm [%ld, %ld] x [%ld, 16384]: %.1f GFLOP/s (the floor's rate)\n", long(a.n), long(a.d), long(a.d), rate);
  std::printf("bf16 GEMM, same shape: %.1f GFLOP/s (the bf16 floor's rate; %s)\n", rate16,
              ibq::bf16_host_backend().c_str());

  struct Row {
    index_t n, k;
    Cell fused, plain, torch_ref, torch_gather, fused16;
  };
  std::vector<Row> rows;
  for (index_t k : a.ks) {
    Row r{a.n, k, {}, {}, {}, {}, {}};
    r.fused = run_self(self, "fused", a.n, a.d, k, a.reps, a.block_rows);
    r.fused16 = run_self(self, "fused", a.n, a.d, k, a.reps, a.block_rows, ibq::Precision::bf16);
    if (k <= a.plain_max_k) r.plain = run_self(self, "plain", a.n, a.d, k, a.reps, 0);
    if (a.peer) {
      r.torch_ref = run_torch("reference", threads, a.n, a.d, k, a.reps);
      r.torch_gather = run_torch("gather", threads, a.n, a.d, k, a.reps);
    }
    rows.push_back(r);
  }
  if (a.big_n > 0 && !a.ks.empty()) {
    const index_t k = *std::max_element(a.ks.begin(), a.ks.end());
    Row r{a.big_n, k, {}, {}, {}, {}, {}};
    r.fused = run_self(self, "fused", a.big_n, a.d, k, 1, a.block_rows);
    rows.push_back(r);
  }

  std::printf("\n| N | K | ibq fused s | MiB | ibq plain s | MiB | torch ref s | MiB | torch gather s | MiB "
              "| torch ref / fused | fused MiB / torch ref | fused / floor |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : rows) {
    const double floor_s = 8.0 * double(r.n) * double(r.k) * double(a.d) / (rate * 1e9);
    std::printf("| %ld | %ld | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", long(r.n), long(r.k),
                num(r.fused.seconds, "%.3f").c_str(), num(r.fused.peak_mib, "%.0f").c_str(),
                num(r.plain.seconds, "%.3f").c_str(), num(r.plain.peak_mib, "%.0f").c_str(),
                num(r.torch_ref.seconds, "%.3f").c_str(), num(r.torch_ref.peak_mib, "%.0f").c_str(),
                num(r.torch_gather.seconds, "%.3f").c_str(), num(r.torch_gather.peak_mib, "%.0f").c_str(),
                num(r.torch_ref.seconds / r.fused.seconds, "%.2fx").c_str(),
                num(r.fused.peak_mib / r.torch_ref.peak_mib, "%.3f").c_str(),
                num(r.fused.seconds / floor_s, "%.2f").c_str());
  }
  std::printf("\nD = %ld; %d threads; floor = 8 N K D flops at %.1f GFLOP/s; MiB = %s above the point where the "
              "inputs exist\n",
              long(a.d), threads, rate, bench::PeakMemory<Space>::what());
  std::printf("\nbf16 logits (the reference under 16-mixed: its einsums in bf16): the fused quantizer under "
              "ibq::Autocast\n\n| N | K | ibq fused bf16 s | MiB | torch ref (fp32) / fused bf16 | fused fp32 / fused bf16 "
              "| fused bf16 / bf16 floor |\n|---|---|---|---|---|---|---|\n");
  for (const auto& r : rows) {
    if (std::isnan(r.fused16.seconds)) continue;
    const double floor16 = 8.0 * double(r.n) * double(r.k) * double(a.d) / (rate16 * 1e9);
    std::printf("| %ld | %ld | %s | %s | %s | %s | %s |\n", long(r.n), long(r.k), num(r.fused16.seconds, "%.3f").c_str(),
                num(r.fused16.peak_mib, "%.0f").c_str(), num(r.torch_ref.seconds / r.fused16.seconds, "%.2fx").c_str(),
                num(r.fused.seconds / r.fused16.seconds, "%.2fx").c_str(), num(r.fused16.seconds / floor16, "%.2f").c_str());
  }
  std::printf("\nbf16 floor = 8 N K D flops at %.1f GFLOP/s (%s)\n", rate16, ibq::bf16_host_backend().c_str());
  return 0;
}
