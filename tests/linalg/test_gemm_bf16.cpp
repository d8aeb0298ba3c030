// bf16 storage and the bf16 GEMM (autocast's product): rounding against its definition, and the GEMM on every
// transpose, padded leading dimensions, alpha/beta and batch layout against float64 products of the rounded
// operands, through the native kernels (where the CPU has them) and the emulated ones.
#include <cmath>
#include <limits>

#include "test_util.hpp"
#include "ibq/linalg/gemm_bf16.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {


// The definition: x rounded to the nearest value with 8 significant bits, ties to the even one.
float nearest_bf16_by_search(float x) {
  const float lo = detail::bits_float(detail::float_bits(x) & 0xFFFF0000u);  // toward zero
  const float hi = detail::bits_float((detail::float_bits(x) & 0xFFFF0000u) + 0x10000u);
  const double dl = std::abs(double(x) - lo), dh = std::abs(double(hi) - x);
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return (detail::float_bits(lo) >> 16) % 2 == 0 ? lo : hi;
}

struct Case {
  Trans ta, tb;
  index_t m, n, k, lda, ldb, ldc, batch, sa, sb, sc;
  float alpha, beta;
};

// C as the bf16 GEMM defines it, in float64: products of the rounded operands, exact sums.
std::vector<double> bf16_reference(const Case& c, const std::vector<float>& a, const std::vector<float>& b,
                                   const std::vector<float>& c0, std::vector<double>* abs_sum) {
  std::vector<double> out(c0.begin(), c0.end());
  if (abs_sum) abs_sum->assign(c0.size(), 0.0);
  for (index_t q = 0; q < c.batch; ++q)
    for (index_t i = 0; i < c.m; ++i)
      for (index_t j = 0; j < c.n; ++j) {
        double s = 0, s_abs = 0;
        for (index_t p = 0; p < c.k; ++p) {
          const float av = a[q * c.sa + (c.ta == Trans::N ? i * c.lda + p : p * c.lda + i)];
          const float bv = b[q * c.sb + (c.tb == Trans::N ? p * c.ldb + j : j * c.ldb + p)];
          const double prod = double(round_to_bf16(av)) * double(round_to_bf16(bv));
          s += prod;
          s_abs += std::abs(double(av) * double(bv));
        }
        const index_t o = q * c.sc + i * c.ldc + j;
        out[o] = c.alpha * s + c.beta * double(c0[o]);
        if (abs_sum) (*abs_sum)[o] = std::abs(c.alpha) * s_abs + std::abs(c.beta * double(c0[o]));
      }
  return out;
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (Trans ta : {Trans::N, Trans::T})
    for (Trans tb : {Trans::N, Trans::T}) {
      const index_t m = 37, n = 29, k = 70;
      // Padded leading dimensions, so a kernel that assumes packed rows fails.
      const index_t lda = (ta == Trans::N ? k : m) + 3, ldb = (tb == Trans::N ? n : k) + 5, ldc = n + 2;
      const index_t rows_a = ta == Trans::N ? m : k, rows_b = tb == Trans::N ? k : n;
      out.push_back({ta, tb, m, n, k, lda, ldb, ldc, 1, 0, 0, 0, 1.0f, 0.0f});
      out.push_back({ta, tb, m, n, k, lda, ldb, ldc, 1, 0, 0, 0, 0.5f, 1.0f});
      // Batched with a shared B (a linear layer) and with every operand per item (attention).
      out.push_back({ta, tb, m, n, k, lda, ldb, ldc, 3, rows_a * lda, 0, m * ldc, 1.0f, 0.0f});
      out.push_back({ta, tb, m, n, k, lda, ldb, ldc, 3, rows_a * lda, rows_b * ldb, m * ldc + 7, 2.0f, 1.0f});
    }
  return out;
}

// Runs one case in the current kernels and checks it against the definition.
void check_case(const Case& c, std::uint64_t seed) {
  const index_t rows_a = c.ta == Trans::N ? c.m : c.k, rows_b = c.tb == Trans::N ? c.k : c.n;
  const index_t na = (c.batch - 1) * c.sa + rows_a * c.lda, nb = (c.batch - 1) * c.sb + rows_b * c.ldb;
  const index_t nc = (c.batch - 1) * c.sc + c.m * c.ldc;
  const auto a = random_tensor<float>({na}, seed, -2, 2), b = random_tensor<float>({nb}, seed + 1, -2, 2);
  const auto c0 = random_tensor<float>({nc}, seed + 2);
  std::vector<double> abs_sum;
  const auto want = bf16_reference(c, a.to_host(), b.to_host(), c0.to_host(), &abs_sum);
  auto got_t = c0.clone();
  gemm_strided_batched_as<Space>(Precision::bf16, c.ta, c.tb, c.m, c.n, c.k, c.alpha, a.data(), c.lda, c.sa, b.data(),
                                 c.ldb, c.sb, c.beta, got_t.data(), c.ldc, c.sc, c.batch);
  const auto got = got_t.to_host();
  const auto c0h = c0.to_host();
  // fp32 sums of exact products: within k float roundings of the sum of magnitudes.
  const double fp32_tol = double(c.k + 2) * std::numeric_limits<float>::epsilon();
  std::vector<bool> written(std::size_t(nc), false);
  for (index_t q = 0; q < c.batch; ++q)
    for (index_t i = 0; i < c.m; ++i)
      for (index_t j = 0; j < c.n; ++j) written[std::size_t(q * c.sc + i * c.ldc + j)] = true;
  for (index_t o = 0; o < nc; ++o) {
    if (!written[std::size_t(o)]) {
      REQUIRE(got[o] == c0h[o]);  // padding between rows and items is never touched
      continue;
    }
    INFO("element " << o << " got " << got[o] << " want " << want[o]);
    REQUIRE(std::abs(double(got[o]) - want[o]) <= fp32_tol * abs_sum[o] + 1e-30);
  }
}
}  // namespace

TEST_CASE("bf16: rounding is to the nearest bf16, ties to even, with NaN and infinity kept", "[linalg]") {
  REQUIRE(bf16::from_float(1.0f).bits == 0x3F80);
  REQUIRE(bf16::from_float(-2.0f).bits == 0xC000);
  REQUIRE(round_to_bf16(1.0f + 1.0f / 256) == 1.0f);                     // tie: to the even 1.0
  REQUIRE(round_to_bf16(1.0f + 3.0f / 256) == 1.0f + 4.0f / 256);        // tie: to the even 1 + 2^-6
  REQUIRE(round_to_bf16(1.0f + 1.0f / 256 + 1.0f / 65536) == 1.0f + 1.0f / 128);  // above the tie: up
  REQUIRE(std::isinf(round_to_bf16(std::numeric_limits<float>::infinity())));
  REQUIRE(std::isinf(round_to_bf16(std::numeric_limits<float>::max())));  // beyond bf16's largest: overflows
  const float nan_low_payload = detail::bits_float(0x7F800001u);          // payload only in the dropped bits
  REQUIRE(std::isnan(round_to_bf16(nan_low_payload)));
  REQUIRE(std::isnan(round_to_bf16(-std::numeric_limits<float>::quiet_NaN())));
  REQUIRE(round_to_bf16(1e-40f) == nearest_bf16_by_search(1e-40f));       // subnormals round too
  const auto xs = random_tensor<float>({20000}, 11, -1e3, 1e3).to_host();
  for (float x : xs) {
    REQUIRE(round_to_bf16(x) == nearest_bf16_by_search(x));
    REQUIRE(std::abs(double(round_to_bf16(x)) - x) <= bf16_unit_roundoff * std::abs(double(x)));
  }
}

TEST_CASE("bf16 GEMM: every transpose, padding, alpha/beta and batch layout match the definition", "[linalg]") {
  const Bf16Kernels chosen = bf16_host_kernels();
  std::vector<Bf16Kernels> kernels{Bf16Kernels::emulated};
  if (chosen == Bf16Kernels::native) kernels.push_back(Bf16Kernels::native);
  WARN("host bf16 GEMM: " << bf16_host_backend()
                          << (chosen == Bf16Kernels::native ? "; the emulated kernels are checked too"
                                                            : "; the native kernels cannot run on this CPU"));
  std::uint64_t seed = 100;
  for (Bf16Kernels kind : kernels) {
    bf16_host_kernels() = kind;
    for (const Case& c : cases()) {
      INFO((kind == Bf16Kernels::native ? "native" : "emulated")
           << " trans_a " << (c.ta == Trans::T) << " trans_b " << (c.tb == Trans::T) << " batch " << c.batch
           << " alpha " << c.alpha << " beta " << c.beta);
      check_case(c, seed += 3);
    }
  }
  bf16_host_kernels() = chosen;
}

TEST_CASE("bf16 GEMM: stays within bf16's error of the fp32 product, and fp32 is unchanged", "[linalg]") {
  const index_t m = 64, n = 96, k = 256;
  const auto a = random_tensor<float>({m * k}, 21), b = random_tensor<float>({k * n}, 22);
  TensorF c32({m * n}), c16({m * n});
  gemm_as<Space>(Precision::fp32, Trans::N, Trans::T, m, n, k, 1.f, a.data(), k, b.data(), k, 0.f, c32.data(), n);
  gemm_as<Space>(Precision::bf16, Trans::N, Trans::T, m, n, k, 1.f, a.data(), k, b.data(), k, 0.f, c16.data(), n);
  TensorF plain({m * n});
  gemm<Space>(Trans::N, Trans::T, m, n, k, 1.f, a.data(), k, b.data(), k, 0.f, plain.data(), n);
  REQUIRE(c32.to_host() == plain.to_host());  // fp32 through gemm_as is the plain GEMM, bit for bit
  const auto ah = a.to_host(), bh = b.to_host(), x32 = c32.to_host(), x16 = c16.to_host();
  double worst = 0, differ = 0;
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < n; ++j) {
      double s_abs = 0;
      for (index_t p = 0; p < k; ++p) s_abs += std::abs(double(ah[i * k + p]) * bh[j * k + p]);
      const double err = std::abs(double(x16[i * n + j]) - x32[i * n + j]);
      worst = std::max(worst, err / s_abs);
      differ += err > 0;
    }
  INFO("largest |bf16 - fp32| / sum |a b| = " << worst);
  REQUIRE(worst <= 2 * bf16_unit_roundoff);  // each operand rounded once: |d(ab)| <= (2u + u^2) |ab|
  REQUIRE(differ > m * n / 2);                // and bf16 is really in effect
}

TEST_CASE("bf16 GEMM: native and emulated kernels agree to fp32 summation error", "[linalg]") {
  if (bf16_host_kernels() != Bf16Kernels::native) {
    WARN("this CPU has no bf16 dot-product instructions (or the build no oneDNN): only the emulated kernels exist, "
         "and the previous test checked them");
    return;
  }
  const index_t m = 200, n = 300, k = 512;
  const auto a = random_tensor<float>({m * k}, 31), b = random_tensor<float>({n * k}, 32);
  TensorF cn({m * n}), ce({m * n});
  gemm_as<Space>(Precision::bf16, Trans::N, Trans::T, m, n, k, 1.f, a.data(), k, b.data(), k, 0.f, cn.data(), n);
  bf16_host_kernels() = Bf16Kernels::emulated;
  gemm_as<Space>(Precision::bf16, Trans::N, Trans::T, m, n, k, 1.f, a.data(), k, b.data(), k, 0.f, ce.data(), n);
  bf16_host_kernels() = Bf16Kernels::native;
  const auto xn = cn.to_host(), xe = ce.to_host();
  for (index_t i = 0; i < m * n; ++i) REQUIRE(xn[i] == Approx(xe[i]).margin(1e-4).epsilon(1e-5));
}

TEST_CASE("autocast: scopes nest and restore, and only float computes in bf16", "[linalg]") {
  REQUIRE(autocast_precision<float>() == Precision::fp32);
  {
    Autocast outer(Precision::bf16);
    REQUIRE(autocast_precision<float>() == Precision::bf16);
    REQUIRE(autocast_precision<double>() == Precision::fp32);
    {
      Autocast inner(Precision::fp32);
      REQUIRE(autocast_precision<float>() == Precision::fp32);
    }
    REQUIRE(autocast_precision<float>() == Precision::bf16);
  }
  REQUIRE(autocast_precision<float>() == Precision::fp32);
  REQUIRE(parse_precision("bf16") == Precision::bf16);
  REQUIRE(parse_precision("fp32") == Precision::fp32);
  REQUIRE_THROWS_WITH(parse_precision("fp16"), Catch::Contains("use fp32 or bf16"));
}

TEST_CASE("bf16 GEMM: native and emulated kernels agree on small and degenerate shapes", "[linalg]") {
  if (bf16_host_kernels() != Bf16Kernels::native) {
    WARN("only the emulated bf16 kernels exist on this CPU/build; nothing to compare");
    return;
  }
  // oneDNN picks other kernels for one-row and one-column products (a batch of one image, a grey channel).
  std::uint64_t seed = 500;
  for (index_t m : {1, 2, 3, 16, 64})
    for (index_t n : {1, 4, 16, 72})
      for (index_t k : {1, 4, 16, 72, 256})
        for (int t = 0; t < 4; ++t)
          for (float beta : {0.f, 1.f}) {
            const Trans ta = t & 1 ? Trans::T : Trans::N, tb = t & 2 ? Trans::T : Trans::N;
            const index_t lda = ta == Trans::N ? k : m, ldb = tb == Trans::N ? n : k;
            const auto a = random_tensor<float>({m * k}, ++seed), b = random_tensor<float>({k * n}, ++seed);
            const auto c0 = random_tensor<float>({m * n}, ++seed);
            auto cn = c0.clone(), ce = c0.clone();
            gemm_as<Space>(Precision::bf16, ta, tb, m, n, k, 1.f, a.data(), lda, b.data(), ldb, beta, cn.data(), n);
            bf16_host_kernels() = Bf16Kernels::emulated;
            gemm_as<Space>(Precision::bf16, ta, tb, m, n, k, 1.f, a.data(), lda, b.data(), ldb, beta, ce.data(), n);
            bf16_host_kernels() = Bf16Kernels::native;
            const auto xn = cn.to_host(), xe = ce.to_host();
            INFO("m " << m << " n " << n << " k " << k << " trans " << (t & 1) << (t >> 1) << " beta " << beta);
            for (index_t i = 0; i < m * n; ++i) REQUIRE(xn[i] == Approx(xe[i]).margin(1e-5 * double(k)).epsilon(1e-5));
          }
}
