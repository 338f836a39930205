// Helpers shared by the runtime's translation units.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cgroup/limits.hpp"
#include "config/model.hpp"
#include "sys/fd.hpp"

namespace vs::runtime::detail {

// pidfd_open(2); throws naming what.
UniqueFd pidfd_open(pid_t pid, const std::string& what);
// pidfd_send_signal(2); false if the process is gone.
bool pidfd_signal(int pidfd, int sig);
// Waits until the pidfd's process exits; false on timeout.
bool wait_pidfd(int pidfd, int timeout_ms);
std::int64_t monotonic_ms();
std::int64_t realtime_ms();

// The environment of the guest's init and of processes started in it.
std::vector<std::string> guest_environment(const config::GuestConfig& cfg);
// Finds argv0 in the PATH of env (inside the current root) unless it holds a '/'.
std::string find_program(const std::string& argv0, const std::vector<std::string>& env);
// execve with the C++ vectors. late_limits are set just before execve, when nothing is left to
// allocate: an address-space limit below the size of this (large) process would otherwise fail
// the allocations on the way.
void exec_program(const std::string& path, const std::vector<std::string>& argv,
                  const std::vector<std::string>& env,
                  const std::vector<cgroup::ProcessLimit>& late_limits = {});
// Splits per-process limits into those to set at once and those to set just before execve
// (RLIMIT_AS, RLIMIT_DATA).
std::pair<std::vector<cgroup::ProcessLimit>, std::vector<cgroup::ProcessLimit>> split_limits(
    const std::vector<cgroup::ProcessLimit>& limits);
// The signal that asks an init of this style to shut down.
int graceful_signal(config::InitStyle style);

// A child process, as fork(2) (plus the namespaces of clone flags), created straight in the cgroup
// v2 directory open as cgroup_dir with clone3(CLONE_INTO_CGROUP, Linux 5.7): no migration into the
// cgroup afterwards, which waits for an RCU grace period (several milliseconds on an idle host).
// Where the kernel, or a seccomp filter around vserver, refuses clone3 or the flag, a plain
// clone(2): in_cgroup is then false, and the child must still be moved. Returns the pid, 0 in the
// child, -1 with errno on failure.
pid_t clone_into_cgroup(unsigned long flags, int cgroup_dir, bool& in_cgroup);

// A child (plus the namespaces of clone flags) that shares the caller's memory and runs fn(arg)
// on a stack of its own until it executes a program or exits, while the caller waits (CLONE_VM |
// CLONE_VFORK, as posix_spawn does): no page table is copied and no page copied on write. fn must
// not change what the caller goes on using (what it allocates stays allocated in the caller), and
// the caller must be single-threaded. The caller's --debug descriptor is kept. Where the kernel
// refuses CLONE_VM (Debian 12's 6.1, when the caller's children go to another time namespace) the
// child is a copy of the caller, as fork makes it, and the caller does not wait. Returns the pid,
// -1 with errno on failure.
pid_t clone_sharing_memory(unsigned long flags, int (*fn)(void*), void* arg);

// Whether the guest's network needs the supervisor: links to create on the host, or addresses and
// routes to set. Without, the guest has its loopback device only, which its first process brings
// up itself (loopback_up).
bool network_needs_supervisor(const config::GuestConfig& cfg);
// Brings up lo in the caller's network namespace.
void loopback_up();

// The directory of a process's cgroup v2, given the directory of the guest's cgroup it lives in
// (or below) and the process's /proc/PID/cgroup as the host reads it
// ("0::/vservers/web/init.scope"): the guest's directory with the part of the process's path below
// the guest's. nullopt when the process is not in the guest's cgroup or below.
std::optional<std::filesystem::path> init_cgroup_dir(const std::filesystem::path& guest_dir,
                                                     std::string_view proc_cgroup);

}  // namespace vs::runtime::detail
