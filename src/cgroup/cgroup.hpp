// The guest's cgroup: one directory per guest in the cgroup v2 hierarchy (the pure v2 mount at
// /sys/fs/cgroup, or the controller-less v2 mount of a hybrid host at /sys/fs/cgroup/unified).
// It tracks every process of the guest, including those that joined with exec/enter, and is the
// handle to signal or kill them all.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vs::cgroup {

namespace fs = std::filesystem;

enum class Layout { unified, hybrid };

// The v2 mount point used for guests and the layout of the host; throws if there is no cgroup2
// mount at all.
struct Hierarchy {
  fs::path root;  // /sys/fs/cgroup or /sys/fs/cgroup/unified
  Layout layout = Layout::unified;
  static Hierarchy detect();
};

// Directory below the hierarchy root under which guest cgroups are created.
inline constexpr std::string_view kGuestParent = "vservers";

class GuestCgroup {
 public:
  // Creates ROOT/vservers/NAME (fails with EEXIST if it exists and has processes; an empty
  // leftover is reused).
  static GuestCgroup create(const Hierarchy& h, std::string_view name);
  // Refers to an existing directory (no check).
  explicit GuestCgroup(fs::path path) : path_(std::move(path)) {}

  [[nodiscard]] const fs::path& path() const noexcept { return path_; }
  [[nodiscard]] bool exists() const;
  // Moves a process into the cgroup.
  void attach(pid_t pid) const;
  // Pids (host view) of every process in the cgroup; empty if the cgroup is gone.
  [[nodiscard]] std::vector<pid_t> procs() const;
  // Sends sig to every process in the cgroup (once each); returns how many were signalled.
  int signal_all(int sig) const;
  // SIGKILLs everything (cgroup.kill where the kernel has it) and waits up to timeout_ms for the
  // cgroup to be empty. Returns true when it is.
  bool kill_all(int timeout_ms = 10000) const;
  // Removes the directory (and ROOT/vservers when it is left empty). No error if already gone;
  // throws if processes remain.
  void destroy() const;

 private:
  fs::path path_;
};

// The path for a guest's cgroup, whether or not it exists.
fs::path guest_cgroup_path(const Hierarchy& h, std::string_view name);

// The guest a host process belongs to, from /proc/PID/cgroup ("0::/vservers/NAME/..."), or
// nullopt for host processes.
std::optional<std::string> guest_of_pid(pid_t pid);

}  // namespace vs::cgroup
