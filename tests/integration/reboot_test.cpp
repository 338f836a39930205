// reboot, halt and poweroff inside a guest restart or stop that guest, never the host;
// util-vserver's apps/vshelper/action and per-event handlers; vserver stop is never taken for a
// reboot. Busybox guests (plain init style: busybox init as PID 1).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "harness.hpp"
#include "sys/file.hpp"

namespace {

using it::Env;
using it::Result;

// A line of the guest's state record ("NAME": VALUE,), empty when not running.
std::string field(const Env& env, const std::string& g, const std::string& name) {
  auto text = vs::read_file_if_exists(env.run_root() / g / "state");
  if (!text) return {};
  auto pos = text->find(name);
  return pos == std::string::npos ? std::string() : text->substr(pos, text->find('\n', pos) - pos);
}

// The guest's init pid as the state record has it (empty when not running).
std::string init_pid(const Env& env, const std::string& g) {
  return field(env, g, "init_pid");
}

// A pid field of the state record ("init_pid", "supervisor_pid"); 0 when not running.
int pid_field(const Env& env, const std::string& g, const std::string& name) {
  std::string f = field(env, g, "\"" + name + "\"");
  auto colon = f.find(':');
  return colon == std::string::npos ? 0 : std::atoi(f.c_str() + colon + 1);
}

TEST(Reboot, RebootInsideRestartsTheGuestHaltStopsIt) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  std::string first = init_pid(env, g);
  ASSERT_FALSE(first.empty());
  std::string sup_before = field(env, g, "supervisor_pid");
  ASSERT_FALSE(sup_before.empty());
  std::string boot_id = vs::read_file("/proc/sys/kernel/random/boot_id");
  // Busybox reboot asks init (SIGTERM); init calls reboot(2), which ends the PID namespace.
  env.run({g, "exec", "reboot"});
  EXPECT_TRUE(it::wait_until([&] {
    std::string now = init_pid(env, g);
    return !now.empty() && now != first;
  })) << vs::read_file_if_exists(env.log_root() / (g + ".log")).value_or("");
  EXPECT_EQ(env.run({g, "running"}).rc, 0);
  // The restarted guest works, with a new init.
  Result r = env.run({g, "exec", "cat", "/proc/1/comm"});
  EXPECT_EQ(r.rc, 0) << r;
  // The same supervisor restarted it and became the monitor again; the new run's uptime starts
  // at its start (the monitor kept the host's clock, not the first run's).
  std::string state = vs::read_file(env.run_root() / g / "state");
  EXPECT_NE(state.find(sup_before), std::string::npos) << state;
  std::error_code ec;
  std::string sup = sup_before.substr(sup_before.find(':') + 1);
  sup = sup.substr(sup.find_first_not_of(' '));
  sup = sup.substr(0, sup.find_first_of(",\n"));
  auto exe = [&] { return std::filesystem::read_symlink("/proc/" + sup + "/exe", ec).filename(); };
  EXPECT_TRUE(it::wait_until([&] { return exe() == "vserver-monitor"; })) << exe();
  r = env.run({g, "exec", "cat", "/proc/uptime"});
  ASSERT_EQ(r.rc, 0) << r;
  double uptime = std::stod(r.out);
  EXPECT_GE(uptime, 0.0) << r;
  EXPECT_LT(uptime, 60.0) << r;
  // The host did not reboot.
  EXPECT_EQ(vs::read_file("/proc/sys/kernel/random/boot_id"), boot_id);

  env.run({g, "exec", "poweroff"});
  EXPECT_TRUE(it::wait_until([&] { return env.run({g, "status"}).rc == 3; }));
  it::expect_nothing_left(env, g);
  std::string log = vs::read_file_if_exists(env.log_root() / (g + ".log")).value_or("");
  EXPECT_NE(log.find("rebooted from inside"), std::string::npos) << log;
  EXPECT_NE(log.find("halted from inside"), std::string::npos) << log;
}

TEST(Reboot, VshelperActionHaltMakesARebootStop) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  env.write_config(g, "apps/vshelper/action", "halt\n");
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  env.run({g, "exec", "reboot"});
  EXPECT_TRUE(it::wait_until([&] { return env.run({g, "status"}).rc == 3; }));
  it::expect_nothing_left(env, g);
}

TEST(Reboot, VshelperEventHandlerRunsInsteadOfTheAction) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  std::filesystem::path mark = env.cfgdir(g) / "restart-ran";
  env.write_config(g, "apps/vshelper/restart",
                   "#!/bin/sh\necho \"$1 $2\" > " + mark.string() + "\n");
  std::filesystem::permissions(env.cfgdir(g) / "apps/vshelper/restart",
                               std::filesystem::perms::owner_all);
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  env.run({g, "exec", "reboot"});
  EXPECT_TRUE(it::wait_until([&] { return std::filesystem::exists(mark); }));
  std::string ctx = vs::read_file(env.cfgdir(g) / "context");
  EXPECT_EQ(vs::read_file_if_exists(mark).value_or(""), std::string(vs::trim(ctx)) + " restart\n");
  // The handler replaced the restart.
  EXPECT_TRUE(it::wait_until([&] { return env.run({g, "status"}).rc == 3; }));
}

TEST(Reboot, BadVshelperActionIsRefusedWithTheFileNamed) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  env.write_config(g, "apps/vshelper/action", "explode\n");
  Result r = env.run({g, "start"});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("apps/vshelper/action"), std::string::npos) << r;
  EXPECT_NE(r.err.find("explode"), std::string::npos) << r;
}

TEST(Reboot, StopIsNotTakenForAReboot) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  // An init that reboots on ctrl-alt-del (SIGINT, how a plain-style guest is stopped).
  std::ofstream(env.vdir(g) / "etc/inittab")
      << "::sysinit:/etc/init.d/rcS\n::ctrlaltdel:/sbin/reboot\n::shutdown:/bin/sync\n";
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  int sup = pid_field(env, g, "supervisor_pid");
  ASSERT_GT(sup, 0);
  it::Process supervisor(sup);
  Result r = env.run({g, "stop"});
  EXPECT_EQ(r.rc, 0) << r;
  // The supervisor ends once the guest is down and cleaned up, unless it took the stop for a
  // reboot: then it stays, running the guest again.
  EXPECT_TRUE(supervisor.wait_exited()) << "the supervisor is still there";
  EXPECT_EQ(env.run({g, "status"}).rc, 3);
  it::expect_nothing_left(env, g);
  std::string log = vs::read_file_if_exists(env.log_root() / (g + ".log")).value_or("");
  EXPECT_EQ(log.find("restarting"), std::string::npos) << log;
}

TEST(InitStyles, MinitStartAndStopCommandsRunInside) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest({"--initstyle", "minit"});
  std::ofstream(env.vdir(g) / "sbin/minit-start")
      << "#!/bin/sh\necho started > /started\n"
      << "trap 'exit 0' TERM\nwhile :; do sleep 1; done\n";
  std::ofstream(env.vdir(g) / "sbin/minit-stop") << "#!/bin/sh\necho stopped > /stopped\n"
                                                 << "kill -TERM 1\n";
  for (const char* f : {"sbin/minit-start", "sbin/minit-stop"}) {
    std::filesystem::permissions(env.vdir(g) / f, std::filesystem::perms::owner_all);
  }
  EXPECT_EQ(vs::read_file(env.cfgdir(g) / "apps/init/style"), "minit\n");
  Result r = env.run({g, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_TRUE(it::wait_until([&] { return std::filesystem::exists(env.vdir(g) / "started"); }));
  r = env.run({g, "stop"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_TRUE(std::filesystem::exists(env.vdir(g) / "stopped"));
  it::expect_nothing_left(env, g);
}

}  // namespace
