// ibq/core/shape.hpp — a runtime shape of rank <= 5, row-major.
//
//   Shape s{2, 3, 4};   s.numel() == 24;   s[-1] == 4;   to_string(s) == "[2, 3, 4]"
//
// Shapes are plain values so kernels can capture them by copy (no std:: containers on the device).
#pragma once

#include <initializer_list>
#include <ostream>
#include <string>
#include <type_traits>

#include "ibq/core/config.hpp"
#include "ibq/core/error.hpp"

namespace ibq {

struct Shape {
  static constexpr int max_rank = 5;
  index_t dims[max_rank] = {0, 0, 0, 0, 0};
  int rank = 0;

  Shape() = default;
  Shape(std::initializer_list<index_t> d) {
    IBQ_CHECK(static_cast<int>(d.size()) <= max_rank,
              "Shape: rank " << d.size() << " exceeds the maximum rank " << max_rank);
    for (index_t v : d) {
      IBQ_CHECK(v >= 0, "Shape: negative dimension " << v);
      dims[rank++] = v;
    }
  }
  template <class It>
  static Shape from_range(It first, It last) {
    Shape s;
    for (; first != last; ++first) {
      IBQ_CHECK(s.rank < max_rank, "Shape: rank exceeds the maximum rank " << max_rank);
      if constexpr (std::is_signed_v<std::decay_t<decltype(*first)>>)
        IBQ_CHECK(*first >= 0, "Shape: negative dimension " << *first);
      s.dims[s.rank++] = static_cast<index_t>(*first);
    }
    return s;
  }

  KOKKOS_INLINE_FUNCTION index_t numel() const {
    index_t n = 1;
    for (int i = 0; i < rank; ++i) n *= dims[i];
    return n;
  }
  // Python-style indexing: s[-1] is the last dimension.
  index_t operator[](int i) const {
    int j = i < 0 ? i + rank : i;
    IBQ_CHECK(j >= 0 && j < rank, "Shape: axis " << i << " out of range for rank " << rank);
    return dims[j];
  }
  int axis(int i) const {
    int j = i < 0 ? i + rank : i;
    IBQ_CHECK(j >= 0 && j < rank, "axis " << i << " out of range for a tensor of rank " << rank);
    return j;
  }
  // Product of dims[begin, end): the "outer/inner" sizes around an axis.
  index_t prod(int begin, int end) const {
    index_t n = 1;
    for (int i = begin; i < end; ++i) n *= dims[i];
    return n;
  }
  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank != b.rank) return false;
    for (int i = 0; i < a.rank; ++i)
      if (a.dims[i] != b.dims[i]) return false;
    return true;
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }
};

inline std::string to_string(const Shape& s) {
  std::string out = "[";
  for (int i = 0; i < s.rank; ++i) out += (i ? ", " : "") + std::to_string(s.dims[i]);
  return out + "]";
}
inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << to_string(s); }

}  // namespace ibq
