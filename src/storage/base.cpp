#include "storage/base.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <set>
#include <utility>

#include "config/config.hpp"
#include "storage/layout.hpp"
#include "storage/overlay.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"
#include "sys/interrupt.hpp"
#include "sys/tree.hpp"

namespace vs::storage {

namespace {

// Creates VDIR_ROOT/.bases (mode 0700: only root walks into bases) when missing.
void make_bases_dir(const config::Roots& roots) {
  fs::path d = bases_dir(roots);
  std::error_code ec;
  fs::create_directories(roots.vdir, ec);
  if (ec) throw_errno("create directory", roots.vdir.string(), ec.value());
  if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) throw_errno("create directory", d.string());
}

}  // namespace

void check_base_name(std::string_view base) {
  if (!valid_base_name(base)) {
    throw Error("invalid base name \"" + std::string(base) +
                "\" (1..64 characters of A-Z a-z 0-9 . _ -, not starting with . or -)");
  }
}

BaseLock::BaseLock(const config::Roots& roots) {
  fs::path file = bases_dir(roots) / ".lock";
  for (;;) {
    make_bases_dir(roots);
    UniqueFd fd = open_file(file, O_RDWR | O_CREAT, 0600);
    while (::flock(fd.get(), LOCK_EX) != 0) {
      if (errno != EINTR) throw_errno("lock", file.string());
      check_interrupted();
    }
    // The holder before us may have removed the unused directory (remove_unused_bases_dir):
    // then lock the file made anew.
    struct stat held {};
    struct stat now {};
    if (::fstat(fd.get(), &held) != 0) throw_errno("stat lock", file.string());
    if (::stat(file.c_str(), &now) != 0) {
      if (errno != ENOENT) throw_errno("stat lock", file.string());
    } else if (now.st_dev == held.st_dev && now.st_ino == held.st_ino) {
      fd_ = std::move(fd);
      return;
    }
  }
}

void remove_unused_bases_dir(const config::Roots& roots) {
  fs::path dir = bases_dir(roots);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return;
  BaseLock lock(roots);
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename() != ".lock") return;
  }
  fs::path file = dir / ".lock";
  if (::unlink(file.c_str()) != 0 && errno != ENOENT) throw_errno("remove", file.string());
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) throw_errno("remove", dir.string());
}

bool base_exists(const config::Roots& roots, std::string_view base) {
  if (!valid_base_name(base)) return false;
  struct stat st {};
  return ::stat(base_dir(roots, base).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> list_bases(const config::Roots& roots) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(bases_dir(roots), ec), end; !ec && it != end; it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (valid_base_name(n) && it->is_directory(ec)) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> guests_on_base(const config::Roots& roots, std::string_view base) {
  std::vector<std::string> out;
  for (const auto& g : config::list_guests(roots)) {
    config::GuestConfig cfg;
    try {
      config::check_guest(roots, g, cfg);  // other problems of its tree do not matter here
    } catch (const Error&) {
      continue;  // removed meanwhile
    }
    if (cfg.base && *cfg.base == base) out.push_back(g);
  }
  return out;
}

void delete_base(const config::Roots& roots, std::string_view base) {
  check_base_name(base);
  BaseLock lock(roots);
  fs::path dir = base_dir(roots, base);
  if (!lexists(dir))
    throw Error("base '" + std::string(base) + "' does not exist (" + dir.string() + ")");
  auto users = guests_on_base(roots, base);
  if (!users.empty()) {
    std::string list;
    for (const auto& u : users) list += (list.empty() ? "" : ", ") + u;
    throw Error("base '" + std::string(base) + "' is used by " + std::to_string(users.size()) +
                (users.size() == 1 ? " vserver: " : " vservers: ") + list +
                "; delete them or unify them onto another base first");
  }
  remove_tree(dir);
}

std::uint64_t disk_usage(const fs::path& dir) {
  std::uint64_t total = 0;
  std::set<std::pair<dev_t, ino_t>> seen;
  struct stat top {};
  if (::lstat(dir.c_str(), &top) != 0) {
    if (errno == ENOENT) return 0;
    throw_errno("stat", dir.string());
  }
  // Iterative walk; directories are opened one at a time (a wide tree needs no more fds).
  total += static_cast<std::uint64_t>(top.st_blocks) * 512;
  if (!S_ISDIR(top.st_mode)) return total;
  std::vector<std::string> stack{dir.string()};
  while (!stack.empty()) {
    std::string where = std::move(stack.back());
    stack.pop_back();
    int d = ::open(where.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d < 0) throw_errno("open directory", where);
    DIR* dp = ::fdopendir(d);
    if (dp == nullptr) {
      ::close(d);
      throw_errno("open directory", where);
    }
    while (struct dirent* e = ::readdir(dp)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      struct stat st {};
      if (::fstatat(::dirfd(dp), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (st.st_dev != top.st_dev) continue;
      if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) && !seen.emplace(st.st_dev, st.st_ino).second) {
        continue;
      }
      total += static_cast<std::uint64_t>(st.st_blocks) * 512;
      if (S_ISDIR(st.st_mode)) stack.push_back(where + "/" + n);
    }
    ::closedir(dp);
  }
  return total;
}

}  // namespace vs::storage
