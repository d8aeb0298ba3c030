// ibq/linalg/onednn_engine.hpp — the one oneDNN CPU engine and stream every host primitive runs on, and the
// cache that keeps each primitive (building one costs far more than running it at our sizes).
#pragma once

#if defined(IBQ_HAVE_DNNL)
#include <map>
#include <memory>
#include <mutex>
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

// The Primitive built from key k, made on first use and kept for the process (one cache per type).
template <class Primitive, class Key>
Primitive& cached_primitive(const Key& k) {
  static std::mutex mutex;
  static std::map<Key, std::unique_ptr<Primitive>> cache;
  const std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[k];
  if (!slot) slot = std::make_unique<Primitive>(k);
  return *slot;
}

}  // namespace ibq::onednn
#endif
