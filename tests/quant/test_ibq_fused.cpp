// The fused IBQ path against the plain reference path (quant/ibq.hpp with cfg.fused = false): indices, z_q,
// every loss term and the gradients of z and the codebook agree within 1e-5 relative, in float and double, at
// odd sizes and with tiles that split the rows unevenly; finite-difference checks of the entropy outputs;
// and no allocation as large as N x K.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "ibq/quant/ibq.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {

struct Case {
  index_t B, D, H, W, K, block_rows;
  double tau, z_scale;
  bool entropy;
};

template <class T>
struct Result {
  std::vector<std::int32_t> indices;
  std::vector<T> z_q, dz, de;
  std::vector<T> losses;  // quant_loss, sample_entropy, batch_entropy, entropy_loss, total
};

// One forward + backward of loss = <R, z_q> + L_Q + 0.3 H_sample - 0.7 H_avg: R reaches the soft path of
// z_q with a gradient unlike the reconstruction's, and distinct weights catch a swapped entropy term.
template <class T>
Result<T> run(const Case& c, bool fused, bool beta_on_codebook = true, int row_team = 0) {
  IbqConfig cfg;
  cfg.codebook_size = c.K;
  cfg.embed_dim = c.D;
  cfg.use_entropy = c.entropy;
  cfg.entropy_temperature = c.tau;
  cfg.sample_entropy_weight = 0.3;
  cfg.batch_entropy_weight = 0.7;
  cfg.beta_on_codebook = beta_on_codebook;
  cfg.fused = fused;
  cfg.fused_block_rows = c.block_rows;
  cfg.fused_row_team = row_team;
  Tape<T, Space> tape;
  auto z = tape.leaf(random_tensor<T>({c.B, c.D, c.H, c.W}, 11, -c.z_scale, c.z_scale), true);
  auto e = tape.leaf(random_tensor<T>({c.K, c.D}, 12, -1, 1), true);
  auto r = tape.leaf(random_tensor<T>({c.B, c.D, c.H, c.W}, 13, -1, 1));
  auto q = ibq_quantize(z, e, cfg);
  auto loss = sum(q.z_q * r) + q.quant_loss;
  if (c.entropy) loss = loss + q.entropy_loss;
  tape.backward(loss);
  Result<T> out;
  out.indices = q.indices.to_host();
  out.z_q = q.z_q.value().to_host();
  out.dz = tape.grad(z.id()).to_host();
  out.de = tape.grad(e.id()).to_host();
  out.losses.push_back(q.quant_loss.value().to_host()[0]);
  if (c.entropy)
    for (const auto* v : {&q.sample_entropy, &q.batch_entropy, &q.entropy_loss}) out.losses.push_back(v->value().to_host()[0]);
  out.losses.push_back(loss.value().to_host()[0]);
  return out;
}

// max |got - want| <= tol * max |want|, the relative agreement of a whole tensor.
template <class T>
void require_rel(const std::string& what, const std::vector<T>& got, const std::vector<T>& want, double tol) {
  REQUIRE(got.size() == want.size());
  double err = 0, scale = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    err = std::max(err, std::fabs(double(got[i]) - double(want[i])));
    scale = std::max(scale, std::fabs(double(want[i])));
  }
  INFO(what << ": max abs error " << err << ", max |plain| " << scale << ", relative " << err / scale);
  REQUIRE(scale > 0);
  REQUIRE(err <= tol * scale);
}

template <class T>
void require_same(const Case& c, double tol) {
  INFO("B D H W = " << c.B << " " << c.D << " " << c.H << " " << c.W << ", K = " << c.K << ", block rows "
                    << c.block_rows << ", tau " << c.tau << ", entropy " << c.entropy);
  const auto plain = run<T>(c, false), fused = run<T>(c, true);
  REQUIRE(fused.indices == plain.indices);
  require_rel("z_q", fused.z_q, plain.z_q, tol);
  for (std::size_t i = 0; i < plain.losses.size(); ++i)
    require_rel("loss term " + std::to_string(i), std::vector<T>{fused.losses[i]}, std::vector<T>{plain.losses[i]}, tol);
  require_rel("dL/dz", fused.dz, plain.dz, tol);
  require_rel("dL/dE", fused.de, plain.de, tol);
}

// Odd sizes; N = B H W rows split into tiles of block_rows with a short last tile (0: the automatic size).
const std::vector<Case> cases = {
    {2, 13, 3, 5, 101, 7, 0.5, 0.3, true},   // N = 30: tiles 7, 7, 7, 7, 2
    {1, 8, 1, 1, 3, 0, 0.5, 0.5, true},      // N = 1, K = 3
    {3, 16, 4, 4, 257, 0, 0.01, 0.05, true}, // the reference temperature, logits of a few units
    {2, 13, 3, 5, 101, 4, 1.0, 0.3, false},  // no entropy loss
    {5, 9, 3, 3, 1000, 16, 0.1, 0.2, true},  // N = 45 in tiles of 16, 16, 13
};

}  // namespace

TEST_CASE("ibq fused: equals the plain path in double (values, losses, gradients)", "[quant][ibq][fused]") {
  for (const auto& c : cases) require_same<double>(c, 1e-10);
}

TEST_CASE("ibq fused: equals the plain path in float within 1e-5 relative", "[quant][ibq][fused]") {
  for (const auto& c : cases) require_same<float>(c, 1e-5);
}

// The GPU's kernels (a team of threads per row, a thread per code for pbar) run on the host with a team of
// two: the same indices, and the same values up to the order of summation.
template <class T>
void require_team_same(double tol) {
  for (const auto& c : cases) {
    INFO("K = " << c.K << ", block rows " << c.block_rows << ", tau " << c.tau << ", entropy " << c.entropy);
    const auto thread = run<T>(c, true, true, 0), team = run<T>(c, true, true, 2);
    REQUIRE(team.indices == thread.indices);
    require_rel("z_q", team.z_q, thread.z_q, tol);
    for (std::size_t i = 0; i < thread.losses.size(); ++i)
      require_rel("loss term " + std::to_string(i), std::vector<T>{team.losses[i]}, std::vector<T>{thread.losses[i]},
                  tol);
    require_rel("dL/dz", team.dz, thread.dz, tol);
    require_rel("dL/dE", team.de, thread.de, tol);
  }
}

TEST_CASE("ibq fused: a team per row (the GPU kernels) equals a thread per row", "[quant][ibq][fused]") {
  require_team_same<double>(1e-12);
  require_team_same<float>(1e-5);
}

TEST_CASE("ibq fused: beta placement and double_quant act the same on both paths", "[quant][ibq][fused]") {
  const Case c{2, 13, 3, 5, 101, 7, 0.5, 0.3, true};
  for (bool on_codebook : {true, false}) {
    INFO("beta_on_codebook " << on_codebook);
    const auto plain = run<double>(c, false, on_codebook), fused = run<double>(c, true, on_codebook);
    require_rel("dL/dz", fused.dz, plain.dz, 1e-10);
    require_rel("dL/dE", fused.de, plain.de, 1e-10);
  }
}

TEST_CASE("ibq fused: finite differences of H_sample and pbar in double", "[quant][ibq][fused][grad]") {
  // z_q's value E[ind] is piecewise constant and its gradient is the straight-through estimator's by
  // design, so finite differences cannot check it; the plain-path comparisons above do (and the plain
  // path is checked against PyTorch). The entropy outputs are smooth functions of z and the codebook.
  for (index_t block : {index_t(0), index_t(3)}) {
    INFO("block rows " << block);
    const IbqFusedOptions opt{true, 0.5, block};
    require_grad_ok(
        [&](TapeD&, const VarsD& in) {
          auto f = ibq_fused(in[0], in[1], opt);
          return concat({f.sample_entropy, f.pbar}, 0);
        },
        {random_tensor({10, 6}, 21, -0.5, 0.5), random_tensor({37, 6}, 22)}, {"z", "codebook"});
  }
}

TEST_CASE("ibq fused: rejects mismatched shapes and a non-positive temperature, naming them", "[quant][ibq][fused]") {
  TapeD tape;
  auto z = tape.leaf(random_tensor({4, 6}, 1), true);
  auto e = tape.leaf(random_tensor({9, 5}, 2), true);
  REQUIRE_THROWS_WITH(ibq_fused(z, e, {}), Catch::Contains("[4, 6]") && Catch::Contains("[9, 5]"));
  auto e6 = tape.leaf(random_tensor({9, 6}, 2), true);
  REQUIRE_THROWS_WITH(ibq_fused(z, e6, {true, 0.0, 0}), Catch::Contains("temperature"));
}

namespace {
std::uint64_t largest_allocation = 0;
void record_allocation(Kokkos::Tools::SpaceHandle, const char*, const void*, std::uint64_t size) {
  largest_allocation = std::max(largest_allocation, size);
}
}  // namespace

TEST_CASE("ibq fused: forward and backward allocate nothing of N x K; the plain path does", "[quant][ibq][fused]") {
  // N = 2048 rows against K = 4096 codes: the automatic tile is 512 rows, a quarter of N x K.
  const Case c{8, 16, 16, 16, 4096, 0, 0.01, 0.1, true};
  const std::uint64_t nk = std::uint64_t(c.B * c.H * c.W) * std::uint64_t(c.K) * sizeof(float);
  for (bool fused : {true, false}) {
    INFO((fused ? "fused" : "plain") << " path, N x K = " << nk << " bytes");
    largest_allocation = 0;
    Kokkos::Tools::Experimental::set_allocate_data_callback(record_allocation);
    run<float>(c, fused);
    Kokkos::Tools::Experimental::set_allocate_data_callback(nullptr);
    INFO("largest allocation " << largest_allocation << " bytes");
    REQUIRE(largest_allocation > 0);  // the hook saw the step's allocations
    if (fused) REQUIRE(largest_allocation <= nk / 4);
    else REQUIRE(largest_allocation >= nk);
  }
}
