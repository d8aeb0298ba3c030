// ibq/train/step_stats_buffer.hpp — a training step's logged numbers, kept on the device as they are
// computed and read back to the host once, at the end of the step's work.
//
//   StepStatsBuffer<Space> stats(3);
//   stats.clear();
//   stats.keep(0, l1.value());            // a one-thread kernel: no wait, no copy to the host
//   stats.keep(1, logits, /*at=*/1);
//   std::vector<double> h = stats.read(); // the step's one device-to-host copy
//
// Reading each loss with item() as it is computed would make the host wait for the device a dozen times a
// step, each time leaving the GPU idle while the host launches what comes next.
#pragma once

#include <vector>

#include "ibq/core/tensor.hpp"

namespace ibq {

template <class Space = DefaultSpace>
class StepStatsBuffer {
 public:
  explicit StepStatsBuffer(int slots) : buf_("ibq::step_stats", slots) {}

  void clear() const { Kokkos::deep_copy(buf_, 0.0); }
  // slot <- double(x[at]), on the device.
  template <class T>
  void keep(int slot, const Tensor<T, Space>& x, index_t at = 0) const {
    IBQ_CHECK(slot >= 0 && slot < int(buf_.extent(0)) && at >= 0 && at < x.size(),
              "StepStatsBuffer::keep: slot " << slot << " of " << buf_.extent(0) << ", element " << at << " of "
                                             << x.shape());
    auto bv = buf_;
    auto xv = x.view();
    Kokkos::parallel_for("ibq::step_stats::keep", range<Space>(1), KOKKOS_LAMBDA(index_t) { bv(slot) = double(xv(at)); });
  }
  std::vector<double> read() const {
    host_reads::note();
    std::vector<double> out(buf_.extent(0));
    Kokkos::View<double*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> dst(out.data(), out.size());
    Kokkos::deep_copy(dst, buf_);
    return out;
  }

 private:
  Kokkos::View<double*, Space> buf_;
};

}  // namespace ibq
