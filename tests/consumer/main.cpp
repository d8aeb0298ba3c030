// Uses the installed headers end to end: a tape, two ops, backward and a GEMM.
#include <cstdio>

#include "ibq/ops/all.hpp"

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  ibq::Tape<float> tape;
  auto x = tape.leaf(ibq::Tensor<float>::from_host({3}, {1.f, 2.f, 3.f}), true);
  auto y = x * x + 1.0f;
  tape.backward(y, ibq::Tensor<float>::full({3}, 1.f));
  const auto g = x.grad().to_host();  // 2x
  std::printf("consumer: grad %g %g %g\n", g[0], g[1], g[2]);
  return (g[0] == 2.f && g[1] == 4.f && g[2] == 6.f) ? 0 : 1;
}
