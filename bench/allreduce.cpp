// allreduce — MPI_Allreduce (sum, float) time against message size, through ibq::Communicator, and the
// gradient sizes that data-parallel training reduces each step; input for bench/scaling_report.py.
//
//   mpirun -np 2 build/bin/bench_allreduce [--reps 20] [--max-mib 256]
//
// Prints one JSON line per size on rank 0: {"bytes": b, "seconds": median, "ranks": P}, then one with the
// parameter counts of the reference models (generator = encoder + decoder + convs + codebook; the PatchGAN
// discriminator), which the projection turns into bytes per step.

#include <cstdio>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "ibq/dist/communicator.hpp"
#include "ibq/gan/discriminator.hpp"
#include "ibq/models/tokenizer.hpp"

constexpr char usage[] =
    "usage: mpirun -np R bench_allreduce [--reps 20] [--max-mib 256]\n"
    "  MPI_Allreduce (sum, float) median time per message size, up to --max-mib MiB, as JSON lines on rank 0,\n"
    "  then the reference models' gradient sizes (input for bench/scaling_report.py).\n"
    "  --reps N        timed repetitions per size (at most 5 from 64 MiB on)\n"
    "  --max-mib M     the largest message, in MiB\n";

int main(int argc, char** argv) {
  bench::exit_on_help(argc, argv, usage);
  ibq::dist::MpiSession mpi(argc, argv);
  Kokkos::ScopeGuard kokkos(argc, argv);
  int reps = 20;
  double max_mib = 256;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--reps") reps = std::max(1, std::atoi(argv[i + 1]));
    else if (k == "--max-mib") max_mib = std::atof(argv[i + 1]);
    else if (k.rfind("--kokkos", 0) != 0) {
      std::fprintf(stderr, "bench_allreduce: unknown option '%s' (try --help)\n", k.c_str());
      return 2;
    }
  }
  const auto comm = ibq::dist::Communicator::world();
  for (std::size_t n = 256; double(n) * 4 <= max_mib * 1024 * 1024; n *= 4) {
    std::vector<float> buf(n, 1.0f);
    const int r = n * 4 >= (std::size_t(64) << 20) ? std::min(reps, 5) : reps;
    comm.barrier();
    const double t = bench::median_seconds([&] { comm.allreduce_sum(buf.data(), buf.size()); }, r);
    const double worst = comm.max(t);  // a collective ends when its slowest rank does
    if (comm.root()) std::printf("{\"bytes\": %zu, \"seconds\": %.9f, \"ranks\": %d}\n", n * 4, worst, comm.size());
  }
  if (comm.root()) {
    // The reference tokenizer (docs/math.md, K = 16384, D = 256) and its discriminator; counting
    // needs no allocation for the tokenizer, and the discriminator is small enough to build.
    ibq::TokenizerConfig cfg;
    cfg.ae.ch = 128, cfg.ae.ch_mult = {1, 1, 2, 2, 4}, cfg.ae.num_res_blocks = 4, cfg.ae.attn_resolutions = {16};
    cfg.ae.z_channels = 256, cfg.ae.resolution = 256, cfg.ae.in_channels = cfg.ae.out_ch = 3;
    cfg.codebook_size = 16384, cfg.embed_dim = 256;
    ibq::index_t g = 0;
    for (const auto& [name, c] : ibq::Tokenizer<float>::parameter_counts(cfg)) g += c;
    ibq::PatchDiscriminator<float> disc({3, 64, 3}, 1);
    std::printf("{\"tokenizer_params\": %ld, \"discriminator_params\": %ld}\n", long(g),
                long(disc.store().num_params()));
  }
  return 0;
}
