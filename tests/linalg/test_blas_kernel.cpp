// The OpenBLAS kernel choice of ibq/core/process_env.hpp: fallbacks are replaced only by kernels the CPU
// runs, known kernels are kept, and this test process itself (whose main settles its environment) really
// runs the kernel that was asked for.
#include <catch2/catch.hpp>

#include <cctype>
#include <cstdlib>
#include <string>

#include "ibq/core/process_env.hpp"

TEST_CASE("OpenBLAS kernel: a recognised kernel is kept, a generic fallback is upgraded only to what the CPU runs",
          "[linalg]") {
  CHECK(ibq::preferred_openblas_core("SkylakeX").empty());
  CHECK(ibq::preferred_openblas_core("Cooperlake").empty());
  CHECK(ibq::preferred_openblas_core("Haswell").empty());
  CHECK(ibq::preferred_openblas_core("").empty());
#if defined(__x86_64__)
  __builtin_cpu_init();
  const std::string up = ibq::preferred_openblas_core("Prescott");
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    CHECK(up == "SkylakeX");
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    CHECK(up == "Haswell");
  else
    CHECK(up.empty());
#endif
}

#if defined(IBQ_HAVE_CBLAS)  // (the Eigen build has no kernel to choose)
TEST_CASE("OpenBLAS kernel: the test process runs the kernel its start-up settled on", "[linalg]") {
  const std::string running = ibq::openblas_core_name();
  INFO("OpenBLAS runs " << running << ", environment set at start-up: '" << ibq::settled_environment() << "'");
  REQUIRE_FALSE(running.empty());
  const char* core = std::getenv("OPENBLAS_CORETYPE");
  const std::string settled = ibq::settled_environment();
  if (settled.find("OPENBLAS_CORETYPE=") != std::string::npos) {
    // Set by the re-executed start-up: the loaded library must have taken it (case aside).
    REQUIRE(core != nullptr);
    std::string want = core, got = running;
    for (auto& ch : want) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    for (auto& ch : got) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    CHECK(got == want);
  }
  if (!core) {
    // Nothing set, by the user or at start-up: OpenBLAS's own detection must not be a generic fallback
    // on a CPU that runs a better kernel (unless re-execution was turned off).
    if (std::getenv("IBQ_KEEP_ENV") == nullptr) CHECK(ibq::preferred_openblas_core(running).empty());
  }
}
#endif
