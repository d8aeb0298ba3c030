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
#include "ibq/linalg/gemm_host.hpp"

namespace ibq::cli {

// Starts Kokkos for the life of the object. threads <= 0: OMP_NUM_THREADS or every core.
class Runtime {
 public:
  explicit Runtime(int threads) {
    setenv("OMP_PROC_BIND", "false", /*overwrite=*/0);  // quiet start-up; no pinning unless asked
    // Idle threads sleep rather than spin: on shared or small nodes spinning steals cores from the threads
    // doing the work (measured 3x slower training steps on a loaded 2-core machine). Set it to override.
    setenv("OMP_WAIT_POLICY", "passive", 0);
    keep_host_memory_warm();
    Kokkos::InitArguments init(threads > 0 ? threads : -1, -1, -1, /*disable_warnings=*/true);
    Kokkos::initialize(init);
  }
  ~Runtime() { Kokkos::finalize(); }
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  static std::string describe() {
    const char* core = std::getenv("OPENBLAS_CORETYPE");
    return std::string("Kokkos ") + Kokkos::DefaultExecutionSpace::name() + " with " +
           std::to_string(Kokkos::DefaultExecutionSpace().concurrency()) + " threads; host GEMM " + gemm_host_backend() +
           (core ? std::string(" (OPENBLAS_CORETYPE=") + core +
                       " overrides OpenBLAS's CPU detection and can halve GEMM speed; unset it)"
                 : std::string(""));
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
