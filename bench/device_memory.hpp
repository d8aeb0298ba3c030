// bench/device_memory.hpp — peak memory the way both sides of a GPU benchmark can read it.
//
//   bench::PeakMemory<Space> mem;   // starts here
//   ...                             // the work
//   mem.peak_mib();                 // MiB above the starting point at the worst moment
//
// On the host: the process's peak resident set minus the resident set at the start (bench_util.hpp). On a
// GPU the resident set says nothing, so the Kokkos Tools allocation hooks count the bytes Kokkos holds in
// device memory: the counterpart of torch.cuda.max_memory_allocated on the PyTorch side (bench/peer_util.py).
// Neither side counts cuBLAS's workspace or the CUDA context.
#pragma once

#include <cstdint>
#include <cstring>

#include <Kokkos_Core.hpp>

#include "bench_util.hpp"
#include "ibq/core/config.hpp"

namespace bench {

namespace detail {
inline std::int64_t device_live = 0, device_peak = 0;  // bytes; the hooks run on the calling host thread

// Device memory only: "Host" is the resident set's, "CudaHostPinned" is host memory too.
inline bool on_device(const Kokkos_Profiling_SpaceHandle& h) {
  return std::strcmp(h.name, "Host") != 0 && std::strstr(h.name, "HostPinned") == nullptr;
}
inline void on_allocate(Kokkos_Profiling_SpaceHandle h, const char*, const void*, std::uint64_t size) {
  if (!on_device(h)) return;
  device_live += std::int64_t(size);
  if (device_live > device_peak) device_peak = device_live;
}
inline void on_deallocate(Kokkos_Profiling_SpaceHandle h, const char*, const void*, std::uint64_t size) {
  if (on_device(h)) device_live -= std::int64_t(size);
}
}  // namespace detail

template <class Space>
class PeakMemory {
 public:
  static constexpr bool on_host = ibq::host_accessible_v<Space>;
  PeakMemory() {
    if constexpr (on_host) {
      base_ = resident_mib();
    } else {
      Kokkos::Tools::Experimental::set_allocate_data_callback(detail::on_allocate);
      Kokkos::Tools::Experimental::set_deallocate_data_callback(detail::on_deallocate);
      detail::device_peak = detail::device_live = 0;  // what exists now is the base
    }
  }
  ~PeakMemory() {
    if constexpr (!on_host) {
      Kokkos::Tools::Experimental::set_allocate_data_callback(nullptr);
      Kokkos::Tools::Experimental::set_deallocate_data_callback(nullptr);
    }
  }
  PeakMemory(const PeakMemory&) = delete;
  PeakMemory& operator=(const PeakMemory&) = delete;

  double peak_mib() const {
    if constexpr (on_host) return peak_resident_mib() - base_;
    return double(detail::device_peak) / (1024.0 * 1024.0);
  }
  // "resident" or "device": what peak_mib measures, for the report's footnote
  static const char* what() { return on_host ? "peak resident set" : "peak device memory held by Kokkos"; }
  // the peer's --device option for this build
  static const char* torch_device() { return on_host ? "cpu" : "cuda"; }

 private:
  double base_ = 0;
};

}  // namespace bench
