// ibq/nn/param_store.hpp — every parameter of a model as a named slice of one flat buffer.
//
//   ibq::ParamStore<float> store;
//   auto w = store.add("fc.weight", {10, 784}, ibq::Init::kaiming_uniform_default(784));
//   auto rm = store.add_buffer("bn.running_mean", {32}, ibq::Init::zeros());   // state, no gradient
//   store.allocate(/*seed=*/1);                // one values buffer, one grads buffer, then initialise
//   auto wv = store.param(tape, w);            // a Var whose gradient lands in store.grad(w)
//   ... tape.backward(loss); adam.step(); store.zero_grad();
//
// With all values (and all gradients) contiguous, allreduce, Adam, EMA, clipping and checkpointing are
// each one pass over one buffer. Names follow the reference's state-dict names so PyTorch weights map 1:1.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "ibq/autodiff/tape.hpp"
#include "ibq/nn/init.hpp"

namespace ibq {

struct ParamRef {
  int index = -1;
  bool buffer = false;  // a non-trainable buffer (running statistics), not a parameter
};

template <class T = float, class Space = DefaultSpace>
class ParamStore {
 public:
  using tensor_type = Tensor<T, Space>;
  struct Entry {
    std::string name;
    Shape shape;
    Init init;
    index_t offset = 0;
    tensor_type value, grad;  // slices of the flat buffers (grad undefined for buffers)
  };

  // ---- declaration (before allocate) -----------------------------------------------------------------
  ParamRef add(const std::string& name, const Shape& shape, const Init& init) {
    return declare(params_, name, shape, init, false);
  }
  ParamRef add_buffer(const std::string& name, const Shape& shape, const Init& init) {
    return declare(buffers_, name, shape, init, true);
  }

  // Replaces a declared tensor's initialiser (a model's own init scheme over a layer's defaults).
  void set_init(ParamRef r, const Init& init) {
    IBQ_CHECK(!allocated_, "ParamStore::set_init: call it before allocate()");
    (r.buffer ? buffers_ : params_).at(std::size_t(r.index)).init = init;
  }

  // Allocates the flat buffers, carves the named slices and initialises them from `seed`.
  void allocate(std::uint64_t seed) {
    IBQ_CHECK(!allocated_, "ParamStore::allocate: already allocated");
    carve(params_, values_, &grads_, "ibq::params");
    carve(buffers_, buffer_values_, nullptr, "ibq::buffers");
    allocated_ = true;
    reinitialize(seed);
  }
  void reinitialize(std::uint64_t seed) {
    for (auto* group : {&params_, &buffers_})
      for (auto& e : *group) apply_init(e.init, e.value, seed, e.name);
  }
  bool allocated() const { return allocated_; }
  // Trainable elements per top-level module ("encoder", "quantize", ...), available before allocate():
  // reference configurations with hundreds of millions of parameters can be counted without memory.
  std::map<std::string, index_t> declared_counts() const {
    std::map<std::string, index_t> counts;
    for (const auto& e : params_) counts[e.name.substr(0, e.name.find('.'))] += e.shape.numel();
    return counts;
  }

  // ---- access ------------------------------------------------------------------------------------------
  const tensor_type& value(ParamRef r) const { return entry(r).value; }
  const tensor_type& grad(ParamRef r) const {
    IBQ_CHECK(!r.buffer, "ParamStore: '" << entry(r).name << "' is a buffer and has no gradient");
    return entry(r).grad;
  }
  Var<T, Space> param(Tape<T, Space>& tape, ParamRef r) const {
    IBQ_CHECK(!r.buffer, "ParamStore: '" << entry(r).name << "' is a buffer, not a trainable parameter");
    return tape.param(entry(r).value, entry(r).grad);
  }
  ParamRef find(const std::string& name) const {
    auto it = by_name_.find(name);
    IBQ_CHECK(it != by_name_.end(), "ParamStore: no parameter or buffer named '" << name << "'");
    return it->second;
  }
  const Entry& entry(ParamRef r) const {
    IBQ_CHECK(allocated_, "ParamStore: call allocate() before using parameters");
    return (r.buffer ? buffers_ : params_).at(r.index);
  }
  const std::vector<Entry>& params() const { return params_; }
  const std::vector<Entry>& buffers() const { return buffers_; }

  // The flat buffers: one pass each for the optimizer, allreduce, EMA and clipping.
  const tensor_type& flat_values() const { return values_; }
  const tensor_type& flat_grads() const { return grads_; }
  const tensor_type& flat_buffers() const { return buffer_values_; }
  index_t num_params() const { return values_.size(); }

  void zero_grad() { Kokkos::deep_copy(grads_.view(), T(0)); }
  // After any in-place update of the values: Vars saved on a tape before it now fail loudly.
  void mark_values_modified() {
    values_.bump_version();
    for (auto& e : params_) e.value.bump_version();
  }

 private:
  ParamRef declare(std::vector<Entry>& group, const std::string& name, const Shape& shape, const Init& init,
                   bool buffer) {
    IBQ_CHECK(!allocated_, "ParamStore: cannot add '" << name << "' after allocate()");
    IBQ_CHECK(!name.empty(), "ParamStore: parameter names must not be empty");
    IBQ_CHECK(by_name_.count(name) == 0, "ParamStore: '" << name << "' is declared twice");
    group.push_back(Entry{name, shape, init, 0, {}, {}});
    ParamRef r{static_cast<int>(group.size()) - 1, buffer};
    by_name_[name] = r;
    return r;
  }
  static void carve(std::vector<Entry>& group, tensor_type& values, tensor_type* grads, const char* label) {
    index_t total = 0;
    for (auto& e : group) {
      e.offset = total;
      total += e.shape.numel();
    }
    values = tensor_type({total}, label);
    if (grads) *grads = tensor_type({total}, std::string(label) + ".grad");
    for (auto& e : group) {
      const auto range = Kokkos::make_pair(e.offset, e.offset + e.shape.numel());
      e.value = tensor_type::from_view(Kokkos::subview(values.view(), range), e.shape);
      if (grads) e.grad = tensor_type::from_view(Kokkos::subview(grads->view(), range), e.shape);
    }
  }

  std::vector<Entry> params_, buffers_;
  std::unordered_map<std::string, ParamRef> by_name_;
  tensor_type values_, grads_, buffer_values_;
  bool allocated_ = false;
};

}  // namespace ibq
