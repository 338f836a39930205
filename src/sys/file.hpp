// Small file helpers that report errors with the path and errno.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sys/fd.hpp"

namespace vs {

namespace fs = std::filesystem;

// open(2) with O_CLOEXEC; throws "open PATH: ..." on failure.
UniqueFd open_file(const fs::path& path, int flags, mode_t mode = 0);
// As open_file, but returns an invalid fd when the file does not exist (ENOENT).
UniqueFd open_file_if_exists(const fs::path& path, int flags);

// openat(2) of name relative to the directory dirfd, with O_CLOEXEC; throws "open SHOWN: ..."
// (shown names the file for the message; name when empty).
UniqueFd open_at(int dirfd, const fs::path& name, int flags, mode_t mode = 0,
                 std::string_view shown = {});

// An flock(2) held on an open file until destruction (or until the fd is closed everywhere).
class FileLock {
 public:
  FileLock() = default;
  // Blocks until the exclusive lock on fd is held; throws "lock WHAT: ...".
  static FileLock exclusive(UniqueFd fd, std::string_view what);
  [[nodiscard]] bool held() const noexcept { return fd_.valid(); }
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }

 private:
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// The whole content of a file; throws on error.
std::string read_file(const fs::path& path);
// The whole content, or nullopt if the file does not exist.
std::optional<std::string> read_file_if_exists(const fs::path& path);
// Reads all of fd from its current offset.
std::string read_fd(int fd);

// Writes content to path atomically: a temporary file in the same directory, fsync'ed
// unless durable is false, then renamed over path.
void write_file_atomic(const fs::path& path, std::string_view content, mode_t mode = 0644,
                       bool durable = true);
// Plain write (open O_WRONLY|O_TRUNC|O_CREAT, write all). For kernel files (cgroup, proc) use
// write_existing.
void write_file(const fs::path& path, std::string_view content, mode_t mode = 0644);
// Writes to an existing file without creating or truncating it (cgroup and proc files).
void write_existing(const fs::path& path, std::string_view content);

// write(2) all of data, retrying on EINTR and short writes; throws naming what.
void write_all(int fd, std::string_view data, std::string_view what);

// Splits text into lines (without the newline); a trailing newline adds no empty line.
std::vector<std::string> split_lines(std::string_view text);
// Removes leading and trailing whitespace.
std::string_view trim(std::string_view s);
// Equal ignoring ASCII case.
bool iequals(std::string_view a, std::string_view b);

}  // namespace vs
