// The limits of a guest, from its configuration to the kernel: pure arithmetic, no I/O.
//
// plan_limits turns rlimits/, ulimits/, limits/, sched/, cpuset/, cgroup/, nice and the sched_*
// flags into a LimitPlan: version-neutral cgroup settings plus per-process rlimits. cgroup_writes
// turns the cgroup part into the files of cgroup v2 or of cgroup v1 (one hierarchy per
// controller). The mapping is documented in docs/limits.md.
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "config/parse.hpp"

namespace vs::cgroup {

inline constexpr std::uint64_t kMax = config::kUnlimited;  // "max" / "inf" / -1

// What the host is like, for the arithmetic.
struct HostFacts {
  int cpus = 1;  // CPUs online
  int hz = 250;  // the tick rate sched/ intervals were written for (jiffies)
  std::uint64_t page_size = 4096;
  std::uint64_t cfs_period_us = 100000;
};

struct CpuMax {
  std::uint64_t quota_us = kMax;  // kMax: no cap
  std::uint64_t period_us = 100000;
  bool operator==(const CpuMax&) const = default;
};

// Version-neutral cgroup settings. An unset optional leaves the kernel's default.
struct CgroupLimits {
  std::optional<std::uint64_t> memory_max;       // bytes (RAM)
  std::optional<std::uint64_t> memory_swap_max;  // bytes of swap beyond memory_max
  std::optional<std::uint64_t> pids_max;
  std::optional<CpuMax> cpu_max;
  std::optional<std::uint64_t> cpu_burst_us;
  std::optional<std::uint32_t> cpu_weight;  // 1..10000, v2 scale (v1 shares = weight*1024/100)
  std::optional<std::string> cpuset_cpus;
  std::optional<std::string> cpuset_mems;
  bool cpu_exclusive = false;
  bool frozen = false;  // sched_pause
  // cgroup/ files, verbatim, in file-name order, written last.
  std::vector<std::pair<std::string, std::string>> verbatim;
  bool operator==(const CgroupLimits&) const = default;
};

// One per-process limit, set on the guest's init before exec (inherited by all its processes).
struct ProcessLimit {
  int resource = 0;  // RLIMIT_*
  rlim_t soft = RLIM_INFINITY;
  rlim_t hard = RLIM_INFINITY;
  std::string source;  // the configuration file it comes from, for messages
  bool operator==(const ProcessLimit&) const = default;
};

struct LimitPlan {
  CgroupLimits cgroup;
  std::vector<ProcessLimit> rlimits;  // ulimits/ first, then rlimits/ (which win)
  // Settings that were accepted but cannot be expressed on mainline, one sentence each naming the
  // file ("rlimits/dentry: no per-guest dentry limit on mainline; not applied").
  std::vector<std::string> notes;
};

LimitPlan plan_limits(const config::GuestConfig& cfg, const HostFacts& host);

// What `vserver NAME check` adds to the notes of plan: a guest without a process limit (no
// limits/processes or rlimits/nproc, or one that says max, and no cgroup/pids.max) is told so,
// since its processes can fill the host's process table. Empty for a guest with a limit.
std::vector<std::string> safety_notes(const config::GuestConfig& cfg, const LimitPlan& plan);

enum class Version { v1, v2 };

// One file to write: for v2 the controller is empty (one directory); for v1 it names the
// hierarchy (memory, cpu, cpuset, pids, freezer) the file belongs to.
struct CgroupWrite {
  std::string controller;
  std::string file;
  std::string value;
  bool operator==(const CgroupWrite&) const = default;
};

// The files to write, in the order to write them. cpuset.cpus/mems come first (v1 needs them
// before any task joins). Verbatim cgroup/ files keep their names; on v1 their controller is the
// file name's prefix ("cpu.shares" -> cpu, "memory.limit_in_bytes" -> memory).
std::vector<CgroupWrite> cgroup_writes(const CgroupLimits& limits, Version version);

// parse_bytes, parse_cpus and format_bytes are config's (config/parse.hpp): the configuration
// reads limits/ with them.
using config::format_bytes;
using config::parse_bytes;
using config::parse_cpus;

}  // namespace vs::cgroup
