#include "procfs/procfs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::procfs {
namespace {

constexpr std::uint64_t MiB = 1024 * 1024;
constexpr std::uint64_t kMaxValue = std::numeric_limits<std::uint64_t>::max();

// ---------------------------------------------------------------------------------------------
// parse_cpu_list and views_for

TEST(ParseCpuList, RangesAndSingles) {
  EXPECT_EQ(parse_cpu_list("0-2,5"), (std::vector<unsigned>{0, 1, 2, 5}));
  EXPECT_EQ(parse_cpu_list("1"), (std::vector<unsigned>{1}));
  EXPECT_EQ(parse_cpu_list("0-1\n"), (std::vector<unsigned>{0, 1}));
  EXPECT_EQ(parse_cpu_list(" 3,1,1,2-3 "), (std::vector<unsigned>{1, 2, 3}));
  EXPECT_EQ(parse_cpu_list("4-4"), (std::vector<unsigned>{4}));
  EXPECT_TRUE(parse_cpu_list("").empty());
  EXPECT_TRUE(parse_cpu_list("\n").empty());
}

TEST(ParseCpuList, RejectsMalformedLists) {
  for (const char* bad :
       {"a", "2-1", "1-", "-1", "1,,2", "1:2", "0-3:1/2", "99999999", "1 2", ",", "0x1"}) {
    try {
      parse_cpu_list(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("parse cpu list"), std::string::npos) << e.what();
    }
  }
}

TEST(ViewsFor, FlagsAndCpuset) {
  config::GuestConfig cfg;
  EXPECT_FALSE(views_for(cfg).any());
  EXPECT_TRUE(views_for(cfg).files().empty());

  cfg.cflags = {"virt_mem"};
  Views v = views_for(cfg);
  EXPECT_TRUE(v.meminfo && v.swaps);
  EXPECT_FALSE(v.loadavg || v.cpuinfo || v.stat);
  EXPECT_EQ(v.files(), (std::vector<std::string>{"meminfo", "swaps"}));

  cfg.cflags = {"virt_load", "virt_uptime"};  // uptime is a time namespace, not a view
  v = views_for(cfg);
  EXPECT_TRUE(v.loadavg);
  EXPECT_EQ(v.files(), (std::vector<std::string>{"loadavg"}));

  cfg.cflags = {"virt_cpu"};
  v = views_for(cfg);
  EXPECT_EQ(v.files(), (std::vector<std::string>{"cpuinfo", "stat"}));

  cfg.cflags.clear();
  cfg.cpuset.cpus = "1";
  EXPECT_EQ(views_for(cfg).files(), (std::vector<std::string>{"cpuinfo", "stat"}));
  cfg.cpuset.cpus = " ";
  EXPECT_FALSE(views_for(cfg).any());

  cfg.cflags = {"virt_mem", "virt_load", "virt_cpu"};
  EXPECT_EQ(views_for(cfg).files(),
            (std::vector<std::string>{"meminfo", "swaps", "loadavg", "cpuinfo", "stat"}));
}

// ---------------------------------------------------------------------------------------------
// meminfo and swaps

const char* const kHostMeminfo =
    "MemTotal:       16384000 kB\n"
    "MemFree:         8000000 kB\n"
    "MemAvailable:   12000000 kB\n"
    "Buffers:          300000 kB\n"
    "Cached:          3000000 kB\n"
    "SwapCached:         1000 kB\n"
    "Active:          4000000 kB\n"
    "Inactive:        2000000 kB\n"
    "Active(anon):    2500000 kB\n"
    "Inactive(anon):   500000 kB\n"
    "Active(file):    1500000 kB\n"
    "Inactive(file):  1500000 kB\n"
    "Unevictable:           0 kB\n"
    "SwapTotal:       2097148 kB\n"
    "SwapFree:        1500000 kB\n"
    "Dirty:               100 kB\n"
    "AnonPages:       3000000 kB\n"
    "Shmem:             50000 kB\n"
    "SReclaimable:     200000 kB\n"
    "VmallocTotal:   34359738367 kB\n"
    "HugePages_Total:       0\n"
    "Hugepagesize:       2048 kB\n";

// The value of KEY in a meminfo text, or -1.
long long field(const std::string& text, const std::string& key) {
  for (const auto& line : split_lines(text)) {
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1));
  }
  return -1;
}

std::string line_of(const std::string& text, const std::string& key) {
  for (const auto& line : split_lines(text)) {
    if (line.rfind(key + ":", 0) == 0) return line;
  }
  return {};
}

TEST(RenderMeminfo, NoLimitShowsTheHost) {
  EXPECT_EQ(render_meminfo(kHostMeminfo, MemFacts{}), kHostMeminfo);
  MemFacts v2max;
  v2max.memory_max = kMaxValue;
  v2max.memory_current = 100 * MiB;
  v2max.swap_max = kMaxValue;
  EXPECT_EQ(render_meminfo(kHostMeminfo, v2max), kHostMeminfo);
  MemFacts v1max;
  v1max.memory_max = 9223372036854771712ULL;  // cgroup v1's "unlimited"
  v1max.memory_current = 100 * MiB;
  EXPECT_EQ(render_meminfo(kHostMeminfo, v1max), kHostMeminfo);
}

TEST(RenderMeminfo, LimitBecomesMemTotal) {
  MemFacts f;
  f.memory_max = 512 * MiB;
  f.memory_current = 128 * MiB;
  f.memory_file = 32 * MiB;
  f.stat = {{"active_file", 16 * MiB},    {"inactive_file", 8 * MiB}, {"active_anon", 64 * MiB},
            {"inactive_anon", 4 * MiB},   {"anon", 90 * MiB},         {"shmem", 1 * MiB},
            {"slab_reclaimable", 2 * MiB}};
  std::string out = render_meminfo(kHostMeminfo, f);
  EXPECT_EQ(line_of(out, "MemTotal"), "MemTotal:         524288 kB");
  EXPECT_EQ(field(out, "MemFree"), 524288 - 131072);
  EXPECT_EQ(field(out, "MemAvailable"), 524288 - 131072 + 16384 + 8192 + 2048);
  EXPECT_EQ(field(out, "Buffers"), 0);
  EXPECT_EQ(field(out, "Cached"), 32768);
  EXPECT_EQ(field(out, "SwapCached"), 0);
  EXPECT_EQ(field(out, "Active"), 65536 + 16384);
  EXPECT_EQ(field(out, "Inactive"), 4096 + 8192);
  EXPECT_EQ(field(out, "Active(file)"), 16384);
  EXPECT_EQ(field(out, "AnonPages"), 92160);
  EXPECT_EQ(field(out, "Shmem"), 1024);
  EXPECT_EQ(field(out, "SReclaimable"), 2048);
  // No swap accounting: the host's swap.
  EXPECT_EQ(field(out, "SwapTotal"), 2097148);
  EXPECT_EQ(field(out, "SwapFree"), 1500000);
  // Lines without a guest value stay the host's, in the host's order.
  EXPECT_EQ(line_of(out, "VmallocTotal"), "VmallocTotal:   34359738367 kB");
  EXPECT_EQ(line_of(out, "HugePages_Total"), "HugePages_Total:       0");
  EXPECT_EQ(field(out, "Dirty"), 100);  // no file_dirty in the stat
  EXPECT_EQ(split_lines(out).size(), split_lines(kHostMeminfo).size());
  EXPECT_EQ(split_lines(out).back(), "Hugepagesize:       2048 kB");
}

TEST(RenderMeminfo, CgroupV1StatKeys) {
  MemFacts f;
  f.memory_max = 1024 * MiB;
  f.memory_current = 200 * MiB;
  f.memory_file = 50 * MiB;
  f.stat = {{"cache", 1 * MiB},  // the cgroup's own, not the hierarchy's: not used
            {"total_active_file", 30 * MiB},
            {"total_inactive_file", 20 * MiB},
            {"total_rss", 150 * MiB},
            {"total_dirty", 3 * MiB}};
  std::string out = render_meminfo(kHostMeminfo, f);
  EXPECT_EQ(field(out, "MemTotal"), 1048576);
  EXPECT_EQ(field(out, "Active(file)"), 30720);
  EXPECT_EQ(field(out, "AnonPages"), 153600);
  EXPECT_EQ(field(out, "Dirty"), 3072);
  EXPECT_EQ(field(out, "MemAvailable"), 1048576 - 204800 + 51200);
}

TEST(RenderMeminfo, LimitAboveTheHostIsCappedByIt) {
  MemFacts f;
  f.memory_max = 64 * 1024 * MiB;
  f.memory_current = 1024 * MiB;
  std::string out = render_meminfo(kHostMeminfo, f);
  EXPECT_EQ(field(out, "MemTotal"), 16384000);
  EXPECT_EQ(field(out, "MemFree"), 16384000 - 1048576);
}

TEST(RenderMeminfo, UsageAboveLimitLeavesNothingFree) {
  MemFacts f;
  f.memory_max = 512 * MiB;
  f.memory_current = 600 * MiB;  // after the limit was lowered below the usage
  f.memory_file = 700 * MiB;
  f.stat = {{"active_file", 400 * MiB}, {"inactive_file", 300 * MiB}};
  std::string out = render_meminfo(kHostMeminfo, f);
  EXPECT_EQ(field(out, "MemTotal"), 524288);
  EXPECT_EQ(field(out, "MemFree"), 0);
  EXPECT_EQ(field(out, "Cached"), 524288);
  EXPECT_EQ(field(out, "MemAvailable"), 524288);
  EXPECT_EQ(field(out, "Active(file)"), 409600);
  EXPECT_EQ(field(out, "Inactive(file)"), 307200);
}

TEST(RenderMeminfo, SwapFromTheSwapLimit) {
  MemFacts f;
  f.memory_max = 512 * MiB;
  f.memory_current = 100 * MiB;
  f.swap_max = 256 * MiB;
  f.swap_current = 64 * MiB;
  std::string out = render_meminfo(kHostMeminfo, f);
  EXPECT_EQ(field(out, "SwapTotal"), 262144);
  EXPECT_EQ(field(out, "SwapFree"), 262144 - 65536);

  f.swap_current = 300 * MiB;  // more than the limit: nothing free, never negative
  out = render_meminfo(kHostMeminfo, f);
  EXPECT_EQ(field(out, "SwapFree"), 0);

  f.swap_max = 8 * 1024 * MiB;  // more than the host has
  f.swap_current = 0;
  out = render_meminfo(kHostMeminfo, f);
  EXPECT_EQ(field(out, "SwapTotal"), 2097148);
  EXPECT_EQ(field(out, "SwapFree"), 2097148);

  f.swap_max = 0;
  out = render_meminfo(kHostMeminfo, f);
  EXPECT_EQ(field(out, "SwapTotal"), 0);
  EXPECT_EQ(field(out, "SwapFree"), 0);
}

TEST(RenderMeminfo, SwapUnlimitedIsTheHostsLessTheGuestsUse) {
  MemFacts f;
  f.memory_max = 512 * MiB;
  f.memory_current = 100 * MiB;
  f.swap_max = kMaxValue;
  f.swap_current = 100 * MiB;
  std::string out = render_meminfo(kHostMeminfo, f);
  EXPECT_EQ(field(out, "MemTotal"), 524288);
  EXPECT_EQ(field(out, "SwapTotal"), 2097148);
  EXPECT_EQ(field(out, "SwapFree"), 2097148 - 102400);
}

TEST(RenderMeminfo, OnlySwapLimited) {
  MemFacts f;
  f.memory_max = kMaxValue;
  f.memory_current = 100 * MiB;
  f.swap_max = 128 * MiB;
  f.swap_current = 0;
  std::string out = render_meminfo(kHostMeminfo, f);
  EXPECT_EQ(field(out, "MemTotal"), 16384000);
  EXPECT_EQ(field(out, "MemFree"), 8000000);
  EXPECT_EQ(field(out, "SwapTotal"), 131072);
}

TEST(MemFacts, FromUsageAndStat) {
  cgroup::Usage u;
  u.memory_max = 512 * MiB;
  u.memory_current = 10 * MiB;
  u.memory_file = 2 * MiB;
  u.swap_max = 0;
  u.swap_current = 0;
  MemFacts f = mem_facts(u, "anon 1048576\nfile 2097152\nbroken\nweird x\n");
  EXPECT_EQ(f.memory_max, 512 * MiB);
  EXPECT_EQ(f.memory_current, 10 * MiB);
  EXPECT_EQ(f.memory_file, 2 * MiB);
  EXPECT_EQ(f.swap_max, 0U);
  EXPECT_EQ(f.stat.size(), 2U);
  EXPECT_EQ(f.stat.at("anon"), MiB);
}

const char* const kHostSwaps =
    "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    "/dev/sda2                               partition\t2097148\t\t10240\t\t-2\n";

TEST(RenderSwaps, HostWithoutSwapLimit) {
  EXPECT_EQ(render_swaps(kHostSwaps, MemFacts{}), kHostSwaps);
  MemFacts f;
  f.memory_max = 512 * MiB;
  f.swap_max = kMaxValue;
  EXPECT_EQ(render_swaps(kHostSwaps, f), kHostSwaps);
}

TEST(RenderSwaps, OneVirtualAreaOfTheLimit) {
  MemFacts f;
  f.memory_max = 512 * MiB;
  f.swap_max = 256 * MiB;
  f.swap_current = 64 * MiB;
  std::string out = render_swaps(kHostSwaps, f);
  auto lines = split_lines(out);
  ASSERT_EQ(lines.size(), 2U) << out;
  EXPECT_EQ(lines[0], "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority");
  EXPECT_EQ(lines[1], std::string("none") + std::string(36, ' ') + "virtual\t262144\t\t65536\t\t0");

  f.swap_max = 0;
  EXPECT_EQ(split_lines(render_swaps(kHostSwaps, f)).size(), 1U);
  f.swap_max = 256 * MiB;  // a host without swap has none to give
  EXPECT_EQ(render_swaps("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n", f),
            "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
}

// ---------------------------------------------------------------------------------------------
// loadavg

TEST(LoadAverage, FirstSampleAsTheKernel) {
  LoadAverage l;
  EXPECT_EQ(render_loadavg(l, TaskCount{}), "0.00 0.00 0.00 0/0 0\n");
  l.sample(1);
  // calc_load(0, EXP_1, FIXED_1) = (2048 * 164 + 2047) / 2048 = 164, shown as 0.08.
  EXPECT_EQ(l.fixed()[0], 164U);
  EXPECT_EQ(l.fixed()[1], 34U);
  EXPECT_EQ(l.fixed()[2], 11U);
  EXPECT_EQ(render_loadavg(l, TaskCount{1, 1, 3}), "0.08 0.02 0.01 1/3 0\n");
}

TEST(LoadAverage, FollowsTheExponentialWindows) {
  LoadAverage l;
  for (int i = 0; i < 12; ++i) l.sample(2);  // one minute of 2 runnable tasks
  auto shown = [](unsigned long v) { return static_cast<double>(v) / LoadAverage::kFixed1; };
  EXPECT_NEAR(shown(l.fixed()[0]), 2 * (1 - std::exp(-1.0)), 0.02);
  EXPECT_NEAR(shown(l.fixed()[1]), 2 * (1 - std::exp(-1.0 / 5)), 0.02);
  EXPECT_NEAR(shown(l.fixed()[2]), 2 * (1 - std::exp(-1.0 / 15)), 0.02);
  for (int i = 0; i < 2000; ++i) l.sample(2);
  EXPECT_EQ(render_loadavg(l, TaskCount{2, 2, 2}), "2.00 2.00 2.00 2/2 0\n");
  for (int i = 0; i < 12; ++i) l.sample(0);
  EXPECT_NEAR(shown(l.fixed()[0]), 2 * std::exp(-1.0), 0.02);
  for (int i = 0; i < 5000; ++i) l.sample(0);
  EXPECT_EQ(render_loadavg(l, TaskCount{0, 0, 5}), "0.00 0.00 0.00 0/5 0\n");
}

// ---------------------------------------------------------------------------------------------
// cpuinfo and stat

const char* const kHostCpuinfo =
    "processor\t: 0\n"
    "vendor_id\t: GenuineIntel\n"
    "model name\t: CPU zero\n"
    "core id\t\t: 0\n"
    "\n"
    "processor\t: 1\n"
    "vendor_id\t: GenuineIntel\n"
    "model name\t: CPU one\n"
    "core id\t\t: 1\n"
    "\n";

TEST(RenderCpuinfo, CpusetOneOnATwoCpuHostIsCpuZero) {
  std::string out = render_cpuinfo(kHostCpuinfo, {1});
  EXPECT_EQ(out,
            "processor\t: 0\n"
            "vendor_id\t: GenuineIntel\n"
            "model name\t: CPU one\n"
            "core id\t\t: 1\n"
            "\n");
}

TEST(RenderCpuinfo, AllCpusOrNoneIsTheHost) {
  EXPECT_EQ(render_cpuinfo(kHostCpuinfo, {0, 1}), kHostCpuinfo);
  EXPECT_EQ(render_cpuinfo(kHostCpuinfo, {}), kHostCpuinfo);
  EXPECT_EQ(render_cpuinfo(kHostCpuinfo, {7}), kHostCpuinfo);  // offline: no CPU left
}

TEST(RenderCpuinfo, RenumbersInOrderAndKeepsOtherBlocks) {
  std::string host =
      "processor\t: 0\nBogoMIPS\t: 50.00\n\n"
      "processor\t: 2\nBogoMIPS\t: 52.00\n\n"
      "processor\t: 5\nBogoMIPS\t: 55.00\n\n"
      "Hardware\t: Some Board\nRevision\t: 0000\n";
  EXPECT_EQ(render_cpuinfo(host, {2, 5, 9}),
            "processor\t: 0\nBogoMIPS\t: 52.00\n\n"
            "processor\t: 1\nBogoMIPS\t: 55.00\n\n"
            "Hardware\t: Some Board\nRevision\t: 0000\n");
}

const char* const kHostStat =
    "cpu  300 10 200 9000 50 0 5 0 0 0\n"
    "cpu0 100 4 80 4600 20 0 2 0 0 0\n"
    "cpu1 200 6 120 4400 30 0 3 0 0 0\n"
    "intr 123456 1 2 3\n"
    "ctxt 987654\n"
    "btime 1700000000\n"
    "processes 4242\n"
    "procs_running 2\n"
    "procs_blocked 0\n"
    "softirq 5555 1 2 3\n";

TEST(RenderStat, CpusetOneOnATwoCpuHostIsCpuZero) {
  EXPECT_EQ(render_stat(kHostStat, {1}),
            "cpu  200 6 120 4400 30 0 3 0 0 0\n"
            "cpu0 200 6 120 4400 30 0 3 0 0 0\n"
            "intr 123456 1 2 3\n"
            "ctxt 987654\n"
            "btime 1700000000\n"
            "processes 4242\n"
            "procs_running 2\n"
            "procs_blocked 0\n"
            "softirq 5555 1 2 3\n");
}

TEST(RenderStat, TotalIsTheSumOfTheGuestsCpus) {
  std::string out = render_stat(kHostStat, {0, 1});
  EXPECT_EQ(split_lines(out)[0], "cpu  300 10 200 9000 50 0 5 0 0 0");
  EXPECT_EQ(split_lines(out)[2], "cpu1 200 6 120 4400 30 0 3 0 0 0");
  std::string four =
      "cpu  1 1 1 1\ncpu0 1 0 0 0\ncpu1 0 1 0 0\ncpu2 0 0 1 0\ncpu3 0 0 0 1\nctxt 1\n";
  EXPECT_EQ(render_stat(four, {1, 3}), "cpu  0 1 0 1\ncpu0 0 1 0 0\ncpu1 0 0 0 1\nctxt 1\n");
  EXPECT_EQ(render_stat(kHostStat, {}), kHostStat);
  EXPECT_EQ(render_stat(kHostStat, {4}), kHostStat);
}

// ---------------------------------------------------------------------------------------------
// The real thing, as root: a server on a throwaway cgroup, the views mounted in a mount namespace
// of a child, read from another, the server killed and restarted, then everything gone.

bool have_fuse() {
  if (::geteuid() != 0) return false;
  int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

bool is_cgroup2(const std::string& path) {
  struct statfs s {};
  return ::statfs(path.c_str(), &s) == 0 && s.f_type == 0x63677270;  // CGROUP2_SUPER_MAGIC
}

// A throwaway cgroup: the v2 directory and, on a hybrid host, v1 memory and cpuset directories
// below the test's own. The limits are set where the host allows it.
struct TestCgroup {
  fs::path v2;
  std::map<std::string, fs::path> v1;
  bool memory_limited = false;
  bool swap_limited = false;
  bool cpuset_one = false;

  static std::optional<TestCgroup> make(const std::string& leaf) {
    TestCgroup t;
    std::string root;
    if (is_cgroup2("/sys/fs/cgroup/unified")) {
      root = "/sys/fs/cgroup/unified";
    } else if (is_cgroup2("/sys/fs/cgroup")) {
      root = "/sys/fs/cgroup";
    } else {
      return std::nullopt;
    }
    t.v2 = fs::path(root) / leaf;
    if (::mkdir(t.v2.c_str(), 0755) < 0) return std::nullopt;
    bool two_cpus = std::thread::hardware_concurrency() >= 2;
    auto try_write = [](const fs::path& p, const std::string& v) {
      try {
        write_existing(p, v);
        return true;
      } catch (const Error&) {
        return false;
      }
    };
    if (root == "/sys/fs/cgroup/unified") {
      // Hybrid: v1 hierarchies, each below the test's own cgroup there.
      for (const auto& line : split_lines(read_file("/proc/self/cgroup"))) {
        auto a = line.find(':');
        auto b = line.find(':', a + 1);
        std::string ctrl = line.substr(a + 1, b - a - 1);
        if (ctrl != "memory" && ctrl != "cpuset") continue;
        fs::path dir = fs::path("/sys/fs/cgroup") / ctrl;
        dir += line.substr(b + 1);
        dir /= leaf;
        if (::mkdir(dir.c_str(), 0755) < 0) continue;
        t.v1[ctrl] = dir;
      }
      if (t.v1.contains("memory")) {
        t.memory_limited = try_write(t.v1["memory"] / "memory.limit_in_bytes", "268435456");
        t.swap_limited = t.memory_limited &&
                         try_write(t.v1["memory"] / "memory.memsw.limit_in_bytes", "335544320");
      }
      if (t.v1.contains("cpuset") && two_cpus) {
        auto mems = read_file(t.v1["cpuset"].parent_path() / "cpuset.effective_mems");
        t.cpuset_one = try_write(t.v1["cpuset"] / "cpuset.mems", std::string(trim(mems))) &&
                       try_write(t.v1["cpuset"] / "cpuset.cpus", "1");
      }
    } else {
      try_write(fs::path(root) / "cgroup.subtree_control", "+memory +cpuset");
      t.memory_limited = try_write(t.v2 / "memory.max", "268435456");
      t.swap_limited = t.memory_limited && try_write(t.v2 / "memory.swap.max", "67108864");
      t.cpuset_one = two_cpus && try_write(t.v2 / "cpuset.cpus", "1");
    }
    return t;
  }

  void attach(pid_t pid) const {
    write_existing(v2 / "cgroup.procs", std::to_string(pid));
    if (v1.contains("memory"))
      write_existing(v1.at("memory") / "cgroup.procs", std::to_string(pid));
  }

  void remove() const {
    for (const auto& [ctrl, dir] : v1) ::rmdir(dir.c_str());
    ::rmdir(v2.c_str());
  }
};

// Runs fn in a child process that joined the mount namespace nsfd; returns what it wrote to out,
// or "ERR <errno>" when it threw an Error.
std::string in_namespace(int nsfd, const std::function<std::string()>& fn) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe", "");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    std::string out;
    try {
      if (::setns(nsfd, CLONE_NEWNS) < 0) throw_errno("setns", "mnt");
      out = fn();
    } catch (const Error& e) {
      out = "ERR " + std::to_string(e.code()) + " " + e.what();
    }
    write_all(p[1], out, "pipe");
    ::_exit(0);
  }
  ::close(p[1]);
  std::string out = read_fd(p[0]);
  ::close(p[0]);
  ::waitpid(pid, nullptr, 0);
  return out;
}

std::string read_in(int nsfd, const std::string& path) {
  return in_namespace(nsfd, [&] { return read_file(path); });
}

// Opens path for writing in the namespace: "ok" or the errno.
std::string write_open_in(int nsfd, const std::string& path) {
  return in_namespace(nsfd, [&]() -> std::string {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
      return "ok";
    }
    return std::strerror(errno);
  });
}

// A reader in the namespace that keeps PATH open across a server restart, as top keeps
// /proc/stat: it reads the file, waits for the go-ahead, reads it again from offset 0.
struct Holder {
  pid_t pid = -1;
  int go = -1, first = -1, second = -1;
};

std::string pread_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(out.size()));
    if (n < 0) throw_errno("pread", "held file");
    if (n == 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

Holder hold_open(int nsfd, const std::string& path) {
  int go[2], first[2], second[2];
  if (::pipe2(go, O_CLOEXEC) < 0 || ::pipe2(first, O_CLOEXEC) < 0 ||
      ::pipe2(second, O_CLOEXEC) < 0) {
    throw_errno("pipe", "");
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    std::string a, b;
    try {
      if (::setns(nsfd, CLONE_NEWNS) < 0) throw_errno("setns", "mnt");
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw_errno("open", path);
      a = pread_all(fd);
      write_all(first[1], a, "pipe");
      ::close(first[1]);
      char c;
      if (::read(go[0], &c, 1) != 1) ::_exit(1);
      b = pread_all(fd);
    } catch (const Error& e) {
      b = e.what();
    }
    write_all(second[1], b, "pipe");
    ::_exit(0);
  }
  ::close(go[0]);
  ::close(first[1]);
  ::close(second[1]);
  return Holder{pid, go[1], first[0], second[0]};
}

// A child that unshares its mount namespace, mounts a tmpfs "root" with ROOT/proc/{files,driver},
// mounts the views, and stays until told to go; returns a descriptor of its mount namespace, or
// the error text in *error.
int guest_namespace(int fuse_fd, const std::string& root, const Views& views,
                    detail::MountMethod method, const std::vector<std::string>& cover,
                    std::string* error) {
  int report[2], go[2];
  if (::pipe2(report, O_CLOEXEC) < 0 || ::pipe2(go, O_CLOEXEC) < 0) throw_errno("pipe", "");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(report[0]);
    ::close(go[1]);
    std::string result = "ok";
    try {
      if (::unshare(CLONE_NEWNS) < 0) throw_errno("unshare", "mnt");
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) {
        throw_errno("make private", "/");
      }
      if (::mount("tmpfs", root.c_str(), "tmpfs", 0, "mode=0755") < 0) {
        throw_errno("mount tmpfs on", root);
      }
      fs::create_directories(root + "/proc/driver");
      for (const auto& f : cover) write_file(root + "/proc/" + f, "host file " + f + "\n");
      detail::mount_views(fuse_fd, root, views, method);
    } catch (const std::exception& e) {
      result = e.what();
    }
    write_all(report[1], result, "pipe");
    ::close(report[1]);
    char c;
    while (::read(go[0], &c, 1) > 0) {
    }
    ::_exit(0);
  }
  ::close(report[1]);
  ::close(go[0]);
  std::string result = read_fd(report[0]);
  ::close(report[0]);
  int nsfd = -1;
  if (result == "ok") {
    nsfd = ::open(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC);
  } else {
    *error = result;
  }
  ::close(go[1]);
  ::waitpid(pid, nullptr, 0);
  return nsfd;
}

// Waits up to timeout_ms for pid to exit; its wait status, or nullopt if it is still running.
std::optional<int> wait_exit(pid_t pid, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    ::poll(nullptr, 0, 10);
  }
  return std::nullopt;
}

// Polls pred every 10 ms for up to timeout_ms.
bool eventually(const std::function<bool()>& pred, int timeout_ms = 5000) {
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    if (pred()) return true;
    ::poll(nullptr, 0, 10);
  }
  return false;
}

// Processes whose command line reads "vserver-procfs NAME" (as ps shows it: arguments joined by
// spaces).
int servers_named(const std::string& name) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string pid = e.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    try {
      std::string cmdline = read_file(e.path() / "cmdline");
      std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
      if (trim(cmdline) == "vserver-procfs " + name) ++n;
    } catch (const Error&) {
    }
  }
  return n;
}

const char* const kFakeCpuinfo =
    "processor\t: 0\nmodel name\t: CPU zero\n\nprocessor\t: 1\nmodel name\t: CPU one\n\n";
const char* const kFakeStat =
    "cpu  30 0 20 900 0 0 0 0 0 0\ncpu0 10 0 5 400 0 0 0 0 0 0\n"
    "cpu1 20 0 15 500 0 0 0 0 0 0\nctxt 5\n";

struct FuseFixture : ::testing::Test {
  std::string name = "procfs-test-" + std::to_string(::getpid());
  fs::path dir;
  std::optional<TestCgroup> cg;
  pid_t spinner = -1;

  void SetUp() override {
    if (!have_fuse()) GTEST_SKIP() << "needs root and /dev/fuse";
    char tmpl[] = "/tmp/vserver-procfs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
    fs::create_directories(dir / "root");
    fs::create_directories(dir / "proc");
    write_file(dir / "proc/meminfo", kHostMeminfo);
    write_file(dir / "proc/swaps", kHostSwaps);
    write_file(dir / "proc/cpuinfo", kFakeCpuinfo);
    write_file(dir / "proc/stat", kFakeStat);
    cg = TestCgroup::make("vserver-procfs-test-" + std::to_string(::getpid()));
    if (!cg) GTEST_SKIP() << "no cgroup v2 hierarchy to make a test cgroup in";
  }

  // A busy child in the cgroup; its task directory is linked into the fake proc.
  void start_spinner() {
    spinner = ::fork();
    if (spinner == 0) {
      volatile unsigned long spins = 0;
      for (;;) spins = spins + 1;
    }
    cg->attach(spinner);
    fs::create_directory_symlink("/proc/" + std::to_string(spinner),
                                 dir / "proc" / std::to_string(spinner));
  }

  Source source() const {
    Source s{cgroup::GuestCgroup(cg->v2, cg->v1)};
    s.host_proc = dir / "proc";
    s.load_interval = std::chrono::milliseconds(100);
    return s;
  }

  void TearDown() override {
    if (spinner > 0) {
      ::kill(spinner, SIGKILL);
      ::waitpid(spinner, nullptr, 0);
    }
    if (cg) cg->remove();
    if (!dir.empty()) fs::remove_all(dir);
  }
};

TEST_F(FuseFixture, ServesRestartsAndGoesAwayWithTheMounts) {
  start_spinner();
  Views all{true, true, true, true, true};
  auto conn = Connection::open();
  pid_t server = spawn_server(conn.fd(), all, source(), name);
  ASSERT_GT(server, 0);
  std::string comm = "/proc/" + std::to_string(server) + "/comm";
  EXPECT_TRUE(eventually([&] { return read_file(comm) == "vserver-procfs\n"; }));
  EXPECT_TRUE(eventually([&] { return servers_named(name) == 1; }));

  std::string root = (dir / "root").string();
  std::string error;
  int nsfd =
      guest_namespace(conn.fd(), root, all, detail::MountMethod::automatic, all.files(), &error);
  ASSERT_GE(nsfd, 0) << error;

  auto check_views = [&](bool loaded) {
    std::string meminfo = read_in(nsfd, root + "/proc/meminfo");
    if (cg->memory_limited) {
      EXPECT_EQ(line_of(meminfo, "MemTotal"), "MemTotal:         262144 kB") << meminfo;
      EXPECT_LE(field(meminfo, "MemFree"), 262144);
    } else {
      EXPECT_EQ(meminfo, kHostMeminfo);
    }
    std::string swaps = read_in(nsfd, root + "/proc/swaps");
    if (cg->swap_limited) {
      ASSERT_EQ(split_lines(swaps).size(), 2U) << swaps;
      EXPECT_NE(split_lines(swaps)[1].find("virtual\t65536\t"), std::string::npos) << swaps;
    } else {
      EXPECT_EQ(swaps, kHostSwaps);
    }
    if (cg->cpuset_one) {
      EXPECT_EQ(read_in(nsfd, root + "/proc/cpuinfo"), "processor\t: 0\nmodel name\t: CPU one\n\n");
      EXPECT_EQ(read_in(nsfd, root + "/proc/stat"),
                "cpu  20 0 15 500 0 0 0 0 0 0\ncpu0 20 0 15 500 0 0 0 0 0 0\nctxt 5\n");
    } else {
      EXPECT_EQ(read_in(nsfd, root + "/proc/cpuinfo"), kFakeCpuinfo);
    }
    std::string loadavg = read_in(nsfd, root + "/proc/loadavg");
    auto parts = split_lines(loadavg);
    ASSERT_EQ(parts.size(), 1U) << loadavg;
    EXPECT_NE(loadavg.find(" 1/1 0\n"), std::string::npos) << loadavg;
    if (loaded) {
      EXPECT_GE(std::stod(loadavg), 0.3) << loadavg;
    }
  };
  // Twelve samples of one busy task: the one-minute average is near 1 - 1/e.
  ::poll(nullptr, 0, 1500);
  check_views(true);

  // Read-only: the mount refuses writes, and so does the server behind it.
  EXPECT_EQ(write_open_in(nsfd, root + "/proc/meminfo"), std::strerror(EROFS));
  EXPECT_EQ(in_namespace(nsfd,
                         [&]() -> std::string {
                           struct mount_attr attr {};
                           attr.attr_clr = MOUNT_ATTR_RDONLY;
                           std::string p = root + "/proc/stat";
                           if (::mount_setattr(AT_FDCWD, p.c_str(), 0, &attr, sizeof attr) < 0) {
                             return std::strerror(errno);
                           }
                           int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
                           if (fd >= 0) ::close(fd);
                           return fd >= 0 ? "ok" : std::strerror(errno);
                         }),
            std::strerror(EACCES));

  // The server keeps stdio and one FUSE device (its clone of the connection), nothing else.
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(server) + "/fd")) {
    int fd = std::stoi(e.path().filename());
    if (fd <= 2) continue;
    EXPECT_EQ(fs::read_symlink(e.path()), "/dev/fuse") << "fd " << fd;
  }

  // A crash: a new server on the same connection serves the same mounts, also to a file that was
  // opened under the old one.
  Holder holder = hold_open(nsfd, root + "/proc/stat");
  std::string before = read_fd(holder.first);
  EXPECT_NE(before.find("cpu0 "), std::string::npos) << before;
  ::kill(server, SIGKILL);
  ASSERT_TRUE(wait_exit(server, 5000));
  server = spawn_server(conn.fd(), all, source(), name);
  check_views(false);
  write_all(holder.go, "g", "pipe");
  EXPECT_EQ(read_fd(holder.second), before);
  for (int fd : {holder.go, holder.first, holder.second}) ::close(fd);
  ::waitpid(holder.pid, nullptr, 0);
  EXPECT_TRUE(eventually([&] { return servers_named(name) == 1; }));

  // The guest's mount namespace goes: the connection ends and the server exits by itself.
  ::close(nsfd);
  auto status = wait_exit(server, 5000);
  ASSERT_TRUE(status) << "the server outlived the mounts";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_EQ(servers_named(name), 0);
  // The connection is gone: the supervisor's fd reports it.
  struct pollfd pfd {
    conn.fd(), POLLIN, 0
  };
  ASSERT_EQ(::poll(&pfd, 1, 2000), 1);
  EXPECT_TRUE(pfd.revents & POLLERR);
  std::vector<char> buf(512 * 1024);
  EXPECT_EQ(::read(conn.fd(), buf.data(), buf.size()), -1);
  EXPECT_EQ(errno, ENODEV);
  EXPECT_EQ(read_file("/proc/self/mountinfo").find("vserver-procfs"), std::string::npos);
}

TEST_F(FuseFixture, StagingMountAndMissingFiles) {
  Views some{true, false, true, false, false};
  auto conn = Connection::open();
  pid_t server = spawn_server(conn.fd(), some, source(), name);
  std::string root = (dir / "root").string();
  std::string error;
  int nsfd = guest_namespace(conn.fd(), root, some, detail::MountMethod::staging,
                             {"meminfo", "loadavg"}, &error);
  ASSERT_GE(nsfd, 0) << error;
  EXPECT_NE(read_in(nsfd, root + "/proc/meminfo").find("MemTotal:"), std::string::npos);
  EXPECT_NE(read_in(nsfd, root + "/proc/loadavg").find(" 0/0 0\n"), std::string::npos);
  std::string mountinfo = read_in(nsfd, "/proc/self/mountinfo");
  EXPECT_EQ(mountinfo.find(root + "/proc/driver "), std::string::npos) << mountinfo;
  EXPECT_NE(mountinfo.find(root + "/proc/meminfo "), std::string::npos) << mountinfo;
  EXPECT_EQ(mountinfo.find(root + "/proc/cpuinfo "), std::string::npos) << mountinfo;
  ::close(nsfd);
  ASSERT_TRUE(wait_exit(server, 5000));

  // A view whose file is missing under ROOT/proc: the error names it, nothing stays mounted.
  auto conn2 = Connection::open();
  server = spawn_server(conn2.fd(), some, source(), name);
  nsfd =
      guest_namespace(conn2.fd(), root, some, detail::MountMethod::automatic, {"meminfo"}, &error);
  EXPECT_LT(nsfd, 0);
  EXPECT_NE(error.find("/proc/loadavg"), std::string::npos) << error;
  // The guest's namespace is gone with the failed child: so are the connection and the server.
  auto status = wait_exit(server, 5000);
  EXPECT_TRUE(status) << "the server outlived a guest whose mounts failed";
  if (!status) {
    ::kill(server, SIGKILL);
    wait_exit(server, 5000);
  }
}

TEST_F(FuseFixture, WaitsForTheMountAndStopsOnSigterm) {
  auto conn = Connection::open();
  pid_t server = spawn_server(conn.fd(), Views{true}, source(), name);
  ::poll(nullptr, 0, 100);
  EXPECT_FALSE(wait_exit(server, 0)) << "the server gave up before the guest mounted";
  ::kill(server, SIGTERM);
  auto status = wait_exit(server, 5000);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;

  // Not a FUSE device: refused before forking.
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  EXPECT_THROW(spawn_server(null, Views{true}, source(), name), Error);
  ::close(null);
  // Nothing to serve: refused too.
  EXPECT_THROW(spawn_server(conn.fd(), Views{}, source(), name), Error);
}

}  // namespace
}  // namespace vs::procfs
