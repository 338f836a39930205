#include "provision/unify.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "config/config.hpp"
#include "config/parse.hpp"
#include "provision/base.hpp"
#include "provision/build.hpp"
#include "provision/internal.hpp"
#include "state/state.hpp"
#include "storage/base.hpp"
#include "storage/layout.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"
#include "sys/interrupt.hpp"
#include "sys/tree.hpp"

namespace vs::provision {

// Bases, layers and overlays are storage's; this file rearranges a guest's files onto them.
using namespace vs::storage;

namespace {

constexpr std::string_view kOverlayXattrPrefix = "trusted.overlay.";

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

std::string under(const std::string& root, const std::string& rel) {
  return rel.empty() ? root : root + "/" + rel;
}

// Names in a directory, sorted; . and .. left out.
std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) throw_errno("open directory", path);
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(d);
    if (e == nullptr) {
      int err = errno;
      ::closedir(d);
      if (err != 0) throw_errno("read directory", path, err);
      break;
    }
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(std::move(n));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Extended attributes of path (not following a final symlink), without overlayfs' own.
std::map<std::string, std::string> xattrs_of(const std::string& path) {
  std::map<std::string, std::string> out;
  std::vector<char> names;
  for (;;) {
    ssize_t n = ::llistxattr(path.c_str(), nullptr, 0);
    if (n < 0) {
      if (errno == ENOTSUP) return out;
      throw_errno("list extended attributes of", path);
    }
    if (n == 0) return out;
    names.resize(static_cast<std::size_t>(n));
    n = ::llistxattr(path.c_str(), names.data(), names.size());
    if (n < 0) {
      if (errno == ERANGE) continue;
      throw_errno("list extended attributes of", path);
    }
    names.resize(static_cast<std::size_t>(n));
    break;
  }
  for (std::size_t pos = 0; pos < names.size();) {
    std::string name(names.data() + pos);
    pos += name.size() + 1;
    if (name.empty() || name.rfind(kOverlayXattrPrefix, 0) == 0) continue;
    std::string value;
    for (;;) {
      ssize_t n = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
      if (n < 0) {
        if (errno == ENODATA) break;
        throw_errno("read extended attribute " + name + " of", path);
      }
      value.resize(static_cast<std::size_t>(n));
      n = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
      if (n < 0) {
        if (errno == ERANGE) continue;
        throw_errno("read extended attribute " + name + " of", path);
      }
      value.resize(static_cast<std::size_t>(n));
      out.emplace(name, std::move(value));
      break;
    }
  }
  return out;
}

std::string read_link(const std::string& path, const struct stat& st) {
  std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
  for (;;) {
    ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
    if (n < 0) throw_errno("read link", path);
    if (static_cast<std::size_t>(n) < target.size()) {
      target.resize(static_cast<std::size_t>(n));
      return target;
    }
    target.resize(target.size() * 2);
  }
}

bool same_content(const std::string& a, const std::string& b) {
  UniqueFd fa = open_file(a, O_RDONLY | O_NOFOLLOW);
  UniqueFd fb = open_file(b, O_RDONLY | O_NOFOLLOW);
  std::vector<char> ba(1 << 16);
  std::vector<char> bb(1 << 16);
  for (;;) {
    ssize_t na = ::read(fa.get(), ba.data(), ba.size());
    if (na < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", a);
    }
    std::size_t got = 0;
    while (got < static_cast<std::size_t>(na)) {
      ssize_t nb = ::read(fb.get(), bb.data() + got, static_cast<std::size_t>(na) - got);
      if (nb < 0) {
        if (errno == EINTR) continue;
        throw_errno("read", b);
      }
      if (nb == 0) return false;
      got += static_cast<std::size_t>(nb);
    }
    if (na == 0) {
      char extra = 0;
      return ::read(fb.get(), &extra, 1) == 0;
    }
    if (std::memcmp(ba.data(), bb.data(), static_cast<std::size_t>(na)) != 0) return false;
  }
}

// What the new upper layer gets, in the order it is made (a directory before its contents).
struct Action {
  enum Kind { dir, keep, opaque, whiteout };
  Kind kind;
  std::string rel;
};

// Compares the guest's root with a base and decides what goes into the upper layer.
class Planner {
 public:
  Planner(std::string guest, std::string base) : g_(std::move(guest)), b_(std::move(base)) {}

  void run() {
    struct stat st {};
    if (::lstat(g_.c_str(), &st) != 0) throw_errno("stat", g_);
    dev_ = st.st_dev;
    plan_dir("");
  }

  std::vector<Action> actions;
  std::size_t identical = 0;
  std::size_t kept = 0;
  std::size_t whiteouts = 0;
  std::uint64_t dropped_bytes = 0;  // blocks of the regular files dropped (each inode once)

 private:
  // Whether the directory rel (present in both) must be in the upper layer; its actions and those
  // of its contents are appended.
  bool plan_dir(const std::string& rel) {
    std::string gp = under(g_, rel);
    std::string bp = under(b_, rel);
    auto gnames = list_dir(gp);
    auto blist = list_dir(bp);
    std::set<std::string> bnames(blist.begin(), blist.end());
    std::size_t mark = actions.size();
    actions.push_back({Action::dir, rel});
    bool need = rel.empty() || !same_meta(gp, bp);
    for (const auto& name : gnames) {
      check_interrupted();
      std::string child = join(rel, name);
      struct stat gs {};
      if (::lstat(under(g_, child).c_str(), &gs) != 0) throw_errno("stat", under(g_, child));
      if (S_ISDIR(gs.st_mode) && gs.st_dev != dev_) {
        throw Error("another filesystem is mounted at " + under(g_, child) + "; unmount it first");
      }
      struct stat bs {};
      if (bnames.count(name) == 0 || ::lstat(under(b_, child).c_str(), &bs) != 0) {
        actions.push_back({Action::keep, child});
        ++kept;
        need = true;
        continue;
      }
      if (S_ISDIR(gs.st_mode) && S_ISDIR(bs.st_mode)) {
        if (plan_dir(child)) need = true;
        continue;
      }
      if (S_ISDIR(gs.st_mode)) {  // the base has something else there
        actions.push_back({Action::opaque, child});
        ++kept;
        need = true;
        continue;
      }
      if (same_entry(under(g_, child), under(b_, child), gs, bs)) {
        ++identical;
        if (S_ISREG(gs.st_mode) && (gs.st_nlink == 1 || seen_.emplace(gs.st_ino).second)) {
          dropped_bytes += static_cast<std::uint64_t>(gs.st_blocks) * 512;
        }
        continue;
      }
      actions.push_back({Action::keep, child});
      ++kept;
      need = true;
    }
    for (const auto& name : blist) {
      if (std::binary_search(gnames.begin(), gnames.end(), name)) continue;
      actions.push_back({Action::whiteout, join(rel, name)});
      ++whiteouts;
      need = true;
    }
    if (!need) actions.resize(mark);
    return need;
  }

  static bool same_meta(const std::string& g, const std::string& b) {
    struct stat gs {
    }, bs{};
    if (::lstat(g.c_str(), &gs) != 0) throw_errno("stat", g);
    if (::lstat(b.c_str(), &bs) != 0) throw_errno("stat", b);
    return gs.st_mode == bs.st_mode && gs.st_uid == bs.st_uid && gs.st_gid == bs.st_gid &&
           xattrs_of(g) == xattrs_of(b);
  }

  static bool same_entry(const std::string& g, const std::string& b, const struct stat& gs,
                         const struct stat& bs) {
    if (gs.st_mode != bs.st_mode || gs.st_uid != bs.st_uid || gs.st_gid != bs.st_gid) return false;
    switch (gs.st_mode & S_IFMT) {
      case S_IFREG:
        if (gs.st_size != bs.st_size) return false;
        if (gs.st_dev != bs.st_dev || gs.st_ino != bs.st_ino) {
          if (!same_content(g, b)) return false;
        }
        break;
      case S_IFLNK:
        if (read_link(g, gs) != read_link(b, bs)) return false;
        break;
      case S_IFCHR:
      case S_IFBLK:
        if (gs.st_rdev != bs.st_rdev) return false;
        // A 0/0 character device is an overlayfs whiteout: never dropped.
        if (S_ISCHR(gs.st_mode) && gs.st_rdev == makedev(0, 0)) return false;
        break;
      default:
        break;
    }
    return xattrs_of(g) == xattrs_of(b);
  }

  std::string g_;
  std::string b_;
  dev_t dev_ = 0;
  std::set<ino_t> seen_;
};

// Makes the upper layer from the plan: kept entries are hard links to the guest's (copies when
// the layers are on another filesystem).
class Writer {
 public:
  Writer(std::string guest, std::string upper) : g_(std::move(guest)), u_(std::move(upper)) {}

  void apply(const std::vector<Action>& actions) {
    for (const auto& a : actions) {
      check_interrupted();
      switch (a.kind) {
        case Action::dir:
          make_dir(a.rel, false);
          break;
        case Action::opaque:
          make_dir(a.rel, true);
          keep_contents(a.rel);
          break;
        case Action::keep:
          keep(a.rel);
          break;
        case Action::whiteout: {
          std::string p = under(u_, a.rel);
          if (::mknod(p.c_str(), S_IFCHR | 0000, makedev(0, 0)) != 0) {
            throw_errno("create whiteout", p);
          }
          break;
        }
      }
    }
    // Directory times last: making their contents changed them.
    for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
      std::string p = under(u_, it->first);
      if (::utimensat(AT_FDCWD, p.c_str(), it->second.data(), AT_SYMLINK_NOFOLLOW) != 0) {
        throw_errno("set times of", p);
      }
    }
  }

 private:
  static void copy_meta(const std::string& from, const std::string& to, const struct stat& st,
                        bool symlink) {
    if (::lchown(to.c_str(), st.st_uid, st.st_gid) != 0) throw_errno("chown", to);
    if (!symlink && ::chmod(to.c_str(), st.st_mode & 07777) != 0) throw_errno("chmod", to);
    for (const auto& [name, value] : xattrs_of(from)) {
      if (::lsetxattr(to.c_str(), name.c_str(), value.data(), value.size(), 0) != 0) {
        throw_errno("set extended attribute " + name + " on", to);
      }
    }
  }

  void make_dir(const std::string& rel, bool opaque) {
    std::string g = under(g_, rel);
    std::string u = under(u_, rel);
    struct stat st {};
    if (::lstat(g.c_str(), &st) != 0) throw_errno("stat", g);
    if (!rel.empty() && ::mkdir(u.c_str(), 0700) != 0) throw_errno("create directory", u);
    copy_meta(g, u, st, false);
    if (opaque && ::lsetxattr(u.c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
      throw_errno("mark opaque", u);
    }
    dir_times_.emplace_back(rel, std::array<struct timespec, 2>{st.st_atim, st.st_mtim});
  }

  void keep_contents(const std::string& rel) {
    for (const auto& name : list_dir(under(g_, rel))) keep(join(rel, name));
  }

  void keep(const std::string& rel) {
    check_interrupted();
    std::string g = under(g_, rel);
    std::string u = under(u_, rel);
    struct stat st {};
    if (::lstat(g.c_str(), &st) != 0) throw_errno("stat", g);
    if (S_ISDIR(st.st_mode)) {
      make_dir(rel, false);
      keep_contents(rel);
      return;
    }
    if (::link(g.c_str(), u.c_str()) == 0) return;
    if (errno != EXDEV && errno != EPERM && errno != EMLINK) throw_errno("link " + g + " to", u);
    copy(g, u, st);
  }

  // A copy where a hard link is impossible (another filesystem or project).
  static void copy(const std::string& g, const std::string& u, const struct stat& st) {
    switch (st.st_mode & S_IFMT) {
      case S_IFREG: {
        UniqueFd in = open_file(g, O_RDONLY | O_NOFOLLOW);
        UniqueFd out = open_file(u, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
        if (::ioctl(out.get(), FICLONE, in.get()) != 0) {
          off_t left = st.st_size;
          while (left > 0) {
            ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr,
                                          static_cast<std::size_t>(left), 0);
            if (n < 0) {
              if (errno == EINTR) continue;
              throw_errno("copy " + g + " to", u);
            }
            if (n == 0) break;
            left -= n;
          }
        }
        break;
      }
      case S_IFLNK:
        if (::symlink(read_link(g, st).c_str(), u.c_str()) != 0) throw_errno("create link", u);
        break;
      default:
        if (::mknod(u.c_str(), (st.st_mode & S_IFMT) | 0600, st.st_rdev) != 0) {
          throw_errno("create node", u);
        }
        break;
    }
    copy_meta(g, u, st, S_ISLNK(st.st_mode));
    std::array<struct timespec, 2> times = {st.st_atim, st.st_mtim};
    if (::utimensat(AT_FDCWD, u.c_str(), times.data(), AT_SYMLINK_NOFOLLOW) != 0) {
      throw_errno("set times of", u);
    }
  }

  std::string g_;
  std::string u_;
  std::vector<std::pair<std::string, std::array<struct timespec, 2>>> dir_times_;
};

std::string temp_name(std::string_view id) {
  return fmt::format(".{}.unify-{}", id, ::getpid());
}

// Leftovers (.ID.unify-PID) in dir of unifications whose process is gone.
void remove_stale(const fs::path& dir, std::string_view id) {
  remove_stale_temps(dir, fmt::format(".{}.unify-", id));
}

}  // namespace

UnifyResult unify_guest(const config::Roots& roots_in, std::string_view name_in,
                        const UnifyOptions& o) {
  config::Roots roots = roots_in;
  roots.vdir = fs::absolute(roots.vdir).lexically_normal();
  roots.config = fs::absolute(roots.config).lexically_normal();
  std::string name(name_in);
  clear_interrupt();
  InterruptScope signals(o.catch_signals);
  auto report = [&](const std::string& line) {
    if (o.progress) o.progress(line);
  };

  config::GuestConfig cfg = config::load_guest(roots, name);
  state::GuestLock lock(roots, cfg.id());
  if (state::guest_running(roots, cfg.id())) {
    throw Error("vserver '" + name + "' is running; stop it before unifying it");
  }
  cfg = config::load_guest(roots, name);  // as it is now, under the lock
  if (cfg.base) {
    throw Error("vserver '" + name + "' is already unified on base '" + *cfg.base + "'");
  }
  BaseLock base_lock(roots);
  const std::string guest_root = fs::path(cfg.vdir).lexically_normal().string();
  fs::path layers = layers_dir(roots, cfg.id());
  remove_stale(layers_root(roots), cfg.id());
  remove_stale(fs::path(guest_root).parent_path(), cfg.id());

  // The base: the one given, or the one that has the most in common with the guest.
  UnifyResult r;
  std::optional<Planner> plan;
  std::vector<std::string> candidates;
  if (!o.base.empty()) {
    if (!base_exists(roots, o.base)) {
      throw Error("base '" + o.base + "' does not exist (" + base_dir(roots, o.base).string() +
                  "; see vserver-base list)");
    }
    candidates.push_back(o.base);
  } else {
    candidates = list_bases(roots);
    if (candidates.empty()) throw Error("there is no base to unify vserver '" + name + "' on");
  }
  for (const auto& b : candidates) {
    Planner p(guest_root, base_dir(roots, b).string());
    try {
      p.run();
    } catch (const Error& e) {
      rethrow_with_context(e, "unify vserver '" + name + "' on base '" + b + "'");
    }
    if (candidates.size() > 1) {
      report("base '" + b + "': " + std::to_string(p.identical) + " identical entries, " +
             config::format_size(p.dropped_bytes) + " in common");
    }
    if (!plan || p.dropped_bytes > plan->dropped_bytes ||
        (p.dropped_bytes == plan->dropped_bytes && p.identical > plan->identical)) {
      plan = std::move(p);
      r.base = b;
    }
  }
  if (plan->identical == 0) {
    throw Error("vserver '" + name + "' has nothing in common with base" +
                (candidates.size() > 1 ? "s " : " '") +
                (candidates.size() > 1 ? "on this host" : r.base + "'") + "; not unifying it");
  }
  r.identical = plan->identical;
  r.kept = plan->kept;
  r.whiteouts = plan->whiteouts;
  r.bytes_before = disk_usage(guest_root);
  if (o.dry_run) {
    r.bytes_after = r.bytes_before - std::min(r.bytes_before, plan->dropped_bytes);
    return r;
  }

  // The new layers, beside the final ones until the commit.
  fs::path lr = layers_root(roots);
  if (::mkdir(lr.c_str(), 0700) != 0 && errno != EEXIST)
    throw_errno("create directory", lr.string());
  fs::path tmp = lr / temp_name(cfg.id());
  if (::mkdir(tmp.c_str(), 0700) != 0) throw_errno("create directory", tmp.string());
  TempDir tmp_guard(tmp);
  fs::path upper = tmp / "upper";
  fs::path work = tmp / "work";
  if (::mkdir(upper.c_str(), 0700) != 0) throw_errno("create directory", upper.string());
  if (::mkdir(work.c_str(), 0700) != 0) throw_errno("create directory", work.string());
  try {
    Writer(guest_root, upper.string()).apply(plan->actions);
  } catch (const Error& e) {
    rethrow_with_context(e, "unify vserver '" + name + "'");
  }
  check_interrupted();

  // The empty mount point that takes the old root's place.
  fs::path mountpoint = fs::path(guest_root).parent_path() / temp_name(cfg.id());
  if (::mkdir(mountpoint.c_str(), 0755) != 0) throw_errno("create directory", mountpoint.string());
  TempDir mp_guard(mountpoint);
  if (::chmod(mountpoint.c_str(), 0755) != 0) throw_errno("chmod", mountpoint.string());

  // Commit. Layers left by an earlier run that died are not this guest's (it is not unified).
  remove_tree(layers);
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, layers.c_str(), RENAME_NOREPLACE) != 0) {
    throw_errno("rename " + tmp.string() + " to", layers.string());
  }
  tmp_guard.dismiss();
  TempDir layers_guard(layers);  // until the configuration says unified
  check_interrupted();
  config::save_setting(cfg, "unify/base", r.base);  // the guest is unified from here on
  layers_guard.dismiss();

  // The old root out of the way: swapped with the empty mount point, then removed.
  if (::renameat2(AT_FDCWD, mountpoint.c_str(), AT_FDCWD, guest_root.c_str(), RENAME_EXCHANGE) !=
      0) {
    throw_errno("exchange " + mountpoint.string() + " with", guest_root);
  }
  remove_tree(mountpoint);  // now the old root
  mp_guard.dismiss();
  r.bytes_after = disk_usage(layers);
  report("Unified vserver '" + name + "' on base '" + r.base + "': " + std::to_string(r.identical) +
         " entries identical to the base's, " + std::to_string(r.kept) + " kept, " +
         std::to_string(r.whiteouts) + " deleted (whiteouts); " +
         config::format_size(r.bytes_before) + " → " + config::format_size(r.bytes_after) + ", " +
         config::format_size(r.saved()) + " saved");
  return r;
}

UnifyResult make_base_from_guest(const config::Roots& roots, std::string_view name,
                                 const std::string& base,
                                 const std::function<void(const std::string&)>& progress) {
  config::GuestConfig cfg = config::load_guest(roots, name);
  if (cfg.base) {
    throw Error("vserver '" + std::string(name) + "' is already unified on base '" + *cfg.base +
                "'");
  }
  BuildOptions b;
  b.name = base;
  b.method = Method::clone;
  b.source = std::string(name);
  b.progress = progress;
  b.warning = progress;
  create_base(roots, b);
  UnifyOptions u;
  u.base = base;
  u.progress = progress;
  return unify_guest(roots, name, u);
}

}  // namespace vs::provision
