// VQ baseline quantizer (VectorQuantizer2): values, indices and gradients against the PyTorch reference
// (legacy, non-legacy and l2-normalised distance), the straight-through copy of the upstream gradient to z,
// zero gradient for unused codes, raster index order, codebook_entry, a finite-difference gradient check,
// parameter registration and shape errors.
#include <cmath>
#include <limits>
#include <string>

#include "test_util.hpp"
#include "ibq/io/hdf5.hpp"
#include "ibq/ops/all.hpp"
#include "ibq/quant/vq.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
const std::string vq_fixture = std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/vq.h5";

VqConfig fixture_config(const h5::File& f, const std::string& g, index_t K, index_t D) {
  VqConfig c;
  c.codebook_size = K;
  c.embed_dim = D;
  c.beta = f.attr<double>(g, "beta");
  c.legacy = f.attr<std::int64_t>(g, "legacy") != 0;
  c.l2_normalize = f.attr<std::int64_t>(g, "l2_normalize") != 0;
  return c;
}

// Nearest code by a plain host loop over z [B, D, H, W] and E [K, D], b-h-w raster order.
std::vector<std::int32_t> host_nearest(const std::vector<double>& z, const std::vector<double>& E, index_t B, index_t D,
                                       index_t H, index_t W, index_t K) {
  std::vector<std::int32_t> out;
  for (index_t b = 0; b < B; ++b)
    for (index_t h = 0; h < H; ++h)
      for (index_t w = 0; w < W; ++w) {
        double best = std::numeric_limits<double>::infinity();
        std::int32_t arg = -1;
        for (index_t k = 0; k < K; ++k) {
          double d2 = 0;
          for (index_t d = 0; d < D; ++d) {
            const double diff = z[((b * D + d) * H + h) * W + w] - E[k * D + d];
            d2 += diff * diff;
          }
          if (d2 < best) best = d2, arg = static_cast<std::int32_t>(k);
        }
        out.push_back(arg);
      }
  return out;
}

// Restores the distance-workspace size on scope exit.
struct WorkspaceGuard {
  index_t saved;
  explicit WorkspaceGuard(index_t elements) : saved(detail::vq_distance_workspace_elements()) {
    detail::vq_distance_workspace_elements() = elements;
  }
  ~WorkspaceGuard() { detail::vq_distance_workspace_elements() = saved; }
};
}  // namespace

TEST_CASE("VqQuantizer: values, indices and gradients match the PyTorch reference", "[quant][vq]") {
  h5::File f(vq_fixture, h5::File::Mode::read);
  const index_t B = f.attr<std::int64_t>("/", "B"), D = f.attr<std::int64_t>("/", "D"),
                H = f.attr<std::int64_t>("/", "H"), W = f.attr<std::int64_t>("/", "W"),
                K = f.attr<std::int64_t>("/", "K");
  for (const std::string g : {"legacy", "nonlegacy", "l2norm"}) {
    INFO("fixture group " << g);
    const VqConfig cfg = fixture_config(f, g, K, D);
    TapeD tape;
    auto z = tape.leaf(h5::read_tensor<double>(f, g + "/z"), true);
    auto E = tape.leaf(h5::read_tensor<double>(f, g + "/E"), true);
    const auto out = vector_quantize(z, E, cfg);
    REQUIRE(out.z_q.shape() == Shape{B, D, H, W});
    REQUIRE(out.indices.shape() == Shape{B * H * W});
    require_close(out.z_q.value().to_host(), h5::read_tensor<double>(f, g + "/z_q").to_host(), 1e-10);
    REQUIRE(out.indices.to_host() == h5::read_tensor<std::int32_t>(f, g + "/indices").to_host());
    require_close(out.quant_loss.value().to_host(), h5::read_tensor<double>(f, g + "/loss").to_host(), 1e-10);

    auto r = tape.leaf(h5::read_tensor<double>(f, g + "/r"));
    tape.backward(sum(out.z_q * r) + out.quant_loss);
    require_close(z.grad().to_host(), h5::read_tensor<double>(f, g + "/grad_z").to_host(), 1e-10);
    const auto gE = E.grad().to_host();
    require_close(gE, h5::read_tensor<double>(f, g + "/grad_E").to_host(), 1e-10);

    // Only selected codes learn: rows of unused codes are exactly zero (IBQ would update all of them).
    const auto ind = out.indices.to_host();
    for (index_t k = 0; k < K; ++k) {
      const bool used = std::find(ind.begin(), ind.end(), std::int32_t(k)) != ind.end();
      double row = 0;
      for (index_t d = 0; d < D; ++d) row += std::fabs(gE[k * D + d]);
      INFO("code " << k << (used ? " (used)" : " (unused)"));
      if (used) REQUIRE(row > 0);
      else REQUIRE(row == 0.0);
    }
  }
}

TEST_CASE("VqQuantizer: the module's parameter gives the same values and its gradient lands in the store",
          "[quant][vq]") {
  h5::File f(vq_fixture, h5::File::Mode::read);
  const index_t D = f.attr<std::int64_t>("/", "D"), K = f.attr<std::int64_t>("/", "K");
  ParamStore<double> store;
  VqQuantizer<double> vq(store, "quantize", fixture_config(f, "nonlegacy", K, D));
  store.allocate(3);
  store.value(store.find("quantize.embedding.weight")).copy_from_(h5::read_tensor<double>(f, "nonlegacy/E"));
  TapeD tape;
  auto z = tape.leaf(h5::read_tensor<double>(f, "nonlegacy/z"), true);
  const auto out = vq.forward(z);
  require_close(out.z_q.value().to_host(), h5::read_tensor<double>(f, "nonlegacy/z_q").to_host(), 1e-10);
  require_close(out.quant_loss.value().to_host(), h5::read_tensor<double>(f, "nonlegacy/loss").to_host(), 1e-10);
  auto r = tape.leaf(h5::read_tensor<double>(f, "nonlegacy/r"));
  tape.backward(sum(out.z_q * r) + out.quant_loss);
  require_close(store.grad(store.find("quantize.embedding.weight")).to_host(),
                h5::read_tensor<double>(f, "nonlegacy/grad_E").to_host(), 1e-10);
  require_close(z.grad().to_host(), h5::read_tensor<double>(f, "nonlegacy/grad_z").to_host(), 1e-10);
}

TEST_CASE("VqQuantizer: the straight-through estimator copies the whole upstream gradient to z", "[quant][vq]") {
  h5::File f(vq_fixture, h5::File::Mode::read);
  const index_t D = f.attr<std::int64_t>("/", "D"), K = f.attr<std::int64_t>("/", "K");
  TapeD tape;
  auto z = tape.leaf(h5::read_tensor<double>(f, "legacy/z"), true);
  auto E = tape.leaf(h5::read_tensor<double>(f, "legacy/E"), true);
  const auto out = vector_quantize(z, E, fixture_config(f, "legacy", K, D));
  const auto r = h5::read_tensor<double>(f, "legacy/r");
  tape.backward(sum(out.z_q * tape.leaf(r)));
  REQUIRE(z.grad().to_host() == r.to_host());  // exactly: d z_q / d z is the identity
  const auto gE = E.grad();                     // z_q carries no gradient to the codebook
  if (gE.defined())
    for (double v : gE.to_host()) REQUIRE(v == 0.0);
}

TEST_CASE("VqQuantizer: indices are nearest codes in b-h-w raster order and codebook_entry gives E[ind]",
          "[quant][vq]") {
  const index_t B = 2, D = 5, H = 2, W = 3, K = 11;
  const auto zt = random_tensor(Shape{B, D, H, W}, 41);
  const auto Et = random_tensor(Shape{K, D}, 42);
  const auto want = host_nearest(zt.to_host(), Et.to_host(), B, D, H, W, K);
  for (index_t workspace : {index_t(1) << 24, index_t(3 * K), index_t(1)}) {  // one chunk, rows of 3, rows of 1
    INFO("distance workspace " << workspace << " elements");
    WorkspaceGuard guard(workspace);
    ParamStore<double> store;
    VqConfig cfg;
    cfg.codebook_size = K;
    cfg.embed_dim = D;
    VqQuantizer<double> vq(store, "quantize", cfg);
    store.allocate(1);
    store.value(store.find("quantize.embedding.weight")).copy_from_(Et);
    TapeD tape;
    const auto out = vq.forward(tape.leaf(zt));
    REQUIRE(out.indices.to_host() == want);

    const auto entry = vq.codebook_entry(tape, out.indices, B, H, W);
    REQUIRE(entry.shape() == Shape{B, D, H, W});
    const auto e = entry.value().to_host(), E = Et.to_host(), zq = out.z_q.value().to_host();
    for (index_t b = 0; b < B; ++b)
      for (index_t d = 0; d < D; ++d)
        for (index_t h = 0; h < H; ++h)
          for (index_t w = 0; w < W; ++w) {
            const index_t i = ((b * D + d) * H + h) * W + w;
            const double code = E[want[(b * H + h) * W + w] * D + d];
            REQUIRE(e[i] == code);
            REQUIRE(std::fabs(zq[i] - code) <= 1e-15);  // z + (E[ind] - z)
          }
  }
}

TEST_CASE("VqQuantizer: float32 selects the same codes as a double host loop", "[quant][vq]") {
  const index_t B = 3, D = 8, H = 4, W = 4, K = 64;
  const auto z = random_tensor<float>(Shape{B, D, H, W}, 51);
  const auto E = random_tensor<float>(Shape{K, D}, 52);
  std::vector<double> zd, ed;
  for (float v : z.to_host()) zd.push_back(v);
  for (float v : E.to_host()) ed.push_back(v);
  Tape<float> tape;
  VqConfig cfg;
  cfg.codebook_size = K;
  cfg.embed_dim = D;
  const auto out = vector_quantize(tape.leaf(z, true), tape.leaf(E, true), cfg);
  REQUIRE(out.indices.to_host() == host_nearest(zd, ed, B, D, H, W, K));
}

TEST_CASE("VqQuantizer: l2_normalize picks the code of highest cosine similarity", "[quant][vq]") {
  // z is close in L2 to code 0 but points along code 1 (which is long): the two distances disagree.
  const auto E = TensorD::from_host({2, 2}, {1.0, 0.0, 0.0, 10.0});
  const auto z = TensorD::from_host({1, 2, 1, 1}, {0.9, 0.95});
  for (bool l2 : {false, true}) {
    VqConfig cfg;
    cfg.codebook_size = 2;
    cfg.embed_dim = 2;
    cfg.l2_normalize = l2;
    TapeD tape;
    const auto out = vector_quantize(tape.leaf(z, true), tape.leaf(E, true), cfg);
    REQUIRE(out.indices.to_host() == std::vector<std::int32_t>{l2 ? 1 : 0});
    // the loss stays unnormalised: mean((E[ind] - z)^2) * (1 + beta)
    const double want = l2 ? ((0.9 * 0.9) + (10 - 0.95) * (10 - 0.95)) / 2 * 1.25 : (0.1 * 0.1 + 0.95 * 0.95) / 2 * 1.25;
    REQUIRE(std::fabs(out.quant_loss.value().item() - want) <= 1e-12 * want);
  }
}

// The quantizer's stop-gradients make its backward the gradient of a surrogate in which sg(z) and sg(E[ind])
// are frozen at the evaluation point: S(z, E) = <z, r> + w1 mean((c_q - z)^2) + w2 mean((E[ind0] - c_z)^2).
// fn's value is S (so finite differences see S) while its gradient is the quantizer's own backward:
// out = real + sg(S - real).
TEST_CASE("VqQuantizer: gradient check of z and E against the frozen-stop-gradient surrogate", "[quant][vq]") {
  h5::File f(vq_fixture, h5::File::Mode::read);
  const index_t B = f.attr<std::int64_t>("/", "B"), D = f.attr<std::int64_t>("/", "D"),
                H = f.attr<std::int64_t>("/", "H"), W = f.attr<std::int64_t>("/", "W"),
                K = f.attr<std::int64_t>("/", "K");
  for (const std::string g : {"legacy", "nonlegacy"}) {
    INFO("configuration " << g);
    const VqConfig cfg = fixture_config(f, g, K, D);
    const auto z0 = h5::read_tensor<double>(f, g + "/z"), E0 = h5::read_tensor<double>(f, g + "/E");
    const auto r = h5::read_tensor<double>(f, g + "/r");
    const auto ind0 = h5::read_tensor<std::int32_t>(f, g + "/indices");
    const auto cq = h5::read_tensor<double>(f, g + "/z_q").clone(), cz = z0.clone();
    const double w1 = cfg.legacy ? 1.0 : cfg.beta, w2 = cfg.legacy ? cfg.beta : 1.0;
    require_grad_ok(
        [&](TapeD& tape, const VarsD& in) {
          const auto out = vector_quantize(in[0], in[1], cfg);
          const auto rv = tape.leaf(r);
          const auto real = sum(out.z_q * rv) + out.quant_loss;
          const auto S = sum(in[0] * rv) + mse_loss(tape.leaf(cq), in[0]) * w1 +
                         mse_loss(vq_codebook_entry(in[1], ind0, B, H, W), tape.leaf(cz)) * w2;
          return real + stop_gradient(S - real);
        },
        {z0.clone(), E0.clone()}, {"z", "E"});
  }
}

TEST_CASE("VqQuantizer: parameter name, shape and uniform(-1/K, 1/K) init", "[quant][vq]") {
  ParamStore<float> store;
  VqConfig cfg;
  cfg.codebook_size = 64;
  cfg.embed_dim = 16;
  VqQuantizer<float> vq(store, "quantize", cfg);
  store.allocate(7);
  const auto& w = store.value(store.find("quantize.embedding.weight"));
  REQUIRE(w.shape() == Shape{64, 16});
  double lo = 1, hi = -1;
  for (float v : w.to_host()) lo = std::min(lo, double(v)), hi = std::max(hi, double(v));
  REQUIRE(lo >= -1.0 / 64);
  REQUIRE(hi <= 1.0 / 64);
  REQUIRE(hi - lo > 1.5 / 64);  // spread over the interval, not constant
  REQUIRE(&vq.codebook() == &w);
}

TEST_CASE("VqQuantizer: shape errors name the quantizer and both shapes", "[quant][vq]") {
  TapeD tape;
  VqConfig cfg;
  cfg.codebook_size = 3;
  cfg.embed_dim = 4;
  auto E = tape.leaf(random_tensor(Shape{3, 4}, 1), true);
  REQUIRE_THROWS_WITH(vector_quantize(tape.leaf(random_tensor(Shape{2, 5, 2, 2}, 2)), E, cfg),
                      Catch::Contains("VqQuantizer") && Catch::Contains("[2, 5, 2, 2]") && Catch::Contains("[3, 4]"));
  REQUIRE_THROWS_WITH(vector_quantize(tape.leaf(random_tensor(Shape{2, 4, 4}, 3)), E, cfg),
                      Catch::Contains("VqQuantizer") && Catch::Contains("[2, 4, 4]"));
  const auto ind = Tensor<std::int32_t>::from_host({5}, {0, 1, 2, 0, 1});
  REQUIRE_THROWS_WITH(vq_codebook_entry(E, ind, 1, 2, 2), Catch::Contains("codebook_entry") && Catch::Contains("[5]"));
  ParamStore<float> store;
  cfg.codebook_size = 0;
  REQUIRE_THROWS_WITH(VqQuantizer<float>(store, "quantize", cfg), Catch::Contains("VqQuantizer"));
}
