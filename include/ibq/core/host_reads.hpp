// ibq/core/host_reads.hpp — counts the times host code reads tensor values back.
//
//   const long before = ibq::host_reads::count();
//   trainer.step();
//   CHECK(ibq::host_reads::count() - before == 1);   // the step's one read: its packed statistics
//
// On a GPU every such read (Tensor::item, Tensor::to_host, a reduction into a host scalar) is a device-to-
// host copy that makes the host wait for the device: inside a training step it drains the queue of kernels
// and leaves the GPU idle while the host launches the next ones. The counter is kept on every backend, so
// the tests that keep training steps free of such reads run on the CPU too, where the copies are free.
// Code that reads device memory into the host by other means calls note() itself.
#pragma once

#include <atomic>

namespace ibq::host_reads {

inline std::atomic<long>& counter() {
  static std::atomic<long> n{0};
  return n;
}
inline void note() { counter().fetch_add(1, std::memory_order_relaxed); }
inline long count() { return counter().load(std::memory_order_relaxed); }

}  // namespace ibq::host_reads
