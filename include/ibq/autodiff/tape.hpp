// ibq/autodiff/tape.hpp — a Wengert list of backward closures, one tape per training step.
//
//   ibq::Tape<float> tape;                               // owned by the caller, never global
//   auto w = tape.param(store.value("fc.weight"), store.grad("fc.weight"));   // grads land in the store
//   auto x = tape.leaf(batch);                           // a constant input
//   auto loss = cross_entropy(linear(x, w, b), labels);
//   tape.backward(loss);                                 // one reverse loop over the recorded nodes
//   tape.clear();                                        // frees every saved intermediate
//
// Recording order is already topological, so backward needs no graph search. Each node's closure
// captures by value the Views it needs; the View reference counts keep exactly those alive. Gradients
// accumulate (+=). Intermediate gradients and closures are released as soon as backward has passed them.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ibq/autodiff/var.hpp"
#include "ibq/autodiff/op_profile.hpp"

namespace ibq {

namespace detail {
// g = v (Store: a buffer from Tape::grad_dest that no op wrote yet) or g += v, chosen at compile time so
// the kernel loop stays branch-free; with_store turns grad_dest's runtime flag into that choice.
template <bool Store, class T>
KOKKOS_INLINE_FUNCTION void grad_put(T& g, T v) {
  if constexpr (Store) g = v;
  else g += v;
}
template <class F>
void with_store(bool store, F&& f) {
  if (store) f(std::true_type{});
  else f(std::false_type{});
}

// g += s. A free function: nvcc forbids device lambdas inside private member functions.
template <class T, class Space>
void accumulate(const Tensor<T, Space>& g, const Tensor<T, Space>& s) {
  auto gv = g.view();
  auto sv = s.view();
  Kokkos::parallel_for("ibq::autodiff::accumulate", range<Space>(g.size()),
                       KOKKOS_LAMBDA(index_t i) { gv(i) += sv(i); });
}
}  // namespace detail

// A tensor saved for backward, with the version it had when saved. get() throws if it was modified in
// place since (PyTorch's SavedVariable check): the gradient would silently use the wrong value.
template <class T, class Space>
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(Tensor<T, Space> t) : tensor_(std::move(t)), version_(tensor_.version()) {}
  const Tensor<T, Space>& get(const char* op) const {
    IBQ_CHECK(tensor_.version() == version_,
              op << ": a value of shape " << tensor_.shape() << " saved for backward was modified in place after "
                 << "it was saved (version " << version_ << ", now " << tensor_.version()
                 << "); run backward() before changing it, or use a copy (clone()) in the forward pass");
    return tensor_;
  }

 private:
  Tensor<T, Space> tensor_;
  std::uint64_t version_ = 0;
};

template <class T = float, class Space = DefaultSpace>
class Tape {
 public:
  using tensor_type = Tensor<T, Space>;
  using var_type = Var<T, Space>;
  // A node's backward receives the gradient of its output and accumulates into its inputs' gradients
  // through tape.grad_for(input_id).
  using backward_fn = std::function<void(Tape&, const tensor_type& grad_out)>;

  Tape() = default;
  Tape(const Tape&) = delete;  // Vars point at their tape: a copy would silently split the graph
  Tape& operator=(const Tape&) = delete;

  // ---- recording -------------------------------------------------------------------------------------
  // A value with no producer: an input (requires_grad = false) or something to differentiate w.r.t.
  var_type leaf(const tensor_type& value, bool requires_grad = false) {
    return push_slot(value, requires_grad && grad_enabled_, /*is_leaf=*/true);
  }
  // A parameter whose gradient accumulates straight into `grad` (a slice of the flat gradient buffer).
  var_type param(const tensor_type& value, const tensor_type& grad) {
    IBQ_CHECK(grad.shape() == value.shape(),
              "Tape::param: gradient buffer " << grad.shape() << " does not match value " << value.shape());
    var_type v = push_slot(value, grad_enabled_, /*is_leaf=*/true);
    if (grad_enabled_) slots_[v.id()].grad = grad;
    return v;
  }
  // Called by every differentiable op: records its output and, if any input needs a gradient, its
  // backward closure. Inputs must live on this tape.
  template <class F>
  var_type record(const char* op, const tensor_type& value, std::initializer_list<var_type> inputs, F&& backward) {
    return record_node(op, value, inputs.begin(), inputs.end(), std::forward<F>(backward));
  }
  // The same for a run-time number of inputs (concat).
  template <class F>
  var_type record(const char* op, const tensor_type& value, const std::vector<var_type>& inputs, F&& backward) {
    return record_node(op, value, inputs.begin(), inputs.end(), std::forward<F>(backward));
  }
  SavedTensor<T, Space> save(const tensor_type& t) const { return SavedTensor<T, Space>(t); }

  // A new Var with the same value and no gradient path (the STE's sg[.]).
  var_type stop_gradient(const var_type& v) { return push_slot(v.value(), false, /*is_leaf=*/true); }

  // ---- no_grad scopes ----------------------------------------------------------------------------------
  class NoGradGuard {
   public:
    explicit NoGradGuard(Tape& t) : tape_(t), previous_(t.grad_enabled_) { t.grad_enabled_ = false; }
    ~NoGradGuard() { tape_.grad_enabled_ = previous_; }
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

   private:
    Tape& tape_;
    bool previous_;
  };
  [[nodiscard]] NoGradGuard no_grad() { return NoGradGuard(*this); }
  bool grad_enabled() const { return grad_enabled_; }

  // ---- profiling (autodiff/op_profile.hpp) ---------------------------------------------------------------
  // Ops recorded while a RegionGuard lives are attributed to its region (names must outlive the tape).
  class RegionGuard {
   public:
    RegionGuard(Tape& t, const char* name) : tape_(t), previous_(t.region_) { t.region_ = name; }
    ~RegionGuard() { tape_.region_ = previous_; }
    RegionGuard(const RegionGuard&) = delete;
    RegionGuard& operator=(const RegionGuard&) = delete;

   private:
    Tape& tape_;
    const char* previous_;
  };
  [[nodiscard]] RegionGuard region(const char* name) { return RegionGuard(*this, name); }
  // Times every op from now on into *p (nullptr: stop). Costs one pointer test per op when off.
  void profile_into(OpProfile* p) {
    profile_ = p;
    if (p) {
      Kokkos::fence();
      p->lap();
    }
  }

  // ---- backward ----------------------------------------------------------------------------------------
  void backward(const var_type& loss) {
    IBQ_CHECK(loss.size() == 1, "backward: the loss has shape " << loss.shape()
                                    << "; reduce it to one value (sum/mean) or pass a seed gradient of that shape");
    backward(loss, tensor_type::full(loss.shape(), T(1)));
  }
  void backward(const var_type& out, const tensor_type& seed) {
    check_alive(out);
    IBQ_CHECK(seed.shape() == out.shape(),
              "backward: seed gradient " << seed.shape() << " does not match output " << out.shape());
    IBQ_CHECK(!backward_done_, "backward: this tape was already differentiated and its graph freed; "
                               "record the forward pass again on a cleared tape");
    IBQ_CHECK(slots_[out.id()].requires_grad,
              "backward: the output does not depend on any value that requires a gradient");
    accumulate_seed(out.id(), seed);
    for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) {
      Slot& s = slots_[it->out];
      if (s.grad.defined()) {
        if (profile_) profile_->lap();
        it->backward(*this, s.grad);
        if (profile_) {
          Kokkos::fence();
          profile_->backward[{it->region, it->name}] += profile_->lap();
        }
      }
      it->backward = nullptr;         // frees the Views this node saved
      if (!s.is_leaf) s.grad = tensor_type();  // intermediate gradients are not needed any more
    }
    backward_done_ = true;
  }

  // The gradient buffer of slot `id`, zero-allocated on first use; undefined if it needs no gradient.
  tensor_type grad_for(int id) {
    Slot& s = slots_[id];
    if (!s.requires_grad) return tensor_type();
    if (!s.grad.defined()) s.grad = tensor_type(s.shape, "ibq::grad");
    return s.grad;
  }

  // The gradient buffer of slot `id` for an op about to write every element of it. On first use the buffer
  // is allocated without zeroing and `overwrite` is true: the op stores its gradient (GEMM beta = 0) instead
  // of adding onto zeros, which saves a zero-fill and a read of the whole buffer. Later it is the buffer
  // other ops already wrote, and the op adds (beta = 1). An op that takes the same slot twice requests it
  // twice, and writes in the order it requested: the first request stores, the second adds.
  struct GradDest {
    tensor_type grad;        // undefined: no gradient needed
    bool overwrite = false;  // store rather than add
    bool defined() const { return grad.defined(); }
    T beta() const { return overwrite ? T(0) : T(1); }
  };
  GradDest grad_dest(int id) {
    Slot& s = slots_[id];
    if (!s.requires_grad) return {};
    if (s.grad.defined()) return {s.grad, false};
    s.grad = tensor_type::empty(s.shape, "ibq::grad");
    return {s.grad, true};
  }

  // Makes g the gradient of slot `id` if it has none yet (true); otherwise the caller accumulates (false).
  // For ops whose input gradient is their output gradient unchanged (reshape): the output's gradient is
  // released after its node anyway, so the buffer moves on instead of being zeroed and copied into.
  bool adopt_grad(int id, const tensor_type& g) {
    Slot& s = slots_[id];
    if (!s.requires_grad || s.grad.defined()) return false;
    s.grad = g;
    return true;
  }

  // ---- access ------------------------------------------------------------------------------------------
  tensor_type grad(int id) const { return slots_.at(id).grad; }
  bool requires_grad(int id) const { return slots_.at(id).requires_grad; }
  std::size_t num_values() const { return slots_.size(); }
  std::size_t num_nodes() const { return nodes_.size(); }
  std::vector<std::string> node_names() const {
    std::vector<std::string> names;
    for (const Node& n : nodes_) names.emplace_back(n.name);
    return names;
  }

  void clear() {
    nodes_.clear();
    slots_.clear();
    backward_done_ = false;
    ++generation_;
  }
  void check_alive(const var_type& v) const {
    IBQ_CHECK(v.generation() == generation_ && v.id() >= 0 && v.id() < static_cast<int>(slots_.size()),
              "Var: used after its tape was cleared; Vars live for one forward/backward pass");
  }

 private:
  struct Slot {
    Shape shape;  // the value itself lives in the Vars and the closures that saved it
    tensor_type grad;
    bool requires_grad;
    bool is_leaf;
  };
  struct Node {
    const char* name;
    const char* region;
    int out;
    backward_fn backward;
  };

  template <class It, class F>
  var_type record_node(const char* op, const tensor_type& value, It first, It last, F&& backward) {
    bool needs = false;
    for (It in = first; in != last; ++in) {
      IBQ_CHECK(in->defined(), op << ": an input Var was never recorded on a tape");
      IBQ_CHECK(&in->tape() == this, op << ": inputs come from different tapes; record a step's ops on one tape");
      needs = needs || slots_[in->id()].requires_grad;
    }
    needs = needs && grad_enabled_;
    if (profile_) {
      Kokkos::fence();
      profile_->forward[{region_, op}] += profile_->lap();
    }
    var_type out = push_slot(value, needs, /*is_leaf=*/false);
    if (needs) nodes_.push_back(Node{op, region_, out.id(), backward_fn(std::forward<F>(backward))});
    return out;
  }
  var_type push_slot(const tensor_type& value, bool requires_grad, bool is_leaf) {
    IBQ_CHECK(value.defined(), "Tape: cannot record an undefined tensor");
    slots_.push_back(Slot{value.shape(), tensor_type(), requires_grad, is_leaf});
    return var_type(this, static_cast<int>(slots_.size()) - 1, generation_, value);
  }
  void accumulate_seed(int id, const tensor_type& seed) { detail::accumulate(grad_for(id), seed); }

  std::vector<Slot> slots_;
  std::vector<Node> nodes_;
  bool grad_enabled_ = true;
  bool backward_done_ = false;
  const char* region_ = "";
  OpProfile* profile_ = nullptr;
  std::uint64_t generation_ = 0;
};

template <class T, class Space>
Var<T, Space> stop_gradient(const Var<T, Space>& v) {
  return v.tape().stop_gradient(v);
}

}  // namespace ibq
