#include "runtime/rootfs.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/overlay.hpp"
#include "sys/error.hpp"

namespace vs::runtime {

namespace {

std::string fd_path(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

// Whether the guest's tree expects /run to be a tmpfs (the FHS 3 layout: /var/run is a link to it).
bool wants_run_tmpfs(int rootfd) {
  char buf[64];
  ssize_t n = ::readlinkat(rootfd, "var/run", buf, sizeof buf);
  if (n <= 0) return false;
  std::string_view target(buf, static_cast<size_t>(n));
  struct stat st {};
  return (target == "/run" || target == "../run") &&
         ::fstatat(rootfd, "run", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

// The flags of the host's mount that holds the guest's files, which the guest's root keeps.
unsigned long host_mount_flags(const std::string& data_dir) {
  struct statvfs sv {};
  if (::statvfs(data_dir.c_str(), &sv) != 0) throw_errno("statvfs", data_dir);
  unsigned long keep = 0;
  if ((sv.f_flag & ST_RDONLY) != 0) keep |= MS_RDONLY;
  if ((sv.f_flag & ST_NOSUID) != 0) keep |= MS_NOSUID;
  if ((sv.f_flag & ST_NOEXEC) != 0) keep |= MS_NOEXEC;
  if ((sv.f_flag & ST_NOATIME) != 0) keep |= MS_NOATIME;
  if ((sv.f_flag & ST_NODIRATIME) != 0) keep |= MS_NODIRATIME;
  if ((sv.f_flag & ST_RELATIME) != 0) keep |= MS_RELATIME;
  return keep;
}

const char* or_null(const std::string& s) {
  return s.empty() ? nullptr : s.c_str();
}

// Performs the steps of one guest's table; targets below "/" are opened inside its root.
class Executor {
 public:
  Executor(const config::GuestConfig& cfg,
           const std::function<void(const std::string& root)>& after_proc,
           const std::optional<storage::Overlay>& overlay)
      : cfg_(cfg), vdir_(cfg.vdir.string()), after_proc_(after_proc), overlay_(overlay) {}

  void run(const RootfsStep& s) {
    if (s.when == RootfsStep::Condition::fhs_run && !fhs_run()) return;
    if (s.target == "/") {
      on_root(s);
      return;
    }
    if (s.fatal) {
      in_guest(s);
      return;
    }
    try {
      in_guest(s);
    } catch (const Error& e) {
      if (e.code() != ENOENT) throw;
    }
  }

 private:
  // The guest's root, once it is mounted on the vdir.
  int root() {
    if (!rootfd_) {
      rootfd_.reset(::open(vdir_.c_str(), O_DIRECTORY | O_PATH | O_CLOEXEC));
      if (!rootfd_) throw_errno("open guest root", vdir_);
    }
    return rootfd_.get();
  }

  bool fhs_run() {
    if (!fhs_run_) fhs_run_ = wants_run_tmpfs(root());
    return *fhs_run_;
  }

  [[nodiscard]] std::string name(const std::string& target) const { return vdir_ + target; }

  // Opens target (O_PATH) inside the root. A descriptor opened before a mount on the path refers
  // to what lies under it: every step resolves its target again.
  UniqueFd open(const std::string& target, bool create) {
    return open_in_root(root(), target, create, vdir_);
  }

  // The directory that holds target, and target's last component.
  std::pair<UniqueFd, std::string> parent(const std::string& target) {
    size_t slash = target.rfind('/');
    std::string dir = slash == 0 ? "/" : target.substr(0, slash);
    return {open(dir, false), target.substr(slash + 1)};
  }

  void on_root(const RootfsStep& s) {
    const std::string data_dir = overlay_ ? overlay_->upper.string() : vdir_;
    unsigned long keep = s.keep_host_flags ? host_mount_flags(data_dir) : 0;
    switch (s.kind) {
      case RootfsStep::Kind::overlay:
        if (!overlay_) throw Error("mount overlay on " + vdir_ + ": no layers given");
        storage::mount_overlay(*overlay_, cfg_.vdir, s.flags | keep);
        return;
      case RootfsStep::Kind::bind:
        if (::mount(s.source.c_str(), vdir_.c_str(), nullptr, s.flags, nullptr) != 0) {
          throw_errno("bind mount guest root", vdir_);
        }
        return;
      case RootfsStep::Kind::remount:
        if (::mount(nullptr, vdir_.c_str(), nullptr, MS_REMOUNT | MS_BIND | s.flags | keep,
                    nullptr) != 0) {
          throw_errno("remount nodev", vdir_);
        }
        return;
      case RootfsStep::Kind::pivot_root:
        if (::fchdir(root()) != 0) throw_errno("change directory to", vdir_);
        // pivot_root(".", "."): the old root ends up on top of the new one, then is detached.
        if (::syscall(SYS_pivot_root, ".", ".") != 0) throw_errno("pivot_root into", vdir_);
        if (::umount2(".", MNT_DETACH) != 0) throw_errno("detach old root of", vdir_);
        if (::chdir("/") != 0) throw_errno("change directory to / of", vdir_);
        return;
      default:
        throw Error("set up the guest's root " + vdir_ + ": a step that cannot apply to /");
    }
  }

  void in_guest(const RootfsStep& s) {
    switch (s.kind) {
      case RootfsStep::Kind::mount: {
        UniqueFd t = open(s.target, s.create_target);
        if (::mount(s.source.c_str(), fd_path(t.get()).c_str(), or_null(s.fstype), s.flags,
                    or_null(s.data)) != 0) {
          std::string what = !s.fstype.empty() ? s.fstype : "bind " + s.source;
          throw_errno("mount " + what + " on", name(s.target));
        }
        return;
      }
      case RootfsStep::Kind::bind: {
        UniqueFd t = open(s.target, s.create_target);
        std::string target = fd_path(t.get());
        std::string source = s.source_in_guest ? target : s.source;
        if (::mount(source.c_str(), target.c_str(), nullptr, s.flags, nullptr) != 0) {
          throw_errno("mount bind " + source + " on", name(s.target));
        }
        return;
      }
      case RootfsStep::Kind::remount: {
        UniqueFd t = open(s.target, false);
        if (::mount(nullptr, fd_path(t.get()).c_str(), nullptr, MS_REMOUNT | MS_BIND | s.flags,
                    nullptr) != 0) {
          throw_errno("remount read-only", name(s.target));
        }
        return;
      }
      case RootfsStep::Kind::mkdir: {
        auto [dir, leaf] = parent(s.target);
        if (::mkdirat(dir.get(), leaf.c_str(), s.mode) != 0) {
          throw_errno("create directory", name(s.target));
        }
        if (::fchmodat(dir.get(), leaf.c_str(), s.mode, 0) != 0) {
          throw_errno("chmod", name(s.target));
        }
        return;
      }
      case RootfsStep::Kind::device: {
        auto [dir, leaf] = parent(s.target);
        if (::mknodat(dir.get(), leaf.c_str(), S_IFCHR | 0666, makedev(s.major, s.minor)) != 0) {
          throw_errno("create device node", name(s.target));
        }
        return;
      }
      case RootfsStep::Kind::symlink: {
        auto [dir, leaf] = parent(s.target);
        if (::symlinkat(s.source.c_str(), dir.get(), leaf.c_str()) != 0) {
          throw_errno("create symlink", name(s.target));
        }
        return;
      }
      case RootfsStep::Kind::after_proc:
        if (after_proc_) after_proc_(vdir_);
        return;
      default:
        throw Error("set up " + name(s.target) + ": a step that applies to the root only");
    }
  }

  const config::GuestConfig& cfg_;
  const std::string vdir_;
  const std::function<void(const std::string& root)>& after_proc_;
  const std::optional<storage::Overlay>& overlay_;
  UniqueFd rootfd_;
  std::optional<bool> fhs_run_;
};

}  // namespace

MountOptions parse_mount_options(std::string_view options) {
  struct Flag {
    const char* name;
    unsigned long set;
    unsigned long clear;
  };
  static const Flag kFlags[] = {
      {"defaults", 0, 0},
      {"rw", 0, MS_RDONLY},
      {"ro", MS_RDONLY, 0},
      {"nosuid", MS_NOSUID, 0},
      {"suid", 0, MS_NOSUID},
      {"nodev", MS_NODEV, 0},
      {"dev", 0, MS_NODEV},
      {"noexec", MS_NOEXEC, 0},
      {"exec", 0, MS_NOEXEC},
      {"noatime", MS_NOATIME, 0},
      {"atime", 0, MS_NOATIME},
      {"nodiratime", MS_NODIRATIME, 0},
      {"relatime", MS_RELATIME, 0},
      {"norelatime", 0, MS_RELATIME},
      {"strictatime", MS_STRICTATIME, 0},
      {"sync", MS_SYNCHRONOUS, 0},
      {"async", 0, MS_SYNCHRONOUS},
      {"dirsync", MS_DIRSYNC, 0},
      {"auto", 0, 0},
      {"user", 0, 0},
      {"nouser", 0, 0},
      {"nofail", 0, 0},
  };
  MountOptions out;
  size_t pos = 0;
  std::string_view rest = options;
  while (pos <= rest.size()) {
    size_t comma = rest.find(',', pos);
    if (comma == std::string_view::npos) comma = rest.size();
    std::string_view opt = rest.substr(pos, comma - pos);
    pos = comma + 1;
    if (opt.empty()) {
      if (comma == rest.size()) break;
      continue;
    }
    if (opt == "noauto") {
      out.noauto = true;
    } else if (opt == "bind") {
      out.bind = true;
    } else if (opt == "rbind") {
      out.bind = true;
      out.recursive = true;
    } else {
      bool known = false;
      for (const auto& f : kFlags) {
        if (opt == f.name) {
          out.flags = (out.flags | f.set) & ~f.clear;
          known = true;
          break;
        }
      }
      if (!known) {
        if (!out.data.empty()) out.data += ',';
        out.data += opt;
      }
    }
    if (comma == rest.size()) break;
  }
  return out;
}

void apply_rootfs_plan(const std::vector<RootfsStep>& steps, const config::GuestConfig& cfg,
                       const std::function<void(const std::string& root)>& after_proc,
                       const std::optional<storage::Overlay>& overlay) {
  Executor run(cfg, after_proc, overlay);
  for (const auto& s : steps) run.run(s);
}

void setup_rootfs(const config::GuestConfig& cfg,
                  const std::function<void(const std::string& root)>& after_proc,
                  const std::optional<storage::Overlay>& overlay) {
  // The table first: an fstab entry that cannot be honoured fails before anything is mounted.
  std::vector<RootfsStep> steps = plan_rootfs(cfg, overlay);
  // Nothing mounted from here on may propagate back to the host.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    throw_errno("make mounts private in", "the guest's mount namespace");
  }
  apply_rootfs_plan(steps, cfg, after_proc, overlay);
}

}  // namespace vs::runtime
