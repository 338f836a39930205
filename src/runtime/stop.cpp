// stop and status. Both work from the state record and the kernel alone, so they stay right when
// the supervisor is gone (killed, crashed).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "cgroup/cgroup.hpp"
#include "runtime/helper.hpp"
#include "runtime/internal.hpp"
#include "runtime/runtime.hpp"
#include "runtime/scripts.hpp"
#include "state/state.hpp"
#include "sys/debug.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"
#include "sys/process.hpp"
#include "sys/report.hpp"

namespace vs::runtime {

using namespace detail;

namespace {

// Runs a stop command of the init style inside the guest, for at most until deadline_ms; its
// failure does not stop the stop (the kill sequence follows).
void run_inside(const config::Roots& roots, const config::GuestConfig& cfg,
                std::vector<std::string> argv, std::int64_t deadline_ms) {
  ExecOptions o;
  o.argv = std::move(argv);
  ::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", "stop command of guest " + cfg.name);
  if (pid == 0) {
    int rc = 125;
    try {
      rc = exec(roots, cfg, o);
    } catch (const Error& e) {
      std::fprintf(stderr, "vserver %s: %s\n", cfg.name.c_str(), e.what());
    }
    ::_exit(rc);
  }
  ChildProcess child(pid);
  UniqueFd pidfd = pidfd_open(pid, "stop command of guest " + cfg.name);
  if (!wait_pidfd(pidfd.get(),
                  static_cast<int>(std::max<std::int64_t>(0, deadline_ms - monotonic_ms())))) {
    report_warning("vserver " + cfg.name + ": " + o.argv[0] + " did not finish in time");
    return;  // child is killed and reaped
  }
  int rc = child.wait("stop command of guest " + cfg.name);
  if (rc != 0) {
    report_warning("vserver " + cfg.name + ": " + o.argv[0] + " exited with status " +
                   std::to_string(rc));
  }
}

// Asks the guest to shut down the way its init style expects.
void graceful_stop(const config::Roots& roots, const config::GuestConfig& cfg, int init_pidfd,
                   std::int64_t deadline_ms) {
  using config::InitStyle;
  switch (cfg.init.style) {
    case InitStyle::command:
      if (!cfg.init.cmd_stop.empty()) {
        run_inside(roots, cfg, cfg.init.cmd_stop, deadline_ms);
        return;
      }
      break;
    case InitStyle::sysv: {
      // util-vserver runs "rc 0" (runlevel.stop) inside, then ends what is left.
      std::vector<std::string> argv =
          cfg.init.cmd_stop.empty() ? std::vector<std::string>{"/bin/sh", "-c",
                                                               "if [ -x /etc/rc.d/rc ]; then exec "
                                                               "/etc/rc.d/rc \"$0\"; else exec "
                                                               "/etc/init.d/rc \"$0\"; fi",
                                                               cfg.init.runlevel_stop}
                                    : cfg.init.cmd_stop;
      run_inside(roots, cfg, argv, deadline_ms);
      break;
    }
    case InitStyle::minit:
      // util-vserver: /sbin/minit-stop inside, then the kill sequence for what is left.
      run_inside(roots, cfg,
                 cfg.init.cmd_stop.empty() ? std::vector<std::string>{"/sbin/minit-stop"}
                                           : cfg.init.cmd_stop,
                 deadline_ms);
      break;
    default:
      if (!cfg.init.cmd_stop.empty()) {
        run_inside(roots, cfg, cfg.init.cmd_stop, deadline_ms);
        return;
      }
      break;
  }
  pidfd_signal(init_pidfd, graceful_signal(cfg.init.style));
}

// util-vserver's killseq: "signal [wait signal]*" sent to every process of the guest while any
// remain; SIGKILL through the cgroup at the end whatever the sequence says.
void kill_sequence(const cgroup::GuestCgroup& cg, const std::vector<int>& seq) {
  for (size_t i = 0; i < seq.size(); i += 2) {
    if (cg.procs().empty()) return;
    cg.signal_all(seq[i]);
    int wait_s = i + 1 < seq.size() ? seq[i + 1] : 0;
    if (wait_s > 0 && cg.wait_empty(wait_s * 1000)) return;
  }
  cg.kill_all();
}

}  // namespace

bool stop(const config::Roots& roots, const config::GuestConfig& cfg, const StopOptions& opts) {
  if (use_helper()) return stop_in_helper(roots, cfg, opts);
  state::GuestLock lock(roots, cfg.id());
  auto st = state::read_state(roots, cfg.id());
  if (!st) {
    // No record: a leftover cgroup may still hold processes of a lost run.
    try {
      cgroup::GuestCgroup cg = expected_cgroup(cfg, cgroup::Hierarchy::detect());
      if (cg.exists()) {
        cg.kill_all();
        cg.destroy();
      }
    } catch (const Error&) {
      // No cgroup2 hierarchy: nothing can have been started.
    }
    return false;
  }
  if (!state::init_alive(*st)) {
    if (state::supervisor_alive(*st)) {
      // The supervisor is tearing down right now; let it finish.
      try {
        UniqueFd sfd = pidfd_open(st->supervisor_pid, "supervisor of " + cfg.name);
        wait_pidfd(sfd.get(), 10000);
      } catch (const Error&) {
      }
    }
    cleanup(roots, *st);
    return false;
  }

  UniqueFd init = pidfd_open(st->init_pid, "init of guest " + cfg.name);
  // The pid may have been reused between the check and pidfd_open.
  if (!state::init_alive(*st)) {
    cleanup(roots, *st);
    return false;
  }
  // util-vserver's pre-stop scripts, in the guest's root while it still runs. One that fails is
  // reported: the guest is stopped all the same.
  try {
    run_scriptlets(roots, {cfg.id(), cfg.cfgdir, cfg.vdir, st->context}, Scriptlet::pre_stop);
  } catch (const Error& e) {
    report_warning("vserver " + cfg.name + ": warning: " + e.what());
  }
  debug::step(cfg.name, "pre-stop scripts run");
  cgroup::GuestCgroup cg = guest_cgroup(*st);
  // Tell the supervisor that the guest is being stopped, so that it does not take a reboot on the
  // way down (an init that reboots on SIGINT, a shutdown script) for a reboot to restart from.
  if (state::supervisor_alive(*st)) {
    try {
      UniqueFd sfd = pidfd_open(st->supervisor_pid, "supervisor of " + cfg.name);
      pidfd_signal(sfd.get(), SIGUSR1);
    } catch (const Error&) {
      // Gone meanwhile: nobody restarts the guest then.
    }
  }
  int timeout_s = opts.timeout.value_or(cfg.init.stop_timeout);
  std::int64_t deadline = monotonic_ms() + timeout_s * 1000LL;
  graceful_stop(roots, cfg, init.get(), deadline);
  debug::step(cfg.name, "asked to stop as its init style wants");
  if (!wait_pidfd(init.get(),
                  static_cast<int>(std::max<std::int64_t>(0, deadline - monotonic_ms())))) {
    report_warning("vserver " + cfg.name + ": still running after " + std::to_string(timeout_s) +
                   " s; sending the kill sequence");
    kill_sequence(cg, cfg.init.killseq);
    wait_pidfd(init.get(), 5000);
  }
  // When init ends the kernel kills the rest of its PID namespace; processes that joined from
  // outside (exec helpers) go with the cgroup.
  debug::step(cfg.name, "init ended");
  if (!cg.kill_all()) {
    throw Error("stop guest " + cfg.name + ": processes remain in " + st->cgroup);
  }
  debug::step(cfg.name, "no process left in its cgroup");
  // The supervisor, if alive, removes cgroup and record itself, then runs the post-stop scripts;
  // wait for it, then make sure. One that has not removed the record in 10 s is stuck and killed
  // (the cleanup below runs the scripts then); one that runs the scripts is waited for.
  if (state::supervisor_alive(*st)) {
    try {
      UniqueFd sfd = pidfd_open(st->supervisor_pid, "supervisor of " + cfg.name);
      if (!wait_pidfd(sfd.get(), 10000)) {
        auto now = state::read_state(roots, cfg.id());
        if (now && now->init_pid == st->init_pid) {
          pidfd_signal(sfd.get(), SIGKILL);
        } else {
          report_info("vserver " + cfg.name + ": waiting for its post-stop scripts");
          while (!wait_pidfd(sfd.get(), 60000)) {
          }
        }
      }
    } catch (const Error&) {
    }
  }
  debug::step(cfg.name, "the supervisor has cleaned up and run the stop scripts");
  cleanup(roots, *st);
  debug::step(cfg.name, "stopped");
  return true;
}

Status status(const config::Roots& roots, std::string_view name) {
  Status s;
  auto st = state::read_state(roots, name);
  if (!st || !state::init_alive(*st)) return s;
  s.running = true;
  s.state = *st;
  s.processes = cgroup::GuestCgroup(st->cgroup).procs().size();
  s.uptime_ms = realtime_ms() - st->started_at_ms;
  return s;
}

}  // namespace vs::runtime
