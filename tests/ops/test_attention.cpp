// Scaled dot-product attention: values and gradients against explicit PyTorch attention (non-causal,
// causal, KV-cache causal), a host loop for the taming single-head block and extreme logits, gradient
// checks of q, k and v, and shape errors.
#include <cmath>
#include <string>

#include "test_util.hpp"
#include "ibq/io/hdf5.hpp"
#include "ibq/ops/attention.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
// softmax(scale q k^T + mask) v per head, in double, with the same mask rule as the library.
std::vector<double> host_attention(const std::vector<double>& q, const std::vector<double>& k,
                                   const std::vector<double>& v, index_t bh, index_t tq, index_t tk, index_t dh,
                                   index_t dv, double scale, bool causal) {
  std::vector<double> o(bh * tq * dv, 0.0);
  for (index_t b = 0; b < bh; ++b)
    for (index_t i = 0; i < tq; ++i) {
      std::vector<double> s(tk);
      double mx = -1e300;
      const index_t visible = causal ? i + (tk - tq) + 1 : tk;
      for (index_t j = 0; j < visible; ++j) {
        double d = 0;
        for (index_t c = 0; c < dh; ++c) d += q[(b * tq + i) * dh + c] * k[(b * tk + j) * dh + c];
        s[j] = scale * d;
        mx = std::max(mx, s[j]);
      }
      double sum = 0;
      for (index_t j = 0; j < visible; ++j) sum += (s[j] = std::exp(s[j] - mx));
      for (index_t j = 0; j < visible; ++j)
        for (index_t c = 0; c < dv; ++c) o[(b * tq + i) * dv + c] += s[j] / sum * v[(b * tk + j) * dv + c];
    }
  return o;
}

void check_fixture(const std::string& g) {
  INFO("fixture group " << g);
  h5::File f(std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/norm.h5", h5::File::Mode::read);
  auto get = [&](const std::string& n) { return h5::read_tensor<double>(f, g + "/" + n); };
  TapeD tape;
  auto q = tape.leaf(get("q"), true), k = tape.leaf(get("k"), true), v = tape.leaf(get("v"), true);
  AttentionArgs args;
  args.causal = f.attr<int>(g, "causal") != 0;
  args.scale = f.attr<double>(g, "scale");
  auto o = attention(q, k, v, args);
  REQUIRE(o.shape() == get("out").shape());
  require_close(o.value().to_host(), get("out").to_host(), 1e-10);
  tape.backward(o, get("r"));
  require_close(q.grad().to_host(), get("grad_q").to_host(), 1e-10);
  require_close(k.grad().to_host(), get("grad_k").to_host(), 1e-10);
  require_close(v.grad().to_host(), get("grad_v").to_host(), 1e-10);
  // the default scale is 1/sqrt(head_dim), which the fixtures use
  TapeD t2;
  AttentionArgs dflt;
  dflt.causal = args.causal;
  require_close(attention(t2.leaf(get("q")), t2.leaf(get("k")), t2.leaf(get("v")), dflt).value().to_host(),
                get("out").to_host(), 1e-12);
}
}  // namespace

TEST_CASE("attention: values and gradients match PyTorch (non-causal)", "[ops][attention]") {
  check_fixture("attention");
}
TEST_CASE("attention: values and gradients match PyTorch (causal)", "[ops][attention]") {
  check_fixture("attention_causal");
}
TEST_CASE("attention: values and gradients match PyTorch (causal, Tq=2 < Tk=5 KV cache)", "[ops][attention]") {
  check_fixture("attention_kv");
}

TEST_CASE("attention: taming AttnBlock (one head over H*W positions, Dh = C) in float", "[ops][attention]") {
  const index_t B = 2, T = 16, C = 8;  // 4x4 positions
  auto q = random_tensor<float>({B, 1, T, C}, 1), k = random_tensor<float>({B, 1, T, C}, 2),
       v = random_tensor<float>({B, 1, T, C}, 3);
  const auto r = attention_forward(q, k, v);
  REQUIRE(r.out.shape() == Shape{B, 1, T, C});
  REQUIRE(r.probs.shape() == Shape{B, 1, T, T});
  auto to_d = [](const std::vector<float>& x) { return std::vector<double>(x.begin(), x.end()); };
  const auto want = host_attention(to_d(q.to_host()), to_d(k.to_host()), to_d(v.to_host()), B, T, T, C, C,
                                   1 / std::sqrt(double(C)), false);
  require_close(to_d(r.out.to_host()), want, 1e-5);
  // every probability row sums to one
  const auto p = r.probs.to_host();
  for (index_t row = 0; row < B * T; ++row) {
    double s = 0;
    for (index_t j = 0; j < T; ++j) s += p[row * T + j];
    REQUIRE(s == Approx(1.0).epsilon(1e-5));
  }
}

TEST_CASE("attention: large logits stay finite, with a custom scale and Dv != Dh", "[ops][attention]") {
  const index_t B = 1, H = 2, Tq = 3, Tk = 4, Dh = 5, Dv = 3;
  const auto q = random_tensor({B, H, Tq, Dh}, 1, -30, 30), k = random_tensor({B, H, Tk, Dh}, 2, -30, 30),
             v = random_tensor({B, H, Tk, Dv}, 3);
  for (bool causal : {false, true}) {
    AttentionArgs a;
    a.causal = causal;
    a.scale = 2.0;  // logits in the thousands: exp would overflow without the max subtraction
    const auto r = attention_forward(q, k, v, a);
    REQUIRE(r.out.shape() == Shape{B, H, Tq, Dv});
    const auto want = host_attention(q.to_host(), k.to_host(), v.to_host(), B * H, Tq, Tk, Dh, Dv, 2.0, causal);
    require_close(r.out.to_host(), want, 1e-12);
    if (causal) {  // query 0 of 3 with 4 keys sees keys 0 and 1 only
      const auto p = r.probs.to_host();
      REQUIRE(p[2] == 0.0);
      REQUIRE(p[3] == 0.0);
    }
  }
}

namespace {
struct GradCase {
  index_t tq, tk, dh, dv;
  bool causal;
  double scale;
};
void check_attention_grads(const GradCase& c) {
  INFO("tq " << c.tq << " tk " << c.tk << " dh " << c.dh << " dv " << c.dv << " causal " << c.causal);
  AttentionArgs a;
  a.causal = c.causal;
  a.scale = c.scale;
  require_grad_ok([&](TapeD&, const VarsD& in) { return attention(in[0], in[1], in[2], a); },
                  {random_tensor({1, 2, c.tq, c.dh}, 1, -2, 2), random_tensor({1, 2, c.tk, c.dh}, 2, -2, 2),
                   random_tensor({1, 2, c.tk, c.dv}, 3, -2, 2)},
                  {"q", "k", "v"});
}
}  // namespace

TEST_CASE("attention: gradient check (non-causal, custom scale, Dv != Dh)", "[ops][attention][grad]") {
  check_attention_grads({3, 3, 4, 4, false, 0});
  check_attention_grads({3, 2, 3, 5, false, 0.7});
}
TEST_CASE("attention: gradient check (causal, and causal with Tq < Tk)", "[ops][attention][grad]") {
  check_attention_grads({3, 3, 4, 4, true, 0});
  check_attention_grads({2, 4, 3, 3, true, 0});
}

TEST_CASE("attention: bad shapes name the op and the shapes", "[ops][attention]") {
  TapeD tape;
  auto q = tape.leaf(TensorD({1, 2, 3, 4})), k = tape.leaf(TensorD({1, 2, 5, 4})), v = tape.leaf(TensorD({1, 2, 5, 4}));
  REQUIRE_THROWS_WITH(attention(q, tape.leaf(TensorD({1, 2, 5, 3})), v),
                      Catch::Contains("attention") && Catch::Contains("[1, 2, 3, 4]") && Catch::Contains("[1, 2, 5, 3]"));
  REQUIRE_THROWS_WITH(attention(q, k, tape.leaf(TensorD({1, 2, 4, 4}))),
                      Catch::Contains("attention") && Catch::Contains("[1, 2, 4, 4]") && Catch::Contains("[1, 2, 5, 4]"));
  REQUIRE_THROWS_WITH(attention(tape.leaf(TensorD({2, 3, 4})), k, v),
                      Catch::Contains("attention") && Catch::Contains("[2, 3, 4]"));
  AttentionArgs causal;
  causal.causal = true;
  REQUIRE_THROWS_WITH(attention(k, q, q, causal), Catch::Contains("attention") && Catch::Contains("causal"));
}
