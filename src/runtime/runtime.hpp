// Running guests: start (with a supervisor per guest), stop, status, and joining a running guest
// (exec, enter, suexec). Any thread of any process may call them (see Launcher): the work that
// needs a single-threaded process runs in one of the vserver binary's own.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cgroup/cgroup.hpp"
#include "cgroup/limits.hpp"
#include "config/model.hpp"
#include "config/roots.hpp"
#include "state/state.hpp"
#include "sys/error.hpp"

namespace vs::runtime {

// Thrown by start when the guest already runs (util-vserver treats this as success).
class AlreadyRunning : public Error {
 public:
  using Error::Error;
};
// Thrown by exec/enter/suexec when the guest is not running.
class NotRunning : public Error {
 public:
  using Error::Error;
};

// Where start, stop and exec do their work.
//   helper (the default): in a process of the vserver binary run for the call ("vserver-helper",
//     spawned with posix_spawn), which reads the guest's configuration from the roots given.
//     Safe from any thread of a multi-threaded process (the daemon), and the guest's supervisor
//     is the vserver binary whatever program called. The configuration passed must be the one the
//     tree holds (an Error says so otherwise); messages of the helper reach this thread's report
//     sink; an error comes back with its text and errno.
//   in_process: in the calling process, which must be the vserver binary and single-threaded
//     (the command line: no extra process, no extra exec).
enum class Launcher { helper, in_process };
// Chooses the launcher for the whole process; helper_binary is the vserver binary the helper runs
// (empty: the installed one, VSERVER_SBINDIR/vserver). Call before the first start, stop or exec.
void set_launcher(Launcher launcher, const std::filesystem::path& helper_binary = {});

// The helper's side: main of the vserver binary called as "vserver-helper ACTION NAME ...".
int helper_main(int argc, char** argv);

struct StartOptions {
  // Keep the guest on this terminal: the caller becomes the supervisor and start returns when the
  // guest ends, with its init's exit status.
  bool foreground = false;
};

// Starts the guest. In the background, returns 0 as soon as the guest's init runs; the
// supervisor stays behind, owns the guest and tears everything down when it ends. On failure
// nothing is left behind (no mount, cgroup, state record or process) and an Error says why.
int start(const config::Roots& roots, const config::GuestConfig& cfg, const StartOptions& opts);

struct StopOptions {
  // Seconds the graceful stop may take; default from the configuration (sync-timeout).
  std::optional<int> timeout;
};
// Stops the guest: the init style's graceful stop, then after the timeout the kill sequence to
// everything left in the guest's cgroup. Returns false if the guest was not running (leftovers of
// a crashed run are cleaned up anyway).
bool stop(const config::Roots& roots, const config::GuestConfig& cfg, const StopOptions& opts);

struct Status {
  bool running = false;
  state::GuestState state;    // valid when running
  std::size_t processes = 0;  // processes in the guest's cgroup
  std::int64_t uptime_ms = 0;
};
Status status(const config::Roots& roots, std::string_view name);

enum class Tty { automatic, always, never };
struct ExecOptions {
  std::vector<std::string> argv;         // the command; looked up in the guest's PATH if not a path
  std::string user = "root";             // name or numeric uid, from the guest's /etc/passwd
  Tty tty = Tty::never;                  // automatic: a pseudo-terminal when stdin is a terminal
  bool login = false;                    // start in the user's home, argv[0] prefixed with '-'
  std::vector<std::string> environment;  // VAR=VALUE entries added to (or replacing) the guest's
  // The command's standard input, output and error: descriptors of the caller (a pipe, a socket
  // of the daemon); other than 0, 1 and 2, the call goes through the helper process.
  int stdin_fd = 0;
  int stdout_fd = 1;
  int stderr_fd = 2;
  // The calling process joins the guest's namespaces itself to create the command, instead of a
  // helper it forks: one process fewer. It stays in them (its root and working directory are the
  // guest's) and must be single-threaded: for a program that exits when the command has ended,
  // as the vserver command line and its helper do.
  bool join_caller = false;
};
// Runs a command inside the running guest, confined like the guest's own processes, with stdin,
// stdout and stderr passed through. Returns its exit status (128+N when killed by signal N).
int exec(const config::Roots& roots, const config::GuestConfig& cfg, const ExecOptions& opts);

// Removes what a guest whose init is gone left behind: its processes, cgroup and state record.
void cleanup(const config::Roots& roots, const state::GuestState& st);

// Context id a guest runs at: its configured one, or a free dynamic one (49152 and up).
int runtime_context(const config::Roots& roots, const config::GuestConfig& cfg);

// The guest's cgroup as its state record says (v2 directory plus the v1 ones on hybrid hosts).
cgroup::GuestCgroup guest_cgroup(const state::GuestState& st);
// Where the guest's cgroup is, or would be, on this host (for leftovers of a lost run).
cgroup::GuestCgroup expected_cgroup(const config::GuestConfig& cfg, const cgroup::Hierarchy& h);

// This host, for the limit arithmetic: CPUs online, tick rate (CONFIG_HZ of the running kernel,
// 250 when unknown), page size.
cgroup::HostFacts host_facts();
// Sets per-process limits on pid (0: the caller) with prlimit(2). Throws naming the resource.
void set_process_limits(pid_t pid, const std::vector<cgroup::ProcessLimit>& limits);

// Applies the limits of cfg to the running guest at once: every cgroup setting (unset ones back
// to the kernel's defaults) and the per-process limits of every process in it. Returns the notes
// of the plan (what could not be expressed). Throws NotRunning when the guest is not running.
std::vector<std::string> apply_limits(const config::Roots& roots, const config::GuestConfig& cfg);

// The rest of a detached supervisor's work once the guest's init has ended: the supervisor became
// vserver-monitor while the guest ran, and that executes this binary again as
// "vserver-supervisor NAME" with what it saw in the environment. Cleans the run up, and starts the
// guest again after a reboot from inside. Returns the supervisor's exit status.
int resume_supervision();

// Lets ps show a title for this process (the supervisor, the guest's minimal init). Call
// remember_argv from main once.
void remember_argv(int argc, char** argv);
void set_process_title(std::string_view title);

}  // namespace vs::runtime
