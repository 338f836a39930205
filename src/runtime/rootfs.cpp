#include "runtime/rootfs.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/magic.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <deque>
#include <string>
#include <vector>

#include "runtime/devices.hpp"
#include "storage/overlay.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::runtime {

namespace {

std::string fd_path(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

struct Where {
  int fd;
  std::string name;  // for messages: VDIR/path
};

void do_mount(const char* source, const Where& target, const char* type, unsigned long flags,
              const char* data) {
  std::string path = fd_path(target.fd);
  if (::mount(source, path.c_str(), type, flags, data) != 0) {
    std::string what = type != nullptr ? std::string(type) : std::string("bind ") + source;
    throw_errno("mount " + what + " on", target.name);
  }
}

struct OpenHow {
  UniqueFd fd;
  std::string name;
  [[nodiscard]] Where where() const { return {fd.get(), name}; }
};

OpenHow at(int rootfd, const std::string& root_name, std::string_view path, bool mkdir) {
  return {open_in_root(rootfd, path, mkdir, root_name), root_name + std::string(path)};
}

// Turns the bind mount now at path read-only (and nosuid/nodev/noexec as given). The path is
// resolved again: a descriptor opened before the bind mount refers to what lies under it.
void remount_bind(int rootfd, const std::string& root, std::string_view path, unsigned long extra) {
  auto t = at(rootfd, root, path, false);
  std::string p = fd_path(t.fd.get());
  if (::mount(nullptr, p.c_str(), nullptr, MS_REMOUNT | MS_BIND | extra, nullptr) != 0) {
    throw_errno("remount read-only", t.name);
  }
}

void make_device(int devfd, const std::string& dev_name, const char* name, unsigned maj,
                 unsigned min) {
  if (::mknodat(devfd, name, S_IFCHR | 0666, makedev(maj, min)) != 0) {
    throw_errno("create device node", dev_name + "/" + name);
  }
}

void make_symlink(int dirfd, const std::string& dir_name, const char* target, const char* name) {
  if (::symlinkat(target, dirfd, name) != 0) throw_errno("create symlink", dir_name + "/" + name);
}

// The guest's private /dev: a tmpfs with the safe device nodes only.
void setup_dev(int rootfd, const std::string& root, bool tun) {
  auto dev = at(rootfd, root, "/dev", true);
  do_mount("tmpfs", dev.where(), "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=4m");
  // Reopen: the fd still refers to the directory under the new mount.
  auto devdir = at(rootfd, root, "/dev", false);
  UniqueFd d(::openat(devdir.fd.get(), ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!d) throw_errno("open", devdir.name);
  const std::string& dn = devdir.name;
  make_device(d.get(), dn, "null", 1, 3);
  make_device(d.get(), dn, "zero", 1, 5);
  make_device(d.get(), dn, "full", 1, 7);
  make_device(d.get(), dn, "random", 1, 8);
  make_device(d.get(), dn, "urandom", 1, 9);
  make_device(d.get(), dn, "tty", 5, 0);
  make_symlink(d.get(), dn, "/proc/self/fd", "fd");
  make_symlink(d.get(), dn, "/proc/self/fd/0", "stdin");
  make_symlink(d.get(), dn, "/proc/self/fd/1", "stdout");
  make_symlink(d.get(), dn, "/proc/self/fd/2", "stderr");
  make_symlink(d.get(), dn, "pts/ptmx", "ptmx");
  for (const char* sub : {"pts", "shm", "mqueue"}) {
    if (::mkdirat(d.get(), sub, 0755) != 0) throw_errno("create directory", dn + "/" + sub);
  }
  if (tun) {
    // To attach to the guest's own tun and tap devices (interfaces/*/tun, tap).
    if (::mkdirat(d.get(), "net", 0755) != 0) throw_errno("create directory", dn + "/net");
    make_device(d.get(), dn, "net/tun", kTunMajor, kTunMinor);
  }
  // A devpts instance of its own: the guest sees only its own terminals.
  do_mount("devpts", at(rootfd, root, "/dev/pts", false).where(), "devpts", MS_NOSUID | MS_NOEXEC,
           "newinstance,ptmxmode=0666,mode=0620,gid=5");
  do_mount("shm", at(rootfd, root, "/dev/shm", false).where(), "tmpfs", MS_NOSUID | MS_NODEV,
           "mode=1777,size=65536k");
  do_mount("mqueue", at(rootfd, root, "/dev/mqueue", false).where(), "mqueue",
           MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
}

// Files of /proc that show or change host-wide state: hidden behind /dev/null or an empty tmpfs.
// Those that act on the host when written are closed: the mask is on a nodev mount, so that they
// cannot be opened at all (EACCES) rather than take a write that does nothing.
struct MaskedFile {
  const char* path;
  bool closed;
};
constexpr MaskedFile kMaskedProcFiles[] = {
    {"/proc/kcore", false},      {"/proc/keys", false},        {"/proc/latency_stats", false},
    {"/proc/timer_list", false}, {"/proc/timer_stats", false}, {"/proc/sched_debug", false},
    {"/proc/kallsyms", false},   {"/proc/sysrq-trigger", true}};
constexpr const char* kMaskedDirs[] = {"/proc/acpi",    "/proc/scsi",
                                       "/proc/asound",  "/proc/driver",
                                       "/sys/firmware", "/sys/devices/virtual/powercap"};
// Host-wide tunables: readable, not writable.
constexpr const char* kReadOnlyProc[] = {"/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq"};

void setup_proc_sys(int rootfd, const std::string& root, bool private_net) {
  do_mount("proc", at(rootfd, root, "/proc", true).where(), "proc",
           MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  // A fresh sysfs needs its own network namespace; with the host's network, bind the host's.
  auto sys = at(rootfd, root, "/sys", true);
  if (private_net) {
    do_mount("sysfs", sys.where(), "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, nullptr);
  } else {
    do_mount("/sys", sys.where(), nullptr, MS_BIND | MS_REC, nullptr);
    remount_bind(rootfd, root, "/sys", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
  }
  for (const char* p : kReadOnlyProc) {
    try {
      auto t = at(rootfd, root, p, false);
      do_mount(fd_path(t.fd.get()).c_str(), t.where(), nullptr, MS_BIND | MS_REC, nullptr);
      remount_bind(rootfd, root, p, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    } catch (const Error& e) {
      if (e.code() != ENOENT) throw;
    }
  }
  for (const auto& m : kMaskedProcFiles) {
    try {
      auto t = at(rootfd, root, m.path, false);
      do_mount("/dev/null", t.where(), nullptr, MS_BIND, nullptr);
      if (m.closed)
        remount_bind(rootfd, root, m.path, MS_RDONLY | MS_NODEV | MS_NOSUID | MS_NOEXEC);
    } catch (const Error& e) {
      if (e.code() != ENOENT) throw;
    }
  }
  for (const char* p : kMaskedDirs) {
    try {
      auto t = at(rootfd, root, p, false);
      do_mount("tmpfs", t.where(), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
               "size=0,mode=555");
    } catch (const Error& e) {
      if (e.code() != ENOENT) throw;
    }
  }
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

bool fstab_mounts(const config::GuestConfig& cfg, std::string_view target) {
  return std::any_of(cfg.fstab.begin(), cfg.fstab.end(),
                     [&](const config::FstabEntry& e) { return e.target == target; });
}

// /run (and /run/lock) as tmpfs: nothing stale from the previous run (pid files, sockets)
// survives a restart, as on a booted system.
void setup_run(int rootfd, const std::string& root, const config::GuestConfig& cfg) {
  if (fstab_mounts(cfg, "/run") || !wants_run_tmpfs(rootfd)) return;
  do_mount("tmpfs", at(rootfd, root, "/run", false).where(), "tmpfs", MS_NOSUID | MS_NODEV,
           "mode=755,size=20%");
  if (fstab_mounts(cfg, "/run/lock")) return;
  if (cfg.init.style == config::InitStyle::systemd) {
    do_mount("tmpfs", at(rootfd, root, "/run/lock", true).where(), "tmpfs",
             MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=5m");
    return;
  }
  // What Debian's mount scripts (initscripts' mount-functions.sh), which a guest does not run,
  // make in a new /run: /run/lock, where /var/lock points, writable by all as /tmp is.
  auto run = at(rootfd, root, "/run", false);
  if (::mkdirat(run.fd.get(), "lock", 01777) != 0) throw_errno("create", root + "/run/lock");
  if (::fchmodat(run.fd.get(), "lock", 01777, 0) != 0) throw_errno("chmod", root + "/run/lock");
}

// What systemd as the guest's init needs and cannot mount itself without CAP_SYS_ADMIN: the
// guest's own part of the cgroup tree, writable, at /sys/fs/cgroup. The cgroup namespace roots it
// at the guest's cgroup. On a hybrid cgroup v1 host this is the guest's cgroup in the unified
// (v2) hierarchy, without controllers: systemd runs in unified mode and keeps its units apart,
// the guest's limits stay those of its v1 cgroups.
void setup_systemd(int rootfd, const std::string& root) {
  do_mount("cgroup2", at(rootfd, root, "/sys/fs/cgroup", false).where(), "cgroup2",
           MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
}

bool provided_by_us(const config::FstabEntry& e) {
  // The guest always gets our /proc, /sys and devpts: safer than what an fstab line would mount.
  return e.type == "proc" || e.type == "sysfs" || e.type == "devpts" || e.target == "/proc" ||
         e.target == "/sys" || e.target == "/dev/pts" || e.target == "/dev";
}

void mount_fstab(int rootfd, const std::string& root, const config::GuestConfig& cfg) {
  for (const auto& e : cfg.fstab) {
    if (provided_by_us(e)) continue;
    if (e.target == "/") {
      throw Error(cfg.cfgdir.string() + "/fstab: mounting over the guest root (" + e.source +
                  ") is not supported; point the vdir link at it instead");
    }
    MountOptions o = parse_mount_options(e.options);
    if (o.noauto) continue;
    bool is_bind = o.bind || e.type == "bind";
    auto t = at(rootfd, root, e.target, true);
    if (is_bind) {
      // util-vserver semantics: the source of a bind mount is a host path.
      unsigned long f = MS_BIND | (o.recursive ? MS_REC : 0);
      do_mount(e.source.c_str(), t.where(), nullptr, f, nullptr);
      unsigned long extra = o.flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME);
      if (extra != 0) remount_bind(rootfd, root, e.target, extra);
    } else {
      do_mount(e.source.c_str(), t.where(), e.type.c_str(), o.flags,
               o.data.empty() ? nullptr : o.data.c_str());
    }
  }
}

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

void setup_rootfs(const config::GuestConfig& cfg,
                  const std::function<void(const std::string& root)>& after_proc,
                  const std::optional<storage::Overlay>& overlay) {
  const std::string vdir = cfg.vdir.string();
  // Nothing mounted from here on may propagate back to the host.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    throw_errno("make mounts private in", "the guest's mount namespace");
  }
  // Device nodes in the guest's files are inert: only the private /dev below has working ones.
  // The mount flags of the host's mount that holds the guest's files are kept.
  const std::string data_dir = overlay ? overlay->upper.string() : vdir;
  struct statvfs sv {};
  if (::statvfs(data_dir.c_str(), &sv) != 0) throw_errno("statvfs", data_dir);
  unsigned long keep = 0;
  if ((sv.f_flag & ST_RDONLY) != 0) keep |= MS_RDONLY;
  if ((sv.f_flag & ST_NOSUID) != 0) keep |= MS_NOSUID;
  if ((sv.f_flag & ST_NOEXEC) != 0) keep |= MS_NOEXEC;
  if ((sv.f_flag & ST_NOATIME) != 0) keep |= MS_NOATIME;
  if ((sv.f_flag & ST_NODIRATIME) != 0) keep |= MS_NODIRATIME;
  if ((sv.f_flag & ST_RELATIME) != 0) keep |= MS_RELATIME;
  if (overlay) {
    // The merged root exists in this namespace only: it ends with the guest, whatever happens to
    // the supervisor. pivot_root needs the new root to be a mount point, which it is.
    storage::mount_overlay(*overlay, cfg.vdir, MS_NODEV | keep);
  } else {
    // pivot_root needs the new root to be a mount point.
    if (::mount(vdir.c_str(), vdir.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      throw_errno("bind mount guest root", vdir);
    }
    if (::mount(nullptr, vdir.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_NODEV | keep, nullptr) !=
        0) {
      throw_errno("remount nodev", vdir);
    }
  }
  UniqueFd rootfd(::open(vdir.c_str(), O_DIRECTORY | O_PATH | O_CLOEXEC));
  if (!rootfd) throw_errno("open guest root", vdir);

  setup_proc_sys(rootfd.get(), vdir, cfg.network != config::NetworkMode::host);
  if (after_proc) after_proc(vdir);
  setup_dev(rootfd.get(), vdir, needs_tun_device(cfg));
  setup_run(rootfd.get(), vdir, cfg);
  if (cfg.init.style == config::InitStyle::systemd) setup_systemd(rootfd.get(), vdir);
  mount_fstab(rootfd.get(), vdir, cfg);

  if (::fchdir(rootfd.get()) != 0) throw_errno("change directory to", vdir);
  // pivot_root(".", "."): the old root ends up on top of the new one, then is detached.
  if (::syscall(SYS_pivot_root, ".", ".") != 0) throw_errno("pivot_root into", vdir);
  if (::umount2(".", MNT_DETACH) != 0) throw_errno("detach old root of", vdir);
  if (::chdir("/") != 0) throw_errno("change directory to / of", vdir);
}

}  // namespace vs::runtime
