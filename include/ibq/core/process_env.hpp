// ibq/core/process_env.hpp — the two settings that OpenBLAS and libgomp read once, when they are loaded.
//
//   int main(int argc, char** argv) {
//     ibq::settle_process_environment(argv);    // first line of every driver, benchmark and test main
//
// Both libraries read their environment in a load-time constructor, so setting a variable from main() is
// too late (checked: setenv("OMP_NUM_THREADS") in main changes nothing). When a setting is missing, the
// process sets it and re-executes itself once (the marker IBQ_ENV_SETTLED stops a loop).
//
// - OPENBLAS_CORETYPE. OpenBLAS 0.3.21 (Debian 12) does not know newer Xeons (Sapphire/Emerald Rapids,
//   family 6 model 143/207) and falls back to its SSE3 `Prescott` kernels: measured here, a quickstart
//   tokenizer step took 1.66 s with them and 1.11 s with `SkylakeX`. Only a fallback is replaced, and only
//   by a kernel the CPU supports; a CPU that OpenBLAS recognises keeps its own choice, and a value the user
//   exported is never touched (see the README: `Haswell` on an AVX-512 CPU halves GEMM speed).
// - GOMP_SPINCOUNT. libgomp's default spins an idle thread for ~300k pause loops before sleeping; passive
//   waiting sleeps at once and pays a futex wake-up per parallel region (there are thousands per step).
//   3000 spins then sleeps: measured on 2 cores, 0.89 s per step against 0.89 s fully active and 1.10 s
//   passive, and it does not steal a core for long when other processes share the machine. Not set when
//   the user chose OMP_WAIT_POLICY or GOMP_SPINCOUNT.
//
// IBQ_ENV_SETTLED holds what was set ("OPENBLAS_CORETYPE=SkylakeX GOMP_SPINCOUNT=3000"); settled_environment()
// returns it for start-up lines. IBQ_KEEP_ENV=1 turns all of this off. Under valgrind (its preload library in LD_PRELOAD) nothing is
// re-executed, since the new image would run outside the tool.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "ibq/core/config.hpp"

#if defined(IBQ_HAVE_CBLAS)
#include <cblas.h>
#endif

namespace ibq {

// OpenBLAS's kernel name ("SkylakeX", "Prescott", ...), or "" without OpenBLAS.
inline std::string openblas_core_name() {
#if defined(IBQ_HAVE_CBLAS)
  const char* name = openblas_get_corename();
  return name ? std::string(name) : std::string();
#else
  return {};
#endif
}

// The kernel to ask for when OpenBLAS fell back to a generic one on a CPU that can do better; "" to keep
// its choice. `detected` is openblas_core_name().
inline std::string preferred_openblas_core(const std::string& detected) {
  const bool fallback = detected == "Prescott" || detected == "Core2" || detected == "Katmai" ||
                        detected == "Nehalem" || detected == "Penryn" || detected == "Dunnington";
  if (!fallback) return {};
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return {};
}

namespace detail {
inline bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0';
}
}  // namespace detail

// Sets what is missing and re-executes the program; returns when nothing had to change (or on failure
// to re-execute, which only costs speed).
inline void settle_process_environment(char** argv) {
  if (detail::env_set("IBQ_ENV_SETTLED") || detail::env_set("IBQ_KEEP_ENV")) return;
  const char* preload = std::getenv("LD_PRELOAD");
  if (preload && std::strstr(preload, "vgpreload")) return;
  std::string settled;  // what this function set, kept in IBQ_ENV_SETTLED for the start-up line
  auto set = [&](const char* name, const std::string& value) {
    if (setenv(name, value.c_str(), 1) == 0) settled += (settled.empty() ? "" : " ") + std::string(name) + "=" + value;
  };
  if (!detail::env_set("OPENBLAS_CORETYPE")) {
    const std::string core = preferred_openblas_core(openblas_core_name());
    if (!core.empty()) set("OPENBLAS_CORETYPE", core);
  }
  if (!detail::env_set("OMP_WAIT_POLICY") && !detail::env_set("GOMP_SPINCOUNT")) set("GOMP_SPINCOUNT", "3000");
  if (settled.empty() || argv == nullptr || argv[0] == nullptr) return;
  setenv("IBQ_ENV_SETTLED", settled.c_str(), 1);
  // The program's real path, not /proc/self/exe: the process keeps its name (ps, top, pkill show
  // ibq-train-tokenizer, not "exe").
  char self[4096];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (len <= 0) return;
  self[len] = '\0';
  execv(self, argv);
  // execv only returns on failure: carry on with the libraries as they were loaded.
}

// What settle_process_environment set in this process ("" if nothing).
inline std::string settled_environment() {
  const char* v = std::getenv("IBQ_ENV_SETTLED");
  return v ? std::string(v) : std::string();
}

}  // namespace ibq
