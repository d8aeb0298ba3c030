// ibq/core/tensor.hpp — a contiguous row-major Kokkos::View plus a runtime shape.
//
//   ibq::Tensor<float> x({2, 3});                       // zeros, in DefaultSpace
//   auto y = ibq::Tensor<float>::from_host({2}, {1.f, 2.f});
//   std::vector<float> v = y.to_host();                  // explicit copy; accessors never copy
//   auto z = x.reshape({6});                             // shares storage (and the version counter)
//
// The version counter lets the tape detect values that were modified in place after being saved for
// backward: every in-place mutation (fill_, copy_from_, the optimizers) calls bump_version().
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ibq/core/config.hpp"
#include "ibq/core/error.hpp"
#include "ibq/core/host_reads.hpp"
#include "ibq/core/shape.hpp"

namespace ibq {

template <class T = float, class Space = DefaultSpace>
class Tensor {
 public:
  using value_type = T;
  using memory_space = Space;
  using execution_space = exec_space_t<Space>;
  using view_type = Kokkos::View<T*, Kokkos::LayoutRight, Space>;

  Tensor() = default;
  explicit Tensor(const Shape& shape, const std::string& label = "ibq::tensor")
      : view_(label, shape.numel()), shape_(shape), version_(std::make_shared<std::uint64_t>(0)) {}

  // Storage left uninitialised: for outputs a kernel overwrites completely.
  static Tensor empty(const Shape& shape, const std::string& label = "ibq::tensor") {
    Tensor t;
    t.view_ = view_type(Kokkos::view_alloc(Kokkos::WithoutInitializing, label), shape.numel());
    t.shape_ = shape;
    t.version_ = std::make_shared<std::uint64_t>(0);
    return t;
  }
  // Wraps an existing contiguous view (e.g. a slice of a flat parameter buffer) without copying.
  static Tensor from_view(const view_type& view, const Shape& shape) {
    IBQ_CHECK(static_cast<index_t>(view.extent(0)) == shape.numel(),
              "Tensor::from_view: view has " << view.extent(0) << " elements, shape " << shape << " needs "
                                             << shape.numel());
    Tensor t;
    t.view_ = view;
    t.shape_ = shape;
    t.version_ = std::make_shared<std::uint64_t>(0);
    return t;
  }
  static Tensor from_host(const Shape& shape, const std::vector<T>& values) {
    IBQ_CHECK(static_cast<index_t>(values.size()) == shape.numel(),
              "Tensor::from_host: " << values.size() << " values for shape " << shape);
    Tensor t = empty(shape);
    Kokkos::View<const T*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> src(values.data(),
                                                                                            values.size());
    Kokkos::deep_copy(t.view_, src);
    return t;
  }
  static Tensor full(const Shape& shape, T value) {
    Tensor t = empty(shape);
    Kokkos::deep_copy(t.view_, value);
    return t;
  }

  bool defined() const { return version_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank; }
  index_t dim(int i) const { return shape_[i]; }
  index_t size() const { return shape_.numel(); }
  const view_type& view() const { return view_; }
  T* data() const { return view_.data(); }

  Tensor reshape(const Shape& shape) const {
    IBQ_CHECK(shape.numel() == size(), "reshape: cannot view " << shape_ << " (" << size() << " elements) as "
                                                               << shape << " (" << shape.numel() << ")");
    Tensor t = *this;
    t.shape_ = shape;
    return t;
  }
  Tensor clone() const {
    Tensor t = empty(shape_);
    Kokkos::deep_copy(t.view_, view_);
    return t;
  }
  // The two reads back to the host; on a GPU each waits for the device (see host_reads.hpp).
  std::vector<T> to_host() const {
    host_reads::note();
    std::vector<T> out(size());
    Kokkos::View<T*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> dst(out.data(), out.size());
    Kokkos::deep_copy(dst, view_);
    return out;
  }
  T item() const {
    IBQ_CHECK(size() == 1, "item: tensor of shape " << shape_ << " is not a single value");
    host_reads::note();
    T v;
    Kokkos::View<T, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> dst(&v);
    Kokkos::deep_copy(dst, Kokkos::subview(view_, 0));
    return v;
  }

  // In-place mutations: each one invalidates values saved for backward.
  void fill_(T value) const {
    Kokkos::deep_copy(view_, value);
    bump_version();
  }
  void copy_from_(const Tensor& other) const {
    IBQ_CHECK(other.shape() == shape_, "copy_from_: shapes differ: " << other.shape() << " into " << shape_);
    Kokkos::deep_copy(view_, other.view_);
    bump_version();
  }
  std::uint64_t version() const { return version_ ? *version_ : 0; }
  void bump_version() const {
    if (version_) ++*version_;
  }

 private:
  view_type view_;
  Shape shape_;
  std::shared_ptr<std::uint64_t> version_;
};

}  // namespace ibq
