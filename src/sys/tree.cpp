#include "sys/tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/report.hpp"

namespace vs {

fs::path absolute_path(const fs::path& p) {
  std::error_code ec;
  fs::path a = fs::absolute(p, ec);
  if (ec) throw_errno("resolve", p.string(), ec.value());
  return a.lexically_normal();
}

bool lexists(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  throw_errno("stat", p.string());
}

bool process_exists(pid_t pid) {
  return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

void remove_stale_temps(const fs::path& dir, std::string_view prefix) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (n.rfind(prefix, 0) != 0) continue;
    std::string digits = n.substr(prefix.size());
    if (digits.empty() || digits.size() > 9 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    auto pid = static_cast<pid_t>(std::stol(digits));
    if (pid == ::getpid() || !process_exists(pid)) remove_tree(it->path());
  }
}

// ---- removal ------------------------------------------------------------------------------

namespace {

struct Node {
  dev_t dev = 0;
  ino_t ino = 0;
  std::uint64_t mnt = 0;
  bool has_mnt = false;
  bool is_dir = false;
};

// statx without following a final symlink; errno preserved on failure.
bool node_at(int dirfd, const char* name, Node& out) {
  struct statx stx {};
  int flags = AT_SYMLINK_NOFOLLOW | (name[0] == '\0' ? AT_EMPTY_PATH : 0);
  if (::statx(dirfd, name, flags, STATX_TYPE | STATX_INO | STATX_MNT_ID, &stx) != 0) return false;
  out.dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
  out.ino = stx.stx_ino;
  out.has_mnt = (stx.stx_mask & STATX_MNT_ID) != 0;
  out.mnt = stx.stx_mnt_id;
  out.is_dir = S_ISDIR(stx.stx_mode);
  return true;
}

bool same_mount(const Node& a, const Node& b) {
  if (a.dev != b.dev) return false;
  return !(a.has_mnt && b.has_mnt) || a.mnt == b.mnt;
}

class DirStream {
 public:
  // where() names the directory in messages; it is called only on failure.
  template <typename WhereFn>
  DirStream(int fd, const WhereFn& where) {
    int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d < 0) throw_errno("duplicate descriptor of", where().string());
    dir_ = ::fdopendir(d);
    if (dir_ == nullptr) {
      int err = errno;
      ::close(d);
      throw_errno("open directory", where().string(), err);
    }
    ::rewinddir(dir_);
  }
  DirStream(const DirStream&) = delete;
  DirStream& operator=(const DirStream&) = delete;
  ~DirStream() { ::closedir(dir_); }
  DIR* get() const { return dir_; }

 private:
  DIR* dir_ = nullptr;
};

// Removes the entries of the directory open as dir that are not directories; returns the names of
// its subdirectories.
template <typename WhereFn>
std::vector<std::string> remove_files(int dir, const WhereFn& where_fn) {
  std::vector<std::string> subdirs;
  DirStream ds(dir, where_fn);
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(ds.get());
    if (e == nullptr) {
      if (errno != 0) throw_errno("read directory", where_fn().string());
      break;
    }
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st {};
      if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        throw_errno("stat", (where_fn() / name).string());
      }
      is_dir = S_ISDIR(st.st_mode);
    }
    if (!is_dir) {
      if (::unlinkat(dir, name.c_str(), 0) == 0 || errno == ENOENT) continue;
      if (errno != EISDIR) throw_errno("remove", (where_fn() / name).string());
    }
    subdirs.push_back(std::move(name));
  }
  return subdirs;
}

// Empties the directory open as dir (which lives on mount top), returning an fd of the same
// directory. Iterative, so that the depth of a tree a guest made cannot exhaust the stack, and
// holding one directory fd at a time: going down, the parent's fd is closed; coming back up, it is
// reopened through ".." and checked to be the same directory.
UniqueFd remove_contents(UniqueFd dir, const Node& top, const fs::path& where) {
  struct Level {
    std::vector<std::string> subdirs;
    size_t next = 0;
    std::string name;  // this directory's name in its parent
    Node parent;       // the parent, to check the way back up
  };
  std::vector<Level> stack;
  // The path of the current directory, for messages only: building it at every level would make
  // deep trees quadratic.
  auto path_of = [&](size_t levels) {
    fs::path p = where;
    for (size_t i = 1; i < levels; ++i) p /= stack[i].name;
    return p;
  };
  auto here = [&] { return path_of(stack.size()); };
  stack.push_back({{}, 0, {}, {}});
  stack.back().subdirs = remove_files(dir.get(), here);
  for (;;) {
    Level& level = stack.back();
    if (level.next < level.subdirs.size()) {
      std::string sub = level.subdirs[level.next++];
      Node n;
      if (!node_at(dir.get(), sub.c_str(), n)) {
        if (errno == ENOENT) continue;
        throw_errno("stat", (here() / sub).string());
      }
      if (!same_mount(n, top)) {
        throw Error("remove " + (here() / sub).string() +
                    ": another filesystem is mounted there; unmount it first");
      }
      int cfd = ::openat(dir.get(), sub.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (cfd < 0) throw_errno("open directory", (here() / sub).string());
      UniqueFd child(cfd);
      Node opened;
      if (!node_at(child.get(), "", opened)) throw_errno("stat", (here() / sub).string());
      if (opened.ino != n.ino || !same_mount(opened, top)) {
        throw Error("remove " + (here() / sub).string() + ": changed while being removed");
      }
      Node parent;
      if (!node_at(dir.get(), "", parent)) throw_errno("stat", here().string());
      dir = std::move(child);
      stack.push_back({{}, 0, sub, parent});
      // Listing may fail; the level is on the stack already so that messages name it.
      stack.back().subdirs = remove_files(dir.get(), here);
      continue;
    }
    // This directory is empty now.
    if (stack.size() == 1) return dir;
    int pfd = ::openat(dir.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) throw_errno("open directory", path_of(stack.size() - 1).string());
    UniqueFd back(pfd);
    Node again;
    if (!node_at(back.get(), "", again)) throw_errno("stat", path_of(stack.size() - 1).string());
    const Level& done = stack.back();
    if (again.ino != done.parent.ino || again.dev != done.parent.dev) {
      throw Error("remove " + path_of(stack.size() - 1).string() + ": moved while being removed");
    }
    dir = std::move(back);
    if (::unlinkat(dir.get(), done.name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      throw_errno("remove directory", here().string());
    }
    stack.pop_back();
  }
}

}  // namespace

void remove_tree(const fs::path& path) {
  fs::path p = path.lexically_normal();
  if (p.has_filename() == false) p = p.parent_path();
  std::string name = p.filename().string();
  if (name.empty() || name == "." || name == ".." || name == "/") {
    throw Error("remove " + path.string() + ": refusing to remove this path");
  }
  fs::path parent = p.has_parent_path() ? p.parent_path() : fs::path(".");
  int pfd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (pfd < 0) {
    if (errno == ENOENT) return;
    throw_errno("open directory", parent.string());
  }
  UniqueFd pdir(pfd);
  Node top;
  if (!node_at(pdir.get(), name.c_str(), top)) {
    if (errno == ENOENT) return;
    throw_errno("stat", p.string());
  }
  if (!top.is_dir) {
    if (::unlinkat(pdir.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
      throw_errno("remove", p.string());
    }
    return;
  }
  int dfd = ::openat(pdir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) throw_errno("open directory", p.string());
  UniqueFd dir(dfd);
  Node opened;
  if (!node_at(dir.get(), "", opened)) throw_errno("stat", p.string());
  if (opened.ino != top.ino || opened.dev != top.dev) {
    throw Error("remove " + p.string() + ": changed while being removed");
  }
  dir = remove_contents(std::move(dir), opened, p);
  dir.reset();
  if (::unlinkat(pdir.get(), name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    throw_errno("remove directory", p.string());
  }
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  try {
    remove_tree(path_);
  } catch (const std::exception& e) {
    report_warning(std::string("vserver: warning: could not remove ") + path_.string() + ": " +
                   e.what());
  }
}

}  // namespace vs
