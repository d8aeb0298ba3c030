// ibq/core/device_copy_counter.hpp — counts Kokkos::deep_copy calls from device memory into host memory,
// through the Kokkos Tools deep-copy hook (no profiler library needed).
//
//   ibq::DeviceToHostCopies copies;        // starts counting (one counter at a time: the hook is global)
//   trainer.step();
//   CHECK(copies.count() == 1);
//
// On a GPU build this sees every real device-to-host copy that goes through deep_copy, including ones
// that bypass Tensor::item/to_host; on a host-only build there is no device memory and it counts 0,
// so tests pair it with host_reads::count(), which counts the reads on every backend.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>

#include "ibq/core/config.hpp"
#include "ibq/core/error.hpp"

namespace ibq {
namespace detail {
inline std::atomic<long>& device_to_host_copies() {
  static std::atomic<long> n{0};
  return n;
}
inline bool host_space_name(const char* name) {
  return std::strcmp(name, "Host") == 0 || std::strcmp(name, "CudaHostPinned") == 0;
}
inline void on_begin_deep_copy(Kokkos::Tools::SpaceHandle dst, const char*, const void*, Kokkos::Tools::SpaceHandle src,
                               const char*, const void*, std::uint64_t) {
  if (host_space_name(dst.name) && !host_space_name(src.name)) device_to_host_copies().fetch_add(1);
}
}  // namespace detail

class DeviceToHostCopies {
 public:
  DeviceToHostCopies() {
    IBQ_CHECK(Kokkos::Tools::Experimental::get_callbacks().begin_deep_copy == nullptr,
              "DeviceToHostCopies: another deep-copy hook (a profiler, or a second counter) is active");
    start_ = detail::device_to_host_copies().load();
    Kokkos::Tools::Experimental::set_begin_deep_copy_callback(detail::on_begin_deep_copy);
  }
  ~DeviceToHostCopies() { Kokkos::Tools::Experimental::set_begin_deep_copy_callback(nullptr); }
  DeviceToHostCopies(const DeviceToHostCopies&) = delete;
  DeviceToHostCopies& operator=(const DeviceToHostCopies&) = delete;

  long count() const { return detail::device_to_host_copies().load() - start_; }

 private:
  long start_ = 0;
};

}  // namespace ibq
