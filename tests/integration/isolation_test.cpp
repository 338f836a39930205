// What a guest sees and what its root cannot do.
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "harness.hpp"
#include "sys/file.hpp"

namespace {

using it::Env;
using it::Result;

// What the guest's copy of a host-wide kernel file must show: expected when the running kernel
// has the file, ENOENT when it has not (kernels without sysrq or kcore).
std::string if_host_has(const std::string& path, const std::string& expected) {
  return std::filesystem::exists(path) ? expected : "ENOENT";
}

class Isolation : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_ROOT();
    env_ = std::make_unique<Env>();
    g_ = env_->busybox_guest({"--hostname", "isolated"});
    Result r = env_->run({g_, "start"});
    ASSERT_EQ(r.rc, 0) << r;
  }
  Result in_guest(const std::string& script) { return env_->run({g_, "exec", "sh", "-c", script}); }
  std::string probe(const std::string& what, const std::string& arg = "") {
    std::vector<std::string> args{g_, "exec", "/bin/probe", what};
    if (!arg.empty()) args.push_back(arg);
    Result r = env_->run(args);
    EXPECT_EQ(r.rc, 0) << r;
    return std::string(vs::trim(r.out));
  }
  std::unique_ptr<Env> env_;
  std::string g_;
};

TEST_F(Isolation, SeesOnlyItsOwnProcesses) {
  Result r = in_guest("ls /proc | grep -c '^[0-9]'");
  ASSERT_EQ(r.rc, 0) << r;
  // busybox init, syslogd, perhaps rcS still, and sh, ls, grep of this command: a handful, where
  // the host has many more.
  EXPECT_LE(std::stoi(r.out), 8) << r;
  r = in_guest("cat /proc/1/cmdline | tr '\\0' ' '");
  EXPECT_EQ(r.out.find("vserver"), std::string::npos) << "host process visible as PID 1: " << r;
  // The host's pid of this test is not there.
  r = in_guest("test -e /proc/" + std::to_string(::getpid()) + "/status && echo visible");
  EXPECT_EQ(r.out.find("visible"), std::string::npos) << r;
}

TEST_F(Isolation, HasItsOwnHostname) {
  EXPECT_EQ(in_guest("hostname").out, "isolated\n");
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  EXPECT_STRNE(host, "isolated");
  // Changing it needs CAP_SYS_ADMIN, which the guest does not have.
  Result r = in_guest("hostname other");
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_EQ(in_guest("hostname").out, "isolated\n");
}

TEST_F(Isolation, MountsAreItsOwn) {
  Result r = in_guest("cat /proc/mounts");
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.out.find(env_->vdir_root().string()), std::string::npos) << r;
  EXPECT_EQ(r.out.find("/sys/fs/cgroup"), std::string::npos) << r;
  EXPECT_NE(r.out.find(" /tmp tmpfs "), std::string::npos) << "fstab /tmp missing: " << r;
  EXPECT_NE(r.out.find("devpts /dev/pts devpts"), std::string::npos) << r;
  // The host does not see the guest's mounts.
  std::string host = vs::read_file("/proc/self/mountinfo");
  EXPECT_EQ(host.find(env_->vdir(g_).string()), std::string::npos);
  // The host's files are not reachable.
  std::string marker = "/tmp/vs-marker-" + std::to_string(::getpid());
  std::ofstream(marker) << "x";
  EXPECT_EQ(in_guest("test -e " + marker + " && echo visible").out, "");
  EXPECT_EQ(probe("chroot_escape", marker), "ENOENT");
  ::unlink(marker.c_str());
}

TEST_F(Isolation, ProcSysAndSysAreReadOnly) {
  Result r = in_guest("echo 1 > /proc/sys/kernel/domainname");
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("Read-only file system"), std::string::npos) << r;
  r = in_guest("echo 1 > /proc/sys/vm/drop_caches");
  EXPECT_NE(r.rc, 0) << r;
  r = in_guest("touch /sys/x");
  EXPECT_NE(r.rc, 0) << r;
  // Host-wide kernel files are masked with the null device; /proc/sysrq-trigger's mask is on a
  // nodev mount. Nothing is ever written to it (were the masking gone, a write would act on the
  // host running the test): the probe only opens it for writing, which must fail. Where the
  // host's kernel has no such file, the guest has none either.
  EXPECT_EQ(probe("open_write", "/proc/sysrq-trigger"),
            if_host_has("/proc/sysrq-trigger", "EACCES"));
  // Reading shows nothing of the host.
  EXPECT_EQ(probe("read_bytes", "/proc/kcore"), if_host_has("/proc/kcore", "read 0"));
  EXPECT_EQ(probe("read_bytes", "/proc/keys"), if_host_has("/proc/keys", "read 0"));
}

TEST_F(Isolation, RootCannotTouchTheHost) {
  EXPECT_EQ(probe("mknod"), "EPERM");
  EXPECT_EQ(probe("mount"), "EPERM");
  EXPECT_EQ(probe("init_module"), "EPERM");
  EXPECT_EQ(probe("finit_module"), "EPERM");
  EXPECT_EQ(probe("kexec"), "EPERM");
  EXPECT_EQ(probe("settime"), "EPERM");
  EXPECT_EQ(probe("swapon"), "EPERM");
  EXPECT_EQ(probe("open_by_handle"), "EPERM");
  EXPECT_EQ(probe("unshare_user"), "EPERM");
  EXPECT_EQ(probe("unshare_net"), "EPERM");
  EXPECT_EQ(probe("bpf"), "EPERM");
  // busybox date reports the refusal but exits 0: check the clock instead.
  Result r = in_guest("date -s '2001-01-01 00:00:00'");
  EXPECT_NE(r.err.find("Operation not permitted"), std::string::npos) << r;
  EXPECT_NE(in_guest("date +%Y").out, "2001\n");
}

TEST_F(Isolation, SeesNoHostDevices) {
  // Device nodes only (syslogd adds the /dev/log socket).
  Result r = in_guest("find /dev -xdev \\( -type c -o -type b \\) | sort | tr '\\n' ' '");
  EXPECT_EQ(r.out, "/dev/full /dev/null /dev/random /dev/tty /dev/urandom /dev/zero ") << r;
  r = in_guest("ls /dev/pts | tr '\\n' ' '");
  EXPECT_EQ(r.out, "ptmx ") << "terminals of the host or other guests visible: " << r;
  r = in_guest("cat /proc/self/status | grep CapBnd");
  // util-vserver's secure default set, with CAP_NET_RAW (0x2000) for raw_icmp, which the seccomp
  // filter narrows to ICMP sockets.
  EXPECT_NE(r.out.find("00000000b44c24ff"), std::string::npos) << r;
}

TEST_F(Isolation, HasOnlyLoopbackAndItsOwnCgroup) {
  Result r = in_guest("ls /sys/class/net | tr '\\n' ' '");
  EXPECT_EQ(r.out, "lo ") << r;
  r = in_guest("grep '^0::' /proc/self/cgroup");
  EXPECT_EQ(r.out, "0::/\n") << r;
  // The guest's processes are in its cgroup on the host.
  EXPECT_FALSE(it::guest_processes(g_).empty());
}

TEST(IsolationOptions, BcapabilitiesAddAndRemove) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  env.write_config(g, "bcapabilities", "CAP_MKNOD\n!CAP_CHOWN\n");
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  Result r = env.run({g, "exec", "/bin/probe", "mknod"});
  EXPECT_EQ(r.out, "ok\n") << r;
  r = env.run({g, "exec", "chown", "1:1", "/tmp"});
  EXPECT_NE(r.rc, 0) << r;
}

TEST(IsolationOptions, HostNetworkModeSharesTheHostStack) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  env.write_config(g, "network/mode", "host\n");
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  Result r = env.run({g, "exec", "readlink", "/proc/self/ns/net"});
  char buf[128] = {};
  ASSERT_GT(::readlink("/proc/self/ns/net", buf, sizeof(buf) - 1), 0);
  EXPECT_EQ(r.out, std::string(buf) + "\n") << r;
}

}  // namespace

namespace {

// The guest's root is nodev, and keeps what the host's filesystem imposes (here nosuid).
TEST(IsolationOptions, RootIsNodevAndKeepsHostMountFlags) {
  REQUIRE_ROOT();
  Env env;
  std::string vroot = env.vdir_root().string() + "-nosuid";
  std::filesystem::create_directories(vroot);
  ASSERT_EQ(std::system(("mount -t tmpfs -o nosuid,size=64m vs-it-nosuid " + vroot).c_str()), 0);
  std::string g = env.unique_name("n");
  Result r = env.run({"--vdir-root", vroot, g, "build", "-m", "busybox"});
  ASSERT_EQ(r.rc, 0) << r;
  ASSERT_EQ(env.run({"--vdir-root", vroot, g, "start"}).rc, 0);
  r = env.run({"--vdir-root", vroot, g, "exec", "sh", "-c", "grep ' / ' /proc/mounts"});
  EXPECT_NE(r.out.find("nosuid"), std::string::npos) << r;
  EXPECT_NE(r.out.find("nodev"), std::string::npos) << r;
  EXPECT_EQ(env.run({"--vdir-root", vroot, g, "stop", "--timeout", "5"}).rc, 0);
  EXPECT_EQ(std::system(("umount " + vroot).c_str()), 0);
}

}  // namespace

namespace {

// util-vserver's raw_icmp, on by default: ping (busybox's needs a raw ICMP socket) works in a
// guest; "~raw_icmp" in ccapabilities takes it away again.
TEST(RawIcmp, PingWorksUnlessCleared) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  Result r = env.run({g, "exec", "ping", "-c", "1", "-W", "5", "127.0.0.1"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("1 packets received"), std::string::npos) << r;
  // Debian's ping carries the file capability cap_net_raw=ep so that every user may run it: the
  // same on a copy of busybox, run by nobody.
  std::filesystem::path capped = env.vdir(g) / "usr/local/bin/ping";
  std::filesystem::create_directories(capped.parent_path());
  std::filesystem::copy_file(env.vdir(g) / "bin/busybox", capped);
  vfs_cap_data cap{};
  cap.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
  cap.data[0].permitted = 1U << CAP_NET_RAW;
  ASSERT_EQ(::setxattr(capped.c_str(), "security.capability", &cap, sizeof cap, 0), 0);
  r = env.run({g, "suexec", "nobody", "/usr/local/bin/ping", "-c", "1", "-W", "5", "127.0.0.1"});
  EXPECT_EQ(r.rc, 0) << r;
  ASSERT_EQ(env.run({g, "stop"}).rc, 0);

  env.write_config(g, "ccapabilities", "~raw_icmp\n");
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  r = env.run({g, "exec", "ping", "-c", "1", "-W", "5", "127.0.0.1"});
  EXPECT_NE(r.rc, 0) << r;
  r = env.run({g, "exec", "/bin/probe", "raw_socket"});
  EXPECT_EQ(r.out, "EPERM\n") << r;
  r = env.run({g, "suexec", "nobody", "/usr/local/bin/ping", "-c", "1", "127.0.0.1"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("Operation not permitted"), std::string::npos) << r;
  // Not even through the bounding set: CAP_NET_RAW is not there.
  r = env.run({g, "exec", "grep", "CapBnd", "/proc/self/status"});
  ASSERT_EQ(r.rc, 0) << r;
  unsigned long long bnd = std::stoull(r.out.substr(r.out.find(':') + 1), nullptr, 16);
  EXPECT_EQ(bnd & (1ULL << CAP_NET_RAW), 0ULL) << r;
  ASSERT_EQ(env.run({g, "stop"}).rc, 0);
}

}  // namespace
