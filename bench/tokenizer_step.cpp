// tokenizer_step — time of one tokenizer training step (forward, L1 + quantizer losses, backward, Adam),
// to size configurations. The comparison against a PyTorch reference of the same model comes with issue 6.
//
//   build/bin/tokenizer_step --ch 32 --mult 1,2,2 --blocks 1 --attn 8 --res 32 --in 1 --z 64 --d 64 --k 1024 --batch 64
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "ibq/core/process_env.hpp"
#include "ibq/core/host_memory.hpp"
#include "ibq/models/tokenizer.hpp"
#include "ibq/optim/adam.hpp"

namespace {
std::vector<ibq::index_t> list(const char* s) {
  std::vector<ibq::index_t> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) if (!item.empty()) v.push_back(std::stol(item));
  return v;
}
}  // namespace

int main(int argc, char** argv) {
  ibq::settle_process_environment(argv);  // OpenBLAS kernel + OpenMP spin, before they are read
  ibq::keep_host_memory_warm();
  Kokkos::ScopeGuard kokkos(argc, argv);
  ibq::TokenizerConfig cfg;
  ibq::index_t batch = 64;
  int reps = 5;
  cfg.ae.ch = 32, cfg.ae.ch_mult = {1, 2, 2}, cfg.ae.num_res_blocks = 1, cfg.ae.attn_resolutions = {8};
  cfg.ae.resolution = 32, cfg.ae.in_channels = cfg.ae.out_ch = 1, cfg.ae.z_channels = 64;
  cfg.codebook_size = 1024, cfg.embed_dim = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--ch") cfg.ae.ch = std::atol(v);
    else if (k == "--mult") cfg.ae.ch_mult = list(v);
    else if (k == "--blocks") cfg.ae.num_res_blocks = std::atol(v);
    else if (k == "--attn") cfg.ae.attn_resolutions = list(v);
    else if (k == "--res") cfg.ae.resolution = std::atol(v);
    else if (k == "--in") cfg.ae.in_channels = cfg.ae.out_ch = std::atol(v);
    else if (k == "--z") cfg.ae.z_channels = std::atol(v);
    else if (k == "--d") cfg.embed_dim = std::atol(v);
    else if (k == "--k") cfg.codebook_size = std::atol(v);
    else if (k == "--batch") batch = std::atol(v);
    else if (k == "--groups") cfg.ae.norm_groups = std::atoi(v);
    else if (k == "--reps") reps = std::atoi(v);
    else { std::fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
  }
  ibq::Tokenizer<float> model(cfg, 1);
  ibq::Adam<float> adam(model.store(), {1e-4, 0.5, 0.9});
  std::vector<float> host(std::size_t(batch * cfg.ae.in_channels * cfg.ae.resolution * cfg.ae.resolution));
  for (std::size_t i = 0; i < host.size(); ++i) host[i] = float(std::sin(0.37 * double(i)));
  auto x = ibq::Tensor<float>::from_host({batch, cfg.ae.in_channels, cfg.ae.resolution, cfg.ae.resolution}, host);
  std::vector<double> times;
  for (int r = 0; r <= reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    ibq::Tape<float> tape;
    auto xin = tape.leaf(x);
    auto out = model.forward(xin, {}, true);
    auto loss = ibq::mean(ibq::abs(out.x_hat - xin)) + out.quant_loss + 0.05 * out.entropy_loss;
    tape.backward(loss);
    adam.step();
    model.store().zero_grad();
    Kokkos::fence();
    if (r > 0) times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  ibq::index_t n = 0;
  for (const auto& [name, c] : ibq::Tokenizer<float>::parameter_counts(cfg)) n += c;
  std::printf("params %ld  batch %ld  step median %.3f s  (%.1f images/s)\n", long(n), long(batch),
              times[times.size() / 2], double(batch) / times[times.size() / 2]);
}
