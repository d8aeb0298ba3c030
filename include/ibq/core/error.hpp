// ibq/core/error.hpp — the library's one exception type and its check macros.
//
//   IBQ_CHECK(a.shape() == b.shape(), "add: shapes differ: " << a.shape() << " vs " << b.shape());
//
// Library code throws ibq::Error with a message that names the thing and, where there is one, the fix;
// drivers catch it, print one line and exit non-zero.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace ibq {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace ibq

#define IBQ_THROW(msg)                      \
  do {                                      \
    std::ostringstream ibq_err_stream_;     \
    ibq_err_stream_ << msg;                 \
    throw ::ibq::Error(ibq_err_stream_.str()); \
  } while (0)

#define IBQ_CHECK(cond, msg) \
  do {                       \
    if (!(cond)) IBQ_THROW(msg); \
  } while (0)
