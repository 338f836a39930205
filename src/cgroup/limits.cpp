// The limits of a guest, from its configuration to the kernel: pure arithmetic, no I/O.
//
// The mapping follows util-vserver.md §1.6, §1.7, §4.2 and §5.2 and is documented for users in
// docs/limits.md; keep the two in step.
#include "cgroup/limits.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string_view>
#include <utility>

#include "sys/file.hpp"

namespace vs::cgroup {

static_assert(sizeof(rlim_t) == sizeof(std::uint64_t) && RLIM_INFINITY == kMax,
              "rlim_t is expected to be 64 bits with RLIM_INFINITY as its maximum");

namespace {

using config::Rlimit;

// The kernel's smallest CFS quota (min_cfs_quota_period, 1 ms).
constexpr std::uint64_t kMinQuotaUs = 1000;
// Kernel defaults of the VServer token bucket (sched_init.h, util-vserver.md §4.1).
constexpr std::int64_t kDefaultFillRate = 1;
constexpr std::int64_t kDefaultInterval = 4;
constexpr std::int64_t kDefaultFillRate2 = 1;
constexpr std::int64_t kDefaultInterval2 = 8;
constexpr std::uint32_t kMinWeight = 1;
constexpr std::uint32_t kMaxWeight = 10000;

std::uint64_t sat_mul(std::uint64_t a, std::uint64_t b) {
  if (a == kMax || b == kMax) return kMax;
  std::uint64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return kMax;
  return r;
}

std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) {
  if (a == kMax || b == kMax) return kMax;
  std::uint64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return kMax;
  return r;
}

// A non-negative double rounded to an integer, kMax when it does not fit.
std::uint64_t round_sat(double v) {
  if (!(v > 0)) return 0;
  if (v >= 1.8e19) return kMax;  // 2^64 is about 1.845e19
  return static_cast<std::uint64_t>(std::round(v));
}

std::uint32_t clamp_weight(double w) {
  if (!(w >= kMinWeight)) return kMinWeight;
  if (w >= kMaxWeight) return kMaxWeight;
  return static_cast<std::uint32_t>(std::lround(w));
}

const Rlimit* find(const std::map<std::string, Rlimit>& m, std::string_view res) {
  auto it = m.find(std::string(res));
  return it == m.end() ? nullptr : &it->second;
}

std::string max_text(std::uint64_t v) {
  return v == kMax ? "max" : std::to_string(v);
}

// Per-process resources of rlimits/ and ulimits/ (util-vserver.md §1.6). pages: the rlimits/
// value counts pages (rss, as, memlock in util-vserver); ulimits/ values always go to
// setrlimit unchanged.
struct ProcessResource {
  std::string_view name;
  int resource;
  bool pages;
};
constexpr std::array<ProcessResource, 10> kRlimitResources = {{
    {"cpu", RLIMIT_CPU, false},
    {"fsize", RLIMIT_FSIZE, false},
    {"data", RLIMIT_DATA, false},
    {"stack", RLIMIT_STACK, false},
    {"core", RLIMIT_CORE, false},
    {"nofile", RLIMIT_NOFILE, false},
    {"locks", RLIMIT_LOCKS, false},
    {"msgqueue", RLIMIT_MSGQUEUE, false},
    {"memlock", RLIMIT_MEMLOCK, true},
    {"as", RLIMIT_AS, true},
}};
constexpr std::array<ProcessResource, 10> kUlimitResources = {{
    {"cpu", RLIMIT_CPU, false},
    {"data", RLIMIT_DATA, false},
    {"fsize", RLIMIT_FSIZE, false},
    {"locks", RLIMIT_LOCKS, false},
    {"memlock", RLIMIT_MEMLOCK, false},
    {"nofile", RLIMIT_NOFILE, false},
    {"nproc", RLIMIT_NPROC, false},
    {"rss", RLIMIT_RSS, false},
    {"stack", RLIMIT_STACK, false},
    {"core", RLIMIT_CORE, false},
}};

// rlimits/ resources of the VServer kernel that mainline cannot limit per guest (§5.2): what
// each note says after "rlimits/NAME: ".
struct Unexpressible {
  std::string_view name;
  std::string_view why;
};
constexpr std::array<Unexpressible, 7> kUnexpressible = {{
    {"nsock",
     "mainline has no per-guest socket count; socket buffers are charged to the guest's memory "
     "cgroup instead; not applied"},
    {"openfd",
     "mainline has no per-guest count of open files; rlimits/nofile limits each process "
     "(RLIMIT_NOFILE); not applied"},
    {"anon",
     "mainline has no separate limit for anonymous memory; it counts toward the guest's memory "
     "limit (rlimits/rss or limits/memory); not applied"},
    {"shmem",
     "mainline has no per-guest shared memory limit; the guest's IPC namespace has its own "
     "kernel.shmmax and kernel.shmall, and shared memory counts toward its memory limit; not "
     "applied"},
    {"semary",
     "mainline has no per-guest semaphore limit; the guest's IPC namespace has its own "
     "kernel.sem; not applied"},
    {"nsems",
     "mainline has no per-guest semaphore limit; the guest's IPC namespace has its own "
     "kernel.sem; not applied"},
    {"dentry",
     "mainline has no per-guest dentry limit; dentries are kernel memory charged to the "
     "guest's memory cgroup; not applied"},
}};

class Planner {
 public:
  Planner(const config::GuestConfig& cfg, const HostFacts& host) : cfg_(cfg), host_(host) {}

  LimitPlan run() {
    memory();
    processes();
    process_limits();
    cpu();
    cpuset();
    verbatim();
    return std::move(plan_);
  }

 private:
  void note(std::string text) { plan_.notes.push_back(std::move(text)); }

  [[nodiscard]] std::uint64_t page() const { return host_.page_size == 0 ? 4096 : host_.page_size; }

  // RAM (memory.max) and swap beyond it (memory.swap.max), util-vserver.md §5.2: rss.soft is the
  // RAM, rss.hard RAM plus swap; limits/memory and limits/swap say the same in bytes.
  void memory() {
    CgroupLimits& c = plan_.cgroup;
    const Rlimit* rss = find(cfg_.rlimits, "rss");
    std::optional<std::uint64_t> soft, hard;
    if (rss && rss->soft) soft = sat_mul(*rss->soft, page());
    if (rss && rss->hard) hard = sat_mul(*rss->hard, page());
    std::optional<std::uint64_t> ram = cfg_.limits.memory;
    if (!ram) ram = soft;
    if (!ram) ram = hard;

    if (cfg_.limits.swap) {
      if (ram) c.memory_max = *ram;
      c.memory_swap_max = *cfg_.limits.swap;
      return;
    }
    if (!ram) return;
    std::uint64_t total = hard.value_or(kMax);
    if (*ram == kMax && total == kMax) return;  // nothing is limited
    std::uint64_t mem = std::min(*ram, total);
    c.memory_max = mem;
    c.memory_swap_max = total == kMax ? kMax : total - mem;
  }

  // pids.max from limits/processes or rlimits/nproc (the hard value, else the soft one): the
  // count of the whole guest, as the VServer context limit was, not RLIMIT_NPROC.
  void processes() {
    std::optional<std::uint64_t> n = cfg_.limits.processes;
    if (!n) {
      if (const Rlimit* nproc = find(cfg_.rlimits, "nproc"))
        n = nproc->hard ? nproc->hard : nproc->soft;
    }
    if (n && *n != kMax) plan_.cgroup.pids_max = *n;
  }

  // One per-process limit; a later one for the same resource replaces an earlier one.
  void add(ProcessLimit l) {
    auto& v = plan_.rlimits;
    auto it = std::find_if(v.begin(), v.end(),
                           [&](const ProcessLimit& p) { return p.resource == l.resource; });
    if (it != v.end()) {
      note(it->source + ": overridden by " + l.source);
      v.erase(it);
    }
    v.push_back(std::move(l));
  }

  // soft defaults to hard, hard to unlimited (util-vserver.md §1.6).
  static std::optional<ProcessLimit> process_limit(int resource, const Rlimit& l,
                                                   std::uint64_t unit, std::string source) {
    if (!l.soft && !l.hard) return std::nullopt;
    std::uint64_t hard = l.hard ? sat_mul(*l.hard, unit) : kMax;
    std::uint64_t soft = l.soft ? sat_mul(*l.soft, unit) : hard;
    soft = std::min(soft, hard);  // the configuration check rejects soft > hard
    return ProcessLimit{resource, static_cast<rlim_t>(soft), static_cast<rlim_t>(hard),
                        std::move(source)};
  }

  void process_limits() {
    for (const auto& entry : cfg_.ulimits) {
      const std::string& name = entry.first;  // a plain reference: lambdas below capture it
      const Rlimit& l = entry.second;
      std::string source = "ulimits/" + name;
      auto it = std::find_if(kUlimitResources.begin(), kUlimitResources.end(),
                             [&](const ProcessResource& r) { return r.name == name; });
      if (it == kUlimitResources.end()) {
        note(source + ": unknown resource; not applied");
        continue;
      }
      if (name == "rss") {
        note(source +
             ": RLIMIT_RSS is set but has no effect on Linux; rlimits/rss or limits/memory limit "
             "the guest's memory");
      }
      if (auto p = process_limit(it->resource, l, 1, source)) add(std::move(*p));
    }

    for (const auto& entry : cfg_.rlimits) {
      const std::string& name = entry.first;
      const Rlimit& l = entry.second;
      std::string source = "rlimits/" + name;
      if (l.min) {
        note(source +
             ".min: minimums were never enforced (the VServer kernel reported them as unset); "
             "ignored");
      }
      if (name == "rss" || name == "nproc") continue;  // memory() and processes()
      auto un = std::find_if(kUnexpressible.begin(), kUnexpressible.end(),
                             [&](const Unexpressible& u) { return u.name == name; });
      if (un != kUnexpressible.end()) {
        if (l.soft || l.hard) note(source + ": " + std::string(un->why));
        continue;
      }
      auto it = std::find_if(kRlimitResources.begin(), kRlimitResources.end(),
                             [&](const ProcessResource& r) { return r.name == name; });
      if (it == kRlimitResources.end()) {
        note(source + ": unknown resource; not applied");
        continue;
      }
      if (auto p = process_limit(it->resource, l, it->pages ? page() : 1, source)) {
        add(std::move(*p));
      }
    }

    if (cfg_.limits.address_space) {
      add(ProcessLimit{RLIMIT_AS, static_cast<rlim_t>(*cfg_.limits.address_space),
                       static_cast<rlim_t>(*cfg_.limits.address_space), "limits/address-space"});
    }
  }

  // sched/ and the sched_* flags (util-vserver.md §4.2): the bucket's rate R/T becomes a weight
  // (400·R/T, so the kernel default 1/4 is the cgroup default 100) and, with sched_hard, a CFS
  // quota of R/T of one CPU in total per period.
  void cpu() {
    const config::Sched& s = cfg_.sched;
    CgroupLimits& c = plan_.cgroup;
    bool hard = cfg_.cflags.count("sched_hard") != 0;
    bool has_rate = s.fill_rate || s.interval;
    std::uint64_t period = host_.cfs_period_us == 0 ? 100000 : host_.cfs_period_us;
    int hz = host_.hz > 0 ? host_.hz : 250;

    double rate = static_cast<double>(s.fill_rate.value_or(kDefaultFillRate)) /
                  static_cast<double>(positive(s.interval, kDefaultInterval));
    double rate2 = static_cast<double>(s.fill_rate2.value_or(kDefaultFillRate2)) /
                   static_cast<double>(positive(s.interval2, kDefaultInterval2));

    std::optional<double> share;  // the rate the weight follows
    if (s.idle_time) {
      share = rate2;
    } else if (has_rate) {
      share = rate;
    } else if (s.prio_bias) {
      share = static_cast<double>(kDefaultFillRate) / kDefaultInterval;
    }
    if (share) {
      std::uint32_t w = clamp_weight(std::round(400.0 * *share));
      if (s.prio_bias) w = clamp_weight(std::round(w * std::pow(1.25, -*s.prio_bias)));
      c.cpu_weight = w;
    }

    if (s.idle_time) {
      note(
          "sched/idle-time: the guest gets CPU in proportion to fill-rate2/interval2 (cpu.weight " +
          std::to_string(*c.cpu_weight) +
          ") with no cap, since CFS gives idle CPU away anyway; a guaranteed fill-rate/interval "
          "share cannot be expressed, weights only divide the CPU under contention");
    } else if (s.fill_rate2 || s.interval2) {
      note(std::string("sched/") + (s.fill_rate2 ? "fill-rate2" : "interval2") +
           ": used only with sched/idle-time; ignored");
    }

    bool capped = false;
    if (hard && has_rate && !s.idle_time) {
      if (rate >= std::max(host_.cpus, 1)) {
        c.cpu_max = CpuMax{kMax, period};
      } else {
        std::uint64_t quota = std::max(kMinQuotaUs, round_sat(rate * static_cast<double>(period)));
        c.cpu_max = CpuMax{quota, period};
        capped = true;
      }
    } else if (hard && !has_rate && !cfg_.limits.cpus && !s.idle_time) {
      note(
          "cflags sched_hard: without sched/fill-rate and sched/interval there is no CPU cap (the "
          "VServer kernel used its default bucket, 1/4)");
    }

    if (s.tokens_max) {
      if (capped) {
        std::int64_t tokens = *s.tokens_max > 0 ? *s.tokens_max : hz;  // do_set_sched: <= 0 is HZ
        std::uint64_t burst = round_sat(static_cast<double>(tokens) * 1e6 / hz);
        c.cpu_burst_us = std::min(burst, c.cpu_max->quota_us);
      } else {
        note(
            "sched/tokens-max: a burst needs a CPU cap (cflags sched_hard with sched/fill-rate and "
            "sched/interval); ignored");
      }
    }
    if (s.tokens) note("sched/tokens: CFS has no initial bucket content; ignored");
    if (s.tokens_min) {
      note(
          "sched/tokens-min: CFS resumes a throttled guest at the next period, there is no resume "
          "threshold; ignored");
    }
    if (s.schedule_ignored) {
      note(
          "schedule: not read, because the guest has a sched/ directory (util-vserver reads only "
          "sched/ then); move its values into sched/ or remove the file");
    }
    for (const auto& dir : s.per_cpu) {
      note("sched/" + dir +
           "/: per-CPU buckets cannot be expressed, CFS bandwidth is shared over all the guest's "
           "CPUs; ignored");
    }

    if (cfg_.limits.cpus) {
      std::uint64_t quota =
          std::max(kMinQuotaUs, round_sat(*cfg_.limits.cpus * static_cast<double>(period)));
      c.cpu_max = CpuMax{quota, period};
      c.cpu_burst_us.reset();
    }

    c.frozen = cfg_.cflags.count("sched_pause") != 0;
  }

  static std::int64_t positive(const std::optional<std::int64_t>& v, std::int64_t def) {
    return v && *v > 0 ? *v : def;
  }

  void cpuset() {
    const config::Cpuset& s = cfg_.cpuset;
    CgroupLimits& c = plan_.cgroup;
    c.cpuset_cpus = s.cpus;
    c.cpuset_mems = s.mems;
    c.cpu_exclusive = s.cpu_exclusive;
    if (s.mem_exclusive) {
      note("cpuset/mem_exclusive: memory nodes are not made exclusive to the guest; ignored");
    }
    if (s.virtualized) {
      note(
          "cpuset/virtualized: needed an out-of-tree kernel patch; not needed here: with "
          "cpuset/cpus the guest's /proc/cpuinfo and /proc/stat show only its own CPUs (the /proc "
          "views), as do sched_getaffinity and nproc; ignored");
    }
    if (s.nocreate) {
      note(
          "cpuset/nocreate: the guest always gets a cpuset of its own in its cgroup, joining an "
          "existing one is not supported; cpus and mems are applied");
    }
  }

  void verbatim() {
    for (const auto& [file, value] : cfg_.cgroup.files)
      plan_.cgroup.verbatim.emplace_back(file, value);
    for (const auto& name : cfg_.cgroup.ignored) {
      if (name == "mnt") {
        note("cgroup/mnt: the cgroup hierarchies are found automatically; ignored");
      } else if (name == "subsys") {
        note("cgroup/subsys: the controllers the guest needs are enabled automatically; ignored");
      } else if (name == "inherit") {
        note(
            "cgroup/inherit: the guest's cpuset comes from cpuset/ or from its parent cgroup; "
            "ignored");
      } else if (name == "per-ss") {
        note(
            "cgroup/per-ss: on cgroup v1 each file goes to the hierarchy of its controller "
            "automatically; ignored");
      } else {
        note("cgroup/" + name + ": ignored");
      }
    }
  }

  const config::GuestConfig& cfg_;
  const HostFacts& host_;
  LimitPlan plan_;
};

std::string v1_memory_text(std::uint64_t v) {
  return v == kMax ? "-1" : std::to_string(v);
}

}  // namespace

LimitPlan plan_limits(const config::GuestConfig& cfg, const HostFacts& host) {
  return Planner(cfg, host).run();
}

std::vector<std::string> safety_notes(const config::GuestConfig& cfg, const LimitPlan& plan) {
  // cgroup/pids.max is written last and wins.
  std::optional<std::string> verbatim;
  for (const auto& [file, value] : plan.cgroup.verbatim) {
    if (file == "pids.max") verbatim = std::string(trim(value));
  }
  if (verbatim ? *verbatim != "max" : plan.cgroup.pids_max.has_value()) return {};
  std::string why;
  const Rlimit* nproc = find(cfg.rlimits, "nproc");
  if (verbatim) {
    why = "cgroup/pids.max is max";
  } else if (cfg.limits.processes) {
    why = "limits/processes is max";
  } else if (nproc && (nproc->soft || nproc->hard)) {
    why = "rlimits/nproc is inf";
  } else {
    why = "no limits/processes or rlimits/nproc";
  }
  return {"no process limit (" + why +
          "): a fork bomb in the guest can fill the host's process table and stop every other "
          "guest; new guests get limits/processes = " +
          std::to_string(config::kNewGuestProcesses) + " (docs/limits.md)"};
}

std::vector<CgroupWrite> cgroup_writes(const CgroupLimits& l, Version version) {
  std::vector<CgroupWrite> out;
  if (version == Version::v2) {
    auto put = [&](std::string file, std::string value) {
      out.push_back(CgroupWrite{"", std::move(file), std::move(value)});
    };
    if (l.cpuset_cpus) put("cpuset.cpus", *l.cpuset_cpus);
    if (l.cpuset_mems) put("cpuset.mems", *l.cpuset_mems);
    if (l.cpu_exclusive) put("cpuset.cpus.partition", "root");
    if (l.memory_max) put("memory.max", max_text(*l.memory_max));
    if (l.memory_swap_max) put("memory.swap.max", max_text(*l.memory_swap_max));
    if (l.pids_max) put("pids.max", max_text(*l.pids_max));
    if (l.cpu_max) {
      // A burst left from before must not exceed a lowered quota while cpu.max is written.
      if (l.cpu_burst_us && *l.cpu_burst_us != 0) put("cpu.max.burst", "0");
      put("cpu.max", max_text(l.cpu_max->quota_us) + " " + std::to_string(l.cpu_max->period_us));
    }
    if (l.cpu_burst_us) put("cpu.max.burst", std::to_string(*l.cpu_burst_us));
    if (l.cpu_weight) put("cpu.weight", std::to_string(*l.cpu_weight));
    if (l.frozen) put("cgroup.freeze", "1");
    for (const auto& [file, value] : l.verbatim) put(file, value);
    return out;
  }

  auto put = [&](std::string controller, std::string file, std::string value) {
    out.push_back(CgroupWrite{std::move(controller), std::move(file), std::move(value)});
  };
  if (l.cpuset_cpus) put("cpuset", "cpuset.cpus", *l.cpuset_cpus);
  if (l.cpuset_mems) put("cpuset", "cpuset.mems", *l.cpuset_mems);
  if (l.cpu_exclusive) put("cpuset", "cpuset.cpu_exclusive", "1");
  if (l.memory_max || l.memory_swap_max) {
    // memory.limit_in_bytes may not exceed memory.memsw.limit_in_bytes: lifting the latter first
    // lets both be raised or lowered on a live cgroup.
    put("memory", "memory.memsw.limit_in_bytes", "-1");
    if (l.memory_max) put("memory", "memory.limit_in_bytes", v1_memory_text(*l.memory_max));
    if (l.memory_max && l.memory_swap_max) {
      std::uint64_t total = sat_add(*l.memory_max, *l.memory_swap_max);
      if (total != kMax) put("memory", "memory.memsw.limit_in_bytes", std::to_string(total));
    }
  }
  if (l.pids_max) put("pids", "pids.max", max_text(*l.pids_max));
  if (l.cpu_max) {
    if (l.cpu_burst_us && *l.cpu_burst_us != 0) put("cpu", "cpu.cfs_burst_us", "0");
    put("cpu", "cpu.cfs_period_us", std::to_string(l.cpu_max->period_us));
    put("cpu", "cpu.cfs_quota_us",
        l.cpu_max->quota_us == kMax ? "-1" : std::to_string(l.cpu_max->quota_us));
  }
  if (l.cpu_burst_us) put("cpu", "cpu.cfs_burst_us", std::to_string(*l.cpu_burst_us));
  if (l.cpu_weight) {
    std::uint64_t shares = std::max<std::uint64_t>(2, std::uint64_t{*l.cpu_weight} * 1024 / 100);
    put("cpu", "cpu.shares", std::to_string(shares));
  }
  if (l.frozen) put("freezer", "freezer.state", "FROZEN");
  for (const auto& [file, value] : l.verbatim) put(file.substr(0, file.find('.')), file, value);
  return out;
}

}  // namespace vs::cgroup
