// bench/bench_util.hpp — what every benchmark needs: medians after a warm-up, the peer's JSON, child
// processes, and the process's resident memory.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ibq/core/random.hpp"
#include "ibq/core/tensor.hpp"

namespace bench {

// --help / -h prints the benchmark's own usage and exits. Call it first in main: Kokkos's ScopeGuard
// answers --help with Kokkos's options instead, and MPI or the re-exec for the environment need not start.
inline void exit_on_help(int argc, char** argv, const char* usage) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      std::exit(0);
    }
  }
}

// Median of reps timed runs after one untimed warm-up (page faults, BLAS buffers, thread start-up).
inline double median_seconds(const std::function<void()>& fn, int reps, bool warm_up = true) {
  if (warm_up) {
    fn();
    Kokkos::fence();
  }
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    Kokkos::fence();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// printf into a std::string.
template <class... A>
std::string format(const char* f, A... a) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a...);
  return buf;
}

// "a,b,c" -> {"a", "b", "c"} (empty items dropped).
inline std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : s + ",") {
    if (ch != ',') { cur += ch; continue; }
    if (!cur.empty()) out.push_back(cur);
    cur.clear();
  }
  return out;
}

// Uniform in [-scale, scale), deterministic per seed.
template <class Space = ibq::DefaultSpace>
ibq::Tensor<float, Space> random_f(const ibq::Shape& s, std::uint64_t seed, double scale = 1.0) {
  std::vector<float> v(s.numel());
  const ibq::Rng rng{seed, 3};
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = float(scale * (2 * rng.uniform(i) - 1));
  return ibq::Tensor<float, Space>::from_host(s, v);
}

// Extracts "key": number pairs from a one-line JSON object (flat; string values are skipped).
inline std::map<std::string, double> parse_flat_json(const std::string& s) {
  std::map<std::string, double> out;
  std::size_t pos = 0;
  while ((pos = s.find('"', pos)) != std::string::npos) {
    const std::size_t end = s.find('"', pos + 1);
    if (end == std::string::npos) break;
    const std::string key = s.substr(pos + 1, end - pos - 1);
    std::size_t v = s.find_first_not_of(" :", end + 1);
    pos = end + 1;
    if (v == std::string::npos || s[v] == '"') continue;
    char* stop = nullptr;
    const double d = std::strtod(s.c_str() + v, &stop);
    if (stop != s.c_str() + v) out[key] = d;
  }
  return out;
}

// Runs a shell command and returns its standard output; ok is false when it exits non-zero.
inline std::string run_command(const std::string& cmd, bool& ok) {
  std::fflush(stdout);
  std::string text;
  ok = false;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (std::fgets(buf, sizeof buf, p)) text += buf;
    ok = pclose(p) == 0;
  }
  return text;
}

// The last line of a child's output that starts with '{': its result object.
inline std::map<std::string, double> last_json(const std::string& text) {
  const std::size_t pos = text.rfind("\n{");
  return parse_flat_json(pos == std::string::npos ? (text.rfind('{', 0) == 0 ? text : "") : text.substr(pos + 1));
}

// The CPU's model name (/proc/cpuinfo) and its logical CPU count, for report headers.
// Runs a child benchmark command (echoed to stderr) and returns its last JSON line ({} if it failed).
inline std::map<std::string, double> run_json(const std::string& cmd, const char* who = "") {
  std::fprintf(stderr, "  %s\n", cmd.c_str());
  bool ok = false;
  auto j = last_json(run_command(cmd, ok));
  if (!ok) std::fprintf(stderr, "  (%s%sfailed)\n", who, *who ? " " : "");
  return j;
}

inline std::string cpu_model() {
  std::string name = "unknown CPU";
  if (FILE* f = std::fopen("/proc/cpuinfo", "r")) {
    char line[512];
    while (std::fgets(line, sizeof line, f)) {
      const std::string s = line;
      if (s.rfind("model name", 0) != 0) continue;
      const std::size_t start = s.find_first_not_of(" \t\n", s.find(':') + 1);
      if (s.find(':') != std::string::npos && start != std::string::npos) name = s.substr(start);
      while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
      break;
    }
    std::fclose(f);
  }
  return name + " (" + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " logical CPUs)";
}

// Resident memory now and the process's peak so far, in MiB.
inline double resident_mib() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return double(resident) * double(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}
inline double peak_resident_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // KiB on Linux
}

// j[key] * scale printed with the printf format f, or "-" when the key is missing (a peer that did not run).
inline std::string fmt(const std::map<std::string, double>& j, const std::string& key, double scale, const char* f) {
  const auto it = j.find(key);
  if (it == j.end()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, f, it->second * scale);
  return buf;
}

}  // namespace bench
