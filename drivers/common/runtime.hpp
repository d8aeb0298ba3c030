// drivers/common/runtime.hpp — what every driver main does around its work: MPI, then Kokkos with the
// requested threads (finalised in the reverse order), one line describing the machine, and turning
// exceptions into one error line + exit code.
//
//   int main(int argc, char** argv) {
//     return ibq::cli::run_main("ibq-train-classifier", [&] {
//       ibq::cli::Runtime runtime(threads);        // under mpirun/srun: one of R ranks
//       auto comm = runtime.comm();                // rank 0 logs and writes; the others are quiet
//       ...; return 0; });
//   }
#pragma once

#include <cstdlib>
#include <exception>
#include <functional>
#include <iostream>
#include <string>

#include "cli.hpp"
#include "ibq/core/error.hpp"
#include "ibq/dist/communicator.hpp"
#include "ibq/core/host_memory.hpp"
#include "ibq/core/kokkos_compat.hpp"
#include "ibq/core/process_env.hpp"
#include "ibq/core/precision.hpp"
#include "ibq/linalg/conv_onednn.hpp"
#include "ibq/linalg/gemm_bf16.hpp"
#include "ibq/linalg/gemm_host.hpp"

namespace ibq::cli {

// Starts MPI and then Kokkos for the life of the object. threads <= 0: OMP_NUM_THREADS or every core.
// Ranks other than 0 are silenced (std::cout and std::cerr) except for errors, which name their rank.
class Runtime {
 public:
  explicit Runtime(int threads) : mpi_(mpi_argc_, mpi_argv_), comm_(dist::Communicator::world()) {
    setenv("OMP_PROC_BIND", "false", /*overwrite=*/0);  // quiet start-up; no pinning unless asked
    keep_host_memory_warm();
    initialize_kokkos(threads);
    if (!comm_.root()) {
      std::cout.setstate(std::ios::failbit);
      std::cerr.setstate(std::ios::failbit);
    }
    distributed_rank() = comm_.distributed() ? comm_.rank() : -1;
  }
  ~Runtime() {
    Kokkos::finalize();
    // Leaving on an exception with other ranks alive: they may wait in a collective, so MPI is not
    // finalised here; run_main's handler prints the error and aborts every rank.
    if (std::uncaught_exceptions() > 0 && comm_.distributed()) mpi_.release();
  }  // then mpi_ finalises MPI
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // One start-up line: threads, the GEMM backend and its kernel, and which environment settings made it.
  static std::string describe() {
    std::string line = std::string("Kokkos ") + Kokkos::DefaultExecutionSpace::name() + " with " +
                       std::to_string(Kokkos::DefaultExecutionSpace().concurrency()) + " threads; host GEMM " +
                       gemm_host_description();
    const std::string kernel = openblas_core_name();
    if (!kernel.empty()) line += ", kernel " + kernel;
    line += "; host float conv " + conv2d_host_backend();
    const std::string settled = settled_environment();
    const char* core = std::getenv("OPENBLAS_CORETYPE");
    if (!settled.empty()) line += " (set at start-up: " + settled + ")";
    if (core && settled.find("OPENBLAS_CORETYPE") == std::string::npos)
      line += std::string(" (OPENBLAS_CORETYPE=") + core +
              " from the environment overrides OpenBLAS's CPU detection and can halve GEMM speed; unset it)";
    if (allow_tf32())
      line += host_accessible_v<DefaultSpace>
                  ? "; runtime.tf32 changes nothing on the host (no CPU kernel computes in TF32; fp32 GEMMs stay fp32)"
                  : "; fp32 GEMMs may use TF32 tensor cores (runtime.tf32)";
    if (const auto c = dist::Communicator::world(); c.distributed())
      line += "; MPI: " + std::to_string(c.size()) + " ranks (rank 0 logs and writes)";
    return line;
  }

  // The start-up line's precision part: what the products run in, and on which kernels under bf16.
  static std::string describe(Precision p) {
    std::string line = "precision fp32";
    if (p == Precision::bf16) {
      std::string where = host_accessible_v<DefaultSpace> ? bf16_host_backend() : std::string("cuBLAS bf16 GEMMs");
      line = "precision bf16 mixed (matmul/linear/attention/conv on bf16 operands with fp32 sums: " + where +
             "; fp32 weights, gradients, norms, softmax, losses and optimizer)";
    }
    return line;
  }

  const dist::Communicator& comm() const { return comm_; }
  // For drivers that run on one process: under mpirun/srun with several ranks they would all do the
  // same work and write the same files.
  void require_single_process(const std::string& program) const {
    IBQ_CHECK(!comm_.distributed(), program << " runs on one process, but it was started on " << comm_.size()
                                            << " MPI ranks; run it without mpirun/srun (or with -n 1)");
  }
  // This process's rank once a Runtime started with several ranks (else -1): run_main's error handler
  // uses it to stop every rank.
  static int& distributed_rank() {
    static int r = -1;
    return r;
  }

 private:
  int mpi_argc_ = 0;
  char** mpi_argv_ = nullptr;
  dist::MpiSession mpi_;
  dist::Communicator comm_;
};

// runtime.tf32, which every driver that runs fp32 GEMMs offers (set it with apply_tf32 before the first GEMM).
inline constexpr const char* kTf32Help =
    "let fp32 GEMMs on a CUDA device use TF32 tensor cores (torch.backends.cuda.matmul.allow_tf32); no effect on the host";
inline void apply_tf32(const Args& args) { allow_tf32() = args.get<bool>("runtime.tf32"); }

// An error on one rank while the others wait in a collective would hang the job: print it (with the
// rank) and abort every rank. In a single process, the exit code is returned as usual.
inline int fail(const std::string& program, const char* what) {
  std::cerr.clear();
  if (const int rank = Runtime::distributed_rank(); rank >= 0) {
    std::cerr << program << ": error on rank " << rank << ": " << what << std::endl;
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  std::cerr << program << ": error: " << what << "\n";
  return 1;
}

inline int run_main(const std::string& program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const Exit& e) {
    return e.status;
  } catch (const ibq::Error& e) {
    return fail(program, e.what());
  } catch (const std::exception& e) {
    return fail(program, e.what());
  }
}

}  // namespace ibq::cli
