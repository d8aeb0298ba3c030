#pragma once
// The few places where Kokkos 3.4 (Debian's) and Kokkos 4.x (what clusters and Spack provide) differ, behind
// one name each, keyed on KOKKOS_VERSION (major * 10000 + minor * 100 + patch). Everything else in ibq is
// written once against the API both share.
//
// - Math: Kokkos 3.x has exp, log, sqrt, ... in Kokkos::Experimental; Kokkos 4 moved them to Kokkos:: and
//   dropped the old names. Kernels call ibq::kmath::exp(x) (or `namespace km = ibq::kmath;`).
// - Start-up: Kokkos 4 replaced the InitArguments struct with InitializationSettings.
#include <Kokkos_Core.hpp>

#ifndef KOKKOS_VERSION
#error "ibq needs a Kokkos that defines KOKKOS_VERSION (3.4 or newer)"
#endif

namespace ibq {

namespace kmath {
#if KOKKOS_VERSION >= 40000
using Kokkos::cos;
using Kokkos::exp;
using Kokkos::isfinite;
using Kokkos::log;
using Kokkos::log1p;
using Kokkos::sqrt;
using Kokkos::tanh;
#else
using Kokkos::Experimental::cos;
using Kokkos::Experimental::exp;
using Kokkos::Experimental::isfinite;
using Kokkos::Experimental::log;
using Kokkos::Experimental::log1p;
using Kokkos::Experimental::sqrt;
using Kokkos::Experimental::tanh;
#endif
}  // namespace kmath

// Kokkos::initialize with `threads` host threads (<= 0: Kokkos's own default) and its start-up warnings
// off (the drivers print their own line naming the backend and thread count).
inline void initialize_kokkos(int threads) {
#if KOKKOS_VERSION >= 40000
  Kokkos::InitializationSettings settings;
  settings.set_disable_warnings(true);
  if (threads > 0) settings.set_num_threads(threads);
  Kokkos::initialize(settings);
#else
  Kokkos::InitArguments init(threads > 0 ? threads : -1, -1, -1, /*disable_warnings=*/true);
  Kokkos::initialize(init);
#endif
}

}  // namespace ibq
