// The guest's virtualised /proc files (util-vserver's virt_mem, virt_load and virt_cpu flags,
// reference §1.2 and §5), served the way LXCFS does it (reference §5.3): a FUSE filesystem whose
// files are bind-mounted over single files of the guest's /proc.
//
// One FUSE connection per guest. The supervisor opens /dev/fuse before the guest exists
// (Connection), forks the serving process (spawn_server) and keeps its own copy of the fd; the
// guest, in its fresh mount namespace, mounts the connection and binds each view over
// ROOT/proc/<file> (mount_views). If the serving process dies, the supervisor spawns a new one on
// the same fd and the guest's mounts keep working. docs/procfs.md describes the behaviour.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgroup/cgroup.hpp"
#include "config/model.hpp"
#include "sys/fd.hpp"

namespace vs::procfs {

namespace fs = std::filesystem;

// Which /proc files a guest sees virtualised.
struct Views {
  bool meminfo = false, swaps = false, loadavg = false, cpuinfo = false, stat = false;
  [[nodiscard]] bool any() const { return meminfo || swaps || loadavg || cpuinfo || stat; }
  // The names under /proc of the enabled views, in a fixed order.
  [[nodiscard]] std::vector<std::string> files() const;
  bool operator==(const Views&) const = default;
};

// virt_mem -> meminfo and swaps; virt_load -> loadavg; virt_cpu or a configured cpuset/cpus ->
// cpuinfo and stat. (virt_uptime is a time namespace, not a view.)
Views views_for(const config::GuestConfig& cfg);

// The FUSE connection of one guest: /dev/fuse opened (close-on-exec) by the supervisor before
// the guest exists. The connection lives as long as this fd or the guest's mounts of it.
class Connection {
 public:
  static Connection open();
  explicit Connection(UniqueFd fd) noexcept : fd_(std::move(fd)) {}
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] bool valid() const noexcept { return fd_.valid(); }
  // Gives up ownership without closing.
  [[nodiscard]] int release() noexcept { return fd_.release(); }

 private:
  UniqueFd fd_;
};

// What the server reads.
struct Source {
  cgroup::GuestCgroup cgroup;
  // The host's proc, for the host files the views start from and the guest's task states.
  fs::path host_proc = "/proc";
  // How often the load average is sampled; the kernel's LOAD_FREQ. Shorter only in tests.
  std::chrono::milliseconds load_interval{5000};
};

// Forks a single-threaded serving process for the connection and returns its pid (the caller
// reaps it). The process waits until the guest has mounted the connection if it has not yet,
// answers INIT if it comes and otherwise takes the connection as already initialised (a
// restart), serves until the connection ends (all of the guest's mounts are gone) or SIGTERM,
// then _exits 0 (1 on an unexpected error, reported on stderr). It closes every descriptor but
// stdio and fuse_fd (it reads from its own clone of the connection), ignores SIGPIPE, starts a
// session of its own, and is called "vserver-procfs" (comm) with the command line
// "vserver-procfs NAME". It does not exec: fork it from a single-threaded process. Throws
// vs::Error, without forking, when views is empty or fuse_fd is not /dev/fuse.
pid_t spawn_server(int fuse_fd, const Views& views, const Source& source, std::string_view name);

// Guest side, in the guest's fresh private mount namespace, as root, after proc is mounted at
// ROOT/proc and before pivot_root, with the server running. Creates a detached FUSE mount on the
// connection and bind-mounts each view read-only over ROOT/proc/<file>. Throws vs::Error naming
// the file; on failure the views already mounted are unmounted again.
void mount_views(int fuse_fd, const std::string& root, const Views& views);

// ---------------------------------------------------------------------------------------------
// Pure renderers (no I/O).

// Memory facts of a guest, in bytes, from its cgroup. Unset: unknown or not accounted. A value of
// 2^60 or more (cgroup v2 "max", v1's page-rounded LONG_MAX) means no limit.
struct MemFacts {
  std::optional<std::uint64_t> memory_max, memory_current, memory_file;
  std::optional<std::uint64_t> swap_max, swap_current;  // swap beyond memory
  // memory.stat, verbatim keys (v2: anon, file, active_file, ...; v1: total_rss, total_cache,
  // total_active_file, ...), in bytes.
  std::map<std::string, std::uint64_t, std::less<>> stat;
};
MemFacts mem_facts(const cgroup::Usage& usage, std::string_view memory_stat);

// /proc/meminfo for the guest: MemTotal = min(host, memory limit), MemFree = MemTotal - usage,
// MemAvailable, Cached, Active/Inactive, ... from the cgroup; SwapTotal/SwapFree from the swap
// limit (the host's swap when only memory is limited). No limit at all: the host's text.
std::string render_meminfo(std::string_view host_meminfo, const MemFacts& facts);
// /proc/swaps for the guest: with a swap limit, one "none virtual" line of min(host swap, limit)
// (none when that is 0); otherwise the host's text.
std::string render_swaps(std::string_view host_swaps, const MemFacts& facts);

// The kernel's load average arithmetic (kernel/sched/loadavg.c): 11-bit fixed point, one sample
// every 5 s with the 1, 5 and 15 minute decay factors.
class LoadAverage {
 public:
  static constexpr unsigned kFshift = 11;
  static constexpr unsigned long kFixed1 = 1UL << kFshift;
  // Folds in one sample of the guest's active (runnable + uninterruptible) tasks.
  void sample(unsigned long active);
  [[nodiscard]] const std::array<unsigned long, 3>& fixed() const noexcept { return avenrun_; }

 private:
  std::array<unsigned long, 3> avenrun_{};
};

// The guest's threads at one moment.
struct TaskCount {
  unsigned running = 0;  // state R
  unsigned active = 0;   // state R or D: what the load average counts
  unsigned total = 0;
};
// "1.00 0.50 0.20 RUNNING/TOTAL 0". The last field (the last pid allocated) is 0: the host's
// value would leak the host's pid counter and has no meaning in the guest's pid namespace.
std::string render_loadavg(const LoadAverage& load, const TaskCount& tasks);

// A kernel cpu list ("0-2,5", whitespace and a final newline allowed) as sorted distinct CPU
// numbers; "" is empty. Throws vs::Error on anything else.
std::vector<unsigned> parse_cpu_list(std::string_view list);
// /proc/cpuinfo with only the "processor : N" blocks whose N is in cpus, renumbered from 0 in
// order; other blocks are kept. cpus empty, or no block left: the host's text.
std::string render_cpuinfo(std::string_view host_cpuinfo, const std::vector<unsigned>& cpus);
// /proc/stat with only the cpuN lines in cpus, renumbered from 0, and the "cpu" total line
// summed over them; other lines as the host's. cpus empty, or no line left: the host's text.
std::string render_stat(std::string_view host_stat, const std::vector<unsigned>& cpus);

// ---------------------------------------------------------------------------------------------
// Reading the guest (used by the server; exposed for tests).

// Counts the guest's threads by state, from its cgroup.threads (or its processes' task
// directories) and PROC/TID/stat.
TaskCount count_tasks(const cgroup::GuestCgroup& cgroup, const fs::path& proc);

namespace detail {
// How mount_views makes the per-file mounts. clone_detached clones them straight from the
// detached FUSE mount (recent kernels allow that for a detached mount made in the caller's mount
// namespace; older ones fail with EINVAL); staging first attaches the FUSE mount over
// ROOT/proc/driver for a moment; automatic tries the first and falls back to the second.
enum class MountMethod { automatic, clone_detached, staging };
void mount_views(int fuse_fd, const std::string& root, const Views& views, MountMethod method);
}  // namespace detail

}  // namespace vs::procfs
