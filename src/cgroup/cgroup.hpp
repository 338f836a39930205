// The guest's cgroup: one directory per guest in the cgroup v2 hierarchy (the pure v2 mount at
// /sys/fs/cgroup, or the controller-less v2 mount of a hybrid host at /sys/fs/cgroup/unified).
// It tracks every process of the guest, including those that joined with exec/enter, and is the
// handle to signal or kill them all.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgroup/limits.hpp"

namespace vs::cgroup {

namespace fs = std::filesystem;

enum class Layout {
  unified,  // pure cgroup v2: every controller in /sys/fs/cgroup
  hybrid,   // cgroup v1 controllers under /sys/fs/cgroup/<controller>, plus a v2 mount without
            // controllers at /sys/fs/cgroup/unified that tracks processes
};

// The v2 mount point used to track guests, the layout of the host and, on a hybrid host, where
// each v1 controller is mounted. Throws if there is no cgroup2 mount at all.
struct Hierarchy {
  fs::path root;  // /sys/fs/cgroup or /sys/fs/cgroup/unified
  Layout layout = Layout::unified;
  // hybrid only: controller -> mount point of its v1 hierarchy (memory -> /sys/fs/cgroup/memory,
  // cpu -> /sys/fs/cgroup/cpu,cpuacct, cpuacct -> the same, cpuset, pids, freezer, blkio).
  std::map<std::string, fs::path> v1;
  [[nodiscard]] Version version() const {
    return layout == Layout::unified ? Version::v2 : Version::v1;
  }
  static Hierarchy detect();
  // The controllers the limits need, present on this host (v2: from cgroup.controllers).
  [[nodiscard]] std::vector<std::string> controllers() const;
};

// Directory below the hierarchy root under which guest cgroups are created by default.
inline constexpr std::string_view kGuestParent = "vservers";

// Where a guest's cgroup goes: BASE/NAME below the hierarchy root (and below each v1 controller's
// root). base is relative; by default "vservers", or, when the caller runs inside a cgroup that
// systemd delegated (trusted.delegate or user.delegate xattr) and that holds no process itself,
// that cgroup's "vservers" child.
std::string default_base(const Hierarchy& h);

// Accounting of one guest, read from its cgroup. Unset when the host's kernel or layout lacks
// the file (pids.peak before 6.13, memory.peak before 5.19, swap without swap accounting).
struct Usage {
  std::optional<std::uint64_t> memory_current, memory_peak, memory_max, memory_hits, oom_kills;
  std::optional<std::uint64_t> memory_file;  // page cache (memory.stat file / cache)
  // Resident memory as ps counts it: anonymous plus mapped file pages (memory.stat anon +
  // file_mapped; v1 total_rss + total_mapped_file), in bytes.
  std::optional<std::uint64_t> memory_rss;
  std::optional<std::uint64_t> swap_current, swap_max;  // swap beyond memory (v1: memsw - mem)
  std::optional<std::uint64_t> pids_current, pids_peak, pids_max, pids_hits;
  std::optional<std::uint64_t> cpu_usage_us, cpu_user_us, cpu_system_us;
  std::optional<std::uint64_t> cpu_periods, cpu_throttled, cpu_throttled_us;
  std::optional<CpuMax> cpu_max;
  std::optional<std::uint32_t> cpu_weight;
  std::optional<std::string> cpus_effective, mems_effective;
};

class GuestCgroup {
 public:
  // Creates BASE/NAME in the v2 hierarchy (enabling the controllers on the way down on pure v2)
  // and, on a hybrid host, in each v1 controller hierarchy. An empty leftover is reused; one with
  // processes fails with EEXIST. On failure nothing created is left.
  static GuestCgroup create(const Hierarchy& h, std::string_view base, std::string_view name);
  // Refers to an existing guest cgroup (no check): the v2 directory and the v1 ones (hybrid).
  explicit GuestCgroup(fs::path path, std::map<std::string, fs::path> v1_dirs = {})
      : path_(std::move(path)), v1_dirs_(std::move(v1_dirs)) {}

  // The v2 directory: tracks every process, signals and kills them.
  [[nodiscard]] const fs::path& path() const noexcept { return path_; }
  // The v1 directories (hybrid hosts; empty on pure v2): controller -> directory. Co-mounted
  // controllers (cpu,cpuacct) map to the same directory.
  [[nodiscard]] const std::map<std::string, fs::path>& v1_dirs() const noexcept { return v1_dirs_; }
  // Every distinct directory whose cgroup.procs a process must join (v2 first).
  [[nodiscard]] std::vector<fs::path> all_dirs() const;
  [[nodiscard]] Version version() const { return v1_dirs_.empty() ? Version::v2 : Version::v1; }
  [[nodiscard]] bool exists() const;
  // Moves a process into the cgroup (every hierarchy).
  void attach(pid_t pid) const;
  // Moves a process into the v1 directories only (hybrid hosts; nothing on pure v2): for a process
  // created in the v2 directory with clone3(CLONE_INTO_CGROUP).
  void attach_v1(pid_t pid) const;
  // True while a process is in the cgroup or one of its children (cgroup.events "populated 1").
  // False once the cgroup is empty or gone.
  [[nodiscard]] bool populated() const;
  // Waits up to timeout_ms for the cgroup to be empty (or gone), signalling nothing. Returns true
  // when it is.
  bool wait_empty(int timeout_ms) const;
  // Pids (host view) of every process in the cgroup; empty if the cgroup is gone.
  [[nodiscard]] std::vector<pid_t> procs() const;
  // Sends sig to every process in the cgroup (once each); returns how many were signalled.
  int signal_all(int sig) const;
  // SIGKILLs everything (cgroup.kill where the kernel has it) and waits up to timeout_ms for the
  // cgroup to be empty. Returns true when it is. An empty cgroup is left alone.
  bool kill_all(int timeout_ms = 10000) const;
  // Removes the directories (and child cgroups the guest made), waiting up to 10 seconds for
  // killed processes to be released. The shared base directory goes when it is left empty. No error
  // if already gone; throws if processes remain.
  void destroy() const;

  // Writes the limits (cgroup_writes for this version). Throws naming the file and the value.
  void apply(const CgroupLimits& limits) const;
  // Writes one file: on v2 into the directory; on v1 into the hierarchy of the controller (empty
  // controller: the file name's prefix).
  void write(const CgroupWrite& w) const;
  // Reads one file by its v2 name or, on v1, by its v1 name from the hierarchy of its prefix.
  [[nodiscard]] std::optional<std::string> read(std::string_view file) const;
  [[nodiscard]] Usage usage() const;

 private:
  [[nodiscard]] std::optional<fs::path> v1_dir(std::string_view controller) const;
  fs::path path_;
  std::map<std::string, fs::path> v1_dirs_;
};

// The v2 path for a guest's cgroup, whether or not it exists.
fs::path guest_cgroup_path(const Hierarchy& h, std::string_view base, std::string_view name);
// The v1 directories of a guest's cgroup on a hybrid host: controller -> directory. Each is
// nested under the caller's own cgroup in that hierarchy (as LXC does), then BASE/NAME.
std::map<std::string, fs::path> guest_v1_paths(const Hierarchy& h, std::string_view base,
                                               std::string_view name);

// The guest a host process belongs to, from /proc/PID/cgroup ("0::/.../vservers/NAME/..."), or
// nullopt for host processes.
std::optional<std::string> guest_of_pid(pid_t pid);

}  // namespace vs::cgroup
