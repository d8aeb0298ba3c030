// check_inception WEIGHTS.h5 FIXTURE.h5: ibq's FID Inception against tests/reference/inception_reference.py.
// Loads the (random) weights, runs every case of the fixture through its entry point (small, full: forward on
// [0, 1] floats; uint8: forward_uint8_nhwc; signed: forward_minus1_1) and compares pool3 and the logits with
// the float64 reference: max |ibq - ref| / max |ref| <= 1e-4 over each whole tensor. IBQ_CONV=im2col runs the
// NCHW path that builds without oneDNN (and devices) take. A scale-relative error,
// not a per-element one: logits cross zero and pool3 holds near-zero averages of ReLUs, where a per-element
// relative error measures only float32 rounding of a cancellation. Prints one line per case; exits 1 naming
// every tensor that differs, 2 on bad usage.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "ibq/core/host_memory.hpp"
#include "ibq/core/process_env.hpp"
#include "ibq/metrics/inception.hpp"

namespace {
using ibq::index_t;
constexpr double tolerance = 1e-4;

ibq::Shape shape_of(const ibq::h5::File& f, const std::string& name) {
  const auto d = f.dims(name);
  return ibq::Shape::from_range(d.begin(), d.end());
}

// max |got - want| / max |want|, after checking the shapes.
double relative_error(const std::string& what, const ibq::Tensor<float>& got, const std::vector<double>& want,
                      const ibq::Shape& want_shape) {
  IBQ_CHECK(got.shape() == want_shape, what << ": shape " << got.shape() << ", reference " << want_shape);
  const auto g = got.to_host();
  double err = 0, scale = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    IBQ_CHECK(std::isfinite(g[i]), what << ": element " << i << " is " << g[i]);
    err = std::max(err, std::fabs(double(g[i]) - want[i]));
    scale = std::max(scale, std::fabs(want[i]));
  }
  return err / scale;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: check_inception WEIGHTS.h5 FIXTURE.h5 "
                         "(made by tests/reference/inception_reference.py)\n");
    return 2;
  }
  ibq::settle_process_environment(argv);
  Kokkos::ScopeGuard kokkos(argc, argv);
  ibq::keep_host_memory_warm();
  int failures = 0;
  try {
    const ibq::metrics::FidInception<> net(argv[1]);
    const ibq::h5::File f(argv[2], ibq::h5::File::Mode::read);
    std::printf("activations %s, convolutions on %s\n", ibq::layout_name(net.layout()),
                ibq::host_accessible_v<ibq::DefaultSpace> ? ibq::conv2d_host_backend().c_str() : "the device");
    for (const std::string name : {"small", "full", "uint8", "signed"}) {
      const std::string x = name + "/x";
      ibq::metrics::InceptionOutput<ibq::DefaultSpace> out;
      if (name == "uint8")
        out = net.forward_uint8_nhwc(ibq::h5::read_tensor<std::uint8_t>(f, x));
      else if (name == "signed")
        out = net.forward_minus1_1(ibq::h5::read_tensor<float>(f, x));
      else
        out = net.forward(ibq::h5::read_tensor<float>(f, x));
      const double ep = relative_error(name + " pool3", out.pool3, f.read<double>(name + "/pool3"),
                                       shape_of(f, name + "/pool3"));
      const double el = relative_error(name + " logits", out.logits, f.read<double>(name + "/logits"),
                                       shape_of(f, name + "/logits"));
      std::printf("%-6s input %s: pool3 max rel. error %.3g, logits %.3g (tolerance %g)\n", name.c_str(),
                  ibq::to_string(shape_of(f, x)).c_str(), ep, el, tolerance);
      for (const auto& [what, e] : {std::pair<const char*, double>{"pool3", ep}, {"logits", el}})
        if (!(e <= tolerance)) {
          std::printf("FAIL: %s %s differs from the PyTorch reference: max |ibq - ref| / max |ref| = %.3g > %g\n",
                      name.c_str(), what, e, tolerance);
          ++failures;
        }
    }
  } catch (const std::exception& e) {
    std::printf("FAIL: check_inception: %s\n", e.what());
    return 1;
  }
  if (failures) return 1;
  std::printf("ok: FID Inception matches the PyTorch reference within %g\n", tolerance);
  return 0;
}
