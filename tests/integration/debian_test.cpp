// Real Debian guests: made from the cached minbase root (debian.hpp) or by debootstrap itself.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "cgroup/cgroup.hpp"
#include "debian.hpp"
#include "harness.hpp"
#include "sys/file.hpp"

namespace {

using it::Env;
using it::Result;

// A Debian guest's services take longer than the default wait.
template <typename Pred>
bool wait_for(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  return it::wait_until(pred, timeout);
}

std::string debian_guest(Env& env, const std::vector<std::string>& extra = {}) {
  std::string g = env.unique_name("deb");
  std::vector<std::string> args{g, "build", "-m", "template"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.insert(args.end(), {"--", "-t", it::debian_tarball().string()});
  Result r = env.run(args, "", 300);
  EXPECT_EQ(r.rc, 0) << r;
  return g;
}

// Host pids of the guest whose command name is comm.
std::vector<int> guest_comm(const std::string& g, const std::string& comm) {
  std::vector<int> out;
  for (int pid : it::guest_processes(g)) {
    auto c = vs::read_file_if_exists("/proc/" + std::to_string(pid) + "/comm");
    if (c && *c == comm + "\n") out.push_back(pid);
  }
  return out;
}

double guest_uptime(const Env& env, const std::string& g) {
  Result r = env.run({g, "exec", "cat", "/proc/uptime"});
  return r.rc == 0 ? std::stod(r.out) : -1;
}

TEST(Debian, SysvGuestRunsCronInsideRebootsAndHalts) {
  REQUIRE_ROOT();
  REQUIRE_DEBIAN();
  Env env;
  std::string g = debian_guest(env);
  Result r = env.run({g, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  // rc 3 started cron, in the guest: its pid file is in the guest's /run (a tmpfs of its own).
  ASSERT_TRUE(wait_for([&] { return guest_comm(g, "cron").size() == 1; }));
  // cron writes its pid file a moment after it runs.
  EXPECT_TRUE(wait_for([&] { return env.run({g, "exec", "cat", "/run/crond.pid"}).rc == 0; }));
  EXPECT_FALSE(std::filesystem::exists(env.vdir(g) / "run/crond.pid"));
  // /var/lock (-> /run/lock) is there and writable by all, as after Debian's mount scripts:
  // apache2's init script makes its lock directory with mktemp there.
  r = env.run({g, "exec", "mktemp", "-d", "/var/lock/apache2.XXXXXXXXXX"});
  EXPECT_EQ(r.rc, 0) << r;
  r = env.run({g, "exec", "stat", "-c", "%a", "/run/lock"});
  EXPECT_EQ(r.out, "1777\n") << r;
  // The runlevel is in utmp, as sysvinit records it: invoke-rc.d starts what a package installs.
  r = env.run({g, "exec", "runlevel"});
  EXPECT_EQ(r.out, "N 3\n") << r;
  r = env.run({g, "exec", "invoke-rc.d", "--query", "cron", "start"});
  EXPECT_EQ(r.rc, 104) << "invoke-rc.d: 104 is 'action allowed'; " << r;
  EXPECT_EQ((r.out + r.err).find("could not determine current runlevel"), std::string::npos) << r;

  // reboot inside (sysvinit's reboot → shutdown → /run/initctl → rc 6 → reboot(2)): the same guest
  // runs again, freshly booted, with a new cron.
  int old_cron = guest_comm(g, "cron").at(0);
  ::sleep(2);  // so that the first run's uptime is well above the new run's at first
  double before = guest_uptime(env, g);
  ASSERT_GE(before, 2.0);
  auto rebooted_at = std::chrono::steady_clock::now();
  env.run({g, "exec", "reboot"});
  EXPECT_TRUE(wait_for([&] {
    auto c = guest_comm(g, "cron");
    return c.size() == 1 && c[0] != old_cron;
  })) << vs::read_file_if_exists(env.log_root() / (g + ".log")).value_or("");
  EXPECT_EQ(env.run({g, "running"}).rc, 0);
  // The new run's uptime counts from its start, after the reboot was asked for: on a loaded
  // machine the reboot itself may take longer than the first run had lasted.
  double after = guest_uptime(env, g);
  double since_reboot =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - rebooted_at).count();
  EXPECT_GE(after, 0.0);
  EXPECT_LE(after, since_reboot) << "uptime did not start again (before: " << before << ")";

  env.run({g, "exec", "halt"});
  // rc 0 stops every service first: slow on a loaded machine.
  EXPECT_TRUE(wait_for([&] { return env.run({g, "status"}).rc == 3; }, std::chrono::seconds(90)));
  it::expect_nothing_left(env, g);
}

TEST(Debian, StopRunsRcZeroAndLeavesNothing) {
  REQUIRE_ROOT();
  REQUIRE_DEBIAN();
  Env env;
  std::string g = debian_guest(env);
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  ASSERT_TRUE(wait_for([&] { return guest_comm(g, "cron").size() == 1; }));
  auto t0 = std::chrono::steady_clock::now();
  Result r = env.run({g, "stop"});
  EXPECT_EQ(r.rc, 0) << r;
  // rc 0 ended the guest (halt at its end), well before the sync timeout (30 s) and the kill
  // sequence.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20)) << r;
  EXPECT_EQ(r.err.find("still running after"), std::string::npos) << r;
  EXPECT_EQ(env.run({g, "status"}).rc, 3);
  it::expect_nothing_left(env, g);
}

TEST(Debian, AptGetInstallInsideWithTheHostsNetwork) {
  REQUIRE_ROOT();
  REQUIRE_DEBIAN();
  Env env;
  std::string g = debian_guest(env);
  env.write_config(g, "network/mode", "host\n");
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  Result r = env.run({g, "exec", "apt-get", "update"}, "", 240);
  ASSERT_EQ(r.rc, 0) << r;
  r = env.run({g, "exec", "apt-get", "install", "-y", "--no-install-recommends", "hello"}, "", 240);
  ASSERT_EQ(r.rc, 0) << r;
  r = env.run({g, "exec", "hello"});
  EXPECT_EQ(r.out, "Hello, world!\n") << r;
  EXPECT_TRUE(std::filesystem::exists(env.vdir(g) / "usr/bin/hello"));
  EXPECT_FALSE(std::filesystem::exists("/usr/bin/hello") &&
               std::filesystem::equivalent("/usr/bin/hello", env.vdir(g) / "usr/bin/hello"));
}

// Runs vserver build in the background and ends it with sig after delay_s seconds.
Result interrupted_build(const Env& env, const std::vector<std::string>& args, int sig,
                         int delay_s) {
  std::string cmd = std::string(VSERVER_BINARY) + " \"$@\" & pid=$!; sleep " +
                    std::to_string(delay_s) + "; kill -" + std::to_string(sig) + " $pid; wait $pid";
  std::vector<std::string> sh{"-c", cmd, "vserver"};
  sh.insert(sh.end(), args.begin(), args.end());
  return env.run_program("/bin/sh", sh, "", 120);
}

TEST(Debian, InterruptedDebootstrapLeavesNoGuest) {
  REQUIRE_ROOT();
  REQUIRE_DEBIAN();
  Env env;
  std::string g = env.unique_name("dbi");
  auto src = it::host_debian_source();
  Result r = interrupted_build(
      env, {g, "build", "-m", "debootstrap", "--", "-d", src.suite, "--variant", "minbase"},
      SIGTERM, 6);
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("interrupted"), std::string::npos) << r;
  EXPECT_FALSE(std::filesystem::exists(env.cfgdir(g)));
  EXPECT_FALSE(std::filesystem::exists(env.vdir(g)));
  for (const auto& root : {env.config_root(), env.vdir_root()}) {
    for (const auto& e : std::filesystem::directory_iterator(root)) {
      if (e.path().filename() == ".defaults") continue;  // context.next, kept by design
      ADD_FAILURE() << "left behind: " << e.path();
    }
  }
  std::string mounts = vs::read_file("/proc/self/mountinfo");
  EXPECT_EQ(mounts.find(env.vdir_root().string()), std::string::npos);
}

TEST(Debian, DebootstrapBuildsAGuestThatStarts) {
  REQUIRE_ROOT();
  REQUIRE_DEBIAN();
  Env env;
  std::string g = env.unique_name("dbs");
  auto src = it::host_debian_source();
  // The packages the fixture downloaded are reused (debootstrap's --cache-dir).
  Result r = env.run(
      {g, "build", "-m", "debootstrap", "--hostname", "debby", "--", "-d", src.suite, "--variant",
       "minbase", "--", "--cache-dir=/var/tmp/vserver-tests/debs-" + src.suite},
      "", 900);
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("root password: not set"), std::string::npos) << r;
  EXPECT_NE(r.out.find("Mirror "), std::string::npos) << r;
  EXPECT_TRUE(std::filesystem::exists(env.cfgdir(g) / "apps/pkgmgmt/internal"));
  EXPECT_EQ(vs::read_file(env.vdir(g) / "etc/hostname"), "debby\n");
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  r = env.run({g, "exec", "hostname"});
  EXPECT_EQ(r.out, "debby\n") << r;
  // A minbase guest of the sysv style can be shut down and rebooted from inside.
  r = env.run({g, "exec", "sh", "-c", "command -v shutdown halt reboot runlevel"});
  EXPECT_EQ(r.rc, 0) << r;
  r = env.run({g, "exec", "runlevel"});
  EXPECT_EQ(r.out, "N 3\n") << r;
  EXPECT_EQ(env.run({g, "stop"}).rc, 0);
  it::expect_nothing_left(env, g);
}

}  // namespace

namespace {

TEST(Debian, SystemdGuestBootsToRunningWithNoFailedUnit) {
  REQUIRE_ROOT();
  const std::vector<std::string> packages{"systemd", "systemd-sysv"};
  REQUIRE_DEBIAN_WITH(packages);
  Env env;
  std::string g = env.unique_name("dsd");
  Result r = env.run({g, "build", "-m", "template", "--initstyle", "systemd", "--", "-t",
                      it::debian_tarball(packages).string()},
                     "", 600);
  ASSERT_EQ(r.rc, 0) << r;
  r = env.run({g, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  std::string state;
  EXPECT_TRUE(wait_for(
      [&] {
        state = env.run({g, "exec", "systemctl", "is-system-running"}).out;
        return state == "running\n" || state == "degraded\n";
      },
      std::chrono::seconds(60)))
      << state;
  r = env.run({g, "exec", "systemctl", "list-units", "--failed", "--plain", "--no-legend"});
  EXPECT_EQ(r.out, "") << r;
  // PID 1 is systemd, in a container named vserver, with a machine id of its own.
  EXPECT_EQ(env.run({g, "exec", "cat", "/proc/1/comm"}).out, "systemd\n");
  // systemd knows no "vserver" container type, but sees a container.
  EXPECT_EQ(env.run({g, "exec", "systemd-detect-virt", "--container"}).out, "container-other\n");
  EXPECT_EQ(vs::read_file(env.vdir(g) / "etc/machine-id").size(), 33U);
  // Stopped with SIGRTMIN+3: systemd shuts down in order and the guest is gone.
  r = env.run({g, "stop"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.err.find("still running after"), std::string::npos) << r;
  it::expect_nothing_left(env, g);
}

}  // namespace
