// ibq/linalg/onednn_engine.hpp — the one oneDNN CPU engine and stream every host primitive runs on.
#pragma once

#if defined(IBQ_HAVE_DNNL)
#include <oneapi/dnnl/dnnl.hpp>

namespace ibq::onednn {

inline dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
inline dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

}  // namespace ibq::onednn
#endif
