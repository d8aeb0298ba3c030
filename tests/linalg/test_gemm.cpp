// GEMM dispatch: the BLAS and Eigen host backends and the space dispatch against a naive triple loop, for
// every transpose combination, padded leading dimensions, beta accumulation and strided batches.
#include "test_util.hpp"
#include "ibq/linalg/gemm.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
// C = alpha op(A) op(B) + beta C, row-major, the definition every backend must match.
void naive(Trans ta, Trans tb, index_t m, index_t n, index_t k, double alpha, const std::vector<double>& a,
           index_t lda, const std::vector<double>& b, index_t ldb, double beta, std::vector<double>& c, index_t ldc) {
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < n; ++j) {
      double s = 0;
      for (index_t p = 0; p < k; ++p)
        s += (ta == Trans::N ? a[i * lda + p] : a[p * lda + i]) * (tb == Trans::N ? b[p * ldb + j] : b[j * ldb + p]);
      c[i * ldc + j] = alpha * s + beta * c[i * ldc + j];
    }
}
std::vector<double> random_vec(std::size_t n, std::uint64_t seed) { return random_tensor({index_t(n)}, seed).to_host(); }

template <class Fn>
void for_each_case(Fn&& fn) {
  const index_t m = 7, n = 5, k = 6;
  for (Trans ta : {Trans::N, Trans::T})
    for (Trans tb : {Trans::N, Trans::T}) {
      // Leading dimensions padded by 3 so a backend that assumes packed rows fails.
      const index_t lda = (ta == Trans::N ? k : m) + 3, ldb = (tb == Trans::N ? n : k) + 3, ldc = n + 3;
      const index_t rows_a = ta == Trans::N ? m : k, rows_b = tb == Trans::N ? k : n;
      fn(ta, tb, m, n, k, lda, ldb, ldc, random_vec(rows_a * lda, 1), random_vec(rows_b * ldb, 2),
         random_vec(m * ldc, 3));
    }
}
}  // namespace

TEST_CASE("gemm: host backends match the definition for every transpose", "[linalg]") {
  for_each_case([](Trans ta, Trans tb, index_t m, index_t n, index_t k, index_t lda, index_t ldb, index_t ldc,
                   const std::vector<double>& a, const std::vector<double>& b, const std::vector<double>& c0) {
    INFO("trans_a " << (ta == Trans::T) << " trans_b " << (tb == Trans::T));
    auto want = c0;
    naive(ta, tb, m, n, k, 1.5, a, lda, b, ldb, 0.5, want, ldc);
    auto eig = c0;
    gemm_eigen(ta, tb, m, n, k, 1.5, a.data(), lda, b.data(), ldb, 0.5, eig.data(), ldc);
    require_close(eig, want, 1e-13);
    auto host = c0;
    gemm_host(ta, tb, m, n, k, 1.5, a.data(), lda, b.data(), ldb, 0.5, host.data(), ldc);
    require_close(host, want, 1e-13);
    auto zero_beta = c0;  // beta = 0 must ignore C's old contents, even NaN
    for (auto& x : zero_beta) x = std::nan("");
    auto want0 = zero_beta;
    for (auto& x : want0) x = 0;
    naive(ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, want0, ldc);
    gemm_host(ta, tb, m, n, k, 1.0, a.data(), lda, b.data(), ldb, 0.0, zero_beta.data(), ldc);
    for (index_t i = 0; i < m; ++i)
      for (index_t j = 0; j < n; ++j) REQUIRE(zero_beta[i * ldc + j] == Approx(want0[i * ldc + j]).epsilon(1e-12));
  });
}

TEST_CASE("gemm: dispatch on the default space, single and strided batched", "[linalg]") {
  const index_t batch = 3, m = 4, n = 5, k = 6;
  const auto a = random_vec(batch * m * k, 4), b = random_vec(batch * k * n, 5);
  auto da = TensorD::from_host({batch * m * k}, a), db = TensorD::from_host({batch * k * n}, b);
  TensorD dc({batch * m * n});
  gemm_strided_batched<Space>(Trans::N, Trans::N, m, n, k, 1.0, da.data(), k, m * k, db.data(), n, k * n, 0.0,
                              dc.data(), n, m * n, batch);
  Kokkos::fence();
  std::vector<double> want(batch * m * n, 0.0);
  for (index_t i = 0; i < batch; ++i) {
    std::vector<double> ai(a.begin() + i * m * k, a.begin() + (i + 1) * m * k);
    std::vector<double> bi(b.begin() + i * k * n, b.begin() + (i + 1) * k * n);
    std::vector<double> ci(m * n, 0.0);
    naive(Trans::N, Trans::N, m, n, k, 1.0, ai, k, bi, n, 0.0, ci, n);
    std::copy(ci.begin(), ci.end(), want.begin() + i * m * n);
  }
  require_close(dc.to_host(), want, 1e-13);
  TensorD single({m * n});
  const std::vector<double> at(a.begin(), a.begin() + k * m);  // read as A^T: k x m
  gemm<Space>(Trans::T, Trans::N, m, n, k, 2.0, TensorD::from_host({k * m}, at).data(), m, db.data(), n, 0.0,
              single.data(), n);
  Kokkos::fence();
  std::vector<double> want1(m * n, 0.0);
  naive(Trans::T, Trans::N, m, n, k, 2.0, at, m, std::vector<double>(b.begin(), b.begin() + k * n), n, 0.0, want1, n);
  require_close(single.to_host(), want1, 1e-13);
}

TEST_CASE("gemm: float through the build's host backend reaches BLAS accuracy", "[linalg]") {
  const index_t m = 64, n = 48, k = 80;
  const auto a = random_tensor<float>({m * k}, 6).to_host(), b = random_tensor<float>({k * n}, 7).to_host();
  std::vector<float> c(m * n, 0.f);
  gemm_host(Trans::N, Trans::N, m, n, k, 1.f, a.data(), k, b.data(), n, 0.f, c.data(), n);
  std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end()), want(m * n, 0.0);
  naive(Trans::N, Trans::N, m, n, k, 1.0, ad, k, bd, n, 0.0, want, n);
  for (index_t i = 0; i < m * n; ++i) REQUIRE(c[i] == Approx(want[i]).margin(1e-4));
  INFO("host GEMM backend: " << gemm_host_backend());
  SUCCEED();
}

#if defined(IBQ_HAVE_DNNL)
// oneDNN's fp32 matmul takes the thin products (linalg/sgemm_onednn.hpp): every transpose, padded leading
// dimensions, alpha and beta (beta = 0 ignores NaN in C), against the definition in double.
TEST_CASE("gemm: oneDNN's fp32 matmul matches the definition for every transpose, stride, alpha and beta",
          "[linalg]") {
  for (const index_t pad : {0, 3})
    for (Trans ta : {Trans::N, Trans::T})
      for (Trans tb : {Trans::N, Trans::T})
        for (const double beta : {0.0, 1.0, 0.5}) {
          const index_t m = 37, n = 29, k = 70;
          const index_t lda = (ta == Trans::N ? k : m) + pad, ldb = (tb == Trans::N ? n : k) + pad, ldc = n + pad;
          const index_t rows_a = ta == Trans::N ? m : k, rows_b = tb == Trans::N ? k : n;
          const auto a = random_tensor<float>({rows_a * lda}, 8).to_host(), b = random_tensor<float>({rows_b * ldb}, 9).to_host();
          auto c = random_tensor<float>({m * ldc}, 10).to_host();
          if (beta == 0.0) std::fill(c.begin(), c.end(), std::nanf(""));
          std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end()), want(c.begin(), c.end());
          if (beta == 0.0) std::fill(want.begin(), want.end(), 0.0);
          naive(ta, tb, m, n, k, 1.5, ad, lda, bd, ldb, beta, want, ldc);
          const onednn::Sgemm& prim = onednn::cached_primitive<onednn::Sgemm>(
              onednn::SgemmKey{m, n, k, lda, ldb, ldc, ta == Trans::T, tb == Trans::T, 1.5f, float(beta)});
          INFO("trans_a " << (ta == Trans::T) << " trans_b " << (tb == Trans::T) << " pad " << pad << " beta " << beta);
          // Dense operands get a brgemm kernel wherever oneDNN runs AVX-512 (its brgemm matmul needs it); on
          // AVX2-only CPUs there is none, and sgemm must fall back to the BLAS, checked the same way below.
          const auto isa = unsigned(dnnl::get_effective_cpu_isa()), avx512 = unsigned(dnnl::cpu_isa::avx512_core);
          if (pad == 0 && (isa & avx512) == avx512) REQUIRE(prim.usable());
          onednn::sgemm(ta, tb, m, n, k, 1.5f, a.data(), lda, b.data(), ldb, float(beta), c.data(), ldc);
          for (index_t i = 0; i < m; ++i)
            for (index_t j = 0; j < n; ++j) REQUIRE(c[i * ldc + j] == Approx(want[i * ldc + j]).margin(2e-5));
        }
}

TEST_CASE("gemm: thin fp32 products go to oneDNN, wide and tiny ones to the BLAS", "[linalg]") {
  using onednn::sgemm_rule;
  CHECK(sgemm_rule(Trans::N, 4160, 384, 128));    // a width-128 transformer's linear
  CHECK(sgemm_rule(Trans::N, 4096, 16384, 64));   // quantizer logits, D = 64
  CHECK(sgemm_rule(Trans::T, 384, 128, 4160));    // a weight gradient at width 128
  CHECK(sgemm_rule(Trans::N, 4160, 256, 704));    // width 256: an output 256 wide over a short sum
  CHECK_FALSE(sgemm_rule(Trans::T, 704, 256, 4160));  // ... but not with a transposed A
  CHECK_FALSE(sgemm_rule(Trans::N, 4096, 256, 16384));  // ... nor over a long sum
  CHECK_FALSE(sgemm_rule(Trans::N, 2048, 2048, 2048));
  CHECK_FALSE(sgemm_rule(Trans::N, 2056, 3072, 1024));
  CHECK_FALSE(sgemm_rule(Trans::N, 64, 128, 10));  // below 2^20 multiply-adds
  CHECK_FALSE(sgemm_rule(Trans::N, 4160, 0, 0));
}
#endif
