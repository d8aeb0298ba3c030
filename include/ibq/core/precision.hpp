// ibq/core/precision.hpp — mixed precision as PyTorch's autocast: which arithmetic the matrix products use.
//
//   { ibq::Autocast bf16(ibq::Precision::bf16);   // forward pass: GEMMs and convolutions read bf16 operands
//     auto loss = model.forward(...); }
//   tape.backward(loss);                           // each product's backward uses the precision it ran with
//
// Under Precision::bf16, matmul, linear, attention and convolution round their operands to bf16 and
// accumulate in fp32 (the outputs and every gradient stay fp32); everything else (norms, softmax, losses,
// the quantizer's argmax and entropy terms, optimizers) is fp32 as under autocast. Parameters and their
// gradients stay fp32 ("master weights"). Each op reads the mode when it is recorded and keeps it for its
// backward, so the backward pass needs no guard. The mode only applies to float tensors: double (the
// finite-difference gradient checks) always computes in double.
#pragma once

#include <string>
#include <type_traits>

#include "ibq/core/error.hpp"

namespace ibq {

enum class Precision { fp32, bf16 };

inline const char* precision_name(Precision p) { return p == Precision::bf16 ? "bf16" : "fp32"; }

inline Precision parse_precision(const std::string& s, const char* option = "train.precision") {
  if (s == "fp32" || s == "32") return Precision::fp32;
  if (s == "bf16" || s == "bf16-mixed") return Precision::bf16;
  IBQ_THROW(option << " = " << s << " is not a precision; use fp32 or bf16 (bf16 mixed precision)");
}

namespace detail {
inline Precision& autocast_mode() {
  thread_local Precision mode = Precision::fp32;
  return mode;
}
}  // namespace detail

// The precision products recorded now would use, for tensors of element type T.
template <class T>
Precision autocast_precision() {
  return std::is_same_v<T, float> ? detail::autocast_mode() : Precision::fp32;
}

// Whether fp32 GEMMs on a CUDA device may use TF32 tensor cores (torch.backends.cuda.matmul.allow_tf32; off
// by default, as in PyTorch >= 1.12). TF32 keeps 10 mantissa bits of each operand, fewer than bf16 operands
// lose under autocast, so it is an opt-in speed choice for fp32 runs (drivers: runtime.tf32). No host
// kernel computes in TF32 (OpenBLAS and oneDNN keep fp32 products in fp32), so on the host it changes
// nothing. Set it before the first GEMM.
inline bool& allow_tf32() {
  static bool allow = false;
  return allow;
}

// Sets the mode for its scope and restores the previous one (scopes nest, like torch.autocast).
class Autocast {
 public:
  explicit Autocast(Precision p) : previous_(detail::autocast_mode()) { detail::autocast_mode() = p; }
  ~Autocast() { detail::autocast_mode() = previous_; }
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  Precision previous_;
};

}  // namespace ibq
