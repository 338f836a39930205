// Start, stop, status, exec, enter and the unhappy paths of running guests.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "sys/file.hpp"

namespace {

using it::Env;
using it::Result;

int supervisor_pid(const Env& env, const std::string& name) {
  std::string s = vs::read_file(env.run_root() / name / "state");
  auto pos = s.find("\"supervisor_pid\":");
  return std::stoi(s.substr(pos + 17));
}

TEST(Lifecycle, StartStatusExecStopLeavesNothing) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest({"--context", "41001", "--hostname", "lifecycle"});
  Result r = env.run({g, "status"});
  EXPECT_EQ(r.rc, 3) << r;
  EXPECT_NE(r.out.find("is stopped"), std::string::npos) << r;
  EXPECT_EQ(env.run({g, "running"}).rc, 1);

  r = env.run({g, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(env.run({g, "running"}).rc, 0);
  r = env.run({g, "status"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("is running at context '41001'"), std::string::npos) << r;
  EXPECT_NE(r.out.find("Number of processes:"), std::string::npos) << r;
  EXPECT_NE(r.out.find("Uptime:"), std::string::npos) << r;

  r = env.run({g, "exec", "hostname"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.out, "lifecycle\n");

  r = env.run({g, "stop", "--timeout", "10"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(env.run({g, "status"}).rc, 3);
  it::expect_nothing_left(env, g);
  // Stopping a stopped guest is fine, as in util-vserver.
  r = env.run({g, "stop"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.err.find("is not running"), std::string::npos) << r;
}

// util-vserver's trees may have no context file: such a guest runs at a free id from 49152 on,
// and everything that reads its state record must take that id.
TEST(Lifecycle, GuestWithoutAContextFileRunsAtADynamicId) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  std::filesystem::remove(env.cfgdir(g) / "context");
  Result r = env.run({g, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  r = env.run({g, "status"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("is running at context '49152'"), std::string::npos) << r;
  r = env.run({g, "exec", "true"});
  EXPECT_EQ(r.rc, 0) << r;
  r = env.run({g, "stop", "--timeout", "10"});
  EXPECT_EQ(r.rc, 0) << r;
  it::expect_nothing_left(env, g);
}

TEST(Lifecycle, ExecForwardsExitStatusAndStdio) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  EXPECT_EQ(env.run({g, "exec", "sh", "-c", "exit 7"}).rc, 7);
  EXPECT_EQ(env.run({g, "exec", "sh", "-c", "kill -9 $$"}).rc, 137);
  Result r = env.run({g, "exec", "tr", "a-z", "A-Z"}, "hello guest\n");
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.out, "HELLO GUEST\n");
  r = env.run({g, "exec", "sh", "-c", "echo to-stderr >&2"});
  EXPECT_EQ(r.err, "to-stderr\n");
  r = env.run({g, "exec", "/no/such/program"});
  EXPECT_EQ(r.rc, 127) << r;
  EXPECT_NE(r.err.find("/no/such/program"), std::string::npos) << r;
  // suexec runs as the guest's user.
  r = env.run({g, "suexec", "nobody", "id", "-u"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.out, "65534\n");
  r = env.run({g, "suexec", "nosuchuser", "id"});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("nosuchuser"), std::string::npos) << r;
}

// The command line joins the guest itself: the command is its child, with no helper between.
TEST(Lifecycle, ExecCommandIsAChildOfTheCommandLine) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  std::string vserver = (env.config_root().parent_path() / "bin" / "vserver").string();
  it::Result r = env.run_program(
      "/bin/sh",
      {"-c", vserver + " " + g +
                 " exec sleep 5 & v=$!\n"
                 "for i in $(seq 50); do\n"
                 "  k=$(for p in $(cat /proc/$v/task/$v/children); do cat /proc/$p/comm; done)\n"
                 "  [ \"$k\" = sleep ] && break\n"
                 "  sleep 0.1\n"
                 "done\n"
                 "echo \"children: $k\"\n"
                 "kill $(cat /proc/$v/task/$v/children); wait $v\n"},
      "", 20);
  EXPECT_NE(r.out.find("children: sleep\n"), std::string::npos) << r;
  EXPECT_EQ(env.run({g, "stop"}).rc, 0);
  it::expect_nothing_left(env, g);
}

TEST(Lifecycle, ExecOnStoppedGuestFails) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  Result r = env.run({g, "exec", "true"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("supported for running vservers only"), std::string::npos) << r;
}

TEST(Lifecycle, EnterGetsAPseudoTerminal) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  Result r = env.run_on_pty({g, "enter"}, "tty; echo \"shell=$0\"; exit 3\n");
  EXPECT_EQ(r.rc, 3) << r;
  EXPECT_NE(r.out.find("/dev/pts/0"), std::string::npos) << r;
  EXPECT_NE(r.out.find("shell=-sh"), std::string::npos) << r;
  // Without a terminal, exec gets none.
  r = env.run({g, "exec", "tty"});
  EXPECT_NE(r.out.find("not a tty"), std::string::npos) << r;
}

TEST(Lifecycle, TwoStartsAtOnceStartOneGuest) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  Result a;
  Result b;
  std::thread t1([&] { a = env.run({g, "start"}); });
  std::thread t2([&] { b = env.run({g, "start"}); });
  t1.join();
  t2.join();
  EXPECT_EQ(a.rc, 0) << a;
  EXPECT_EQ(b.rc, 0) << b;
  std::string both = a.err + b.err;
  EXPECT_NE(both.find("already running"), std::string::npos) << a << b;
  // One init only.
  Result r = env.run({g, "exec", "ps"});
  EXPECT_EQ(r.rc, 0) << r;
  // Processes whose command is init (not /etc/init.d/rcS, which may still run).
  size_t inits = 0;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() >= 5 && line.compare(line.size() - 5, 5, " init") == 0) ++inits;
  }
  EXPECT_EQ(inits, 1U) << r;
}

TEST(Lifecycle, SupervisorKilledStatusAndStopStillWork) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  it::Process sup(supervisor_pid(env, g));
  ASSERT_TRUE(sup.signal(SIGKILL));
  // Gone for good (reaped by its parent, init or a subreaper), not only dying.
  ASSERT_TRUE(sup.wait_reaped()) << "the killed supervisor is still there";
  Result r = env.run({g, "status"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(env.run({g, "exec", "true"}).rc, 0);
  r = env.run({g, "stop", "--timeout", "10"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(env.run({g, "status"}).rc, 3);
  it::expect_nothing_left(env, g);
  // And it starts again.
  EXPECT_EQ(env.run({g, "start"}).rc, 0);
}

// The executable a process runs, and one field of its smaps_rollup (KiB).
std::string exe_name(int pid) {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec)
      .filename()
      .string();
}
long rollup_kib(int pid, const std::string& field) {
  std::string text = vs::read_file("/proc/" + std::to_string(pid) + "/smaps_rollup");
  auto pos = text.find("\n" + field + ":");
  return pos == std::string::npos ? -1 : std::stol(text.substr(pos + field.size() + 2));
}
int parent_of(int pid) {
  std::string text = vs::read_file("/proc/" + std::to_string(pid) + "/status");
  return std::stoi(text.substr(text.find("PPid:") + 5));
}
// Whether pid has executed vserver-monitor: its executable is the monitor's and its arguments are
// in place (/proc/PID/exe changes before the new program's arguments show in /proc/PID/cmdline).
bool runs_monitor(int pid) {
  auto cmdline = vs::read_file_if_exists("/proc/" + std::to_string(pid) + "/cmdline");
  return exe_name(pid) == "vserver-monitor" && cmdline && !cmdline->empty();
}

// A detached guest's supervisor turns into vserver-monitor while the guest runs: the same pid,
// still init's parent, shown as vserver-supervisor NAME, a fraction of the full binary's memory;
// the full binary comes back to clean up.
TEST(Lifecycle, DetachedSupervisorBecomesTheSmallMonitor) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  int sup = supervisor_pid(env, g);
  // The supervisor reports the start, then executes the monitor.
  EXPECT_TRUE(it::wait_until([&] { return runs_monitor(sup); })) << exe_name(sup);
  std::string cmdline = vs::read_file("/proc/" + std::to_string(sup) + "/cmdline");
  EXPECT_EQ(cmdline, std::string("vserver-supervisor\0", 19) + g + std::string("\0", 1));
  std::string state = vs::read_file(env.run_root() / g / "state");
  int init = std::stoi(state.substr(state.find("\"init_pid\":") + 11));
  EXPECT_EQ(parent_of(init), sup);
  // The full supervisor keeps about 240 KiB of private memory; the monitor a few pages.
  long dirty = rollup_kib(sup, "Private_Dirty");
  EXPECT_GE(dirty, 0);
  EXPECT_LT(dirty, 128) << "KiB private dirty of the supervisor";
  EXPECT_EQ(env.run({g, "exec", "true"}).rc, 0);
  Result r = env.run({g, "stop", "--timeout", "10"});
  EXPECT_EQ(r.rc, 0) << r;
  it::expect_nothing_left(env, g);
  std::string log = vs::read_file_if_exists(env.log_root() / (g + ".log")).value_or("");
  EXPECT_EQ(log.find("note:"), std::string::npos) << log;

  // Neither program is for running by hand.
  r = env.run_program(std::filesystem::path(VSERVER_BINARY).parent_path() / "vserver-monitor", {});
  EXPECT_EQ(r.rc, 2) << r;
  EXPECT_NE(r.err.find("not by hand"), std::string::npos) << r;
  r = env.run_as("vserver-supervisor", {g});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("not run by hand"), std::string::npos) << r;
}

// SIGTERM to the supervisor (a host shutdown) stops the guest as its init style wants, and the
// guest is not taken as rebooting: it stays down, and nothing is left.
TEST(Lifecycle, SupervisorTerminatedStopsTheGuestGracefully) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  int sup = supervisor_pid(env, g);
  it::Process supervisor(sup);
  it::wait_until([&] { return runs_monitor(sup); });
  ASSERT_TRUE(supervisor.signal(SIGTERM));
  EXPECT_TRUE(supervisor.wait_reaped(30000)) << "the supervisor is still there";
  EXPECT_EQ(env.run({g, "status"}).rc, 3);
  it::expect_nothing_left(env, g);
  std::string log = vs::read_file_if_exists(env.log_root() / (g + ".log")).value_or("");
  // busybox init asked with SIGINT (the plain style's signal) halts its PID namespace.
  EXPECT_NE(log.find("The system is going down"), std::string::npos) << log;
  EXPECT_EQ(log.find("restarting"), std::string::npos) << log;
}

// A guest whose /proc views are served keeps the full supervisor, which restarts the server.
TEST(Lifecycle, SupervisorOfAGuestWithProcViewsStaysWhole) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  env.write_config(g, "cflags", "virt_mem\n");
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  int sup = supervisor_pid(env, g);
  EXPECT_EQ(exe_name(sup), std::filesystem::path(VSERVER_BINARY).filename().string());
  Result r = env.run({g, "exec", "grep", "MemTotal", "/proc/meminfo"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(env.run({g, "stop", "--timeout", "10"}).rc, 0);
  it::expect_nothing_left(env, g);
}

TEST(Lifecycle, GuestInitKilledIsCleanedUpBySupervisor) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  ASSERT_EQ(env.run_as("vkill", {"-c", g, "-s", "KILL", "1"}).rc, 0);
  it::wait_until([&] { return !std::filesystem::exists(env.run_root() / g); },
                 std::chrono::seconds(5));
  EXPECT_EQ(env.run({g, "status"}).rc, 3);
  it::expect_nothing_left(env, g);
}

TEST(Lifecycle, FailedStartLeavesNothingBehind) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  env.write_config(g, "apps/init/style", "command\n");
  env.write_config(g, "apps/init/cmd.start", "/bin/no-such-init\n");
  Result r = env.run({g, "start"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("/bin/no-such-init"), std::string::npos) << r;
  EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r;
  it::expect_nothing_left(env, g);
  EXPECT_EQ(env.run({g, "status"}).rc, 3);
}

// The guest's first process fails after its clone: the user reads the phase, the failed call with
// its object and the errno text, in the background (through the supervisor's report) and in the
// foreground alike, and the start leaves nothing behind.
TEST(Lifecycle, FailureInTheGuestsFirstProcessNamesItsPhaseAndErrno) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  env.write_config(g, "fstab", "/dev/no-such-disk /mnt ext4 defaults 0 0\n");
  const std::string rootfs = "start guest " + g + ": failed in phase rootfs: mount ext4 on " +
                             (env.vdir(g) / "mnt").string() + ": No such file or directory";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{g, "start"}, std::vector<std::string>{g, "start", "-f"}}) {
    Result r = env.run(args);
    EXPECT_NE(r.rc, 0) << r;
    EXPECT_NE(r.err.find(rootfs), std::string::npos) << r;
    it::expect_nothing_left(env, g);
    EXPECT_EQ(env.run({g, "status"}).rc, 3);
  }
  env.write_config(g, "fstab", "none /tmp tmpfs size=16m,mode=1777 0 0\n");
  env.write_config(g, "apps/init/style", "command\n");
  env.write_config(g, "apps/init/cmd.start", "/bin/no-such-init\n");
  Result r = env.run({g, "start"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("start guest " + g + ": failed in phase init: execute init " +
                       "/bin/no-such-init in guest " + g + ": No such file or directory"),
            std::string::npos)
      << r;
  it::expect_nothing_left(env, g);
}

TEST(Lifecycle, BrokenConfigurationIsRefusedWithTheFileNamed) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  env.write_config(g, "context", "abc\n");
  env.write_config(g, "nice", "99\n");
  Result r = env.run({g, "start"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(
      r.err.find((env.cfgdir(g) / "context").string() + ": \"abc\" is not a context id (2..49151)"),
      std::string::npos)
      << r;
  it::expect_nothing_left(env, g);
  r = env.run({g, "check"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.out.find("/context"), std::string::npos) << r;
  EXPECT_NE(r.out.find("/nice"), std::string::npos) << r;
}

TEST(Lifecycle, MissingGuestExits5) {
  REQUIRE_ROOT();
  Env env;
  Result r = env.run({"nosuchguest", "start"});
  EXPECT_EQ(r.rc, 5) << r;
  EXPECT_NE(r.err.find("Can not find a vserver-setup"), std::string::npos) << r;
}

TEST(Lifecycle, ForegroundStartReturnsInitExitStatus) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  env.write_config(g, "apps/init/style", "command\n");
  env.write_config(g, "apps/init/cmd.start", "/bin/sh\n-c\necho in-guest-$(hostname); exit 4\n");
  Result r = env.run({g, "start", "--foreground"});
  EXPECT_EQ(r.rc, 4) << r;
  EXPECT_NE(r.out.find("in-guest-"), std::string::npos) << r;
  it::expect_nothing_left(env, g);
}

TEST(Lifecycle, CommandStyleStopUsesTheKillSequence) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  env.write_config(g, "apps/init/style", "command\n");
  // PID 1 ignores SIGTERM unless it installs a handler: the kill sequence must end it.
  env.write_config(g, "apps/init/cmd.start", "/bin/sleep\n100000\n");
  env.write_config(g, "apps/init/killseq", "15\n1\n9\n");
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  Result r = env.run({g, "stop", "--timeout", "1"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.err.find("kill sequence"), std::string::npos) << r;
  it::expect_nothing_left(env, g);
}

TEST(Lifecycle, RestartGivesANewInit) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  std::string before = vs::read_file(env.run_root() / g / "state");
  Result r = env.run({g, "restart"});
  EXPECT_EQ(r.rc, 0) << r;
  std::string after = vs::read_file(env.run_root() / g / "state");
  EXPECT_NE(before, after);
  EXPECT_EQ(env.run({g, "running"}).rc, 0);
}

TEST(Lifecycle, DeleteRefusesRunningGuestAndRemovesStoppedOne) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  Result r = env.run({g, "delete", "--yes"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_TRUE(std::filesystem::exists(env.vdir(g)));
  ASSERT_EQ(env.run({g, "stop"}).rc, 0);
  // Without a terminal and without --yes: refused.
  r = env.run({g, "delete"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_TRUE(std::filesystem::exists(env.cfgdir(g)));
  ASSERT_TRUE(std::filesystem::exists(env.log_root() / (g + ".log")));
  r = env.run({g, "delete", "--yes"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_FALSE(std::filesystem::exists(env.cfgdir(g)));
  EXPECT_FALSE(std::filesystem::exists(env.vdir(g)));
  // Nothing else of it is left: its console log, its lock, empty directories for unified guests
  // and bases.
  EXPECT_FALSE(std::filesystem::exists(env.log_root() / (g + ".log")));
  EXPECT_FALSE(std::filesystem::exists(env.run_root() / ".lock" / g));
  EXPECT_FALSE(std::filesystem::exists(env.vdir_root() / ".layers"));
  EXPECT_FALSE(std::filesystem::exists(env.vdir_root() / ".bases"));
}

}  // namespace

namespace {

// The name file is a display name: the guest is known on the host by its directory's name.
TEST(Lifecycle, NameFileIsADisplayName) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest({"--context", "41301"});
  env.write_config(g, "name", "display-name\n");
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  it::Result r = env.run({g, "status"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_TRUE(std::filesystem::exists(env.run_root() / g / "state"));
  EXPECT_FALSE(it::guest_processes(g).empty());
  // Another guest with the same context cannot run at the same time.
  std::string other = env.busybox_guest({"--context", "41302"});
  env.write_config(other, "context", "41301\n");
  // Even when its display name is the running guest's name.
  env.write_config(other, "name", g + "\n");
  r = env.run({other, "start"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("context 41301 is in use by running guest " + g), std::string::npos) << r;
  it::expect_nothing_left(env, other);
  EXPECT_EQ(env.run({g, "stop", "--timeout", "5"}).rc, 0);
  it::expect_nothing_left(env, g);
}

}  // namespace

namespace {

TEST(Lifecycle, DeleteAsksOnATerminal) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  it::Result r = env.run_on_pty({g, "delete"}, "n\n");
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.out.find("Are you sure you want to delete the vserver " + g), std::string::npos) << r;
  EXPECT_TRUE(std::filesystem::exists(env.cfgdir(g)));
  r = env.run_on_pty({g, "delete"}, "y\n");
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_FALSE(std::filesystem::exists(env.cfgdir(g)));
  EXPECT_FALSE(std::filesystem::exists(env.vdir(g)));
}

}  // namespace

namespace {

// The supervisor keeps none of the caller's descriptors: a command substitution over start ends.
TEST(Lifecycle, StartLeavesNoDescriptorOfTheCallerOpen) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  std::string vserver = (env.config_root().parent_path() / "bin" / "vserver").string();
  it::Result r = env.run_program(
      "/bin/sh", {"-c", "out=$(" + vserver + " " + g + " start 3>&1); echo started"}, "", 20);
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.out, "started\n") << r;
}

// --debug prints each step of the start, in order, with its time; the caller's standard error,
// where they go, is not kept open by the guest or its supervisor afterwards.
TEST(Lifecycle, DebugShowsTheStepsOfAStart) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  std::string vserver = (env.config_root().parent_path() / "bin" / "vserver").string();
  it::Result r = env.run_program(
      "/bin/sh", {"-c", "out=$(" + vserver + " " + g + " start --debug 2>&1); echo \"$out\""}, "",
      20);
  ASSERT_EQ(r.rc, 0) << r;
  std::vector<std::string> steps = {"lock held",
                                    "context ",
                                    "limits planned, storage prepared",
                                    "supervisor forked",
                                    "cgroup ",
                                    "(guest's first process): debug: ",
                                    "root filesystem mounted, pivot_root done",
                                    "seccomp and capabilities set; executing /sbin/init",
                                    "init runs",
                                    "state recorded",
                                    "the supervisor reports the guest running",
                                    "started"};
  std::size_t at = 0;
  for (const auto& s : steps) {
    auto found = r.out.find(s, at);
    ASSERT_NE(found, std::string::npos) << "step \"" << s << "\" missing or out of order:\n"
                                        << r.out;
    at = found;
  }
  // The supervisor says so once the clone returns: before its child's steps, or after them when
  // the child shared its memory (the supervisor waits for its execve then).
  auto cloned = r.out.find("guest's first process cloned");
  EXPECT_NE(cloned, std::string::npos) << r;
  EXPECT_LT(cloned, r.out.find("init runs")) << r;
  EXPECT_NE(r.out.find("vserver " + g + ": debug: +"), std::string::npos) << r;
  EXPECT_NE(r.out.find(" ms "), std::string::npos) << r;
  // The stop too; an exec's own --debug after its command is the command's.
  r = env.run({g, "exec", "echo", "--debug"});
  EXPECT_EQ(r.out, "--debug\n") << r;
  EXPECT_EQ(r.err, "") << r;
  r = env.run({"--debug", g, "stop"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.err.find("debug: +"), std::string::npos) << r;
  EXPECT_NE(r.err.find("stopped"), std::string::npos) << r;
  it::expect_nothing_left(env, g);
}

}  // namespace

namespace {

// A root whose /var/run points to /run (Debian's layout) gets a fresh /run, with /run/lock
// writable by all as Debian's mount scripts (which a guest does not run) would make it.
TEST(Lifecycle, FreshRunHasALockDirectory) {
  namespace fs = std::filesystem;
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  fs::path root = env.vdir(g);
  fs::create_directories(root / "run");
  fs::create_directories(root / "var");
  fs::remove_all(root / "var/run");
  fs::create_symlink("/run", root / "var/run");
  fs::remove_all(root / "var/lock");
  fs::create_symlink("/run/lock", root / "var/lock");
  std::ofstream(root / "run/stale.pid") << "1\n";
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  Result r = env.run({g, "exec", "stat", "-c", "%a", "/var/lock/", "/run/lock"});
  EXPECT_EQ(r.out, "1777\n1777\n") << r;
  r = env.run({g, "exec", "ls", "/run/stale.pid"});
  EXPECT_NE(r.rc, 0) << r;
  ASSERT_EQ(env.run({g, "stop"}).rc, 0);
  it::expect_nothing_left(env, g);
}

}  // namespace
