#include "sys/in_root.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/magic.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <deque>
#include <string>
#include <vector>

#include "sys/error.hpp"

namespace vs {

namespace {

bool walk_forced() {
  // Set by the tests only, so that the walk below is tested on kernels that have openat2.
  static const bool forced = std::getenv("VSERVER_TEST_NO_OPENAT2") != nullptr;
  return forced;
}

// A link on procfs that the kernel would follow by its object, not its text (/proc/PID/root, cwd,
// exe, fd/N, ns/*): their text is an absolute path or "type:[id]". /proc/self and the links of
// /proc itself ("self/mounts") are relative names and are followed like any link.
bool magic_link(int linkfd, const std::string& target) {
  struct statfs sf {};
  if (::fstatfs(linkfd, &sf) != 0) return true;
  return sf.f_type == PROC_SUPER_MAGIC &&
         (target.empty() || target.front() == '/' || target.find(':') != std::string::npos);
}

// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) done by hand, for kernels before 5.6: one
// component at a time with O_NOFOLLOW; a symbolic link is read and its text resolved from the
// root (absolute) or from its directory (relative); ".." never leaves the root, and is taken from
// the walk's own record of the directories it went through, never from the filesystem (a
// directory moved out of the root meanwhile cannot lead out of it). Returns -1 with errno.
int walk_in_root(int rootfd, std::string_view path, int flags) {
  std::deque<std::string> todo;
  auto push_front = [&](std::string_view text) {
    std::vector<std::string> parts;
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t slash = text.find('/', pos);
      if (slash == std::string_view::npos) slash = text.size();
      std::string_view c = text.substr(pos, slash - pos);
      if (!c.empty() && c != ".") parts.emplace_back(c);
      pos = slash + 1;
    }
    todo.insert(todo.begin(), parts.begin(), parts.end());
  };
  push_front(path);
  std::vector<UniqueFd> parents;
  UniqueFd cur(::fcntl(rootfd, F_DUPFD_CLOEXEC, 0));
  if (!cur) return -1;
  int links = 0;
  std::string last_name;  // the final component, reopened with flags
  UniqueFd last_dir;
  while (!todo.empty()) {
    std::string c = std::move(todo.front());
    todo.pop_front();
    if (c == "..") {
      if (!parents.empty()) {
        cur = std::move(parents.back());
        parents.pop_back();
      }
      continue;
    }
    UniqueFd next(::openat(cur.get(), c.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!next) return -1;
    struct stat st {};
    if (::fstat(next.get(), &st) != 0) return -1;
    if (S_ISLNK(st.st_mode)) {
      if (++links > 40) {
        errno = ELOOP;
        return -1;
      }
      std::string target(PATH_MAX, '\0');
      ssize_t n = ::readlinkat(next.get(), "", target.data(), target.size());
      if (n < 0) return -1;
      target.resize(static_cast<size_t>(n));
      if (magic_link(next.get(), target)) {
        errno = ELOOP;
        return -1;
      }
      if (!target.empty() && target.front() == '/') {
        parents.clear();
        cur.reset(::fcntl(rootfd, F_DUPFD_CLOEXEC, 0));
        if (!cur) return -1;
      }
      push_front(target);
      continue;
    }
    if (todo.empty()) {
      last_dir = std::move(cur);
      last_name = std::move(c);
      cur = std::move(next);
      break;
    }
    if (!S_ISDIR(st.st_mode)) {
      errno = ENOTDIR;
      return -1;
    }
    parents.push_back(std::move(cur));
    cur = std::move(next);
  }
  if ((flags & O_PATH) != 0 && (flags & O_DIRECTORY) == 0) return cur.release();
  // Reopen the object found with the flags asked for; it must still be the same.
  struct stat want {};
  if (::fstat(cur.get(), &want) != 0) return -1;
  UniqueFd fd(last_dir ? ::openat(last_dir.get(), last_name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC)
                       : ::openat(cur.get(), ".", flags | O_CLOEXEC));
  if (!fd) return -1;
  struct stat got {};
  if (::fstat(fd.get(), &got) != 0 || got.st_dev != want.st_dev || got.st_ino != want.st_ino) {
    fd.reset();
    errno = EAGAIN;  // replaced while being resolved
    return -1;
  }
  return fd.release();
}

// path below rootfd as openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) resolves it, with the
// walk where the kernel has no openat2 (or the tests ask for it). -1 with errno on failure.
int resolve_in_root(int rootfd, const std::string& path, int flags, Resolver how) {
  if (how == Resolver::automatic && !walk_forced()) {
    open_how h{};
    h.flags = static_cast<std::uint64_t>(flags) | O_CLOEXEC;
    h.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    long fd = ::syscall(SYS_openat2, rootfd, path.c_str(), &h, sizeof(h));
    if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
  }
  return walk_in_root(rootfd, path, flags);
}

}  // namespace

UniqueFd open_file_in_root(int rootfd, std::string_view path, int flags, Resolver how) {
  return UniqueFd(resolve_in_root(rootfd, std::string(path), flags, how));
}

UniqueFd open_in_root(int rootfd, std::string_view path, bool mkdir, std::string_view root_name,
                      Resolver how) {
  std::string p(path);
  UniqueFd fd(resolve_in_root(rootfd, p, O_PATH, how));
  if (fd) return fd;
  if (errno != ENOENT || !mkdir) throw_errno("open", std::string(root_name) + p);
  // Create the missing directories one component at a time, each resolved inside the root.
  std::string sofar;
  size_t pos = 0;
  while (pos < p.size()) {
    size_t next = p.find('/', pos + 1);
    if (next == std::string::npos) next = p.size();
    sofar = p.substr(0, next);
    pos = next;
    if (UniqueFd(resolve_in_root(rootfd, sofar, O_PATH, how))) continue;
    if (errno != ENOENT) throw_errno("open", std::string(root_name) + sofar);
    size_t slash = sofar.rfind('/');
    std::string parent = slash == 0 ? "/" : sofar.substr(0, slash);
    std::string leaf = sofar.substr(slash + 1);
    UniqueFd parent_fd(resolve_in_root(rootfd, parent, O_DIRECTORY | O_RDONLY, how));
    if (!parent_fd) throw_errno("open", std::string(root_name) + parent);
    if (::mkdirat(parent_fd.get(), leaf.c_str(), 0755) != 0 && errno != EEXIST) {
      throw_errno("create directory", std::string(root_name) + sofar);
    }
  }
  fd.reset(resolve_in_root(rootfd, p, O_PATH, how));
  if (!fd) throw_errno("open", std::string(root_name) + p);
  return fd;
}

}  // namespace vs
