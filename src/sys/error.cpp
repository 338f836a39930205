#include "sys/error.hpp"

#include <cstring>

namespace vs {

std::string errno_message(std::string_view op, std::string_view object, int err) {
  std::string m(op);
  if (!object.empty()) {
    m += ' ';
    m += object;
  }
  if (err != 0) {
    m += ": ";
    m += std::strerror(err);
  }
  return m;
}

void throw_errno(std::string_view op, std::string_view object, int err) {
  throw Error(errno_message(op, object, err), err);
}

void rethrow_with_context(const Error& e, std::string_view outer) {
  throw Error(std::string(outer) + ": " + e.what(), e.code());
}

}  // namespace vs
