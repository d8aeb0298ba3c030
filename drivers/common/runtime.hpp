// drivers/common/runtime.hpp — what every driver main does around its work: Kokkos start-up with the
// requested threads, one line describing the machine, and turning exceptions into one error line + exit code.
//
//   int main(int argc, char** argv) {
//     return ibq::cli::run_main("ibq-train-classifier", [&] { ...; return 0; });
//   }
#pragma once

#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>

#include "cli.hpp"
#include "ibq/core/error.hpp"
#include "ibq/core/host_memory.hpp"
#include "ibq/core/process_env.hpp"
#include "ibq/linalg/gemm_host.hpp"

namespace ibq::cli {

// Starts Kokkos for the life of the object. threads <= 0: OMP_NUM_THREADS or every core.
class Runtime {
 public:
  explicit Runtime(int threads) {
    setenv("OMP_PROC_BIND", "false", /*overwrite=*/0);  // quiet start-up; no pinning unless asked
    keep_host_memory_warm();
    Kokkos::InitArguments init(threads > 0 ? threads : -1, -1, -1, /*disable_warnings=*/true);
    Kokkos::initialize(init);
  }
  ~Runtime() { Kokkos::finalize(); }
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // One start-up line: threads, the GEMM backend and its kernel, and which environment settings made it.
  static std::string describe() {
    std::string line = std::string("Kokkos ") + Kokkos::DefaultExecutionSpace::name() + " with " +
                       std::to_string(Kokkos::DefaultExecutionSpace().concurrency()) + " threads; host GEMM " +
                       gemm_host_backend();
    const std::string kernel = openblas_core_name();
    if (!kernel.empty()) line += ", kernel " + kernel;
    const std::string settled = settled_environment();
    const char* core = std::getenv("OPENBLAS_CORETYPE");
    if (!settled.empty()) line += " (set at start-up: " + settled + ")";
    if (core && settled.find("OPENBLAS_CORETYPE") == std::string::npos)
      line += std::string(" (OPENBLAS_CORETYPE=") + core +
              " from the environment overrides OpenBLAS's CPU detection and can halve GEMM speed; unset it)";
    return line;
  }
};

inline int run_main(const std::string& program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const Exit& e) {
    return e.status;
  } catch (const ibq::Error& e) {
    std::cerr << program << ": error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << program << ": error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace ibq::cli
