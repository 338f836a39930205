#include "sys/file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>

#include "sys/error.hpp"

namespace vs {

UniqueFd open_file(const fs::path& path, int flags, mode_t mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) throw_errno("open", path.string());
  return UniqueFd(fd);
}

UniqueFd open_file_if_exists(const fs::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return UniqueFd();
    throw_errno("open", path.string());
  }
  return UniqueFd(fd);
}

UniqueFd open_at(int dirfd, const fs::path& name, int flags, mode_t mode, std::string_view shown) {
  int fd = ::openat(dirfd, name.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) throw_errno("open", shown.empty() ? name.native() : shown);
  return UniqueFd(fd);
}

FileLock FileLock::exclusive(UniqueFd fd, std::string_view what) {
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) throw_errno("lock", what);
  }
  return FileLock(std::move(fd));
}

std::string read_fd(int fd) {
  std::string out;
  std::array<char, 8192> buf{};
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", "fd " + std::to_string(fd));
    }
    if (n == 0) break;
    out.append(buf.data(), static_cast<size_t>(n));
  }
  return out;
}

std::string read_file(const fs::path& path) {
  UniqueFd fd = open_file(path, O_RDONLY);
  try {
    return read_fd(fd.get());
  } catch (const Error& e) {
    throw_errno("read", path.string(), e.code());
  }
}

std::optional<std::string> read_file_if_exists(const fs::path& path) {
  UniqueFd fd = open_file_if_exists(path, O_RDONLY);
  if (!fd) return std::nullopt;
  try {
    return read_fd(fd.get());
  } catch (const Error& e) {
    if (e.code() == EISDIR) return std::nullopt;
    throw_errno("read", path.string(), e.code());
  }
}

void write_all(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write", what);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void write_file(const fs::path& path, std::string_view content, mode_t mode) {
  UniqueFd fd = open_file(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  write_all(fd.get(), content, path.string());
}

void write_existing(const fs::path& path, std::string_view content) {
  UniqueFd fd = open_file(path, O_WRONLY);
  // Kernel files take one value per write(2); a short write is an error there.
  ssize_t n = ::write(fd.get(), content.data(), content.size());
  if (n < 0) throw_errno("write " + std::string(content), path.string());
}

void write_file_atomic(const fs::path& path, std::string_view content, mode_t mode, bool durable) {
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    UniqueFd fd = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
    try {
      write_all(fd.get(), content, tmp.string());
      if (::fchmod(fd.get(), mode) != 0) throw_errno("chmod", tmp.string());
      if (durable && ::fsync(fd.get()) != 0) throw_errno("fsync", tmp.string());
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw_errno("rename " + tmp.string() + " to", path.string(), err);
  }
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) {
      lines.emplace_back(text.substr(start));
      break;
    }
    lines.emplace_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

std::string_view trim(std::string_view s) {
  const char* ws = " \t\r\n\f\v";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace vs
