// ibq/autodiff/var.hpp — a handle to a value recorded on a Tape.
//
//   ibq::Tape<float> tape;
//   auto x = tape.leaf(x_tensor, /*requires_grad=*/true);
//   auto y = exp(x) * x + 1.0f;          // ops find the tape from their operands
//   tape.backward(sum(y));
//   x.grad();                              // d sum(y) / dx
//
// A Var is a tape pointer, a slot id and its value (a reference-counted View), and is cheap to copy. The
// Var holds the value, not the tape: an intermediate nobody holds and no backward closure saved is freed
// as soon as the forward pass moves on, as PyTorch frees it. A Var is valid until its tape is cleared;
// using it afterwards throws.
#pragma once

#include <cstdint>
#include <utility>

#include "ibq/core/tensor.hpp"

namespace ibq {

template <class T, class Space>
class Tape;

template <class T = float, class Space = DefaultSpace>
class Var {
 public:
  using value_type = T;
  using memory_space = Space;
  using tensor_type = Tensor<T, Space>;
  using tape_type = Tape<T, Space>;

  Var() = default;
  Var(tape_type* tape, int id, std::uint64_t generation, tensor_type value)
      : tape_(tape), id_(id), generation_(generation), value_(std::move(value)) {}

  bool defined() const { return tape_ != nullptr; }
  tape_type& tape() const {
    IBQ_CHECK(tape_ != nullptr, "Var: used before it was recorded on a tape");
    tape_->check_alive(*this);
    return *tape_;
  }
  int id() const { return id_; }
  std::uint64_t generation() const { return generation_; }

  const tensor_type& value() const {
    tape();  // checks that the tape is still this Var's
    return value_;
  }
  const Shape& shape() const { return value().shape(); }
  index_t size() const { return value().size(); }
  bool requires_grad() const { return tape().requires_grad(id_); }
  // The accumulated gradient after backward(); an undefined Tensor if none reached this value.
  tensor_type grad() const { return tape().grad(id_); }

 private:
  tape_type* tape_ = nullptr;
  int id_ = -1;
  std::uint64_t generation_ = 0;
  tensor_type value_;
};

}  // namespace ibq
