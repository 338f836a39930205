// The escape battery: known ways out of a container, each tried from inside a guest as root. A test
// passes only if the attempt fails; the attempts run in tests/probe/probe.cpp, which prints "ok"
// when a call succeeded and the errno name when it failed. Attempts that would harm the host if a
// protection were missing are made harmless: files are rewritten with the content they have, the
// clock is set to the time it shows, signals go to a sleeper the test started.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "sys/file.hpp"

namespace {

using it::Env;
using it::Result;
namespace fs = std::filesystem;

std::string probe_in(const Env& env, const std::string& g, const std::vector<std::string>& args) {
  std::vector<std::string> a{g, "exec", "/bin/probe"};
  a.insert(a.end(), args.begin(), args.end());
  Result r = env.run(a);
  EXPECT_EQ(r.rc, 0) << r;
  return std::string(vs::trim(r.out));
}

// A host process for the guest to aim at: a sleeper, killed on destruction.
class HostSleeper {
 public:
  HostSleeper() {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/bin/sleep", "sleep", "600", nullptr);
      ::_exit(127);
    }
  }
  HostSleeper(const HostSleeper&) = delete;
  HostSleeper& operator=(const HostSleeper&) = delete;
  ~HostSleeper() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] bool alive() const { return ::waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
};

// What the guest's copy of a host-wide kernel file must be: refused (or hidden) when the running
// kernel has the file, absent when it has not (kernels without modules, sysrq, kcore).
std::string if_host_has(const std::string& path, const std::string& expected) {
  return fs::exists(path) ? expected : "ENOENT";
}

// One running busybox guest shared by the tests of the suite.
class Escape : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!it::is_root()) return;
    env_ = new Env();
    g_ = env_->busybox_guest();
    Result r = env_->run({g_, "start"});
    ASSERT_EQ(r.rc, 0) << r;
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override { REQUIRE_ROOT(); }
  static std::string probe(const std::vector<std::string>& args) {
    return probe_in(*env_, g_, args);
  }
  static Result sh(const std::string& script) {
    return env_->run({g_, "exec", "sh", "-c", script});
  }

  static Env* env_;
  static std::string g_;
};

Env* Escape::env_ = nullptr;
std::string Escape::g_;

TEST_F(Escape, MountSystemCalls) {
  EXPECT_EQ(probe({"mount"}), "EPERM");
  EXPECT_EQ(probe({"fsopen"}), "EPERM");
  EXPECT_EQ(probe({"open_tree"}), "EPERM");
  EXPECT_EQ(probe({"umount"}), "EPERM");
  EXPECT_EQ(probe({"pivot_root"}), "EPERM");
}

TEST_F(Escape, MknodOfADisk) {
  EXPECT_EQ(probe({"mknod"}), "EPERM");
}

TEST_F(Escape, OpenByHandleShocker) {
  EXPECT_EQ(probe({"open_by_handle"}), "EPERM");
  EXPECT_EQ(probe({"name_to_handle"}), "EPERM");
}

TEST_F(Escape, WritesToProcSys) {
  EXPECT_EQ(probe({"rewrite", "/proc/sys/kernel/modprobe"}),
            if_host_has("/proc/sys/kernel/modprobe", "EROFS"));
  EXPECT_EQ(probe({"rewrite", "/proc/sys/kernel/hostname"}), "EROFS");
  EXPECT_EQ(probe({"rewrite", "/proc/sys/net/ipv4/ip_forward"}), "EROFS");
}

TEST_F(Escape, CorePattern) {
  std::string before = vs::read_file("/proc/sys/kernel/core_pattern");
  EXPECT_EQ(probe({"rewrite", "/proc/sys/kernel/core_pattern"}), "EROFS");
  Result r = sh("echo '|/bin/probe' > /proc/sys/kernel/core_pattern");
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_EQ(vs::read_file("/proc/sys/kernel/core_pattern"), before);
}

TEST_F(Escape, SysrqTrigger) {
  // /dev/null is bound over it: nothing written reaches the kernel.
  EXPECT_EQ(probe({"describe", "/proc/sysrq-trigger"}),
            if_host_has("/proc/sysrq-trigger", "chr 1:3"));
}

TEST_F(Escape, WritesToSys) {
  EXPECT_EQ(probe({"rewrite", "/sys/class/net/lo/mtu"}), "EROFS");
  Result r = sh("test -e /sys/kernel/uevent_helper && echo yes");
  if (r.out == "yes\n") {
    EXPECT_EQ(probe({"rewrite", "/sys/kernel/uevent_helper"}), "EROFS");
  }
  EXPECT_EQ(probe({"rewrite", "/sys/fs/cgroup/cgroup.procs"}), "ENOENT");
}

TEST_F(Escape, KernelModuleLoad) {
  EXPECT_EQ(probe({"init_module"}), "EPERM");
  EXPECT_EQ(probe({"finit_module"}), "EPERM");
  EXPECT_EQ(probe({"delete_module"}), "EPERM");
  // The file the kernel runs to load a module on demand cannot be redirected either.
  EXPECT_EQ(probe({"rewrite", "/proc/sys/kernel/modprobe"}),
            if_host_has("/proc/sys/kernel/modprobe", "EROFS"));
}

TEST_F(Escape, Kexec) {
  EXPECT_EQ(probe({"kexec"}), "EPERM");
  EXPECT_EQ(probe({"kexec_file"}), "EPERM");
  EXPECT_NE(probe({"reboot_kexec"}), "ok");
}

TEST_F(Escape, PtraceOfAHostProcess) {
  HostSleeper host;
  std::string pid = std::to_string(host.pid());
  EXPECT_EQ(probe({"ptrace", pid}), "ESRCH");
  EXPECT_EQ(probe({"pidfd_open", pid}), "ESRCH");
  EXPECT_TRUE(host.alive());
}

TEST_F(Escape, SignalsToHostProcesses) {
  HostSleeper host;
  EXPECT_EQ(probe({"kill", std::to_string(host.pid())}), "ESRCH");
  EXPECT_TRUE(host.alive());
  // The supervisor and the caller of exec are not in the guest's PID namespace either.
  Result r = sh("for p in /proc/[0-9]*; do cat $p/comm; done | sort -u | tr '\\n' ' '");
  EXPECT_EQ(r.out.find("vserver"), std::string::npos) << r;
}

// raw_icmp (on by default): raw ICMP sockets for ping, and no other raw or packet socket, no
// header of the guest's own making, no sending from any address, nothing around the filter.
TEST_F(Escape, RawSocketsBeyondIcmp) {
  auto sock = [](int family, int type, int proto) {
    return probe({"socket", std::to_string(family), std::to_string(type), std::to_string(proto)});
  };
  EXPECT_EQ(probe({"raw_socket"}), "ok");
  EXPECT_EQ(sock(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6), "ok");
  EXPECT_EQ(sock(AF_INET, SOCK_RAW, IPPROTO_TCP), "EPERM");
  EXPECT_EQ(sock(AF_INET, SOCK_RAW, IPPROTO_UDP), "EPERM");
  EXPECT_EQ(sock(AF_INET, SOCK_RAW, IPPROTO_RAW), "EPERM");
  EXPECT_EQ(sock(AF_INET6, SOCK_RAW, IPPROTO_TCP), "EPERM");
  EXPECT_EQ(sock(AF_INET6, SOCK_RAW, IPPROTO_RAW), "EPERM");
  EXPECT_EQ(probe({"packet_socket"}), "EPERM");
  EXPECT_EQ(sock(AF_PACKET, SOCK_DGRAM, 0), "EPERM");
  EXPECT_EQ(sock(AF_INET, SOCK_PACKET, 0), "EPERM");
  EXPECT_EQ(probe({"hdrincl"}), "EPERM");
  EXPECT_EQ(probe({"hdrincl6"}), "EPERM");
  EXPECT_EQ(probe({"transparent"}), "EPERM");
  EXPECT_EQ(probe({"transparent6"}), "EPERM");
  EXPECT_EQ(probe({"io_uring"}), "EPERM");
  // What needs no capability still works: netlink (ip), Unix and ICMP datagram sockets.
  EXPECT_EQ(sock(AF_NETLINK, SOCK_RAW, 0), "ok");
  EXPECT_EQ(sock(AF_UNIX, SOCK_DGRAM, 0), "ok");
  EXPECT_EQ(sock(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), "ok");
}

TEST_F(Escape, ChangingTheHostsTime) {
  EXPECT_EQ(probe({"settime"}), "EPERM");
  EXPECT_EQ(probe({"settimeofday"}), "EPERM");
  EXPECT_EQ(probe({"adjtime"}), "EPERM");
}

TEST_F(Escape, KeyringAccess) {
  EXPECT_EQ(probe({"add_key"}), "EPERM");
  EXPECT_EQ(probe({"keyctl"}), "EPERM");
  EXPECT_EQ(probe({"request_key"}), "EPERM");
  EXPECT_EQ(probe({"describe", "/proc/keys"}), if_host_has("/proc/keys", "chr 1:3"));
}

TEST_F(Escape, UserNamespacesToRegainPrivileges) {
  EXPECT_EQ(probe({"unshare_user"}), "EPERM");
  EXPECT_EQ(probe({"clone_user"}), "EPERM");
  // clone3's flags are out of the filter's reach: it is reported missing, so that the C library
  // falls back to clone.
  EXPECT_EQ(probe({"clone3"}), "ENOSYS");
  EXPECT_EQ(probe({"unshare_mnt"}), "EPERM");
  EXPECT_EQ(probe({"unshare_net"}), "EPERM");
}

TEST_F(Escape, SetnsToRegainPrivileges) {
  // EPERM without CAP_SYS_ADMIN; EINVAL for the user namespace, which is the one the guest is in.
  for (const char* ns : {"mnt", "pid", "net", "cgroup", "uts", "ipc"}) {
    EXPECT_EQ(probe({"setns", std::string("/proc/1/ns/") + ns}), "EPERM") << ns;
  }
  EXPECT_NE(probe({"setns", "/proc/1/ns/user"}), "ok");
}

TEST_F(Escape, BpfAndPerfEvents) {
  EXPECT_EQ(probe({"bpf"}), "EPERM");
  EXPECT_EQ(probe({"perf_event_open"}), "EPERM");
  EXPECT_EQ(probe({"userfaultfd"}), "EPERM");
  EXPECT_EQ(probe({"iopl"}), "EPERM");
  EXPECT_EQ(probe({"syslog_clear"}), "EPERM");
}

TEST_F(Escape, KernelMemoryAndSymbols) {
  EXPECT_EQ(probe({"describe", "/proc/kcore"}), if_host_has("/proc/kcore", "chr 1:3"));
  EXPECT_EQ(probe({"describe", "/proc/kallsyms"}), if_host_has("/proc/kallsyms", "chr 1:3"));
  EXPECT_EQ(probe({"open_read", "/dev/mem"}), "ENOENT");
  EXPECT_EQ(probe({"open_read", "/dev/kmsg"}), "ENOENT");
}

// CVE-2016-9962, CVE-2024-21626: no descriptor of the host (a directory above the guest's root
// above all) reaches a process started in the guest, with or without a terminal.
TEST_F(Escape, PivotRootThroughALeakedDescriptor) {
  // Descriptors the caller has open are not passed on.
  std::string marker = "/tmp/vs-escape-marker-" + std::to_string(::getpid());
  std::ofstream(marker) << "x";
  int dirfd = ::open("/", O_RDONLY | O_DIRECTORY);  // inherited by vserver: not CLOEXEC
  ASSERT_GE(dirfd, 0);
  EXPECT_EQ(probe({"fds"}), "0 1 2");
  EXPECT_EQ(probe({"fd_escape", marker}), "none");
  Result r = env_->run_on_pty({g_, "exec", "/bin/probe", "fds"}, "");
  EXPECT_NE(r.out.find("0 1 2\r\n"), std::string::npos) << r;
  ::close(dirfd);
  ::unlink(marker.c_str());
}

TEST_F(Escape, LeakedWorkingDirectory) {
  // The caller's working directory is a host directory (the test's); the command's is inside the
  // guest.
  EXPECT_EQ(probe({"cwd"}), "/ inside");
  Result r = env_->run_on_pty({g_, "enter"}, "/bin/probe cwd; exit\n");
  EXPECT_NE(r.out.find("inside"), std::string::npos) << r;
  EXPECT_EQ(r.out.find("outside"), std::string::npos) << r;
}

TEST_F(Escape, CallersEnvironment) {
  Env& env = *env_;
  env.add_env("VS_ESCAPE_SECRET=from-the-host");
  Result r = env.run({g_, "exec", "env"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.out.find("VS_ESCAPE_SECRET"), std::string::npos) << r;
  EXPECT_EQ(r.out.find("VSERVER_"), std::string::npos) << r;
  // The documented environment, and nothing else.
  std::set<std::string> names;
  for (const auto& line : vs::split_lines(r.out)) names.insert(line.substr(0, line.find('=')));
  names.erase("TERM");  // passed on when the caller has one
  EXPECT_EQ(names, (std::set<std::string>{"PATH", "container", "HOME", "USER", "LOGNAME", "SHELL"}))
      << r;
}

// CVE-2019-5736: a guest's root watches for processes that vserver exec creates in the guest and
// opens their /proc/PID/exe, the host's vserver binary, to overwrite it.
class EscapeExe : public ::testing::Test {
 protected:
  void SetUp() override { REQUIRE_ROOT(); }

  // The watcher's verdict (probe exe_race): its counts by name, "seen", "execs", "tried",
  // "refused", "opened", "wrote"; the line itself as "verdict".
  struct Race {
    std::map<std::string, long> n;
    std::string verdict;
  };

  // Runs the watcher in the guest and, once it is looking, starts execs; returns its verdict.
  static Race race(Env& env, const std::string& g) {
    struct stat st {};
    EXPECT_EQ(::stat(VSERVER_BINARY, &st), 0);
    // The watcher creates /exe_race.ready once it has looked through /proc, and ends when
    // /exe_race.stop appears (or after 60 s): files in the guest's root, the host's vdir.
    fs::path ready = env.vdir(g) / "exe_race.ready";
    fs::path stop = env.vdir(g) / "exe_race.stop";
    Race out;
    std::thread watcher([&] {
      out.verdict = probe_in(env, g,
                             {"exe_race", "60", std::to_string(st.st_dev),
                              std::to_string(st.st_ino), "/exe_race.ready", "/exe_race.stop"});
    });
    EXPECT_TRUE(it::wait_until([&] { return fs::exists(ready); })) << "the watcher did not start";
    for (int i = 0; i < 30; ++i) env.run({g, "exec", "true"});
    std::ofstream(stop).close();
    watcher.join();
    std::istringstream words(out.verdict);
    std::string key;
    long value = 0;
    while (words >> key >> value) out.n[key] = value;
    for (const char* k : {"seen", "execs", "tried", "refused", "opened", "wrote"}) {
      EXPECT_EQ(out.n.count(k), 1U) << "no count '" << k << "' in the verdict: " << out.verdict;
    }
    // The race was run: the watcher saw commands of vserver exec while they still ran the host's
    // binary, and tried to open it through their /proc/PID/exe.
    EXPECT_GT(out.n["execs"], 0) << out.verdict;
    EXPECT_GT(out.n["tried"], 0) << out.verdict;
    return out;
  }
};

TEST_F(EscapeExe, ExeOverwriteDuringExec) {
  Env env;
  std::string g = env.busybox_guest();
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  Race r = race(env, g);
  // With CAP_SYS_PTRACE (in the default set) the guest does reach the binary, but read-only: the
  // kernel refuses to open a file for writing while it is being executed (ETXTBSY), and the
  // guest's supervisor executes it as long as the guest lives.
  EXPECT_GT(r.n["opened"], 0) << r.verdict;
  EXPECT_EQ(r.n["wrote"], 0) << r.verdict;
}

TEST_F(EscapeExe, ExeNotReachableWithoutPtrace) {
  Env env;
  std::string g = env.busybox_guest();
  env.write_config(g, "bcapabilities", "!CAP_SYS_PTRACE\n");
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  Race r = race(env, g);
  // The process is not dumpable until it executes the command: without CAP_SYS_PTRACE, its exe
  // link is closed to the guest: the watcher's opens were refused (or came after the command ran),
  // none reached the binary.
  EXPECT_GT(r.n["refused"], 0) << r.verdict;
  EXPECT_EQ(r.n["opened"], 0) << r.verdict;
  EXPECT_EQ(r.n["wrote"], 0) << r.verdict;
}

// reboot(2) inside the guest ends the guest (its PID namespace), and nothing else.
TEST(EscapeReboot, RebootEndsOnlyTheGuest) {
  REQUIRE_ROOT();
  Env env;
  std::string a = env.busybox_guest();
  std::string b = env.busybox_guest();
  ASSERT_EQ(env.run({a, "start"}).rc, 0);
  ASSERT_EQ(env.run({b, "start"}).rc, 0);
  HostSleeper host;
  Result r = env.run({a, "exec", "/bin/probe", "halt"});
  bool stopped = it::wait_until(
      [&] {
        return env.run({a, "running"}).rc != 0;
      },
      std::chrono::seconds(10));
  EXPECT_TRUE(stopped) << r;
  EXPECT_EQ(env.run({b, "running"}).rc, 0);
  EXPECT_TRUE(host.alive());
  if (stopped) it::expect_nothing_left(env, a);
}

TEST(EscapeKill, KillEverythingReachesOnlyTheGuest) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  HostSleeper host;
  Result r = env.run({g, "exec", "/bin/probe", "kill_all"});
  EXPECT_TRUE(host.alive()) << r;
  EXPECT_EQ(::kill(::getpid(), 0), 0);
}

// Device nodes in the guest's files: the root is nodev, and the cgroup device filter refuses
// every device but those of the guest's /dev, even on a mount without nodev (the default fstab's
// /tmp) and even for a node the host side created.
class EscapeDevices : public ::testing::Test {
 protected:
  void SetUp() override { REQUIRE_ROOT(); }
  // A block device of this host: the one under the filesystem of /, else the first loop device.
  static std::pair<unsigned, unsigned> host_disk() {
    struct stat st {};
    if (::stat("/", &st) == 0 && major(st.st_dev) != 0) return {major(st.st_dev), minor(st.st_dev)};
    return {7, 0};
  }
};

TEST_F(EscapeDevices, BlockDeviceCreatedByTheHostSide) {
  Env env;
  std::string g = env.busybox_guest();
  auto [maj, min] = host_disk();
  // In the guest's own files (the root is nodev) ...
  ASSERT_EQ(::mknod((env.vdir(g) / "disk").c_str(), S_IFBLK | 0600, makedev(maj, min)), 0);
  ASSERT_EQ(::mknod((env.vdir(g) / "mem").c_str(), S_IFCHR | 0600, makedev(1, 1)), 0);
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  EXPECT_EQ(probe_in(env, g, {"open_read", "/disk"}), "EACCES");
  EXPECT_NE(probe_in(env, g, {"open_read", "/mem"}), "ok");
  // ... and on the guest's /tmp, a tmpfs of its fstab without nodev, through the guest's init.
  int init = 0;
  for (const auto& line : vs::split_lines(vs::read_file(env.run_root() / g / "state"))) {
    if (line.find("\"init_pid\"") != std::string::npos) {
      init = std::stoi(line.substr(line.find(':') + 1));
    }
  }
  ASSERT_GT(init, 0);
  fs::path tmp = fs::path("/proc") / std::to_string(init) / "root/tmp";
  ASSERT_EQ(::mknod((tmp / "disk").c_str(), S_IFBLK | 0600, makedev(maj, min)), 0);
  EXPECT_NE(probe_in(env, g, {"open_read", "/tmp/disk"}), "ok");
  // A loop device opens and reads (0 bytes) wherever nothing refuses it.
  ASSERT_EQ(::mknod((tmp / "loop").c_str(), S_IFBLK | 0600, makedev(7, 0)), 0);
  EXPECT_EQ(probe_in(env, g, {"open_read", "/tmp/loop"}), "EPERM");
}

TEST_F(EscapeDevices, BlockDeviceMadeByAGuestWithCapMknod) {
  Env env;
  std::string g = env.busybox_guest();
  env.write_config(g, "bcapabilities", "CAP_MKNOD\n");
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  auto [maj, min] = host_disk();
  // CAP_MKNOD creates the node; opening it is what the filter refuses.
  EXPECT_EQ(probe_in(env, g, {"mknod_at", "/tmp/disk", std::to_string(maj), std::to_string(min)}),
            "ok");
  EXPECT_EQ(probe_in(env, g, {"open_read", "/tmp/disk"}), "EPERM");
  EXPECT_EQ(probe_in(env, g, {"mknod_at", "/tmp/loop", "7", "0"}), "ok");
  EXPECT_EQ(probe_in(env, g, {"open_read", "/tmp/loop"}), "EPERM");
  // The devices of its /dev work.
  EXPECT_EQ(probe_in(env, g, {"open_read", "/dev/zero"}), "ok");
  EXPECT_EQ(probe_in(env, g, {"open_read", "/dev/urandom"}), "ok");
}

// CVE-2021-30465 style: the guest's tree holds a symbolic link where its fstab mounts, prepared
// while the guest ran. The mount lands inside the guest's root, or the start fails; never on the
// host. Run with openat2 and with the walk that replaces it on kernels without (forced).
class EscapeMountTarget : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    REQUIRE_ROOT();
    if (GetParam()) env_.add_env("VSERVER_TEST_NO_OPENAT2=1");
  }
  Env env_;
};

TEST_P(EscapeMountTarget, AbsoluteLinkOutOfTheRoot) {
  std::string g = env_.busybox_guest();
  // A host directory; the same path exists inside the guest.
  fs::path host_dir = env_.log_root() / "host-target";
  fs::create_directories(host_dir);
  fs::create_directories(env_.vdir(g) / host_dir.relative_path());
  fs::create_symlink("/../../../.." + host_dir.string(), env_.vdir(g) / "data");
  env_.write_config(g, "fstab",
                    "none /proc proc defaults 0 0\n"
                    "none /data tmpfs size=1m 0 0\n");
  Result r = env_.run({g, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  // The tmpfs is on the guest's copy of the path.
  r = env_.run({g, "exec", "grep", " tmpfs ", "/proc/mounts"});
  EXPECT_NE(r.out.find(fmt::format(" {} tmpfs ", host_dir.string())), std::string::npos) << r;
  r = env_.run(
      {g, "exec", "sh", "-c", "echo inside > /data/file && cat " + host_dir.string() + "/file"});
  EXPECT_EQ(r.out, "inside\n") << r;
  EXPECT_FALSE(fs::exists(host_dir / "file"));
}

TEST_P(EscapeMountTarget, RelativeLinkClimbingOut) {
  std::string g = env_.busybox_guest();
  fs::create_directories(env_.vdir(g) / "srv/www");
  fs::create_symlink("../../../../../../../../srv/www", env_.vdir(g) / "web");
  env_.write_config(g, "fstab", "none /web tmpfs size=1m 0 0\n");
  Result r = env_.run({g, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  r = env_.run({g, "exec", "grep", " tmpfs ", "/proc/mounts"});
  EXPECT_NE(r.out.find(" /srv/www tmpfs "), std::string::npos) << r;
}

TEST_P(EscapeMountTarget, MagicLinkToTheHost) {
  std::string g = env_.busybox_guest();
  // At the time of the fstab's mounts, /proc/self of the process that mounts is still on the
  // host: its root and working directory are the host's.
  fs::create_symlink("/proc/self/root/tmp", env_.vdir(g) / "data");
  env_.write_config(g, "fstab", "none /data tmpfs size=1m 0 0\n");
  Result r = env_.run({g, "start"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("/data"), std::string::npos) << r;
  EXPECT_NE(r.err.find("Too many levels of symbolic links"), std::string::npos) << r;
  it::expect_nothing_left(env_, g);
}

TEST_P(EscapeMountTarget, ProcViewsFollowTheGuestsLinksInsideIt) {
  std::string g = env_.busybox_guest();
  // /proc is a link to a path that exists on the host too, with a meminfo of its own there: the
  // guest's virtual meminfo must be mounted on the guest's /proc, not on the host's file.
  fs::path host_dir = env_.log_root() / "host-proc";
  fs::create_directories(host_dir);
  std::ofstream(host_dir / "meminfo") << "MemTotal: 1 kB\n";
  fs::remove(env_.vdir(g) / "proc");
  fs::create_directories(env_.vdir(g) / host_dir.relative_path());
  fs::create_symlink(host_dir, env_.vdir(g) / "proc");
  env_.write_config(g, "limits/memory", "64M\n");
  env_.write_config(g, "cflags", "virt_mem\n");
  env_.write_config(g, "fstab", "none /proc proc defaults 0 0\n");  // no tmpfs over /tmp
  Result r = env_.run({g, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  r = env_.run({g, "exec", "awk", "/^MemTotal/ {print $2}", "/proc/meminfo"});
  EXPECT_EQ(r.out, "65536\n") << r;
}

INSTANTIATE_TEST_SUITE_P(Resolver, EscapeMountTarget, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? std::string("Walk") : std::string("Openat2");
                         });

}  // namespace
