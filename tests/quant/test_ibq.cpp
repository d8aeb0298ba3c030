// IBQ quantizer: values, indices, loss terms and gradients against a PyTorch transcription of SEED-Voken's
// IndexPropagationQuantize (tests/reference/ibq_reference.py), finite-difference gradient checks of z and
// the codebook, the "all codes updated" property, the beta-placement and double_quant switches, raster
// order of the indices, codebook_entry, the layer's parameter, and shape errors.
#include <algorithm>
#include <string>

#include "test_util.hpp"
#include "ibq/io/hdf5.hpp"
#include "ibq/quant/ibq.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
const std::string fixture_path = std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/ibq.h5";

IbqConfig small_config(index_t K, index_t D, double tau = 0.5) {
  IbqConfig c;
  c.codebook_size = K;
  c.embed_dim = D;
  c.beta = 0.25;
  c.entropy_temperature = tau;
  return c;
}

double scalar(const VarD& v) { return v.value().to_host().at(0); }

// Host logits of z [B, D, H, W] against E [K, D], rows in raster order: l[n * K + k].
std::vector<double> host_logits(const TensorD& z, const TensorD& E) {
  const Shape s = z.shape();
  const index_t B = s.dims[0], D = s.dims[1], H = s.dims[2], W = s.dims[3], K = E.shape().dims[0];
  const auto zh = z.to_host(), eh = E.to_host();
  std::vector<double> l(B * H * W * K, 0.0);
  for (index_t b = 0; b < B; ++b)
    for (index_t h = 0; h < H; ++h)
      for (index_t w = 0; w < W; ++w)
        for (index_t k = 0; k < K; ++k)
          for (index_t d = 0; d < D; ++d)
            l[((b * H + h) * W + w) * K + k] += zh[((b * D + d) * H + h) * W + w] * eh[k * D + d];
  return l;
}
// Smallest gap between the largest and second-largest logit of any row: finite differences must not flip
// the argmax (piecewise constant), so gradient checks need it well above eps * |dlogit/dinput|.
double min_top2_gap(const TensorD& z, const TensorD& E) {
  const index_t K = E.shape().dims[0];
  const auto l = host_logits(z, E);
  double gap = 1e300;
  for (std::size_t r = 0; r < l.size() / K; ++r) {
    std::vector<double> row(l.begin() + r * K, l.begin() + (r + 1) * K);
    std::sort(row.rbegin(), row.rend());
    gap = std::min(gap, row[0] - row[1]);
  }
  return gap;
}
std::vector<int> host_argmax(const TensorD& z, const TensorD& E) {
  const index_t K = E.shape().dims[0];
  const auto l = host_logits(z, E);
  std::vector<int> ind(l.size() / K);
  for (std::size_t r = 0; r < ind.size(); ++r)
    ind[r] = int(std::max_element(l.begin() + r * K, l.begin() + (r + 1) * K) - (l.begin() + r * K));
  return ind;
}
// E[ind] laid out as z [B, D, H, W].
std::vector<double> host_gather(const TensorD& E, const std::vector<int>& ind, const Shape& zs) {
  const index_t B = zs.dims[0], D = zs.dims[1], H = zs.dims[2], W = zs.dims[3];
  const auto eh = E.to_host();
  std::vector<double> out(zs.numel());
  for (index_t b = 0; b < B; ++b)
    for (index_t d = 0; d < D; ++d)
      for (index_t h = 0; h < H; ++h)
        for (index_t w = 0; w < W; ++w)
          out[((b * D + d) * H + h) * W + w] = eh[ind[(b * H + h) * W + w] * D + d];
  return out;
}

void check_against_fixture(const std::string& g) {
  INFO("fixture " << g);
  h5::File f(fixture_path, h5::File::Mode::read);
  const auto z0 = h5::read_tensor<double>(f, g + "/z");
  const auto E0 = h5::read_tensor<double>(f, g + "/E");
  IbqConfig cfg = small_config(E0.shape().dims[0], E0.shape().dims[1], f.attr<double>(g, "entropy_temperature"));
  cfg.beta = f.attr<double>(g, "beta");
  cfg.beta_on_codebook = f.attr<std::int64_t>(g, "beta_on_codebook") != 0;
  const double w_ent = f.attr<double>(g, "entropy_weight");

  TapeD tape;
  auto z = tape.leaf(z0, true);
  auto E = tape.leaf(E0, true);
  const auto q = ibq_quantize(z, E, cfg);
  const auto want_zq = h5::read_tensor<double>(f, g + "/z_q");
  REQUIRE(q.z_q.shape() == want_zq.shape());
  require_close(q.z_q.value().to_host(), want_zq.to_host(), 1e-10);
  REQUIRE(q.indices.to_host() == h5::read_tensor<std::int32_t>(f, g + "/indices").to_host());
  for (const auto& [name, v] : {std::pair<std::string, VarD>{"quant_loss", q.quant_loss},
                                {"sample_entropy", q.sample_entropy},
                                {"batch_entropy", q.batch_entropy},
                                {"entropy_loss", q.entropy_loss}}) {
    INFO(name);
    REQUIRE(v.shape() == Shape{1});
    require_close(v.value().to_host(), h5::read_tensor<double>(f, g + "/" + name).to_host(), 1e-10);
  }
  auto r = tape.leaf(h5::read_tensor<double>(f, g + "/r"));
  tape.backward(sum(q.z_q * r) + q.quant_loss + w_ent * q.entropy_loss);
  {
    INFO("gradient of z");
    require_close(z.grad().to_host(), h5::read_tensor<double>(f, g + "/grad_z").to_host(), 1e-10);
  }
  {
    INFO("gradient of E");
    require_close(E.grad().to_host(), h5::read_tensor<double>(f, g + "/grad_E").to_host(), 1e-10);
  }
}

// Inputs for finite differences: B=2, D=4, H=W=3, K=7, with every row's top-2 logits well separated.
struct GradInputs {
  TensorD z, E;
};
GradInputs grad_inputs() {
  GradInputs in{random_tensor({2, 4, 3, 3}, 101, -1.5, 1.5), random_tensor({7, 4}, 202, -1, 1)};
  REQUIRE(min_top2_gap(in.z, in.E) > 1e-2);
  return in;
}

// Gradients of `loss(q)` w.r.t. z and E for a fresh forward pass.
struct Grads {
  std::vector<double> gz, gE, loss;
  std::vector<int> ind;
};
template <class F>
Grads grads_of(const TensorD& z0, const TensorD& E0, const IbqConfig& cfg, const F& loss) {
  TapeD tape;
  auto z = tape.leaf(z0, true);
  auto E = tape.leaf(E0, true);
  const auto q = ibq_quantize(z, E, cfg);
  const auto l = loss(q);
  Grads g;
  g.loss = l.value().to_host();
  const auto ih = q.indices.to_host();
  g.ind.assign(ih.begin(), ih.end());
  tape.backward(l);
  g.gz = z.grad().defined() ? z.grad().to_host() : std::vector<double>(z0.size(), 0.0);
  g.gE = E.grad().defined() ? E.grad().to_host() : std::vector<double>(E0.size(), 0.0);
  return g;
}
}  // namespace

TEST_CASE("ibq_quantize: matches PyTorch (released loss, tau 0.5)", "[quant][ibq]") {
  check_against_fixture("ibq/tau0.5");
}
TEST_CASE("ibq_quantize: matches PyTorch (released loss, tau 0.01)", "[quant][ibq]") {
  check_against_fixture("ibq/tau0.01");
}
TEST_CASE("ibq_quantize: matches PyTorch (paper Eq. 10 beta placement)", "[quant][ibq]") {
  check_against_fixture("ibq/paper_tau0.5");
}

TEST_CASE("ibq_quantize: gradient check of z and codebook (straight-through surrogate)", "[quant][ibq]") {
  // The forward value of z_q is E[ind], piecewise constant in z, so finite differences of ibq_quantize itself
  // see none of the softmax path. Its gradient is the exact derivative of the surrogate in which every
  // stop-gradient (and the argmax) is frozen at the evaluation point: st = (hard0 - soft0) + softmax(z E^T),
  // z_q2 = E[ind0], sg(z_q2) = E0[ind0], sg(z) = z0. Check (1) ibq_quantize's gradient equals the surrogate's
  // analytic gradient and (2) the surrogate passes finite differences.
  const auto in = grad_inputs();
  const index_t B = 2, D = 4, H = 3, W = 3, K = 7, N = B * H * W;
  for (const bool on_codebook : {true, false})
    for (const bool want_zq : {true, false}) {
      INFO("beta_on_codebook " << on_codebook << ", output " << (want_zq ? "z_q" : "quant_loss"));
      IbqConfig cfg = small_config(K, D, 0.5);
      cfg.beta_on_codebook = on_codebook;
      TapeD tape;
      auto z = tape.leaf(in.z, true);
      auto E = tape.leaf(in.E, true);
      const auto q = ibq_quantize(z, E, cfg);
      const auto out = want_zq ? q.z_q : q.quant_loss;
      const auto seed = random_tensor(out.shape(), 61, -1, 1);
      const auto out_value = out.value().to_host();
      tape.backward(out, seed);
      const auto gz = z.grad().to_host(), gE = E.grad().to_host();

      // The frozen values at the evaluation point.
      const auto ind0 = q.indices;
      TensorD hard0, soft0, zf0, zq2_0;
      {
        TapeD t;
        auto guard = t.no_grad();
        auto zf = reshape(permute(t.leaf(in.z), {0, 2, 3, 1}), {N, D});
        zf0 = zf.value();
        soft0 = softmax(matmul(zf, t.leaf(in.E), false, true), 1).value();
        hard0 = one_hot<double>(ind0, K);
        zq2_0 = embedding_forward(in.E, ind0);
      }
      const double commit_w = on_codebook ? 1.0 : cfg.beta, codebook_w = on_codebook ? cfg.beta : 1.0;
      auto surrogate = [&](TapeD& t, const VarsD& v) {
        auto zf = reshape(permute(v[0], {0, 2, 3, 1}), {N, D});
        auto st = (t.leaf(hard0) - t.leaf(soft0)) + softmax(matmul(zf, v[1], false, true), 1);
        auto zq = permute(reshape(matmul(st, v[1]), {B, H, W, D}), {0, 3, 1, 2});
        if (want_zq) return zq;
        return mse_loss(zq, v[0]) + commit_w * mse_loss(t.leaf(zq2_0), zf) +
               codebook_w * mse_loss(embedding(v[1], ind0), t.leaf(zf0));
      };
      {
        TapeD t;
        auto zs = t.leaf(in.z, true);
        auto Es = t.leaf(in.E, true);
        const auto so = surrogate(t, {zs, Es});
        require_close(so.value().to_host(), out_value, 1e-13);
        t.backward(so, seed);
        require_close(zs.grad().to_host(), gz, 1e-12);
        require_close(Es.grad().to_host(), gE, 1e-12);
      }
      require_grad_ok(surrogate, {in.z, in.E}, {"z", "E"});
    }
}

TEST_CASE("ibq_quantize: entropy terms gradient check", "[quant][ibq]") {
  const auto in = grad_inputs();
  const IbqConfig cfg = small_config(7, 4, 0.5);
  require_grad_ok([&](TapeD&, const VarsD& v) { return ibq_quantize(v[0], v[1], cfg).sample_entropy; },
                  {in.z, in.E}, {"z", "E"});
  require_grad_ok([&](TapeD&, const VarsD& v) { return ibq_quantize(v[0], v[1], cfg).batch_entropy; },
                  {in.z, in.E}, {"z", "E"});
  require_grad_ok([&](TapeD&, const VarsD& v) { return ibq_quantize(v[0], v[1], cfg).entropy_loss; },
                  {in.z, in.E}, {"z", "E"});
}

TEST_CASE("ibq_quantize: every code receives a gradient", "[quant][ibq]") {
  // K = 32 codes for N = 18 positions: most codes are never selected, yet the softmax path reaches them all.
  const auto z = random_tensor({2, 4, 3, 3}, 11, -1, 1);
  const auto E = random_tensor({32, 4}, 12, -1, 1);
  IbqConfig cfg = small_config(32, 4);
  cfg.use_entropy = false;
  const auto r = random_tensor({2, 4, 3, 3}, 13, -1, 1);
  for (const bool decoder_only : {true, false}) {
    INFO((decoder_only ? "L = sum(z_q * r)" : "L = quant_loss"));
    const auto g = grads_of(z, E, cfg, [&](const IbqOutput<double, Space>& q) {
      return decoder_only ? sum(q.z_q * q.z_q.tape().leaf(r)) : q.quant_loss;
    });
    std::vector<bool> used(32, false);
    for (int k : g.ind) used[k] = true;
    REQUIRE(std::count(used.begin(), used.end(), false) >= 14);
    for (index_t k = 0; k < 32; ++k) {
      INFO("code " << k << (used[k] ? " (selected)" : " (not selected)"));
      double norm = 0;
      for (index_t d = 0; d < 4; ++d) norm += std::fabs(g.gE[k * 4 + d]);
      REQUIRE(norm > 1e-12);
    }
  }
}

TEST_CASE("ibq_quantize: beta placement moves beta between the commitment and codebook gradients",
          "[quant][ibq]") {
  const auto in = grad_inputs();
  IbqConfig code = small_config(7, 4), paper = code;
  code.use_entropy = paper.use_entropy = false;
  paper.beta_on_codebook = false;
  auto ql = [](const IbqOutput<double, Space>& q) { return q.quant_loss; };
  const auto gc = grads_of(in.z, in.E, code, ql);
  const auto gp = grads_of(in.z, in.E, paper, ql);
  // Both placements have the same value: the two terms differ only in where the gradient stops.
  require_close(gc.loss, gp.loss, 1e-14);
  REQUIRE(gc.ind == host_argmax(in.z, in.E));
  // code - paper: (1 - beta) 2 (z - E[ind]) / numel for z, (beta - 1) 2 (E[k] - z_n) / numel summed over n -> k.
  const double beta = code.beta, numel = double(in.z.size());
  const auto zh = in.z.to_host(), eq = host_gather(in.E, gc.ind, in.z.shape());
  std::vector<double> dz(zh.size()), dE(in.E.size(), 0.0), got_dz(zh.size()), got_dE(in.E.size());
  for (std::size_t i = 0; i < zh.size(); ++i) {
    dz[i] = (1 - beta) * 2 * (zh[i] - eq[i]) / numel;
    got_dz[i] = gc.gz[i] - gp.gz[i];
  }
  const index_t D = 4, H = 3, W = 3;
  for (index_t b = 0; b < 2; ++b)
    for (index_t d = 0; d < D; ++d)
      for (index_t h = 0; h < H; ++h)
        for (index_t w = 0; w < W; ++w) {
          const index_t i = ((b * D + d) * H + h) * W + w;
          dE[gc.ind[(b * H + h) * W + w] * D + d] += (beta - 1) * 2 * (eq[i] - zh[i]) / numel;
        }
  for (std::size_t i = 0; i < dE.size(); ++i) got_dE[i] = gc.gE[i] - gp.gE[i];
  require_close(got_dz, dz, 1e-12);
  require_close(got_dE, dE, 1e-12);
}

TEST_CASE("ibq_quantize: double_quant = false drops the commitment term", "[quant][ibq]") {
  const auto in = grad_inputs();
  for (const bool on_codebook : {true, false}) {
    INFO("beta_on_codebook " << on_codebook);
    IbqConfig with = small_config(7, 4), without = with;
    with.use_entropy = without.use_entropy = false;
    with.beta_on_codebook = without.beta_on_codebook = on_codebook;
    without.double_quant = false;
    auto ql = [](const IbqOutput<double, Space>& q) { return q.quant_loss; };
    const auto gw = grads_of(in.z, in.E, with, ql);
    const auto go = grads_of(in.z, in.E, without, ql);
    const double weight = on_codebook ? 1.0 : with.beta, numel = double(in.z.size());
    const auto zh = in.z.to_host(), eq = host_gather(in.E, gw.ind, in.z.shape());
    double term = 0;
    std::vector<double> dz(zh.size()), got_dz(zh.size());
    for (std::size_t i = 0; i < zh.size(); ++i) {
      term += (eq[i] - zh[i]) * (eq[i] - zh[i]) / numel;
      dz[i] = weight * 2 * (zh[i] - eq[i]) / numel;
      got_dz[i] = gw.gz[i] - go.gz[i];
    }
    require_close(std::vector<double>{gw.loss[0] - go.loss[0]}, std::vector<double>{weight * term}, 1e-12);
    require_close(got_dz, dz, 1e-12);
    require_close(gw.gE, go.gE, 1e-14);  // the dropped term reaches z only
  }
}

TEST_CASE("ibq_quantize: indices are flat b-h-w raster order", "[quant][ibq]") {
  // Unit-norm codes in distinct directions: z = 3 E[k] has its largest inner product with code k.
  const index_t B = 2, D = 4, H = 2, W = 3, K = 7;
  auto eh = random_tensor({K, D}, 31, -1, 1).to_host();
  for (index_t k = 0; k < K; ++k) {
    double n = 0;
    for (index_t d = 0; d < D; ++d) n += eh[k * D + d] * eh[k * D + d];
    for (index_t d = 0; d < D; ++d) eh[k * D + d] /= std::sqrt(n);
  }
  std::vector<std::int32_t> want(B * H * W);
  std::vector<double> zh(B * D * H * W);
  for (index_t b = 0; b < B; ++b)
    for (index_t h = 0; h < H; ++h)
      for (index_t w = 0; w < W; ++w) {
        const index_t n = (b * H + h) * W + w;
        want[n] = std::int32_t((5 * n + 2) % K);
        for (index_t d = 0; d < D; ++d) zh[((b * D + d) * H + h) * W + w] = 3 * eh[want[n] * D + d];
      }
  TapeD tape;
  const auto E = TensorD::from_host({K, D}, eh);
  const auto q = ibq_quantize(tape.leaf(TensorD::from_host({B, D, H, W}, zh)), tape.leaf(E), small_config(K, D));
  REQUIRE(q.indices.shape() == Shape{B * H * W});
  REQUIRE(q.indices.to_host() == want);
  // The forward value of z_q is E[ind] up to the rounding of hard - soft + soft.
  std::vector<int> wi(want.begin(), want.end());
  require_close(q.z_q.value().to_host(), host_gather(E, wi, Shape{B, D, H, W}), 1e-14);
}

TEST_CASE("IbqQuantizer: declares the codebook, forward uses it, codebook_entry gives E[ind] as [B, D, H, W]",
          "[quant][ibq]") {
  const index_t B = 2, D = 4, H = 2, W = 3, K = 9;
  ParamStore<double, Space> store;
  const IbqQuantizer<double, Space> quant(store, "quantize", small_config(K, D));
  store.allocate(7);
  const auto ref = store.find("quantize.embedding.weight");
  const auto E = store.value(ref);
  REQUIRE(E.shape() == Shape{K, D});
  REQUIRE(store.num_params() == K * D);

  const auto z0 = random_tensor({B, D, H, W}, 41, -2, 2);
  TapeD tape;
  const auto q = quant.forward(tape.leaf(z0, true));
  const auto want = host_argmax(z0, E);
  REQUIRE(q.indices.to_host() == std::vector<std::int32_t>(want.begin(), want.end()));
  tape.backward(q.quant_loss + q.entropy_loss);
  double gnorm = 0;
  for (double v : store.grad(ref).to_host()) gnorm += std::fabs(v);
  REQUIRE(gnorm > 0);  // the gradient landed in the store

  TapeD t2;
  const auto e = quant.codebook_entry(t2, q.indices, B, H, W);
  REQUIRE(e.shape() == Shape{B, D, H, W});
  const auto ih = q.indices.to_host();
  require_close(e.value().to_host(), host_gather(E, std::vector<int>(ih.begin(), ih.end()), e.shape()), 0.0);
  require_close(e.value().to_host(), q.z_q.value().to_host(), 1e-14);

  REQUIRE_THROWS_WITH(quant.codebook_entry(t2, q.indices, B, H, W + 1),
                      Catch::Contains("codebook_entry") && Catch::Contains("B*H*W"));
}

TEST_CASE("ibq_quantize: float forward agrees with double", "[quant][ibq]") {
  const auto z = random_tensor<float>({2, 4, 3, 3}, 51, -1.5, 1.5);
  const auto E = random_tensor<float>({7, 4}, 52, -1, 1);
  Tape<float, Space> tf;
  const auto qf = ibq_quantize(tf.leaf(z, true), tf.leaf(E, true), small_config(7, 4));
  tf.backward(qf.quant_loss + 0.05 * qf.entropy_loss);
  const auto zd = random_tensor<double>({2, 4, 3, 3}, 51, -1.5, 1.5);
  const auto Ed = random_tensor<double>({7, 4}, 52, -1, 1);
  REQUIRE(min_top2_gap(zd, Ed) > 1e-3);
  TapeD td;
  const auto qd = ibq_quantize(td.leaf(zd), td.leaf(Ed), small_config(7, 4));
  REQUIRE(qf.indices.to_host() == qd.indices.to_host());
  REQUIRE(qf.quant_loss.value().to_host()[0] == Approx(scalar(qd.quant_loss)).epsilon(1e-5));
  REQUIRE(qf.entropy_loss.value().to_host()[0] == Approx(scalar(qd.entropy_loss)).epsilon(1e-5));
}

TEST_CASE("ibq_quantize: shape errors", "[quant][ibq]") {
  TapeD tape;
  const auto E = tape.leaf(random_tensor({7, 4}, 1));
  REQUIRE_THROWS_WITH(ibq_quantize(tape.leaf(random_tensor({2, 5, 3, 3}, 2)), E, small_config(7, 4)),
                      Catch::Contains("ibq_quantize") && Catch::Contains("[2, 5, 3, 3]") && Catch::Contains("[7, 4]"));
  REQUIRE_THROWS_WITH(ibq_quantize(tape.leaf(random_tensor({2, 4, 9}, 3)), E, small_config(7, 4)),
                      Catch::Contains("ibq_quantize") && Catch::Contains("[B, D, H, W]"));
  REQUIRE_THROWS_WITH(ibq_quantize(tape.leaf(random_tensor({2, 4, 3, 3}, 4)), tape.leaf(random_tensor({28}, 5)),
                                   small_config(7, 4)),
                      Catch::Contains("ibq_quantize") && Catch::Contains("[K, D]"));
}
