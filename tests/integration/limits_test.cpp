// Resource limits, seen from inside and from the host: the experiments of the Limoges
// Linux-VServer course (memory, address space, processes, virt_mem), live changes with
// `vserver NAME limit`, the cgroup/ passthrough and the failure paths. CPU shares are in
// serial/cpu_limits_test.cpp (they need the machine to themselves).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <nlohmann/json.hpp>

#include "cgroup/cgroup.hpp"
#include "harness.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace {

namespace fs = std::filesystem;
using it::Env;
using it::Result;

class Limits : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_ROOT();
    env_ = std::make_unique<Env>();
    g_ = env_->busybox_guest();
  }
  void start() {
    Result r = env_->run({g_, "start"});
    ASSERT_EQ(r.rc, 0) << r;
  }
  Result probe(const std::vector<std::string>& args) {
    std::vector<std::string> a{g_, "exec", "/bin/probe"};
    a.insert(a.end(), args.begin(), args.end());
    return env_->run(a);
  }
  Result in_guest(const std::string& script) { return env_->run({g_, "exec", "sh", "-c", script}); }
  nlohmann::json show() {
    Result r = env_->run({g_, "limit", "show", "--json"});
    EXPECT_EQ(r.rc, 0) << r;
    return nlohmann::json::parse(r.out);
  }
  // A cgroup file of the guest, by v2 name, or its v1 equivalent on a hybrid host.
  std::string cgroup_file(const std::string& v2, const std::string& v1) {
    auto h = vs::cgroup::Hierarchy::detect();
    if (h.layout == vs::cgroup::Layout::unified) {
      return std::string(vs::trim(vs::read_file(it::guest_cgroup(g_) / v2)));
    }
    std::string ctrl = v1.substr(0, v1.find('.'));
    for (const auto& d : it::guest_v1_cgroups(g_)) {
      if (fs::exists(d / v1)) return std::string(vs::trim(vs::read_file(d / v1)));
    }
    ADD_FAILURE() << "no v1 " << ctrl << " directory with " << v1;
    return {};
  }
  std::unique_ptr<Env> env_;
  std::string g_;
};

std::uint64_t meminfo_kb(const std::string& text, const std::string& key) {
  for (const auto& line : vs::split_lines(text)) {
    if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1));
  }
  ADD_FAILURE() << "no " << key << " in\n" << text;
  return 0;
}

// rlimits/rss.hard = 5000 pages (about 20 MiB): filling 30 MiB inside is killed by the guest's
// own memory limit; the host and a neighbour guest are untouched; limit show counts the hit.
TEST_F(Limits, RssHardLimitKillsInsideOnly) {
  env_->write_config(g_, "rlimits/rss.hard", "5000\n");
  start();
  std::string other = env_->busybox_guest();
  ASSERT_EQ(env_->run({other, "start"}).rc, 0);

  EXPECT_EQ(cgroup_file("memory.max", "memory.limit_in_bytes"),
            std::to_string(5000ULL * ::sysconf(_SC_PAGESIZE)));
  Result r = probe({"fill", "30"});
  EXPECT_EQ(r.rc, 128 + SIGKILL) << r;
  EXPECT_EQ(r.out.find("ok"), std::string::npos) << r;
  // Below the limit the same program is fine.
  r = probe({"fill", "5"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.out, "ok\n") << r;

  auto j = show();
  EXPECT_EQ(j["memory"]["limit"], 5000ULL * ::sysconf(_SC_PAGESIZE));
  ASSERT_TRUE(j["memory"]["hits"].is_number()) << j.dump();
  EXPECT_GE(j["memory"]["hits"].get<std::uint64_t>(), 1U) << j.dump();
  // Both guests still run, and the neighbour can use memory freely.
  EXPECT_EQ(env_->run({g_, "running"}).rc, 0);
  r = env_->run({other, "exec", "/bin/probe", "fill", "40"});
  EXPECT_EQ(r.out, "ok\n") << r;
  // The text view speaks in pages, as /proc/virtual/XID/limit did.
  r = env_->run({g_, "limit"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("5000"), std::string::npos) << r;
  EXPECT_NE(r.out.find("RSS"), std::string::npos) << r;
}

// rlimits/as.hard = 8000 pages (about 32 MiB): asking for 30 MiB more than fits fails with
// ENOMEM, and the program goes on.
TEST_F(Limits, AddressSpaceLimitFailsAllocationCleanly) {
  env_->write_config(g_, "rlimits/as.hard", "8000\n");
  start();
  Result r = probe({"alloc", "62"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.out, "ENOMEM\n") << r;
  r = probe({"alloc", "8"});
  EXPECT_EQ(r.out, "ok\n") << r;
  // The limit is per process, as RLIMIT_AS: the shell sees it too.
  r = in_guest("ulimit -v");
  EXPECT_EQ(r.out, std::to_string(8000ULL * ::sysconf(_SC_PAGESIZE) / 1024) + "\n") << r;
}

// The fork bomb's report: "forked N eagain E other O".
struct Bomb {
  long forked = -1, eagain = -1, other = -1;
};
Bomb parse_bomb(const std::string& out) {
  Bomb b;
  if (std::sscanf(out.c_str(), "forked %ld eagain %ld other %ld", &b.forked, &b.eagain, &b.other) !=
      3) {
    ADD_FAILURE() << "unexpected fork bomb report: " << out;
  }
  return b;
}

// A guest as `build` makes it, nothing changed: a bounded fork bomb inside stops at the default
// process limit with EAGAIN, which limit show counts, while the host still forks and another
// guest still starts and runs commands.
TEST_F(Limits, DefaultGuestStopsAForkBomb) {
  EXPECT_EQ(vs::read_file(env_->cfgdir(g_) / "limits/processes"), "1024\n");
  start();
  EXPECT_EQ(cgroup_file("pids.max", "pids.max"), "1024");
  EXPECT_EQ(cgroup_file("cpu.weight", "cpu.shares"),
            vs::cgroup::Hierarchy::detect().layout == vs::cgroup::Layout::unified ? "100" : "1024");

  // 1500 attempts, the children kept until the test removes the hold file.
  const fs::path hold = env_->vdir(g_) / "forkbomb.hold";
  auto bomb = std::async(std::launch::async, [&] {
    return probe({"forkbomb", "1500", "/forkbomb.hold"});
  });
  // Destroyed before bomb, whose destructor waits for the probe: released on every way out.
  struct Release {
    fs::path file;
    ~Release() {
      std::error_code ec;
      fs::remove(file, ec);
    }
  } release{hold};
  std::string report;
  it::wait_until(
      [&] {
        std::error_code ec;
        if (fs::exists(hold, ec)) report = vs::read_file(hold);
        return !report.empty();
      },
      std::chrono::seconds(60));
  ASSERT_FALSE(report.empty()) << "the fork bomb did not report";
  Bomb b = parse_bomb(report);
  EXPECT_GT(b.forked, 900) << report;
  EXPECT_LT(b.forked, 1024) << report;
  EXPECT_EQ(b.forked + b.eagain, 1500) << report;
  EXPECT_EQ(b.other, 0) << report;

  // The guest is at its limit, and the hits are counted.
  auto j = show();
  EXPECT_EQ(j["processes"]["limit"], 1024);
  ASSERT_TRUE(j["processes"]["current"].is_number()) << j.dump();
  EXPECT_GE(j["processes"]["current"].get<std::uint64_t>(), 1020U) << j.dump();
  ASSERT_TRUE(j["processes"]["hits"].is_number()) << j.dump();
  EXPECT_GE(j["processes"]["hits"].get<std::uint64_t>(), 1U) << j.dump();
  Result r = env_->run({g_, "limit"});
  EXPECT_NE(r.out.find("NPROC"), std::string::npos) << r;

  // Meanwhile the host forks, and another default guest starts and runs commands.
  r = env_->run_program("/bin/sh", {"-c", "for i in $(seq 50); do /bin/true & done; wait"});
  EXPECT_EQ(r.rc, 0) << r;
  std::string other = env_->busybox_guest();
  r = env_->run({other, "start"});
  EXPECT_EQ(r.rc, 0) << r;
  r = env_->run({other, "exec", "sh", "-c", "for i in 1 2 3 4 5; do true & done; wait; echo ok"});
  EXPECT_EQ(r.out, "ok\n") << r;

  fs::remove(hold);
  r = bomb.get();
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.out, report) << r;
  // Every child is gone again.
  EXPECT_TRUE(
      it::wait_until([&] { return show()["processes"]["current"].get<std::uint64_t>() <= 10; },
                     std::chrono::seconds(10)))
      << show().dump();
}

// util-vserver's rlimits/nproc = 50 (without the default limits/processes, which would conflict):
// the bomb stops there.
TEST_F(Limits, ForkBombStopsAtNproc) {
  fs::remove(env_->cfgdir(g_) / "limits/processes");  // the default; it conflicts with nproc
  env_->write_config(g_, "rlimits/nproc", "50\n");
  start();
  EXPECT_EQ(cgroup_file("pids.max", "pids.max"), "50");
  Result r = probe({"forkbomb", "200"});
  EXPECT_EQ(r.rc, 0) << r;
  Bomb b = parse_bomb(r.out);
  EXPECT_GT(b.forked, 30) << r;
  EXPECT_LT(b.forked, 50) << r;
  EXPECT_EQ(b.forked + b.eagain, 200) << r;
  // The host is unaffected: it forks and runs a command in the guest and on the host.
  EXPECT_EQ(env_->run_program("/bin/true", {}).rc, 0);
  EXPECT_EQ(in_guest("true").rc, 0);
  auto j = show();
  EXPECT_EQ(j["processes"]["limit"], 50);
  ASSERT_TRUE(j["processes"]["hits"].is_number()) << j.dump();
  EXPECT_GE(j["processes"]["hits"].get<std::uint64_t>(), 1U) << j.dump();
}

// A tree without the files build now writes (util-vserver's, or one that removed them) runs as
// before: no process limit, the default CPU weight; check says that the process limit is missing.
TEST_F(Limits, TreeWithoutDefaultsBehavesAsBefore) {
  Result r = env_->run({g_, "check"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.out.find("no process limit"), std::string::npos) << r;
  fs::remove_all(env_->cfgdir(g_) / "limits");
  fs::remove_all(env_->cfgdir(g_) / "sched");
  r = env_->run({g_, "check"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("note: no process limit (no limits/processes or rlimits/nproc)"),
            std::string::npos)
      << r;
  start();
  EXPECT_EQ(cgroup_file("pids.max", "pids.max"), "max");
  EXPECT_EQ(cgroup_file("cpu.weight", "cpu.shares"),
            vs::cgroup::Hierarchy::detect().layout == vs::cgroup::Layout::unified ? "100" : "1024");
  auto j = show();
  EXPECT_EQ(j["processes"]["limit"], "max") << j.dump();
  // An explicit max is no limit either, and check says so.
  env_->write_config(g_, "limits/processes", "max\n");
  r = env_->run({g_, "check"});
  EXPECT_NE(r.out.find("note: no process limit (limits/processes is max)"), std::string::npos) << r;
}

// virt_mem: MemTotal inside is the guest's memory limit.
TEST_F(Limits, VirtMemShowsTheLimitAsMemTotal) {
  env_->write_config(g_, "limits/memory", "64M\n");
  env_->write_config(g_, "cflags", "virt_mem\n");
  start();
  Result r = in_guest("cat /proc/meminfo");
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(meminfo_kb(r.out, "MemTotal"), 64U * 1024) << r;
  EXPECT_LE(meminfo_kb(r.out, "MemFree"), 64U * 1024) << r;
  // Tools that read the file agree (busybox free uses sysinfo(2), which is not virtualised).
  r = in_guest("awk '/^MemTotal/ {print $2}' /proc/meminfo");
  EXPECT_EQ(r.out, "65536\n") << r;
  // Without the flag the host's value shows.
  std::string host = vs::read_file("/proc/meminfo");
  EXPECT_NE(meminfo_kb(host, "MemTotal"), 64U * 1024);
}

// The /proc server can die without taking the guest or its files down for good.
TEST_F(Limits, ProcServerCrashIsSurvived) {
  env_->write_config(g_, "limits/memory", "48M\n");
  env_->write_config(g_, "cflags", "virt_mem\n");
  start();
  ASSERT_EQ(meminfo_kb(in_guest("cat /proc/meminfo").out, "MemTotal"), 48U * 1024);
  int killed = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string pid = e.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd;
    try {
      cmd = vs::read_file(e.path() / "cmdline");
    } catch (const vs::Error&) {
      continue;
    }
    if (cmd.find("vserver-procfs " + g_) != std::string::npos) {
      ASSERT_EQ(::kill(std::stoi(pid), SIGKILL), 0);
      ++killed;
    }
  }
  ASSERT_EQ(killed, 1);
  EXPECT_EQ(env_->run({g_, "running"}).rc, 0);
  // The supervisor starts another server on the same connection.
  std::uint64_t total = 0;
  it::wait_until(
      [&] {
        Result r = in_guest("cat /proc/meminfo");
        if (r.rc == 0) total = meminfo_kb(r.out, "MemTotal");
        return total == 48U * 1024;
      },
      std::chrono::seconds(5));
  EXPECT_EQ(total, 48U * 1024);
}

// virt_uptime (on by default): the guest's uptime starts at its start.
TEST_F(Limits, UptimeIsTheGuests) {
  auto before = std::chrono::steady_clock::now();
  start();
  Result r = in_guest("cat /proc/uptime");
  ASSERT_EQ(r.rc, 0) << r;
  double since = std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count();
  double inside = std::stod(r.out);
  double host = std::stod(vs::read_file("/proc/uptime"));
  // Not a second early: the offset is exact, not whole seconds (/proc/uptime has two decimals).
  EXPECT_LE(inside, since + 0.01) << r;
  EXPECT_LT(inside, host);
  // ~virt_uptime turns it off.
  std::string other = env_->busybox_guest();
  env_->write_config(other, "cflags", "~virt_uptime\n");
  ASSERT_EQ(env_->run({other, "start"}).rc, 0);
  r = env_->run({other, "exec", "cat", "/proc/uptime"});
  EXPECT_GE(std::stod(r.out) + 1.0, std::stod(vs::read_file("/proc/uptime")) - 60.0) << r;
}

// A live `limit set` lowers memory on a running guest at once; --save keeps it.
TEST_F(Limits, LiveSetTakesEffect) {
  start();
  Result r = probe({"fill", "40"});
  ASSERT_EQ(r.out, "ok\n") << r;
  r = env_->run({g_, "limit", "set", "memory", "24M"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(cgroup_file("memory.max", "memory.limit_in_bytes"), std::to_string(24ULL << 20));
  r = probe({"fill", "40"});
  EXPECT_EQ(r.rc, 128 + SIGKILL) << r;
  // Not saved: the configuration has no such file.
  EXPECT_FALSE(fs::exists(env_->cfgdir(g_) / "limits/memory"));
  // Unset gives it back; --save writes the file.
  r = env_->run({g_, "limit", "unset", "memory"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(probe({"fill", "40"}).out, "ok\n");
  r = env_->run({g_, "limit", "set", "processes", "40", "--save"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(cgroup_file("pids.max", "pids.max"), "40");
  EXPECT_EQ(vs::read_file(env_->cfgdir(g_) / "limits/processes"), "40\n");
  // A bad value is refused, naming the file, and nothing changes.
  r = env_->run({g_, "limit", "set", "limits/processes", "lots"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("limits/processes"), std::string::npos) << r;
  EXPECT_EQ(cgroup_file("pids.max", "pids.max"), "40");
  // util-vserver's file for the same limit conflicts with it, and says so.
  r = env_->run({g_, "limit", "set", "rlimits/nproc", "30"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("conflicts with rlimits/nproc"), std::string::npos) << r;
  // Per-process limits reach processes that already run.
  r = env_->run({g_, "limit", "set", "nofile", "123"});
  ASSERT_EQ(r.rc, 0) << r;
  r = in_guest("cat /proc/1/limits | grep 'open files'");
  EXPECT_NE(r.out.find("123"), std::string::npos) << r;
  // A stopped guest can only be changed with --save.
  ASSERT_EQ(env_->run({g_, "stop"}).rc, 0);
  r = env_->run({g_, "limit", "set", "memory", "32M"});
  EXPECT_NE(r.rc, 0) << r;
  r = env_->run({g_, "limit", "set", "memory", "32M", "--save"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(vs::read_file(env_->cfgdir(g_) / "limits/memory"), "32M\n");
}

// cgroup/ files are written verbatim into the guest's cgroup.
TEST_F(Limits, CgroupPassthrough) {
  env_->write_config(g_, "cgroup/pids.max", "33\n");
  start();
  EXPECT_EQ(cgroup_file("pids.max", "pids.max"), "33");
}

// A value the kernel refuses fails the start with the file and value named, and leaves nothing.
TEST_F(Limits, RefusedValueFailsStartCleanly) {
  env_->write_config(g_, "cpuset/cpus", std::to_string(::sysconf(_SC_NPROCESSORS_ONLN) + 7) + "\n");
  Result r = env_->run({g_, "start"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("cpuset.cpus"), std::string::npos) << r;
  it::expect_nothing_left(*env_, g_);
}

// A cpuset shows in /proc/cpuinfo and /proc/stat inside.
TEST_F(Limits, CpusetIsSeenInside) {
  env_->write_config(g_, "cpuset/cpus", "0\n");
  start();
  Result r = in_guest("grep -c ^processor /proc/cpuinfo");
  EXPECT_EQ(r.out, "1\n") << r;
  r = in_guest("grep -c '^cpu[0-9]' /proc/stat");
  EXPECT_EQ(r.out, "1\n") << r;
  r = in_guest("grep Cpus_allowed_list /proc/self/status");
  EXPECT_NE(r.out.find("\t0\n"), std::string::npos) << r;
}

// A cpuset set live, then unset live: the guest gets its parent's CPUs back.
TEST_F(Limits, LiveCpusetUnsetGivesTheCpusBack) {
  if (::sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "needs two CPUs";
  start();
  auto allowed = [](const std::string& status) {
    auto pos = status.find("Cpus_allowed_list:");
    return status.substr(pos, status.find('\n', pos) - pos);
  };
  std::string host = allowed(vs::read_file("/proc/self/status"));
  Result r = env_->run({g_, "limit", "set", "cpuset/cpus", "0"});
  ASSERT_EQ(r.rc, 0) << r;
  r = in_guest("cat /proc/self/status");
  EXPECT_EQ(allowed(r.out), "Cpus_allowed_list:\t0") << r;
  r = env_->run({g_, "limit", "unset", "cpuset/cpus"});
  ASSERT_EQ(r.rc, 0) << r;
  r = in_guest("cat /proc/self/status");
  EXPECT_EQ(allowed(r.out), host) << r;
  r = in_guest("nproc");
  EXPECT_EQ(r.out, std::to_string(::sysconf(_SC_NPROCESSORS_ONLN)) + "\n") << r;
}

// Stopping removes the cgroup directories of every hierarchy and the /proc server.
TEST_F(Limits, StopLeavesNothing) {
  env_->write_config(g_, "limits/memory", "64M\n");
  env_->write_config(g_, "cflags", "virt_mem\nvirt_load\n");
  start();
  Result r = in_guest("cat /proc/loadavg");
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), ' '), 4) << r;
  ASSERT_EQ(env_->run({g_, "stop"}).rc, 0);
  it::expect_nothing_left(*env_, g_);
}

}  // namespace
