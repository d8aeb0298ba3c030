// bench_gemm_conv — GEMM and conv2d throughput (GFLOP/s, float) against the GEMM peak and PyTorch.
//
//   build/bin/bench_gemm_conv [--peer] [--reps 5] [--quick] [--filter LABEL] [--workspace ELEMENTS]
//   bench/run_bench.sh 2          # the reproducible way: pins OpenMP, unsets OPENBLAS_CORETYPE
//
// Each number is the median of --reps runs after one warm-up. "peak" is ibq::gemm's 1024^3 sgemm rate in
// this same run; --peer runs bench/peer_torch.py with the same thread count and prints ibq/torch ratios.
// conv fwd+bwd includes allocating the zeroed gradient buffers, as the tape does.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "ibq/core/process_env.hpp"
#include "ibq/core/random.hpp"
#include "ibq/linalg/gemm.hpp"
#include "ibq/ops/conv2d.hpp"

namespace {
using Space = ibq::DefaultSpace;
using TensorF = ibq::Tensor<float, Space>;
using ibq::index_t;

using bench::median_seconds;
using bench::random_f;

struct ConvShape {
  const char* label;  // must match bench/peer_torch.py
  index_t n, cin, cout, h, w, k, stride, pad;
  double flops() const {
    const index_t ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
    return 2.0 * n * cout * ho * wo * cin * k * k;
  }
};

std::string run_peer(int threads, int reps, bool quick) {
  const std::string cmd = std::string("/usr/bin/python3 ") + IBQ_SOURCE_DIR + "/bench/peer_torch.py --threads " +
                          std::to_string(threads) + " --reps " + std::to_string(reps) + (quick ? " --quick" : "");
  std::printf("peer: %s\n", cmd.c_str());
  std::fflush(stdout);
  bool ok = false;
  std::string text = bench::run_command(cmd, ok);
  if (!ok) std::printf("peer: exited with an error; torch columns left empty\n");
  return text;
}
}  // namespace

constexpr char usage[] =
    "usage: bench_gemm_conv [--peer] [--reps 5] [--quick] [--filter LABEL] [--workspace ELEMENTS]\n"
    "  GEMM and conv2d throughput (GFLOP/s, float) against this run's 1024^3 sgemm peak and PyTorch.\n"
    "  --peer                run bench/peer_torch.py with the same thread count and print ibq / torch ratios\n"
    "  --reps N              median of N runs after one warm-up\n"
    "  --quick               the quick start's shapes only\n"
    "  --filter LABEL        only the cases whose label contains LABEL (the peak always runs)\n"
    "  --workspace ELEMENTS  the im2col workspace limit, in floats\n"
    "  bench/run_bench.sh 2 bench_gemm_conv runs it the reproducible way (2 threads, same malloc).\n";

int main(int argc, char** argv) {
  bench::exit_on_help(argc, argv, usage);
  ibq::settle_process_environment(argv);  // OpenBLAS kernel + OpenMP spin, before they are read
  Kokkos::ScopeGuard kokkos(argc, argv);
  bool peer = false, quick = false;
  std::string filter;  // run only the cases whose label contains it (the 1024^3 peak always runs)
  int reps = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--peer") peer = true;
    else if (a == "--quick") quick = true;
    else if (a == "--reps" && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
    else if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else if (a == "--workspace" && i + 1 < argc) ibq::conv2d_workspace_elements() = std::atoll(argv[++i]);
    else if (a.rfind("--kokkos", 0) != 0) {
      std::fprintf(stderr, "bench_gemm_conv: unknown option '%s' (try --help)\n", a.c_str());
      return 2;
    }
  }
  const int threads = Kokkos::DefaultExecutionSpace().concurrency();
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  const std::string coretype_note =
      coretype ? std::string("set to ") + coretype + " (can halve OpenBLAS speed; run_bench.sh unsets it)"
               : std::string("unset (OpenBLAS autodetects the CPU)");
  std::printf("host BLAS: %s\nhost float conv: %s (IBQ_CONV=im2col selects im2col + GEMM)\nKokkos: %s, concurrency %d\n"
              "OPENBLAS_CORETYPE: %s\n", ibq::gemm_host_description().c_str(), ibq::conv2d_host_backend().c_str(),
              Kokkos::DefaultExecutionSpace::name(), threads, coretype_note.c_str());
  const char* mmap_max = std::getenv("MALLOC_MMAP_MAX_");
  std::printf("glibc MALLOC_MMAP_MAX_: %s\n",
              mmap_max ? mmap_max : "default (fresh large blocks are mmapped and page-faulted on every use)");
  std::printf("conv2d workspace: %lld elements; median of %d after a warm-up\n\n",
              static_cast<long long>(ibq::conv2d_workspace_elements()), reps);

  struct Row {
    std::string name, peer_key;
    double gflops;
  };
  std::vector<Row> rows;
  auto add = [&](Row r, double seconds) {
    std::printf("%-44s %8.1f GFLOP/s  (%.2f ms)\n", r.name.c_str(), r.gflops, seconds * 1e3);
    std::fflush(stdout);
    rows.push_back(std::move(r));
  };
  double peak = 0;

  // ---- GEMM ----------------------------------------------------------------------------------------------
  std::vector<index_t> sizes = {512, 1024};
  if (!quick) sizes.push_back(2048);
  for (index_t n : sizes) {
    if (n != 1024 && std::string("gemm_" + std::to_string(n)).find(filter) == std::string::npos) continue;
    auto a = random_f({n, n}, 1), b = random_f({n, n}, 2), c = TensorF({n, n});
    const double flops = 2.0 * n * n * n;
    const std::string dims = std::to_string(n) + "^3";
    const double t = median_seconds(
        [&] {
          ibq::gemm<Space>(ibq::Trans::N, ibq::Trans::N, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
        },
        reps);
    add({"sgemm " + dims + " ibq::gemm", "gemm_" + std::to_string(n), flops / t / 1e9}, t);
    if (n == 1024) peak = flops / t / 1e9;
    if constexpr (ibq::host_accessible_v<Space>) {
      const double te = median_seconds(
          [&] {
            ibq::gemm_eigen(ibq::Trans::N, ibq::Trans::N, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
          },
          reps);
      add({"sgemm " + dims + " gemm_eigen", "", flops / te / 1e9}, te);
    }
  }

  // ---- conv2d --------------------------------------------------------------------------------------------
  const std::vector<ConvShape> convs = {
      {"n4_c128_64x64_k3", 4, 128, 128, 64, 64, 3, 1, 1},
      {"n4_c256_32x32_k3", 4, 256, 256, 32, 32, 3, 1, 1},
      {"n4_c512_16x16_k3", 4, 512, 512, 16, 16, 3, 1, 1},
      {"n4_c3to128_128x128_k3", 4, 3, 128, 128, 128, 3, 1, 1},
      // the quickstart tokenizer's layers (batch 16, 32 and 64 channels at 32, 16 and 8 pixels)
      {"n16_c32_32x32_k3", 16, 32, 32, 32, 32, 3, 1, 1},
      {"n16_c64_16x16_k3", 16, 64, 64, 16, 16, 3, 1, 1},
      {"n16_c64_8x8_k3", 16, 64, 64, 8, 8, 3, 1, 1},
  };
  for (const auto& c : convs) {
    if (std::string(c.label).find(filter) == std::string::npos) continue;
    const auto args = ibq::Conv2dArgs::symmetric(c.stride, c.pad);
    auto x = random_f({c.n, c.cin, c.h, c.w}, 3), w = random_f({c.cout, c.cin, c.k, c.k}, 4, 0.05),
         b = random_f({c.cout}, 5);
    const auto gy = random_f(ibq::conv2d_out_shape(ibq::conv2d_geom(x.shape(), w.shape(), args)), 6);
    const double tf = median_seconds([&] { ibq::conv2d_forward(x, w, b, args); }, reps);
    add({std::string("conv fwd     ") + c.label, std::string("conv_fwd_") + c.label, c.flops() / tf / 1e9}, tf);
    const double tb = median_seconds(
        [&] {
          auto y = ibq::conv2d_forward(x, w, b, args);
          TensorF gx(x.shape()), gw(w.shape()), gb(b.shape());
          ibq::conv2d_backward(x, w, gy, args, gx, gw, gb);
        },
        reps);
    add({std::string("conv fwd+bwd ") + c.label, std::string("conv_fwdbwd_") + c.label, 3 * c.flops() / tb / 1e9},
        tb);
  }

  // ---- table -----------------------------------------------------------------------------------------------
  std::map<std::string, double> torch;
  if (peer) {
    std::printf("\n");
    torch = bench::parse_flat_json(run_peer(threads, reps, quick));
    if (torch.count("threads")) std::printf("peer: torch with %g threads, mkldnn %g\n", torch["threads"], torch["mkldnn"]);
  }
  std::printf("\n| case | ibq GFLOP/s | torch GFLOP/s | ibq/torch | ibq/peak |\n|---|---|---|---|---|\n");
  for (const auto& r : rows) {
    const auto it = r.peer_key.empty() ? torch.end() : torch.find(r.peer_key);
    if (it != torch.end())
      std::printf("| %s | %.1f | %.1f | %.2f | %.2f |\n", r.name.c_str(), r.gflops, it->second, r.gflops / it->second,
                  r.gflops / peak);
    else
      std::printf("| %s | %.1f | - | - | %.2f |\n", r.name.c_str(), r.gflops, r.gflops / peak);
  }
  std::printf("\npeak = ibq::gemm sgemm 1024^3 in this run: %.1f GFLOP/s\n", peak);
  return 0;
}
