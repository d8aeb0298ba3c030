// make_lpips_file OUT.h5: an LPIPS weight file in the layout hpc/make_lpips_weights.py writes (torchvision
// VGG16 names and widths, LPIPS head names), with random weights: for driver tests on machines that cannot
// download the real ones. Heads are made non-negative, as the learned ones are.
#include <cstdio>
#include <string>

#include "ibq/gan/perceptual.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_lpips_file OUT.h5\n");
    return 2;
  }
  Kokkos::ScopeGuard kokkos(argc, argv);
  try {
    ibq::Lpips<float, Kokkos::HostSpace> lpips({}, 7);
    ibq::h5::write_atomic(argv[1], [&](ibq::h5::File& f) {
      f.set_attr("/", "format", "ibq-lpips");
      f.set_attr("/", "source", "random weights for tests (make_lpips_file)");
      for (const auto& e : lpips.store().params()) {
        auto v = e.value.to_host();
        if (e.name.rfind("lin", 0) == 0)
          for (auto& x : v) x = x < 0 ? -x : x;
        ibq::h5::write_tensor(f, e.name, ibq::Tensor<float, Kokkos::HostSpace>::from_host(e.shape, v));
      }
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_lpips_file: %s\n", e.what());
    return 1;
  }
  return 0;
}
