// The table of the guest's filesystem view, read without mounting anything.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <algorithm>
#include <string>
#include <vector>

#include "runtime/devices.hpp"
#include "runtime/rootfs.hpp"
#include "sys/error.hpp"

namespace {

using vs::config::FstabEntry;
using vs::config::GuestConfig;
using vs::config::InitStyle;
using vs::config::Interface;
using vs::config::NetworkMode;
using vs::config::TunKind;
using vs::runtime::plan_rootfs;
using vs::runtime::RootfsStep;
using Kind = RootfsStep::Kind;
using Steps = std::vector<RootfsStep>;

GuestConfig guest() {
  GuestConfig cfg;
  cfg.name = "web";
  cfg.cfgdir = "/etc/vservers/web";
  cfg.vdir = "/vservers/web";
  cfg.network = NetworkMode::automatic;
  cfg.fstab = vs::config::default_fstab();
  return cfg;
}

// Index of the first step of kind on target; -1 when there is none.
long find(const Steps& steps, Kind kind, const std::string& target) {
  auto it = std::find_if(steps.begin(), steps.end(),
                         [&](const RootfsStep& s) { return s.kind == kind && s.target == target; });
  return it == steps.end() ? -1 : it - steps.begin();
}

const RootfsStep& at(const Steps& steps, Kind kind, const std::string& target) {
  long i = find(steps, kind, target);
  EXPECT_GE(i, 0) << "no step for " << target;
  return steps.at(static_cast<size_t>(std::max(i, 0L)));
}

TEST(RootfsPlan, FullRootIsTheVdirBoundOntoItselfThenRemountedNodev) {
  Steps steps = plan_rootfs(guest());
  ASSERT_GE(steps.size(), 2u);
  EXPECT_EQ(steps[0].kind, Kind::bind);
  EXPECT_EQ(steps[0].target, "/");
  EXPECT_EQ(steps[0].source, "/vservers/web");
  EXPECT_EQ(steps[0].flags, static_cast<unsigned long>(MS_BIND | MS_REC));
  EXPECT_EQ(steps[1].kind, Kind::remount);
  EXPECT_EQ(steps[1].target, "/");
  EXPECT_NE(steps[1].flags & MS_NODEV, 0u);
  EXPECT_TRUE(steps[1].keep_host_flags);
  EXPECT_EQ(find(steps, Kind::overlay, "/"), -1);
}

TEST(RootfsPlan, UnifiedGuestGetsItsOverlayFirst) {
  vs::storage::Overlay o{"/vservers/.bases/debian", "/vservers/.layers/web/upper",
                         "/vservers/.layers/web/work"};
  Steps steps = plan_rootfs(guest(), o);
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps[0].kind, Kind::overlay);
  EXPECT_EQ(steps[0].target, "/");
  EXPECT_EQ(steps[0].fstype, "overlay");
  EXPECT_NE(steps[0].flags & MS_NODEV, 0u);
  EXPECT_TRUE(steps[0].keep_host_flags);
  EXPECT_NE(steps[0].data.find("lowerdir=/vservers/.bases/debian"), std::string::npos);
  // The root is mounted once: no bind of the vdir as well.
  EXPECT_EQ(find(steps, Kind::bind, "/"), -1);
  EXPECT_EQ(steps[1].target, "/proc");
}

TEST(RootfsPlan, ProcComesBeforeItsSubMountsAndTheHookAfterThem) {
  Steps steps = plan_rootfs(guest());
  long proc = find(steps, Kind::mount, "/proc");
  ASSERT_GE(proc, 0);
  EXPECT_EQ(steps[proc].fstype, "proc");
  EXPECT_TRUE(steps[proc].fatal);
  long hook = find(steps, Kind::after_proc, "/proc");
  ASSERT_GT(hook, proc);
  for (long i = 0; i < static_cast<long>(steps.size()); ++i) {
    const std::string& t = steps[i].target;
    if (t.rfind("/proc/", 0) == 0) {
      EXPECT_GT(i, proc) << t;
      EXPECT_LT(i, hook) << t;
      // What the kernel may not have is skipped when missing, nothing else.
      EXPECT_FALSE(steps[i].fatal) << t;
    }
  }
  // Host-wide tunables are bound onto themselves and made read-only.
  const auto& sys = at(steps, Kind::bind, "/proc/sys");
  EXPECT_TRUE(sys.source_in_guest);
  long ro = find(steps, Kind::remount, "/proc/sys");
  ASSERT_GT(ro, find(steps, Kind::bind, "/proc/sys"));
  EXPECT_NE(steps[ro].flags & MS_RDONLY, 0u);
  // Masks: a file behind /dev/null, a directory behind an empty read-only tmpfs.
  EXPECT_EQ(at(steps, Kind::bind, "/proc/kcore").source, "/dev/null");
  EXPECT_EQ(find(steps, Kind::remount, "/proc/kcore"), -1);
  EXPECT_GE(find(steps, Kind::remount, "/proc/sysrq-trigger"), 0);
  EXPECT_EQ(at(steps, Kind::mount, "/proc/acpi").fstype, "tmpfs");
}

TEST(RootfsPlan, SysIsReadOnly) {
  Steps steps = plan_rootfs(guest());
  const auto& sys = at(steps, Kind::mount, "/sys");
  EXPECT_EQ(sys.fstype, "sysfs");
  EXPECT_NE(sys.flags & MS_RDONLY, 0u);
  EXPECT_GT(find(steps, Kind::mount, "/sys/firmware"), find(steps, Kind::mount, "/sys"));

  // With the host's network, the host's /sys is bound, then remounted read-only.
  GuestConfig host = guest();
  host.network = NetworkMode::host;
  steps = plan_rootfs(host);
  EXPECT_EQ(find(steps, Kind::mount, "/sys"), -1);
  long bind = find(steps, Kind::bind, "/sys");
  ASSERT_GE(bind, 0);
  EXPECT_EQ(steps[bind].source, "/sys");
  long ro = find(steps, Kind::remount, "/sys");
  ASSERT_GT(ro, bind);
  EXPECT_NE(steps[ro].flags & MS_RDONLY, 0u);
}

TEST(RootfsPlan, DevIsPrivateAndMountedBeforeWhatIsInIt) {
  Steps steps = plan_rootfs(guest());
  long dev = find(steps, Kind::mount, "/dev");
  ASSERT_GE(dev, 0);
  EXPECT_EQ(steps[dev].fstype, "tmpfs");
  EXPECT_GT(dev, find(steps, Kind::after_proc, "/proc"));
  long pts_dir = find(steps, Kind::mkdir, "/dev/pts");
  long pts = find(steps, Kind::mount, "/dev/pts");
  EXPECT_GT(pts_dir, dev);
  EXPECT_GT(pts, pts_dir);
  EXPECT_EQ(steps[pts].fstype, "devpts");
  EXPECT_NE(steps[pts].data.find("newinstance"), std::string::npos);
  EXPECT_GT(find(steps, Kind::mount, "/dev/shm"), find(steps, Kind::mkdir, "/dev/shm"));
  EXPECT_GT(find(steps, Kind::mount, "/dev/mqueue"), find(steps, Kind::mkdir, "/dev/mqueue"));
  const auto& null = at(steps, Kind::device, "/dev/null");
  EXPECT_EQ(null.major, 1u);
  EXPECT_EQ(null.minor, 3u);
  EXPECT_GT(find(steps, Kind::device, "/dev/null"), dev);
  EXPECT_EQ(at(steps, Kind::symlink, "/dev/ptmx").source, "pts/ptmx");
  EXPECT_EQ(at(steps, Kind::symlink, "/dev/fd").source, "/proc/self/fd");
  // No working device node but these.
  for (const auto& s : steps) {
    if (s.kind == Kind::device) {
      EXPECT_EQ(s.target.rfind("/dev/", 0), 0u) << s.target;
    }
  }
}

TEST(RootfsPlan, TunDeviceOnlyWithATunOrTapInterface) {
  GuestConfig cfg = guest();
  EXPECT_EQ(find(plan_rootfs(cfg), Kind::device, "/dev/net/tun"), -1);
  Interface i;
  i.id = "0";
  i.tun = TunKind::tap;
  cfg.interfaces.push_back(i);
  Steps steps = plan_rootfs(cfg);
  long tun = find(steps, Kind::device, "/dev/net/tun");
  ASSERT_GE(tun, 0);
  EXPECT_EQ(steps[tun].major, vs::runtime::kTunMajor);
  EXPECT_EQ(steps[tun].minor, vs::runtime::kTunMinor);
  EXPECT_GT(tun, find(steps, Kind::mkdir, "/dev/net"));
  // A disabled interface, or no network of its own, gives no tun device.
  cfg.interfaces[0].disabled = true;
  EXPECT_EQ(find(plan_rootfs(cfg), Kind::device, "/dev/net/tun"), -1);
  cfg.interfaces[0].disabled = false;
  cfg.network = NetworkMode::host;
  EXPECT_EQ(find(plan_rootfs(cfg), Kind::device, "/dev/net/tun"), -1);
}

TEST(RootfsPlan, FstabEntriesWithTheirOptionsAfterOurMounts) {
  GuestConfig cfg = guest();
  cfg.fstab.push_back({"/srv/data", "/data", "none", "rbind,ro,nosuid", 0, 0});
  cfg.fstab.push_back({"/srv/cache", "/cache", "bind", "defaults", 0, 0});
  cfg.fstab.push_back({"/dev/sdb1", "/backup", "ext4", "noauto", 0, 0});
  Steps steps = plan_rootfs(cfg);
  // tmpfs on /tmp with its options split into flags and data.
  long tmp = find(steps, Kind::mount, "/tmp");
  ASSERT_GE(tmp, 0);
  EXPECT_EQ(steps[tmp].fstype, "tmpfs");
  EXPECT_EQ(steps[tmp].source, "none");
  EXPECT_EQ(steps[tmp].data, "size=16m,mode=1777");
  EXPECT_TRUE(steps[tmp].create_target);
  EXPECT_GT(tmp, find(steps, Kind::mount, "/dev/mqueue"));
  // The fstab's /proc and devpts are ours: mounted once.
  EXPECT_EQ(std::count_if(steps.begin(), steps.end(),
                          [](const RootfsStep& s) { return s.target == "/proc"; }),
            2);  // the mount and the hook
  EXPECT_EQ(std::count_if(steps.begin(), steps.end(),
                          [](const RootfsStep& s) {
                            return s.kind == Kind::mount && s.target == "/dev/pts";
                          }),
            1);
  // A recursive bind of a host path, then its flags by a remount.
  long data = find(steps, Kind::bind, "/data");
  ASSERT_GE(data, 0);
  EXPECT_EQ(steps[data].source, "/srv/data");
  EXPECT_EQ(steps[data].flags, static_cast<unsigned long>(MS_BIND | MS_REC));
  EXPECT_FALSE(steps[data].source_in_guest);
  long ro = find(steps, Kind::remount, "/data");
  ASSERT_EQ(ro, data + 1);
  EXPECT_EQ(steps[ro].flags, static_cast<unsigned long>(MS_RDONLY | MS_NOSUID));
  // A plain bind: no remount.
  long cache = find(steps, Kind::bind, "/cache");
  ASSERT_GE(cache, 0);
  EXPECT_EQ(steps[cache].flags, static_cast<unsigned long>(MS_BIND));
  EXPECT_EQ(find(steps, Kind::remount, "/cache"), -1);
  // noauto: left out.
  for (const auto& s : steps) EXPECT_NE(s.target, "/backup");
  // In the order of the fstab, before pivot_root, which is last.
  EXPECT_LT(tmp, data);
  EXPECT_LT(data, cache);
  EXPECT_EQ(steps.back().kind, Kind::pivot_root);
}

TEST(RootfsPlan, FstabOverTheRootIsRefused) {
  GuestConfig cfg = guest();
  cfg.fstab.push_back({"/dev/sdb1", "/", "ext4", "defaults", 0, 0});
  EXPECT_THROW(plan_rootfs(cfg), vs::Error);
}

TEST(RootfsPlan, RunIsATmpfsWhenTheTreeWantsIt) {
  GuestConfig cfg = guest();
  Steps steps = plan_rootfs(cfg);
  const auto& run = at(steps, Kind::mount, "/run");
  EXPECT_EQ(run.fstype, "tmpfs");
  EXPECT_EQ(run.when, RootfsStep::Condition::fhs_run);
  const auto& lock = at(steps, Kind::mkdir, "/run/lock");
  EXPECT_EQ(lock.mode, 01777u);
  EXPECT_EQ(lock.when, RootfsStep::Condition::fhs_run);
  EXPECT_GT(find(steps, Kind::mkdir, "/run/lock"), find(steps, Kind::mount, "/run"));
  EXPECT_EQ(find(steps, Kind::mount, "/sys/fs/cgroup"), -1);

  // systemd: /run/lock is a tmpfs of its own, and the guest's cgroup tree is writable.
  cfg.init.style = InitStyle::systemd;
  steps = plan_rootfs(cfg);
  EXPECT_EQ(at(steps, Kind::mount, "/run/lock").fstype, "tmpfs");
  EXPECT_EQ(find(steps, Kind::mkdir, "/run/lock"), -1);
  const auto& cg = at(steps, Kind::mount, "/sys/fs/cgroup");
  EXPECT_EQ(cg.fstype, "cgroup2");
  EXPECT_EQ(cg.flags & MS_RDONLY, 0u);

  // The fstab's /run wins.
  cfg.fstab.push_back({"none", "/run", "tmpfs", "size=1m", 0, 0});
  steps = plan_rootfs(cfg);
  EXPECT_EQ(std::count_if(steps.begin(), steps.end(),
                          [](const RootfsStep& s) { return s.target.rfind("/run", 0) == 0; }),
            1);
  EXPECT_EQ(at(steps, Kind::mount, "/run").when, RootfsStep::Condition::always);
}

}  // namespace
