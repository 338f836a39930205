#include "cgroup/limits.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <string>
#include <vector>

namespace vs::cgroup {
namespace {

using config::GuestConfig;
using config::kUnlimited;
using config::Rlimit;

constexpr std::uint64_t kPage = 4096;

HostFacts host(int cpus = 4) {
  HostFacts h;
  h.cpus = cpus;
  h.hz = 250;
  h.page_size = kPage;
  h.cfs_period_us = 100000;
  return h;
}

Rlimit hard(std::uint64_t v) {
  return Rlimit{std::nullopt, std::nullopt, v};
}
Rlimit soft(std::uint64_t v) {
  return Rlimit{std::nullopt, v, std::nullopt};
}
Rlimit both(std::uint64_t s, std::uint64_t h) {
  return Rlimit{std::nullopt, s, h};
}
Rlimit bare(std::uint64_t v) {  // rlimits/RES: min, soft and hard
  return Rlimit{v, v, v};
}

GuestConfig sched_guest(std::int64_t fill_rate, std::int64_t interval, bool sched_hard) {
  GuestConfig cfg;
  cfg.sched.fill_rate = fill_rate;
  cfg.sched.interval = interval;
  if (sched_hard) cfg.cflags.insert("sched_hard");
  return cfg;
}

const ProcessLimit* find_limit(const LimitPlan& p, int resource) {
  auto it = std::find_if(p.rlimits.begin(), p.rlimits.end(),
                         [&](const ProcessLimit& l) { return l.resource == resource; });
  return it == p.rlimits.end() ? nullptr : &*it;
}

// The note that starts with prefix, or "" if there is none.
std::string note(const LimitPlan& p, const std::string& prefix) {
  for (const auto& n : p.notes) {
    if (n.rfind(prefix, 0) == 0) return n;
  }
  return "";
}

std::string dump(const std::vector<CgroupWrite>& writes) {
  std::string out;
  for (const auto& w : writes) out += w.controller + " " + w.file + "=" + w.value + "\n";
  return out;
}

// ---------------------------------------------------------------------------------------------
// The course cases: util-vserver limits and what they become

TEST(PlanLimits, EmptyConfigurationLimitsNothing) {
  LimitPlan p = plan_limits(GuestConfig{}, host());
  EXPECT_EQ(p.cgroup, CgroupLimits{});
  EXPECT_TRUE(p.rlimits.empty());
  EXPECT_TRUE(p.notes.empty());
  EXPECT_TRUE(cgroup_writes(p.cgroup, Version::v2).empty());
  EXPECT_TRUE(cgroup_writes(p.cgroup, Version::v1).empty());
}

TEST(PlanLimits, RssHardIsRamWithoutSwap) {
  GuestConfig cfg;
  cfg.rlimits["rss"] = hard(5000);
  LimitPlan p = plan_limits(cfg, host());
  EXPECT_EQ(p.cgroup.memory_max, 5000 * kPage);
  EXPECT_EQ(p.cgroup.memory_swap_max, 0U);
  EXPECT_EQ(find_limit(p, RLIMIT_RSS), nullptr);  // not RLIMIT_RSS
  EXPECT_EQ(dump(cgroup_writes(p.cgroup, Version::v2)),
            " memory.max=20480000\n"
            " memory.swap.max=0\n");
}

TEST(PlanLimits, AsHardIsAProcessLimitInBytes) {
  GuestConfig cfg;
  cfg.rlimits["as"] = hard(8000);
  LimitPlan p = plan_limits(cfg, host());
  ASSERT_EQ(p.rlimits.size(), 1U);
  EXPECT_EQ(p.rlimits[0], (ProcessLimit{RLIMIT_AS, 8000 * kPage, 8000 * kPage, "rlimits/as"}));
  EXPECT_FALSE(p.cgroup.memory_max);
}

TEST(PlanLimits, QuarterOfOneCpuWithSchedHard) {
  LimitPlan p = plan_limits(sched_guest(1, 4, true), host(4));
  ASSERT_TRUE(p.cgroup.cpu_max);
  EXPECT_EQ(*p.cgroup.cpu_max, (CpuMax{25000, 100000}));
  EXPECT_EQ(p.cgroup.cpu_weight, 100U);
  auto v2 = cgroup_writes(p.cgroup, Version::v2);
  EXPECT_EQ(dump(v2), " cpu.max=25000 100000\n cpu.weight=100\n");
  // The same on one CPU: R/T is a share of one CPU, whatever the host has.
  EXPECT_EQ(plan_limits(sched_guest(1, 4, true), host(1)).cgroup.cpu_max, (CpuMax{25000, 100000}));
}

TEST(PlanLimits, WeightsFollowTheRate) {
  LimitPlan a = plan_limits(sched_guest(1, 4, false), host());
  LimitPlan b = plan_limits(sched_guest(1, 2, false), host());
  EXPECT_EQ(a.cgroup.cpu_weight, 100U);
  EXPECT_EQ(b.cgroup.cpu_weight, 200U);
  // Without sched_hard there is no cap.
  EXPECT_FALSE(a.cgroup.cpu_max);
  EXPECT_FALSE(b.cgroup.cpu_max);
}

TEST(PlanLimits, NprocIsPidsMaxNotRlimitNproc) {
  GuestConfig cfg;
  cfg.rlimits["nproc"] = bare(50);
  LimitPlan p = plan_limits(cfg, host());
  EXPECT_EQ(p.cgroup.pids_max, 50U);
  EXPECT_EQ(find_limit(p, RLIMIT_NPROC), nullptr);
  EXPECT_EQ(dump(cgroup_writes(p.cgroup, Version::v2)), " pids.max=50\n");
  EXPECT_EQ(dump(cgroup_writes(p.cgroup, Version::v1)), "pids pids.max=50\n");
  // The .min part of the bare file is reported.
  EXPECT_NE(note(p, "rlimits/nproc.min: "), "");

  // Hard wins over soft; soft alone counts; unlimited limits nothing.
  cfg.rlimits["nproc"] = both(10, 20);
  EXPECT_EQ(plan_limits(cfg, host()).cgroup.pids_max, 20U);
  cfg.rlimits["nproc"] = soft(10);
  EXPECT_EQ(plan_limits(cfg, host()).cgroup.pids_max, 10U);
  cfg.rlimits["nproc"] = hard(kUnlimited);
  EXPECT_FALSE(plan_limits(cfg, host()).cgroup.pids_max);
  cfg.rlimits.clear();
  cfg.limits.processes = 77;
  EXPECT_EQ(plan_limits(cfg, host()).cgroup.pids_max, 77U);
}

// ---------------------------------------------------------------------------------------------
// Memory

struct MemoryCase {
  const char* what;
  std::optional<Rlimit> rss;
  std::optional<std::uint64_t> memory, swap;
  std::optional<std::uint64_t> want_max, want_swap;
};

TEST(PlanLimits, MemoryCombinations) {
  const std::uint64_t M = 1 << 20;
  const std::vector<MemoryCase> cases = {
      {"rss.soft only: RAM, swap unlimited", soft(1000), {}, {}, 1000 * kPage, kMax},
      {"rss.hard only: RAM, no swap", hard(1000), {}, {}, 1000 * kPage, 0},
      {"both: RAM soft, swap hard - soft", both(1000, 3000), {}, {}, 1000 * kPage, 2000 * kPage},
      {"bare rss: no swap", bare(1000), {}, {}, 1000 * kPage, 0},
      {"rss.hard inf: swap unlimited", both(1000, kUnlimited), {}, {}, 1000 * kPage, kMax},
      {"rss inf: nothing", bare(kUnlimited), {}, {}, {}, {}},
      {"rss.min only: nothing", Rlimit{5, {}, {}}, {}, {}, {}, {}},
      {"limits/memory alone", {}, 64 * M, {}, 64 * M, kMax},
      {"limits/memory and swap", {}, 64 * M, 16 * M, 64 * M, 16 * M},
      {"limits/memory, swap 0", {}, 64 * M, 0, 64 * M, 0},
      {"limits/swap alone", {}, {}, 16 * M, {}, 16 * M},
      {"limits/memory with rss.hard", hard(65536), 64 * M, {}, 64 * M, 192 * M},
      {"limits/memory above rss.hard", hard(1), 64 * M, {}, kPage, 0},
      {"limits/memory max with rss.hard", hard(100), kMax, {}, 100 * kPage, 0},
      {"pages overflow: unlimited", soft(kUnlimited - 1), {}, {}, {}, {}},
      {"pages overflow with a hard limit",
       both(kUnlimited - 1, kUnlimited - 1),
       64 * M,
       {},
       64 * M,
       kMax},
      {"rss.soft with limits/swap", soft(256), {}, 4 * M, M, 4 * M},
  };
  for (const auto& c : cases) {
    GuestConfig cfg;
    if (c.rss) cfg.rlimits["rss"] = *c.rss;
    cfg.limits.memory = c.memory;
    cfg.limits.swap = c.swap;
    LimitPlan p = plan_limits(cfg, host());
    EXPECT_EQ(p.cgroup.memory_max, c.want_max) << c.what;
    EXPECT_EQ(p.cgroup.memory_swap_max, c.want_swap) << c.what;
  }
}

TEST(PlanLimits, PageSizeOfTheHost) {
  GuestConfig cfg;
  cfg.rlimits["rss"] = hard(10);
  HostFacts h = host();
  h.page_size = 65536;
  EXPECT_EQ(plan_limits(cfg, h).cgroup.memory_max, 655360U);
}

// ---------------------------------------------------------------------------------------------
// Per-process limits

TEST(PlanLimits, SoftDefaultsToHardAndHardToUnlimited) {
  GuestConfig cfg;
  cfg.rlimits["nofile"] = soft(1000);
  cfg.rlimits["locks"] = hard(50);
  cfg.rlimits["memlock"] = both(16, 32);  // pages
  cfg.rlimits["core"] = bare(0);
  cfg.rlimits["stack"] = both(8 << 20, kUnlimited);  // bytes, as setrlimit takes them
  LimitPlan p = plan_limits(cfg, host());
  EXPECT_EQ(p.rlimits, (std::vector<ProcessLimit>{
                           {RLIMIT_CORE, 0, 0, "rlimits/core"},
                           {RLIMIT_LOCKS, 50, 50, "rlimits/locks"},
                           {RLIMIT_MEMLOCK, 16 * kPage, 32 * kPage, "rlimits/memlock"},
                           {RLIMIT_NOFILE, 1000, RLIM_INFINITY, "rlimits/nofile"},
                           {RLIMIT_STACK, 8 << 20, RLIM_INFINITY, "rlimits/stack"},
                       }));
}

TEST(PlanLimits, EveryPerProcessResourceMaps) {
  GuestConfig cfg;
  for (const char* res : {"cpu", "fsize", "data", "stack", "core", "nofile", "locks", "msgqueue"}) {
    cfg.rlimits[res] = hard(7);
  }
  LimitPlan p = plan_limits(cfg, host());
  for (int res : {RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_DATA, RLIMIT_STACK, RLIMIT_CORE, RLIMIT_NOFILE,
                  RLIMIT_LOCKS, RLIMIT_MSGQUEUE}) {
    const ProcessLimit* l = find_limit(p, res);
    ASSERT_NE(l, nullptr) << res;
    EXPECT_EQ(l->hard, 7U) << res;
  }
  EXPECT_EQ(p.rlimits.size(), 8U);
  EXPECT_TRUE(p.notes.empty());
}

TEST(PlanLimits, AddressSpaceFromLimitsIsBytes) {
  GuestConfig cfg;
  cfg.limits.address_space = 3ULL << 30;
  LimitPlan p = plan_limits(cfg, host());
  ASSERT_EQ(p.rlimits.size(), 1U);
  EXPECT_EQ(p.rlimits[0],
            (ProcessLimit{RLIMIT_AS, 3ULL << 30, 3ULL << 30, "limits/address-space"}));
}

TEST(PlanLimits, UlimitsFirstAndRlimitsWin) {
  GuestConfig cfg;
  cfg.ulimits["core"] = both(0, 0);
  cfg.ulimits["nofile"] = both(1024, 4096);
  cfg.ulimits["nproc"] = both(300, 300);  // per-process: RLIMIT_NPROC, unchanged
  cfg.rlimits["nofile"] = hard(100);
  LimitPlan p = plan_limits(cfg, host());
  EXPECT_EQ(p.rlimits, (std::vector<ProcessLimit>{
                           {RLIMIT_CORE, 0, 0, "ulimits/core"},
                           {RLIMIT_NPROC, 300, 300, "ulimits/nproc"},
                           {RLIMIT_NOFILE, 100, 100, "rlimits/nofile"},
                       }));
  EXPECT_EQ(note(p, "ulimits/nofile"), "ulimits/nofile: overridden by rlimits/nofile");
  EXPECT_FALSE(p.cgroup.pids_max);  // ulimits/nproc is not the guest's process count
}

TEST(PlanLimits, UlimitsValuesAreUnchanged) {
  GuestConfig cfg;
  cfg.ulimits["memlock"] = both(65536, 65536);  // bytes, not pages
  cfg.ulimits["rss"] = both(1000, 1000);
  LimitPlan p = plan_limits(cfg, host());
  ASSERT_NE(find_limit(p, RLIMIT_MEMLOCK), nullptr);
  EXPECT_EQ(find_limit(p, RLIMIT_MEMLOCK)->soft, 65536U);
  ASSERT_NE(find_limit(p, RLIMIT_RSS), nullptr);
  EXPECT_EQ(find_limit(p, RLIMIT_RSS)->hard, 1000U);
  EXPECT_NE(note(p, "ulimits/rss: RLIMIT_RSS is set but has no effect"), "");
  EXPECT_FALSE(p.cgroup.memory_max);
}

TEST(PlanLimits, UnexpressibleResourcesAreNotes) {
  GuestConfig cfg;
  for (const char* res : {"nsock", "openfd", "anon", "shmem", "semary", "nsems", "dentry"}) {
    cfg.rlimits[res] = hard(100);
  }
  cfg.rlimits["nofile"] = Rlimit{10, 20, 30};
  LimitPlan p = plan_limits(cfg, host());
  // One note per file, naming it; nofile's minimum too.
  EXPECT_EQ(p.notes.size(), 8U);
  for (const char* res : {"nsock", "openfd", "anon", "shmem", "semary", "nsems", "dentry"}) {
    std::string n = note(p, std::string("rlimits/") + res + ": ");
    EXPECT_NE(n.find("not applied"), std::string::npos) << res << ": " << n;
  }
  EXPECT_NE(note(p, "rlimits/shmem: ").find("kernel.shmmax"), std::string::npos);
  EXPECT_NE(note(p, "rlimits/nofile.min: ").find("never enforced"), std::string::npos);
  // Only nofile becomes a limit.
  ASSERT_EQ(p.rlimits.size(), 1U);
  EXPECT_EQ(p.rlimits[0], (ProcessLimit{RLIMIT_NOFILE, 20, 30, "rlimits/nofile"}));
}

// ---------------------------------------------------------------------------------------------
// CPU

TEST(PlanLimits, PriorityBiasScalesTheWeight) {
  GuestConfig cfg = sched_guest(1, 4, false);
  cfg.sched.prio_bias = 2;
  EXPECT_EQ(plan_limits(cfg, host()).cgroup.cpu_weight, 64U);  // 100 / 1.25^2
  cfg.sched.prio_bias = -3;
  EXPECT_EQ(plan_limits(cfg, host()).cgroup.cpu_weight, 195U);  // 100 * 1.953
  cfg.sched.prio_bias = 20;
  EXPECT_EQ(plan_limits(cfg, host()).cgroup.cpu_weight, 1U);  // 1.15, rounded
  // Without a rate the bias applies to the default weight.
  GuestConfig only_bias;
  only_bias.sched.prio_bias = -1;
  EXPECT_EQ(plan_limits(only_bias, host()).cgroup.cpu_weight, 125U);
}

TEST(PlanLimits, WeightIsClamped) {
  EXPECT_EQ(plan_limits(sched_guest(100, 1, false), host()).cgroup.cpu_weight, 10000U);
  EXPECT_EQ(plan_limits(sched_guest(0, 4, false), host()).cgroup.cpu_weight, 1U);
  GuestConfig cfg = sched_guest(100, 1, false);
  cfg.sched.prio_bias = -20;
  EXPECT_EQ(plan_limits(cfg, host()).cgroup.cpu_weight, 10000U);
}

TEST(PlanLimits, OneOfRateAndIntervalTakesTheKernelDefaultForTheOther) {
  GuestConfig cfg;
  cfg.cflags.insert("sched_hard");
  cfg.sched.interval = 10;  // fill-rate 1
  EXPECT_EQ(plan_limits(cfg, host()).cgroup.cpu_max, (CpuMax{10000, 100000}));
  cfg.sched.interval.reset();
  cfg.sched.fill_rate = 3;  // interval 4
  EXPECT_EQ(plan_limits(cfg, host()).cgroup.cpu_max, (CpuMax{75000, 100000}));
  EXPECT_EQ(plan_limits(cfg, host()).cgroup.cpu_weight, 300U);
}

TEST(PlanLimits, RateOfAllCpusOrMoreIsNoCap) {
  LimitPlan p = plan_limits(sched_guest(8, 4, true), host(2));
  EXPECT_EQ(p.cgroup.cpu_max, (CpuMax{kMax, 100000}));
  EXPECT_EQ(dump(cgroup_writes(p.cgroup, Version::v2)), " cpu.max=max 100000\n cpu.weight=800\n");
  // Just below: a cap of 1.5 CPUs.
  EXPECT_EQ(plan_limits(sched_guest(6, 4, true), host(2)).cgroup.cpu_max, (CpuMax{150000, 100000}));
}

TEST(PlanLimits, QuotaHasTheKernelMinimum) {
  EXPECT_EQ(plan_limits(sched_guest(0, 4, true), host()).cgroup.cpu_max, (CpuMax{1000, 100000}));
  EXPECT_EQ(plan_limits(sched_guest(1, 1000, true), host()).cgroup.cpu_max, (CpuMax{1000, 100000}));
}

TEST(PlanLimits, SchedHardWithoutRateIsANote) {
  GuestConfig cfg;
  cfg.cflags.insert("sched_hard");
  LimitPlan p = plan_limits(cfg, host());
  EXPECT_FALSE(p.cgroup.cpu_max);
  EXPECT_NE(note(p, "cflags sched_hard: without sched/fill-rate"), "");
}

TEST(PlanLimits, BurstFromTokensMax) {
  GuestConfig cfg = sched_guest(1, 4, true);
  cfg.sched.tokens_max = 5;  // 5 jiffies at 250 Hz = 20 ms, below the 25 ms quota
  LimitPlan p = plan_limits(cfg, host());
  EXPECT_EQ(p.cgroup.cpu_burst_us, 20000U);
  cfg.sched.tokens_max = 125;  // 500 ms: capped at the quota
  EXPECT_EQ(plan_limits(cfg, host()).cgroup.cpu_burst_us, 25000U);
  HostFacts h = host();
  h.hz = 1000;
  cfg.sched.tokens_max = 10;  // 10 ms at 1000 Hz
  EXPECT_EQ(plan_limits(cfg, h).cgroup.cpu_burst_us, 10000U);
  cfg.sched.tokens_max = 0;  // the kernel made <= 0 a second's worth
  EXPECT_EQ(plan_limits(cfg, h).cgroup.cpu_burst_us, 25000U);

  // Without a cap there is no burst.
  GuestConfig soft_sched = sched_guest(1, 4, false);
  soft_sched.sched.tokens_max = 5;
  LimitPlan q = plan_limits(soft_sched, host());
  EXPECT_FALSE(q.cgroup.cpu_burst_us);
  EXPECT_NE(note(q, "sched/tokens-max: a burst needs a CPU cap"), "");
}

TEST(PlanLimits, TokensAndTokensMinAreNotesOnlyWhenSet) {
  GuestConfig cfg = sched_guest(1, 4, true);
  EXPECT_TRUE(plan_limits(cfg, host()).notes.empty());
  cfg.sched.tokens = 62;
  cfg.sched.tokens_min = 15;
  LimitPlan p = plan_limits(cfg, host());
  EXPECT_EQ(p.notes.size(), 2U);
  EXPECT_NE(note(p, "sched/tokens: "), "");
  EXPECT_NE(note(p, "sched/tokens-min: "), "");
}

TEST(PlanLimits, IdleTimeIsWeightWithoutCap) {
  GuestConfig cfg = sched_guest(1, 4, true);
  cfg.sched.idle_time = true;
  cfg.sched.fill_rate2 = 1;
  cfg.sched.interval2 = 2;
  LimitPlan p = plan_limits(cfg, host());
  EXPECT_FALSE(p.cgroup.cpu_max);  // work-conserving
  EXPECT_EQ(p.cgroup.cpu_weight, 200U);
  std::string n = note(p, "sched/idle-time: ");
  EXPECT_NE(n.find("cannot be expressed"), std::string::npos) << n;
  // The kernel's default idle rate is 1/8.
  cfg.sched.fill_rate2.reset();
  cfg.sched.interval2.reset();
  EXPECT_EQ(plan_limits(cfg, host()).cgroup.cpu_weight, 50U);
  // Without idle-time, fill-rate2 and interval2 do nothing.
  GuestConfig no_idle = sched_guest(1, 4, false);
  no_idle.sched.fill_rate2 = 1;
  LimitPlan q = plan_limits(no_idle, host());
  EXPECT_EQ(q.cgroup.cpu_weight, 100U);
  EXPECT_NE(note(q, "sched/fill-rate2: used only with sched/idle-time"), "");
}

TEST(PlanLimits, PerCpuBucketsAreNotes) {
  GuestConfig cfg = sched_guest(1, 4, false);
  cfg.sched.per_cpu = {"0", "1"};
  LimitPlan p = plan_limits(cfg, host());
  EXPECT_NE(note(p, "sched/0/: per-CPU buckets cannot be expressed"), "");
  EXPECT_NE(note(p, "sched/1/: "), "");
}

TEST(PlanLimits, LimitsCpuIsACap) {
  GuestConfig cfg;
  cfg.limits.cpus = 0.5;
  EXPECT_EQ(plan_limits(cfg, host()).cgroup.cpu_max, (CpuMax{50000, 100000}));
  cfg.limits.cpus = 2.5;  // more than the host has is still written as said
  EXPECT_EQ(plan_limits(cfg, host(2)).cgroup.cpu_max, (CpuMax{250000, 100000}));
  cfg.limits.cpus = 0.0001;
  EXPECT_EQ(plan_limits(cfg, host()).cgroup.cpu_max, (CpuMax{1000, 100000}));
  HostFacts h = host();
  h.cfs_period_us = 50000;
  cfg.limits.cpus = 0.25;
  EXPECT_EQ(plan_limits(cfg, h).cgroup.cpu_max, (CpuMax{12500, 50000}));
  EXPECT_FALSE(plan_limits(cfg, h).cgroup.cpu_weight);
}

TEST(PlanLimits, SchedPauseFreezes) {
  GuestConfig cfg;
  cfg.cflags.insert("sched_pause");
  LimitPlan p = plan_limits(cfg, host());
  EXPECT_TRUE(p.cgroup.frozen);
  EXPECT_EQ(dump(cgroup_writes(p.cgroup, Version::v2)), " cgroup.freeze=1\n");
  EXPECT_EQ(dump(cgroup_writes(p.cgroup, Version::v1)), "freezer freezer.state=FROZEN\n");
  cfg.cflags = {"sched_prio"};
  EXPECT_FALSE(plan_limits(cfg, host()).cgroup.frozen);
}

// ---------------------------------------------------------------------------------------------
// cpuset/ and cgroup/

TEST(PlanLimits, CpusetAndNotes) {
  GuestConfig cfg;
  cfg.cpuset.name = "web";
  cfg.cpuset.cpus = "0-1";
  cfg.cpuset.mems = "0";
  cfg.cpuset.cpu_exclusive = true;
  LimitPlan p = plan_limits(cfg, host());
  EXPECT_EQ(p.cgroup.cpuset_cpus, "0-1");
  EXPECT_EQ(p.cgroup.cpuset_mems, "0");
  EXPECT_TRUE(p.cgroup.cpu_exclusive);
  EXPECT_TRUE(p.notes.empty());
  cfg.cpuset.mem_exclusive = true;
  cfg.cpuset.virtualized = true;
  cfg.cpuset.nocreate = true;
  p = plan_limits(cfg, host());
  EXPECT_EQ(p.notes.size(), 3U);
  EXPECT_NE(note(p, "cpuset/mem_exclusive: "), "");
  EXPECT_NE(note(p, "cpuset/virtualized: "), "");
  EXPECT_NE(note(p, "cpuset/nocreate: "), "");
}

TEST(PlanLimits, CgroupFilesAreVerbatimAndControlFilesNotes) {
  GuestConfig cfg;
  cfg.cgroup.files = {{"memory.high", "100M"}, {"cpu.shares", "512"}, {"io.weight", "50"}};
  cfg.cgroup.ignored = {"mnt", "per-ss"};
  LimitPlan p = plan_limits(cfg, host());
  EXPECT_EQ(p.cgroup.verbatim,
            (std::vector<std::pair<std::string, std::string>>{
                {"cpu.shares", "512"}, {"io.weight", "50"}, {"memory.high", "100M"}}));
  EXPECT_EQ(p.notes.size(), 2U);
  EXPECT_NE(note(p, "cgroup/mnt: "), "");
  EXPECT_NE(note(p, "cgroup/per-ss: "), "");
}

// ---------------------------------------------------------------------------------------------
// The files written

CgroupLimits everything() {
  CgroupLimits l;
  l.cpuset_cpus = "0-1";
  l.cpuset_mems = "0";
  l.cpu_exclusive = true;
  l.memory_max = 512ULL << 20;
  l.memory_swap_max = 256ULL << 20;
  l.pids_max = 200;
  l.cpu_max = CpuMax{25000, 100000};
  l.cpu_burst_us = 10000;
  l.cpu_weight = 50;
  l.frozen = true;
  l.verbatim = {{"cpu.shares", "512"}, {"memory.soft_limit_in_bytes", "100000000"}};
  return l;
}

// The defaults of a new guest: 1024 tasks, and the VServer kernel's default bucket, which is the
// cgroup default weight (v1 shares 1024), with no cap.
TEST(PlanLimits, NewGuestDefaults) {
  GuestConfig cfg = sched_guest(config::kNewGuestFillRate, config::kNewGuestInterval, false);
  cfg.limits.processes = config::kNewGuestProcesses;
  auto p = plan_limits(cfg, host());
  EXPECT_EQ(p.cgroup.pids_max, 1024U);
  EXPECT_EQ(p.cgroup.cpu_weight, 100U);
  EXPECT_FALSE(p.cgroup.cpu_max);
  EXPECT_TRUE(p.rlimits.empty());  // RLIMIT_NPROC stays as it was
  EXPECT_TRUE(p.notes.empty());
  auto w = cgroup_writes(p.cgroup, Version::v1);
  EXPECT_NE(std::find(w.begin(), w.end(), CgroupWrite{"cpu", "cpu.shares", "1024"}), w.end());
  EXPECT_NE(std::find(w.begin(), w.end(), CgroupWrite{"pids", "pids.max", "1024"}), w.end());
}

// check tells a guest without a process limit that it has none, and why.
TEST(SafetyNotes, NoProcessLimitIsNoted) {
  auto notes = [](const GuestConfig& cfg) { return safety_notes(cfg, plan_limits(cfg, host())); };
  GuestConfig none;
  ASSERT_EQ(notes(none).size(), 1U);
  EXPECT_EQ(notes(none)[0].rfind("no process limit (no limits/processes or rlimits/nproc): ", 0),
            0U)
      << notes(none)[0];

  GuestConfig limited;
  limited.limits.processes = 1024;
  EXPECT_TRUE(notes(limited).empty());
  GuestConfig nproc;
  nproc.rlimits["nproc"] = bare(50);
  EXPECT_TRUE(notes(nproc).empty());
  GuestConfig verbatim;
  verbatim.cgroup.files["pids.max"] = "33";
  EXPECT_TRUE(notes(verbatim).empty());

  GuestConfig max;
  max.limits.processes = kUnlimited;
  ASSERT_EQ(notes(max).size(), 1U);
  EXPECT_NE(notes(max)[0].find("(limits/processes is max)"), std::string::npos);
  GuestConfig inf;
  inf.rlimits["nproc"] = bare(kUnlimited);
  ASSERT_EQ(notes(inf).size(), 1U);
  EXPECT_NE(notes(inf)[0].find("(rlimits/nproc is inf)"), std::string::npos);
  // cgroup/pids.max is written last: max there lifts limits/processes.
  GuestConfig lifted;
  lifted.limits.processes = 1024;
  lifted.cgroup.files["pids.max"] = "max";
  ASSERT_EQ(notes(lifted).size(), 1U);
  EXPECT_NE(notes(lifted)[0].find("(cgroup/pids.max is max)"), std::string::npos);
}

TEST(PlanLimits, IgnoredScheduleFileIsANote) {
  GuestConfig cfg = sched_guest(1, 4, false);
  cfg.sched.schedule_ignored = true;
  auto p = plan_limits(cfg, host());
  EXPECT_NE(note(p, "schedule: not read"), "");
  EXPECT_EQ(p.cgroup.cpu_weight, 100U);
}

TEST(CgroupWrites, V2InOrder) {
  EXPECT_EQ(cgroup_writes(everything(), Version::v2),
            (std::vector<CgroupWrite>{
                {"", "cpuset.cpus", "0-1"},
                {"", "cpuset.mems", "0"},
                {"", "cpuset.cpus.partition", "root"},
                {"", "memory.max", "536870912"},
                {"", "memory.swap.max", "268435456"},
                {"", "pids.max", "200"},
                {"", "cpu.max.burst", "0"},
                {"", "cpu.max", "25000 100000"},
                {"", "cpu.max.burst", "10000"},
                {"", "cpu.weight", "50"},
                {"", "cgroup.freeze", "1"},
                {"", "cpu.shares", "512"},
                {"", "memory.soft_limit_in_bytes", "100000000"},
            }));
}

TEST(CgroupWrites, V1InOrder) {
  EXPECT_EQ(cgroup_writes(everything(), Version::v1),
            (std::vector<CgroupWrite>{
                {"cpuset", "cpuset.cpus", "0-1"},
                {"cpuset", "cpuset.mems", "0"},
                {"cpuset", "cpuset.cpu_exclusive", "1"},
                {"memory", "memory.memsw.limit_in_bytes", "-1"},
                {"memory", "memory.limit_in_bytes", "536870912"},
                {"memory", "memory.memsw.limit_in_bytes", "805306368"},
                {"pids", "pids.max", "200"},
                {"cpu", "cpu.cfs_burst_us", "0"},
                {"cpu", "cpu.cfs_period_us", "100000"},
                {"cpu", "cpu.cfs_quota_us", "25000"},
                {"cpu", "cpu.cfs_burst_us", "10000"},
                {"cpu", "cpu.shares", "512"},
                {"freezer", "freezer.state", "FROZEN"},
                {"cpu", "cpu.shares", "512"},
                {"memory", "memory.soft_limit_in_bytes", "100000000"},
            }));
}

TEST(CgroupWrites, UnlimitedValues) {
  CgroupLimits l;
  l.memory_max = kMax;
  l.memory_swap_max = kMax;
  l.pids_max = kMax;
  l.cpu_max = CpuMax{kMax, 100000};
  l.cpu_burst_us = 0;
  l.cpu_weight = 100;
  EXPECT_EQ(dump(cgroup_writes(l, Version::v2)),
            " memory.max=max\n"
            " memory.swap.max=max\n"
            " pids.max=max\n"
            " cpu.max=max 100000\n"
            " cpu.max.burst=0\n"
            " cpu.weight=100\n");
  EXPECT_EQ(dump(cgroup_writes(l, Version::v1)),
            "memory memory.memsw.limit_in_bytes=-1\n"
            "memory memory.limit_in_bytes=-1\n"
            "pids pids.max=max\n"
            "cpu cpu.cfs_period_us=100000\n"
            "cpu cpu.cfs_quota_us=-1\n"
            "cpu cpu.cfs_burst_us=0\n"
            "cpu cpu.shares=1024\n");
}

TEST(CgroupWrites, V1MemoryAlone) {
  CgroupLimits ram;
  ram.memory_max = 1 << 20;
  EXPECT_EQ(dump(cgroup_writes(ram, Version::v1)),
            "memory memory.memsw.limit_in_bytes=-1\n"
            "memory memory.limit_in_bytes=1048576\n");
  // Swap without RAM cannot be said with memsw: it stays unlimited.
  CgroupLimits swap;
  swap.memory_swap_max = 1 << 20;
  EXPECT_EQ(dump(cgroup_writes(swap, Version::v1)), "memory memory.memsw.limit_in_bytes=-1\n");
  EXPECT_EQ(dump(cgroup_writes(swap, Version::v2)), " memory.swap.max=1048576\n");
  // RAM plus swap beyond 64 bits is no limit.
  CgroupLimits huge;
  huge.memory_max = kMax - 10;
  huge.memory_swap_max = 100;
  EXPECT_EQ(cgroup_writes(huge, Version::v1).size(), 2U);
}

TEST(CgroupWrites, V1SharesFromWeight) {
  for (auto [weight, shares] : {std::pair{1U, "10"}, std::pair{100U, "1024"},
                                std::pair{200U, "2048"}, std::pair{10000U, "102400"}}) {
    CgroupLimits l;
    l.cpu_weight = weight;
    EXPECT_EQ(cgroup_writes(l, Version::v1),
              (std::vector<CgroupWrite>{{"cpu", "cpu.shares", shares}}))
        << weight;
  }
}

TEST(CgroupWrites, BurstWithoutCapNeedsNoReset) {
  CgroupLimits l;
  l.cpu_max = CpuMax{50000, 100000};
  EXPECT_EQ(dump(cgroup_writes(l, Version::v2)), " cpu.max=50000 100000\n");
  l.cpu_burst_us = 0;
  EXPECT_EQ(dump(cgroup_writes(l, Version::v2)), " cpu.max=50000 100000\n cpu.max.burst=0\n");
}

TEST(CgroupWrites, VerbatimControllerIsThePrefix) {
  CgroupLimits l;
  l.verbatim = {{"blkio.weight", "500"}, {"net_cls.classid", "0x10001"}};
  EXPECT_EQ(dump(cgroup_writes(l, Version::v1)),
            "blkio blkio.weight=500\nnet_cls net_cls.classid=0x10001\n");
  EXPECT_EQ(dump(cgroup_writes(l, Version::v2)), " blkio.weight=500\n net_cls.classid=0x10001\n");
}

// ---------------------------------------------------------------------------------------------
// Values

TEST(ParseBytes, Accepted) {
  const std::vector<std::pair<const char*, std::uint64_t>> cases = {
      {"0", 0},
      {"1048576", 1048576},
      {"3B", 3},
      {"512K", 512 << 10},
      {"512k", 512 << 10},
      {"64M", 64 << 20},
      {"64MiB", 64 << 20},
      {"64MB", 64 << 20},
      {"64 MiB", 64 << 20},
      {"64mib", 64 << 20},
      {"2G", 2ULL << 30},
      {"1T", 1ULL << 40},
      {"1.5G", 3ULL << 29},
      {"0.5K", 512},
      {"1.0001K", 1024},  // fractions of a byte are dropped
      {" 10M\n", 10 << 20},
      {"inf", kMax},
      {"max", kMax},
      {"Unlimited", kMax},
      {"18446744073709551614", 18446744073709551614ULL},
      {"16777215T", 16777215ULL << 40},
  };
  for (const auto& [text, want] : cases) {
    EXPECT_EQ(parse_bytes(text), want) << text;
  }
}

TEST(ParseBytes, Rejected) {
  for (const char* text : {"",          " ",
                           "-1",        "+1",
                           "1.5",       "1.5B",
                           ".5G",       "1.G",
                           "12X",       "1KK",
                           "1Kb2",      "1 2",
                           "M",         "0x10",
                           "1e3",       "18446744073709551616",
                           "16777216T", "99999999999999999999K",
                           "1,5G",      "nan"}) {
    EXPECT_EQ(parse_bytes(text), std::nullopt) << text;
  }
}

TEST(ParseCpus, AcceptedAndRejected) {
  EXPECT_EQ(parse_cpus("0.25"), 0.25);
  EXPECT_EQ(parse_cpus("1.5"), 1.5);
  EXPECT_EQ(parse_cpus("2"), 2.0);
  EXPECT_EQ(parse_cpus("25%"), 0.25);
  EXPECT_EQ(parse_cpus("150%"), 1.5);
  EXPECT_EQ(parse_cpus(" 0.5\n"), 0.5);
  for (const char* text : {"", "0", "0.0", "0%", "-1", "inf", "nan", "1e2", ".5", "5.", "1.2.3",
                           "%", "25%%", "abc", "0x1", "1 CPU"}) {
    EXPECT_EQ(parse_cpus(text), std::nullopt) << text;
  }
}

TEST(FormatBytes, Units) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(3), "3 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1024), "1 KiB");
  EXPECT_EQ(format_bytes(512 << 10), "512 KiB");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(20 << 20), "20 MiB");
  EXPECT_EQ(format_bytes((20 << 20) + 1000), "20.0 MiB");
  EXPECT_EQ(format_bytes(20447232), "19.5 MiB");
  EXPECT_EQ(format_bytes((1 << 20) - 1), "1.0 MiB");  // not "1024.0 KiB"
  EXPECT_EQ(format_bytes(3ULL << 30), "3 GiB");
  EXPECT_EQ(format_bytes(1ULL << 62), "4 EiB");
  EXPECT_EQ(format_bytes(kMax - 1), "16.0 EiB");
  EXPECT_EQ(format_bytes(kMax), "max");
}

}  // namespace
}  // namespace vs::cgroup
