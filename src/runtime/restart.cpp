// Runs of a guest after the first: vshelper's decision after a reboot or halt inside, and the
// restart.
#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cgroup/cgroup.hpp"
#include "cgroup/limits.hpp"
#include "config/config.hpp"
#include "runtime/launch.hpp"
#include "runtime/runtime.hpp"
#include "runtime/scripts.hpp"
#include "state/state.hpp"
#include "storage/layout.hpp"
#include "storage/storage.hpp"
#include "sys/error.hpp"
#include "sys/process.hpp"
#include "sys/report.hpp"
#include "sys/reverter.hpp"

namespace vs::runtime {

using namespace detail;

namespace {

// util-vserver's vshelper: what a reboot or halt inside the guest leads to. Returns true when
// the guest is to be started again.
bool vshelper(const config::GuestConfig& cfg, int context, const Outcome& out) {
  if (out.stop_requested || out.end == InitEnd::exited) return false;
  if (cfg.init.vshelper_disabled) return false;
  const char* event = out.end == InitEnd::reboot ? "restart" : "halt";
  // An executable apps/vshelper/EVENT runs instead of the action (halt and poweroff look alike
  // from the host: both end init with SIGINT).
  std::vector<fs::path> handlers{cfg.cfgdir / "apps/vshelper" / event};
  if (out.end == InitEnd::halt) handlers.push_back(cfg.cfgdir / "apps/vshelper/poweroff");
  for (const auto& h : handlers) {
    if (::access(h.c_str(), X_OK) != 0) continue;
    report_info(fmt::format("vserver {}: running {}", cfg.name, h.string()));
    // Everything the handler's process needs is made before the fork: after it, only system calls.
    std::string ctx = std::to_string(context);
    std::string file = h.string();
    std::string ev = event;
    char* argv[] = {file.data(), ctx.data(), ev.data(), nullptr};
    sigset_t none;
    sigemptyset(&none);
    pid_t pid = ::fork();
    if (pid == 0) {
      sigprocmask(SIG_SETMASK, &none, nullptr);
      if (::chdir(cfg.cfgdir.c_str()) != 0) ::_exit(126);
      ::execv(argv[0], argv);
      ::_exit(127);
    }
    try {
      if (pid < 0) throw_errno("fork", "vshelper handler " + file);
      ChildProcess handler(pid);
      int status = exit_status(handler.wait_status("vshelper handler " + file));
      if (status != 0) {
        report_warning(
            fmt::format("vserver {}: {} exited with status {}", cfg.name, h.string(), status));
      }
    } catch (const Error& e) {
      report_warning(fmt::format("vserver {}: {}", cfg.name, e.what()));
    }
    return false;
  }
  return out.end == InitEnd::reboot && cfg.init.vshelper_action == config::VshelperAction::restart;
}

}  // namespace

namespace detail {

// Runs the post-start scripts of a guest whose init runs: a failing one is reported, and the
// guest goes on running.
void run_post_start(const config::Roots& roots, const ScriptTarget& target) {
  try {
    run_scriptlets(roots, target, Scriptlet::post_start);
  } catch (const Error& e) {
    report_warning(fmt::format("vserver {}: warning: {}", target.name, e.what()));
  }
}

// SIGUSR1 (from vserver stop) is taken with sigwaitinfo while a run is supervised; between runs
// it must not end the supervisor.
void ignore_stop_signal_between_runs() {
  struct sigaction sa {};
  sa.sa_handler = [](int) {};
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGUSR1, &sa, nullptr);
}

// After a run that ended as out says: starts the guest again each time a reboot inside asks for
// it, with its configuration read afresh, the same context id, and new namespaces, mounts, cgroup
// and network. Returns the last init's exit status.
int restart_runs(const config::Roots& roots, const config::GuestConfig& first_cfg, int context,
                 Outcome out, bool detached) {
  config::GuestConfig cfg = first_cfg;
  while (vshelper(cfg, context, out)) {
    report_info(fmt::format("vserver {}: restarting", cfg.name));
    // Nobody starts or stops the guest while it is down between two runs.
    auto lock = std::make_unique<state::GuestLock>(roots, first_cfg.id());
    // The previous run's cleanup released the guest's disk image: the new run mounts it again.
    std::optional<storage::Prepared> prepared;
    std::optional<storage::Overlay> overlay;
    try {
      cfg = config::load_guest(roots, first_cfg.id());
      check_supported(cfg);
      run_scriptlets(roots, {cfg.id(), cfg.cfgdir, cfg.vdir, cfg.context}, Scriptlet::initialize);
      overlay = storage::guest_overlay(roots, cfg);
      if (overlay) storage::check_overlay(cfg, *overlay);
      if (cfg.context || state::claim_context(roots, context, cfg.id())) {
        context = runtime_context(roots, cfg);
      }
      run_scriptlets(roots, {cfg.id(), cfg.cfgdir, cfg.vdir, context}, Scriptlet::prepre_start);
      prepared.emplace(storage::prepare(roots, cfg));
      for (const auto& note : prepared->notes) {
        report_info(fmt::format("vserver {}: {}", cfg.name, note));
      }
    } catch (const Error& e) {
      report_warning(fmt::format("vserver {}: not restarted: {}", first_cfg.name, e.what()));
      return out.status;
    }
    Reverter revert_context;
    revert_context.add(
        [&roots, context, id = cfg.id()] { state::release_context(roots, context, id); });
    Launch next{roots,
                cfg,
                context,
                cgroup::Hierarchy::detect(),
                cgroup::plan_limits(cfg, host_facts()),
                overlay,
                detached};
    try {
      out = supervise(next, [&] {
        prepared->keep();
        lock.reset();
        revert_context.success();
        run_post_start(roots, {cfg.id(), cfg.cfgdir, cfg.vdir, context});
      });
    } catch (const Error& e) {
      report_warning(fmt::format("vserver {}: restart failed: {}", cfg.name, e.what()));
      return 1;
    }
  }
  return out.status;
}

// Supervises the guest, and starts it again each time a reboot inside asks for it (restart_runs).
// first_started() is called when the first run's init runs. Returns the last init's exit status;
// a detached supervisor (not the caller on a terminal) does not return while the guest runs, but
// becomes vserver-monitor, and then resume_supervision does the rest.
int supervise_runs(const Launch& first, const std::function<void()>& first_started) {
  ignore_stop_signal_between_runs();
  Outcome out = supervise(first, first_started);
  return restart_runs(first.roots, first.cfg, first.context, out, first.detached);
}

}  // namespace detail

}  // namespace vs::runtime
