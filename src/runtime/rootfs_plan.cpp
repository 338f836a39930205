// The table of the guest's filesystem view (plan_rootfs): what is mounted where, in which order,
// read from the configuration alone. runtime/rootfs.cpp performs it.
#include <sys/mount.h>

#include <algorithm>
#include <string>
#include <vector>

#include "runtime/devices.hpp"
#include "runtime/rootfs.hpp"
#include "sys/error.hpp"

namespace vs::runtime {

namespace {

using Kind = RootfsStep::Kind;

RootfsStep mount_step(std::string source, std::string target, std::string fstype,
                      unsigned long flags, std::string data = {}, bool create_target = false) {
  RootfsStep s;
  s.kind = Kind::mount;
  s.source = std::move(source);
  s.target = std::move(target);
  s.fstype = std::move(fstype);
  s.flags = flags;
  s.data = std::move(data);
  s.create_target = create_target;
  return s;
}

RootfsStep bind_step(std::string source, std::string target, bool recursive) {
  RootfsStep s;
  s.kind = Kind::bind;
  s.source = std::move(source);
  s.target = std::move(target);
  s.flags = MS_BIND | (recursive ? MS_REC : 0);
  return s;
}

RootfsStep remount_step(std::string target, unsigned long flags) {
  RootfsStep s;
  s.kind = Kind::remount;
  s.target = std::move(target);
  s.flags = flags;
  return s;
}

RootfsStep mkdir_step(std::string target, unsigned mode) {
  RootfsStep s;
  s.kind = Kind::mkdir;
  s.target = std::move(target);
  s.mode = mode;
  return s;
}

RootfsStep device_step(std::string target, unsigned major, unsigned minor) {
  RootfsStep s;
  s.kind = Kind::device;
  s.target = std::move(target);
  s.major = major;
  s.minor = minor;
  return s;
}

RootfsStep symlink_step(std::string text, std::string target) {
  RootfsStep s;
  s.kind = Kind::symlink;
  s.source = std::move(text);
  s.target = std::move(target);
  return s;
}

RootfsStep optional(RootfsStep s) {
  s.fatal = false;
  return s;
}

RootfsStep if_fhs_run(RootfsStep s) {
  s.when = RootfsStep::Condition::fhs_run;
  return s;
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

constexpr unsigned long kReadOnlyFlags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;

void plan_root(std::vector<RootfsStep>& out, const std::optional<storage::Overlay>& overlay,
               const std::string& vdir) {
  // Device nodes in the guest's files are inert: only the private /dev below has working ones.
  // pivot_root needs the new root to be a mount point, which both ways make it.
  if (overlay) {
    // The merged root exists in this namespace only: it ends with the guest, whatever happens to
    // the supervisor.
    std::string layers = "lowerdir=" + overlay->lower.string() +
                         ",upperdir=" + overlay->upper.string() +
                         ",workdir=" + overlay->work.string();
    RootfsStep s = mount_step("overlay", "/", "overlay", MS_NODEV, std::move(layers));
    s.kind = Kind::overlay;
    s.keep_host_flags = true;
    out.push_back(std::move(s));
    return;
  }
  out.push_back(bind_step(vdir, "/", true));
  RootfsStep r = remount_step("/", MS_NODEV);
  r.keep_host_flags = true;
  out.push_back(std::move(r));
}

void plan_proc_sys(std::vector<RootfsStep>& out, bool private_net) {
  out.push_back(mount_step("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, {}, true));
  // A fresh sysfs needs its own network namespace; with the host's network, bind the host's.
  if (private_net) {
    out.push_back(mount_step("sysfs", "/sys", "sysfs", kReadOnlyFlags, {}, true));
  } else {
    RootfsStep b = bind_step("/sys", "/sys", true);
    b.create_target = true;
    out.push_back(std::move(b));
    out.push_back(remount_step("/sys", kReadOnlyFlags));
  }
  for (const char* p : kReadOnlyProc) {
    RootfsStep b = bind_step({}, p, true);
    b.source_in_guest = true;
    out.push_back(optional(std::move(b)));
    out.push_back(optional(remount_step(p, kReadOnlyFlags)));
  }
  for (const auto& m : kMaskedProcFiles) {
    out.push_back(optional(bind_step("/dev/null", m.path, false)));
    if (m.closed) out.push_back(optional(remount_step(m.path, kReadOnlyFlags)));
  }
  for (const char* p : kMaskedDirs) {
    out.push_back(optional(mount_step("tmpfs", p, "tmpfs", kReadOnlyFlags, "size=0,mode=555")));
  }
}

// The guest's private /dev: a tmpfs with the safe device nodes only.
void plan_dev(std::vector<RootfsStep>& out, bool tun) {
  out.push_back(
      mount_step("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=4m", true));
  out.push_back(device_step("/dev/null", 1, 3));
  out.push_back(device_step("/dev/zero", 1, 5));
  out.push_back(device_step("/dev/full", 1, 7));
  out.push_back(device_step("/dev/random", 1, 8));
  out.push_back(device_step("/dev/urandom", 1, 9));
  out.push_back(device_step("/dev/tty", 5, 0));
  out.push_back(symlink_step("/proc/self/fd", "/dev/fd"));
  out.push_back(symlink_step("/proc/self/fd/0", "/dev/stdin"));
  out.push_back(symlink_step("/proc/self/fd/1", "/dev/stdout"));
  out.push_back(symlink_step("/proc/self/fd/2", "/dev/stderr"));
  out.push_back(symlink_step("pts/ptmx", "/dev/ptmx"));
  for (const char* sub : {"/dev/pts", "/dev/shm", "/dev/mqueue"})
    out.push_back(mkdir_step(sub, 0755));
  if (tun) {
    // To attach to the guest's own tun and tap devices (interfaces/*/tun, tap).
    out.push_back(mkdir_step("/dev/net", 0755));
    out.push_back(device_step("/dev/net/tun", kTunMajor, kTunMinor));
  }
  // A devpts instance of its own: the guest sees only its own terminals.
  out.push_back(mount_step("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                           "newinstance,ptmxmode=0666,mode=0620,gid=5"));
  out.push_back(
      mount_step("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k"));
  out.push_back(mount_step("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC));
}

bool fstab_mounts(const config::GuestConfig& cfg, std::string_view target) {
  return std::any_of(cfg.fstab.begin(), cfg.fstab.end(),
                     [&](const config::FstabEntry& e) { return e.target == target; });
}

// /run (and /run/lock) as tmpfs: nothing stale from the previous run (pid files, sockets)
// survives a restart, as on a booted system.
void plan_run(std::vector<RootfsStep>& out, const config::GuestConfig& cfg) {
  if (fstab_mounts(cfg, "/run")) return;
  out.push_back(
      if_fhs_run(mount_step("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=20%")));
  if (fstab_mounts(cfg, "/run/lock")) return;
  if (cfg.init.style == config::InitStyle::systemd) {
    out.push_back(
        if_fhs_run(mount_step("tmpfs", "/run/lock", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                              "mode=1777,size=5m", true)));
    return;
  }
  // What Debian's mount scripts (initscripts' mount-functions.sh), which a guest does not run,
  // make in a new /run: /run/lock, where /var/lock points, writable by all as /tmp is.
  out.push_back(if_fhs_run(mkdir_step("/run/lock", 01777)));
}

bool provided_by_us(const config::FstabEntry& e) {
  // The guest always gets our /proc, /sys and devpts: safer than what an fstab line would mount.
  return e.type == "proc" || e.type == "sysfs" || e.type == "devpts" || e.target == "/proc" ||
         e.target == "/sys" || e.target == "/dev/pts" || e.target == "/dev";
}

void plan_fstab(std::vector<RootfsStep>& out, const config::GuestConfig& cfg) {
  for (const auto& e : cfg.fstab) {
    if (provided_by_us(e)) continue;
    if (e.target == "/") {
      throw Error(cfg.cfgdir.string() + "/fstab: mounting over the guest root (" + e.source +
                  ") is not supported; point the vdir link at it instead");
    }
    MountOptions o = parse_mount_options(e.options);
    if (o.noauto) continue;
    if (o.bind || e.type == "bind") {
      // util-vserver semantics: the source of a bind mount is a host path.
      RootfsStep b = bind_step(e.source, e.target, o.recursive);
      b.create_target = true;
      out.push_back(std::move(b));
      unsigned long extra = o.flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME);
      if (extra != 0) out.push_back(remount_step(e.target, extra));
    } else {
      out.push_back(mount_step(e.source, e.target, e.type, o.flags, o.data, true));
    }
  }
}

}  // namespace

std::vector<RootfsStep> plan_rootfs(const config::GuestConfig& cfg,
                                    const std::optional<storage::Overlay>& overlay) {
  std::vector<RootfsStep> out;
  plan_root(out, overlay, cfg.vdir.string());
  plan_proc_sys(out, cfg.network != config::NetworkMode::host);
  RootfsStep hook;
  hook.kind = Kind::after_proc;
  hook.target = "/proc";
  out.push_back(std::move(hook));
  plan_dev(out, needs_tun_device(cfg));
  plan_run(out, cfg);
  // What systemd as the guest's init needs and cannot mount itself without CAP_SYS_ADMIN: the
  // guest's own part of the cgroup tree, writable, at /sys/fs/cgroup. The cgroup namespace roots
  // it at the guest's cgroup. On a hybrid cgroup v1 host this is the guest's cgroup in the unified
  // (v2) hierarchy, without controllers: systemd runs in unified mode and keeps its units apart,
  // the guest's limits stay those of its v1 cgroups.
  if (cfg.init.style == config::InitStyle::systemd) {
    out.push_back(
        mount_step("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC));
  }
  plan_fstab(out, cfg);
  RootfsStep pivot;
  pivot.kind = Kind::pivot_root;
  pivot.target = "/";
  out.push_back(std::move(pivot));
  return out;
}

}  // namespace vs::runtime
