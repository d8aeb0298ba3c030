// ibq/nn/layer.hpp — the contract every layer follows (documented once, here).
//
//   struct MyLayer {
//     MyLayer(ParamStore<T, Space>& store, const std::string& prefix, ...config...);   // declares params
//     Var<T, Space> forward(const Var<T, Space>& x) const;                             // ops only
//   };
//
// - The constructor declares its parameters on the model's ParamStore under `prefix + "." + name`, with
//   the reference implementation's state-dict names and PyTorch's default initialisers, and keeps the
//   ParamRefs. It allocates nothing: the store allocates every parameter at once (one flat buffer).
// - forward() is a composition of differentiable ops; the tape comes from the input Var, so backward is
//   free. Layers hold a pointer to their store, so the model that owns both must not be moved.
// - Layers are templated only on the scalar and the memory space; models compose them at run time.
#pragma once

#include <string>

#include "ibq/nn/param_store.hpp"

namespace ibq {

inline std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

}  // namespace ibq
