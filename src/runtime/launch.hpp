// What the files of the guest launch share: start.cpp (the caller's side), supervisor.cpp (one run
// of a guest), guest_child.cpp (the guest's first process up to its execve), minimal_init.cpp
// (PID 1 of a sysv guest), restart.cpp (runs after a reboot inside) and monitor.cpp (the hand-over
// to vserver-monitor and back).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgroup/cgroup.hpp"
#include "cgroup/limits.hpp"
#include "config/model.hpp"
#include "config/roots.hpp"
#include "procfs/procfs.hpp"
#include "runtime/launch_sync.hpp"
#include "runtime/scripts.hpp"
#include "state/state.hpp"
#include "storage/layout.hpp"
#include "sys/error.hpp"

namespace vs::runtime::detail {

// One run of a guest, as the supervisor makes it.
struct Launch {
  const config::Roots& roots;
  const config::GuestConfig& cfg;
  int context;
  cgroup::Hierarchy hierarchy;
  cgroup::LimitPlan plan;
  std::optional<storage::Overlay> overlay;
  // A supervisor of its own (not the caller on a terminal): it turns into vserver-monitor while
  // the guest runs.
  bool detached = false;
  // Where the pre-start scripts write: the caller's output while it waits for the start (-1:
  // this process's own).
  int script_out = -1;
  int script_err = -1;
};

// What the guest's first process needs besides its configuration.
struct ChildSetup {
  const cgroup::LimitPlan& plan;
  int procfs_fd = -1;  // the FUSE connection of the /proc views, or -1
  procfs::Views views;
  bool wait_go = true;   // the supervisor still works on the child before it may go on
  bool loopback = true;  // the child brings up lo itself (a network namespace without links)
  // cgroup.procs files (v1 hierarchies first, the v2 directory last) the child moves itself into,
  // when it is not created in its cgroups and the supervisor does not move it.
  std::vector<int> cgroup_procs;
  std::optional<storage::Overlay> overlay;  // the layers of a unified guest's root
};

// How a guest's init ended. Inside a PID namespace reboot(2) ends its init as if by SIGHUP
// (restart) or SIGINT (halt, poweroff); it never reaches the host.
enum class InitEnd { exited, reboot, halt };

struct Outcome {
  int status = 0;
  InitEnd end = InitEnd::exited;
  bool stop_requested = false;  // vserver stop (SIGUSR1) or the supervisor was told to end
};

// A start that failed in phase. The message says it too: "start guest web: failed in phase
// rootfs: mount ...".
class LaunchError : public Error {
 public:
  LaunchError(Phase phase, const std::string& message, int err)
      : Error(message, err), phase_(phase) {}
  [[nodiscard]] Phase phase() const noexcept { return phase_; }

 private:
  Phase phase_;
};

// start.cpp: refuses a configuration the launch cannot run.
void check_supported(const config::GuestConfig& cfg);

// supervisor.cpp: runs the guest; calls started() once its init runs. Returns how init ended;
// throws LaunchError when the start fails.
Outcome supervise(const Launch& l, const std::function<void()>& started);
// The signals a supervisor takes with sigwaitinfo while a guest runs (vserver-monitor blocks the
// same set).
sigset_t supervision_signals();
// How init ended, from its wait status.
Outcome outcome_of(int wstatus);
// After init has ended: removes what the run left on the host and says how it ended.
void finish_run(const config::Roots& roots, const state::GuestState& st, const std::string& name,
                const Outcome& out);

// guest_child.cpp: the guest's first process; never returns.
[[noreturn]] void guest_child(const config::GuestConfig& cfg, int sync_fd, const ChildSetup& cs);
// Reports a failure in phase of the child to the supervisor, which reports it to the user; ends
// the process.
[[noreturn]] void child_fail(int sync_fd, Phase phase, int err, std::string_view text) noexcept;
// Closes every descriptor from 3 up but those in keep (-1 entries are ignored).
void close_all_but(std::vector<int> keep, const std::string& what);

// minimal_init.cpp: PID 1 of a sysv-style guest.
[[noreturn]] void minimal_init(const config::GuestConfig& cfg, const std::vector<std::string>& env,
                               std::vector<std::string> argv, int sync_fd,
                               const std::vector<cgroup::ProcessLimit>& late_limits);

// restart.cpp: the post-start scripts of a guest whose init runs (a failing one is reported).
void run_post_start(const config::Roots& roots, const ScriptTarget& target);
// SIGUSR1 must not end the supervisor between runs.
void ignore_stop_signal_between_runs();
// Starts the guest again each time a reboot inside asks for it. Returns the last init's status.
int restart_runs(const config::Roots& roots, const config::GuestConfig& first_cfg, int context,
                 Outcome out, bool detached);
// supervise, then restart_runs.
int supervise_runs(const Launch& first, const std::function<void()>& first_started);

// monitor.cpp: replaces the supervisor of a running guest with vserver-monitor; returns only when
// that cannot be done.
void become_monitor(const config::Roots& roots, const config::GuestConfig& cfg, pid_t init,
                    bool own_time_namespace);

}  // namespace vs::runtime::detail
