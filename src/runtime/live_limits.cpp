// Limits of running guests: the per-process part (prlimit) and live changes of the cgroup part.
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <optional>

#include "runtime/runtime.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::runtime {

namespace {

const char* resource_name(int res) {
  switch (res) {
    case RLIMIT_AS:
      return "address space (RLIMIT_AS)";
    case RLIMIT_CORE:
      return "core size (RLIMIT_CORE)";
    case RLIMIT_CPU:
      return "CPU time (RLIMIT_CPU)";
    case RLIMIT_DATA:
      return "data size (RLIMIT_DATA)";
    case RLIMIT_FSIZE:
      return "file size (RLIMIT_FSIZE)";
    case RLIMIT_LOCKS:
      return "file locks (RLIMIT_LOCKS)";
    case RLIMIT_MEMLOCK:
      return "locked memory (RLIMIT_MEMLOCK)";
    case RLIMIT_MSGQUEUE:
      return "message queues (RLIMIT_MSGQUEUE)";
    case RLIMIT_NOFILE:
      return "open files (RLIMIT_NOFILE)";
    case RLIMIT_NPROC:
      return "processes (RLIMIT_NPROC)";
    case RLIMIT_RSS:
      return "resident set (RLIMIT_RSS)";
    case RLIMIT_STACK:
      return "stack size (RLIMIT_STACK)";
    default:
      return "resource limit";
  }
}

std::string limit_text(rlim_t v) {
  return v == RLIM_INFINITY ? "unlimited" : std::to_string(v);
}

// CONFIG_HZ of the running kernel from its config file, if the host has one.
int kernel_hz() {
  struct utsname u {};
  if (::uname(&u) != 0) return 250;
  for (const std::string& path :
       {std::string("/boot/config-") + u.release, std::string("/proc/config")}) {
    std::optional<std::string> text;
    try {
      text = read_file_if_exists(path);
    } catch (const Error&) {
      continue;
    }
    if (!text) continue;
    for (const auto& line : split_lines(*text)) {
      if (line.rfind("CONFIG_HZ=", 0) != 0) continue;
      int hz = 0;
      auto [p, ec] = std::from_chars(line.data() + 10, line.data() + line.size(), hz);
      if (ec == std::errc() && hz > 0) return hz;
    }
  }
  return 250;
}

}  // namespace

cgroup::GuestCgroup guest_cgroup(const state::GuestState& st) {
  std::map<std::string, fs::path> v1;
  for (const auto& [ctrl, dir] : st.cgroup_v1) v1.emplace(ctrl, dir);
  return cgroup::GuestCgroup(st.cgroup, std::move(v1));
}

cgroup::GuestCgroup expected_cgroup(const config::GuestConfig& cfg, const cgroup::Hierarchy& h) {
  std::string base = cfg.cgroup.base.value_or(cgroup::default_base(h));
  std::string name = cfg.cgroup.name.value_or(cfg.id());
  std::map<std::string, fs::path> v1;
  if (h.layout == cgroup::Layout::hybrid) v1 = cgroup::guest_v1_paths(h, base, name);
  return cgroup::GuestCgroup(cgroup::guest_cgroup_path(h, base, name), std::move(v1));
}

cgroup::HostFacts host_facts() {
  static const int hz = kernel_hz();
  cgroup::HostFacts f;
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  f.cpus = cpus > 0 ? static_cast<int>(cpus) : 1;
  long page = ::sysconf(_SC_PAGESIZE);
  if (page > 0) f.page_size = static_cast<std::uint64_t>(page);
  f.hz = hz;
  return f;
}

void set_process_limits(pid_t pid, const std::vector<cgroup::ProcessLimit>& limits) {
  for (const auto& l : limits) {
    rlimit r{l.soft, l.hard};
    if (::prlimit(pid, static_cast<__rlimit_resource>(l.resource), &r, nullptr) != 0) {
      std::string what = fmt::format("{} to {}/{} (from {})", resource_name(l.resource),
                                     limit_text(l.soft), limit_text(l.hard), l.source);
      throw_errno(pid == 0 ? "set " : fmt::format("set for process {} the ", pid), what);
    }
  }
}

std::vector<std::string> apply_limits(const config::Roots& roots, const config::GuestConfig& cfg) {
  auto st = state::read_state(roots, cfg.id());
  if (!st || !state::init_alive(*st)) {
    throw NotRunning("vserver '" + cfg.name + "' is not running");
  }
  auto plan = cgroup::plan_limits(cfg, host_facts());
  // What the configuration no longer sets goes back to the kernel's default, so that removing a
  // limit removes it from the running guest too.
  cgroup::CgroupLimits& c = plan.cgroup;
  if (!c.memory_max) c.memory_max = cgroup::kMax;
  if (!c.memory_swap_max) c.memory_swap_max = cgroup::kMax;
  if (!c.pids_max) c.pids_max = cgroup::kMax;
  if (!c.cpu_max) c.cpu_max = cgroup::CpuMax{cgroup::kMax, host_facts().cfs_period_us};
  if (!c.cpu_burst_us) c.cpu_burst_us = 0;
  if (!c.cpu_weight) c.cpu_weight = 100;
  auto cg = guest_cgroup(*st);
  // Without cpuset/, the guest's CPUs and memory nodes are its parent's (the kernel refuses an
  // empty list while the guest has processes): on cgroup v2 those the parent has in effect.
  if (!c.cpuset_cpus || !c.cpuset_mems) {
    std::optional<fs::path> dir;
    if (cg.version() == cgroup::Version::v2) {
      dir = cg.path();
    } else if (auto it = cg.v1_dirs().find("cpuset"); it != cg.v1_dirs().end()) {
      dir = it->second;
    }
    auto parents = [&](const std::string& file) -> std::string {
      std::string name = cg.version() == cgroup::Version::v2 ? file + ".effective" : file;
      return std::string(trim(read_file(dir->parent_path() / name)));
    };
    if (dir && fs::exists(*dir / "cpuset.cpus")) {
      if (!c.cpuset_cpus) c.cpuset_cpus = parents("cpuset.cpus");
      if (!c.cpuset_mems) c.cpuset_mems = parents("cpuset.mems");
    }
  }
  for (const auto& w : cgroup::cgroup_writes(c, cg.version())) {
    try {
      cg.write(w);
    } catch (const Error& e) {
      // Files this kernel lacks (cpu.max.burst before 5.14, swap without swap accounting) are
      // fine to skip when they only restate a default.
      bool is_default =
          (w.value == "max" || w.value == "-1" || w.value == "0") && e.code() == ENOENT;
      if (!is_default) throw;
    }
  }
  // Unfreeze when sched_pause went away.
  if (!c.frozen) {
    try {
      if (cg.version() == cgroup::Version::v2) {
        cg.write({"", "cgroup.freeze", "0"});
      } else if (cg.v1_dirs().count("freezer") != 0) {
        cg.write({"freezer", "freezer.state", "THAWED"});
      }
    } catch (const Error&) {
      // No freezer here: nothing was frozen.
    }
  }
  for (pid_t pid : cg.procs()) {
    try {
      set_process_limits(pid, plan.rlimits);
    } catch (const Error& e) {
      if (e.code() != ESRCH) throw;  // exited meanwhile
    }
  }
  return plan.notes;
}

}  // namespace vs::runtime
