// The one error type of the library: a message that names the operation and
// the object, plus the errno that caused it (0 when there was none).
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>
#include <string_view>

namespace vs {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, int err = 0)
      : std::runtime_error(message), errno_(err) {}
  // errno of the failed call, or 0 for errors that are not system errors.
  [[nodiscard]] int code() const noexcept { return errno_; }

 private:
  int errno_;
};

// "OP OBJECT: strerror(err)", e.g. "mount tmpfs on /var/lib/vservers/web/tmp: No space left on
// device".
std::string errno_message(std::string_view op, std::string_view object, int err);

// Throws Error(errno_message(op, object, err), err). Captures errno by default.
[[noreturn]] void throw_errno(std::string_view op, std::string_view object, int err = errno);

// Adds outer context to an error: "OUTER: inner". Keeps the errno.
[[noreturn]] void rethrow_with_context(const Error& e, std::string_view outer);

}  // namespace vs
