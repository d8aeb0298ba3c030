// Autocast (Precision::bf16) on the ops that multiply: matmul, linear, attention and conv2d, forward and
// backward. Each is checked two ways: against the same op in fp32 on operands rounded to bf16 by hand (the
// definition: bf16 inputs, fp32 accumulation; agreement to fp32 summation error), and against plain fp32
// (within bf16's error, and really different). Gradients are those of the bf16 op: the backward products read
// bf16 operands too, with the mode recorded in the forward pass even when backward runs outside the scope.
#include <cmath>
#include <functional>

#include "test_util.hpp"
#include "ibq/ops/attention.hpp"
#include "ibq/ops/conv2d.hpp"
#include "ibq/ops/matmul.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
using TapeF = Tape<float, Space>;
using VarF = Var<float, Space>;
using VarsF = std::vector<VarF>;
using OpF = std::function<VarF(const VarsF&)>;

TensorF rounded(const TensorF& t) {
  auto v = t.to_host();
  for (auto& x : v) x = round_to_bf16(x);
  return TensorF::from_host(t.shape(), v);
}

struct Run {
  std::vector<float> out;
  std::vector<std::vector<float>> grads;
};

// The op's output and its inputs' gradients for the output gradient r, with the op recorded in precision p.
Run run(const OpF& op, const std::vector<TensorF>& inputs, const TensorF& r_in, Precision p, bool round_r = false) {
  TapeF tape;
  VarsF in;
  for (const auto& x : inputs) in.push_back(tape.leaf(x.clone(), true));
  VarF out;
  {
    Autocast scope(p);
    out = op(in);
  }  // backward outside the scope: the recorded precision must carry over
  tape.backward(out, round_r ? rounded(r_in) : r_in);
  Run res{out.value().to_host(), {}};
  for (auto& v : in) res.grads.push_back(v.grad().to_host());
  return res;
}

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, double(std::fabs(x)));
  return m;
}
// max |a - b| / max |b|
double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0;
  for (std::size_t i = 0; i < a.size(); ++i) e = std::max(e, std::fabs(double(a[i]) - double(b[i])));
  return e / std::max(max_abs(b), 1e-30);
}

// The three-way check. `exact`: the op is nothing but products of its inputs, so rounding the inputs and r by
// hand is the definition (false for attention: its second product reads the fp32 softmax, rounded inside).
// `biases`: inputs that are added, not multiplied (an fp32 bias stays fp32 under autocast).
void check_autocast(const std::string& what, const OpF& op, const std::vector<TensorF>& inputs, const Shape& out_shape,
                    bool exact = true, std::size_t biases_from = std::size_t(-1)) {
  INFO(what << " (host bf16 kernels: " << bf16_host_backend() << ")");
  const auto r = random_tensor<float>(out_shape, 999);
  const Run bf = run(op, inputs, r, Precision::bf16);
  std::vector<TensorF> rin;
  for (std::size_t i = 0; i < inputs.size(); ++i) rin.push_back(i < biases_from ? rounded(inputs[i]) : inputs[i]);
  const Run def = run(op, rin, r, Precision::fp32, /*round_r=*/true);
  const Run f32 = run(op, inputs, r, Precision::fp32);
  INFO("forward: bf16 vs definition " << rel_err(bf.out, def.out) << ", bf16 vs fp32 " << rel_err(bf.out, f32.out));
  if (exact) REQUIRE(rel_err(bf.out, def.out) < 2e-5);
  REQUIRE(rel_err(bf.out, f32.out) < 3e-2);
  REQUIRE(rel_err(bf.out, f32.out) > 1e-5);  // bf16 was really in effect
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    INFO("gradient " << i << ": bf16 vs definition " << rel_err(bf.grads[i], def.grads[i]) << ", bf16 vs fp32 "
                     << rel_err(bf.grads[i], f32.grads[i]));
    if (i >= biases_from) {  // a bias gradient sums r in fp32, as without autocast (maybe in another order)
      REQUIRE(rel_err(bf.grads[i], f32.grads[i]) < 2e-6);
      continue;
    }
    if (exact) REQUIRE(rel_err(bf.grads[i], def.grads[i]) < 2e-5);
    REQUIRE(rel_err(bf.grads[i], f32.grads[i]) < 5e-2);
    REQUIRE(rel_err(bf.grads[i], f32.grads[i]) > 1e-6);
  }
}
}  // namespace

TEST_CASE("autocast: matmul and linear in bf16 are fp32 products of bf16 operands", "[ops][autocast]") {
  check_autocast("matmul batched nt", [](const VarsF& v) { return matmul(v[0], v[1], false, true); },
                 {random_tensor<float>({3, 20, 48}, 1), random_tensor<float>({3, 30, 48}, 2)}, Shape{3, 20, 30});
  check_autocast("matmul shared tn", [](const VarsF& v) { return matmul(v[0], v[1], true, false); },
                 {random_tensor<float>({2, 40, 17}, 3), random_tensor<float>({40, 23}, 4)}, Shape{2, 17, 23});
  // The bias gradient is a column sum in fp32 in both runs, so the definition holds exactly for all three.
  check_autocast("linear with bias", [](const VarsF& v) { return linear(v[0], v[1], v[2]); },
                 {random_tensor<float>({4, 9, 64}, 5), random_tensor<float>({33, 64}, 6),
                  random_tensor<float>({33}, 7)},
                 Shape{4, 9, 33}, true, 2);
}

TEST_CASE("autocast: attention's products in bf16, its softmax in fp32", "[ops][autocast]") {
  AttentionArgs causal;
  causal.causal = true;
  check_autocast("causal attention", [&](const VarsF& v) { return attention(v[0], v[1], v[2], causal); },
                 {random_tensor<float>({2, 3, 17, 32}, 8, -2, 2), random_tensor<float>({2, 3, 17, 32}, 9, -2, 2),
                  random_tensor<float>({2, 3, 17, 32}, 10)},
                 Shape{2, 3, 17, 32}, /*exact=*/false);
}

TEST_CASE("autocast: conv2d in bf16 (oneDNN's bf16 kernels or the emulation) is the definition", "[ops][autocast]") {
  const Bf16Kernels chosen = bf16_host_kernels();
  std::vector<Bf16Kernels> kinds{Bf16Kernels::emulated};
  if (chosen == Bf16Kernels::native) kinds.push_back(Bf16Kernels::native);
  for (Bf16Kernels kind : kinds) {
    bf16_host_kernels() = kind;
    for (index_t stride : {1, 2}) {
      Conv2dArgs a;
      a.stride = stride;
      a.pad_top = a.pad_bottom = a.pad_left = a.pad_right = 1;
      const index_t ho = (12 + 2 - 3) / stride + 1;
      check_autocast(std::string(kind == Bf16Kernels::native ? "native" : "emulated") + " conv 3x3 stride " +
                         std::to_string(stride),
                     [&](const VarsF& v) { return conv2d(v[0], v[1], v[2], a); },
                     {random_tensor<float>({2, 16, 12, 12}, 11), random_tensor<float>({32, 16, 3, 3}, 12),
                      random_tensor<float>({32}, 13)},
                     Shape{2, 32, ho, ho}, true, 2);
    }
    check_autocast("1x1 conv", [](const VarsF& v) { return conv2d(v[0], v[1], Conv2dArgs{}); },
                   {random_tensor<float>({3, 24, 8, 8}, 14), random_tensor<float>({40, 24, 1, 1}, 15)},
                   Shape{3, 40, 8, 8});
    // One image, and one input or output channel (a grey image's first and last layers): oneDNN picks other
    // kernels for these (its gemm-based convolution for one output channel).
    const auto pad1 = Conv2dArgs::symmetric(1, 1);
    for (index_t n : {1, 3})
      for (auto [cin, cout] : {std::pair<index_t, index_t>{1, 8}, {8, 1}, {8, 16}}) {
        check_autocast("conv " + std::to_string(n) + " images " + std::to_string(cin) + " -> " + std::to_string(cout),
                       [&](const VarsF& v) { return conv2d(v[0], v[1], v[2], pad1); },
                       {random_tensor<float>({n, cin, 8, 8}, 16 + n), random_tensor<float>({cout, cin, 3, 3}, 17),
                        random_tensor<float>({cout}, 18)},
                       Shape{n, cout, 8, 8}, true, 2);
      }
  }
  bf16_host_kernels() = chosen;
}

TEST_CASE("autocast: double tensors are never rounded", "[ops][autocast]") {
  const auto a = random_tensor({5, 7}, 16), b = random_tensor({7, 3}, 17);
  const auto plain = matmul_forward(a, b).to_host();
  TapeD tape;
  VarD out;
  {
    Autocast scope(Precision::bf16);
    out = matmul(tape.leaf(a), tape.leaf(b));
  }
  REQUIRE(out.value().to_host() == plain);
}
