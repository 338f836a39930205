// start: the caller's side of a guest's launch.
//
// Processes: the caller (vserver NAME start) claims the context id and forks the supervisor
// (phase supervisor), which clones the guest's init into new PID, mount, UTS, IPC and network
// namespaces. The phases (runtime/launch_sync.hpp), in order:
//   supervisor: cgroup (create the guest's cgroup, write its limits), procfs (serve the /proc
//      views), clone (clone the child into the cgroup with clone3 and CLONE_INTO_CGROUP; where the
//      kernel lacks it, a plain clone), network (move the child into the cgroup after a plain
//      clone and into the v1 hierarchies of a hybrid host, links and addresses), pre-start (the
//      scripts); then, only when the child waited for one of these, a go message
//   child (guest_child.cpp): namespaces (loopback up, cgroup namespace, hostname), rootfs,
//      process (nice, rlimits, descriptors), init (its command found), security (seccomp,
//      capabilities), exec (execve of init, or the minimal init)
//   supervisor: the sync socket closes on the child's execve (or a ready message from the minimal
//      init; an error message names the child's phase and errno); running: write the state
//      record, send ready to the caller (an error message if the start failed), then wait for
//      init to end, kill what is left in the cgroup, remove it and the state record, drop the
//      context id
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgroup/cgroup.hpp"
#include "cgroup/limits.hpp"
#include "runtime/helper.hpp"
#include "runtime/internal.hpp"
#include "runtime/launch.hpp"
#include "runtime/launch_sync.hpp"
#include "runtime/network.hpp"
#include "runtime/runtime.hpp"
#include "runtime/scripts.hpp"
#include "state/state.hpp"
#include "storage/layout.hpp"
#include "storage/storage.hpp"
#include "sys/debug.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/file.hpp"
#include "sys/in_root.hpp"
#include "sys/process.hpp"
#include "sys/report.hpp"
#include "sys/reverter.hpp"

namespace vs::runtime {

using namespace detail;

namespace {

// A root without what its init style runs first: the vdir is an empty mount point whose volume
// is not mounted, or an image did not come up. Refused before the root set-up creates dev, proc,
// sys and tmp in it. A unified guest's root exists only once its layers are mounted (they are
// checked by check_overlay).
void check_root_has_init(const config::GuestConfig& cfg) {
  using config::InitStyle;
  std::vector<std::string> any;  // one of these
  switch (cfg.init.style) {
    case InitStyle::plain:
      any = {"/sbin/init"};
      break;
    case InitStyle::systemd:
      any = {"/sbin/init", "/lib/systemd/systemd", "/usr/lib/systemd/systemd"};
      break;
    case InitStyle::minit:
      any = {"/sbin/minit-start"};
      break;
    case InitStyle::sysv:
      if (cfg.init.cmd_start.empty()) any = {"/etc/init.d/rc", "/etc/rc.d/rc"};
      break;
    case InitStyle::command:
      break;  // apps/init/cmd.start: its exec names what is missing
  }
  const std::string vdir = cfg.vdir.string();
  UniqueFd rootfd(::open(vdir.c_str(), O_DIRECTORY | O_PATH | O_CLOEXEC));
  if (!rootfd) throw_errno("start guest " + cfg.name + ": open root", vdir);
  std::error_code ec;
  if (fs::directory_iterator(cfg.vdir, ec) == fs::directory_iterator() && !ec) {
    throw Error("start guest " + cfg.name + ": its root " + vdir +
                " is empty; is the filesystem that holds it mounted?");
  }
  if (any.empty()) return;
  for (const auto& p : any) {
    if (open_file_in_root(rootfd.get(), p, O_PATH)) return;
  }
  std::string names;
  for (const auto& p : any) names += (names.empty() ? "" : " or ") + p;
  throw Error(
      fmt::format("start guest {}: its root {} has no {} (init style {}); is the "
                  "filesystem that holds it mounted?",
                  cfg.name, vdir, names, config::to_string(cfg.init.style)));
}

// Waits for a supervisor that is still tearing down a guest that ended.
void wait_for_old_supervisor(const state::GuestState& st) {
  if (!state::supervisor_alive(st)) return;
  try {
    UniqueFd pfd = pidfd_open(st.supervisor_pid, "supervisor of " + st.name);
    if (!wait_pidfd(pfd.get(), 10000)) pidfd_signal(pfd.get(), SIGKILL);
    wait_pidfd(pfd.get(), 2000);
  } catch (const Error&) {
    // Gone meanwhile.
  }
}

// One message to the caller of start, which waits for it on the pipe fd.
void report_to_caller(int fd, SyncKind kind, Phase phase, int err, std::string_view text) {
  SyncBuffer buf;
  std::size_t size = encode(kind, phase, err, text, buf);
  write_all(fd, std::string_view(buf.data(), size), "start report");
}

void redirect_stdio(const config::Roots& roots, const std::string& name) {
  UniqueFd null = open_file("/dev/null", O_RDWR);
  std::error_code ec;
  fs::create_directories(roots.log, ec);
  UniqueFd log(::open(roots.console_log(name).c_str(),
                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640));
  int out = log ? log.get() : null.get();
  if (::dup2(null.get(), 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) {
    throw_errno("redirect output of supervisor to", roots.console_log(name).string());
  }
}

}  // namespace

namespace detail {

void check_supported(const config::GuestConfig& cfg) {
  using config::InitStyle;
  if (cfg.init.style == InitStyle::systemd && cfg.network == config::NetworkMode::host) {
    // systemd would take the host's network as its own (and its udev the host's devices).
    report_info(fmt::format("vserver {}: note: a systemd guest on the host's network", cfg.name));
  }
  if (cfg.init.style == InitStyle::command && cfg.init.cmd_start.empty()) {
    throw Error("start guest " + cfg.name + ": init style command needs " + cfg.cfgdir.string() +
                "/apps/init/cmd.start");
  }
  struct stat st {};
  if (::stat(cfg.vdir.c_str(), &st) != 0)
    throw_errno("start guest " + cfg.name + ": root", cfg.vdir.string());
  if (!S_ISDIR(st.st_mode))
    throw Error("start guest " + cfg.name + ": root " + cfg.vdir.string() + " is not a directory");
}

}  // namespace detail

// Claims the context id for the start (state::claim_context): cleanup drops it again. The caller
// holds the guest's lock.
int runtime_context(const config::Roots& roots, const config::GuestConfig& cfg) {
  if (cfg.context) {
    if (auto holder = state::claim_context(roots, *cfg.context, cfg.id())) {
      throw Error(fmt::format("start guest {}: context {} is in use by running guest {}", cfg.name,
                              *cfg.context, *holder));
    }
    return *cfg.context;
  }
  if (auto c = state::claim_free_context(roots, config::kFirstDynamicContext,
                                         config::kLastDynamicContext, cfg.id())) {
    return *c;
  }
  throw Error("start guest " + cfg.name + ": no free dynamic context id");
}

void cleanup(const config::Roots& roots, const state::GuestState& st) {
  cgroup::GuestCgroup cg = guest_cgroup(st);
  if (!cg.kill_all()) throw Error("stop guest " + st.name + ": processes remain in " + st.cgroup);
  cg.destroy();
  for (const auto& problem :
       cleanup_network(roots, st.name, st.host_links, st.created_bridges, st.shared_links)) {
    report_warning(fmt::format("vserver {}: {}", st.name, problem));
  }
  // Remove the record only if it is still this run's (a new start may have replaced it).
  auto now = state::read_state(roots, st.name);
  bool ended_here = false;
  if (now && now->init_pid == st.init_pid && now->init_start_ticks == st.init_start_ticks) {
    ended_here = state::remove_state(roots, st.name);
  } else if (!now) {
    state::remove_state(roots, st.name);
  }
  state::release_context(roots, st.context, st.name);
  storage::release(roots, st.name);
  // Whoever removed the record (the supervisor, or vserver stop or start after a supervisor that
  // died) runs the stop scripts, once. A failing one cannot undo the stop: it is reported.
  if (!ended_here || st.cfgdir.empty()) return;
  ScriptTarget target{st.name, st.cfgdir, st.vdir, st.context};
  for (Scriptlet s : {Scriptlet::post_stop, Scriptlet::postpost_stop}) {
    try {
      run_scriptlets(roots, target, s);
    } catch (const Error& e) {
      report_warning(fmt::format("vserver {}: warning: {}", st.name, e.what()));
    }
  }
}

int start(const config::Roots& roots, const config::GuestConfig& cfg, const StartOptions& opts) {
  if (detail::use_helper()) return detail::start_in_helper(roots, cfg, opts);
  check_supported(cfg);
  // A unified guest's layers are checked before anything is made for it.
  auto overlay = storage::guest_overlay(roots, cfg);
  if (overlay) {
    try {
      storage::check_overlay(cfg, *overlay);
    } catch (const Error& e) {
      rethrow_with_context(e, "start guest " + cfg.name);
    }
  }
  auto lock = std::make_unique<state::GuestLock>(roots, cfg.id());
  if (auto st = state::read_state(roots, cfg.id())) {
    if (state::init_alive(*st)) throw AlreadyRunning("vserver '" + cfg.name + "' already running");
    wait_for_old_supervisor(*st);
    cleanup(roots, *st);
  }
  // util-vserver's first scriptlets: initialize before anything is made for the guest,
  // prepre-start once its context id is claimed. Either failing ends the start here.
  debug::step(cfg.name, "lock held");
  ScriptTarget target{cfg.id(), cfg.cfgdir, cfg.vdir, cfg.context};
  try {
    run_scriptlets(roots, target, Scriptlet::initialize);
  } catch (const Error& e) {
    rethrow_with_context(e, "start guest " + cfg.name);
  }
  int context = runtime_context(roots, cfg);
  // The claim on the context id is dropped again if the start fails.
  Reverter revert_context;
  revert_context.add(
      [&roots, context, id = cfg.id()] { state::release_context(roots, context, id); });
  target.context = context;
  debug::step(cfg.name, fmt::format("context {} claimed", context));
  try {
    run_scriptlets(roots, target, Scriptlet::prepre_start);
  } catch (const Error& e) {
    rethrow_with_context(e, "start guest " + cfg.name);
  }
  Launch l{roots,
           cfg,
           context,
           cgroup::Hierarchy::detect(),
           cgroup::plan_limits(cfg, host_facts()),
           overlay,
           !opts.foreground};
  for (const auto& note : l.plan.notes) {
    report_info(fmt::format("vserver {}: note: {}", cfg.name, note));
  }
  {
    // A previous run whose record was lost may have left processes behind.
    cgroup::GuestCgroup old = expected_cgroup(cfg, l.hierarchy);
    if (old.populated()) {
      throw Error("start guest " + cfg.name + ": processes of an earlier run are still in " +
                  old.path().string() + "; stop them first (vserver " + cfg.name + " stop)");
    }
  }

  // The disk limit, and the guest's image mounted when it has one: kept once the guest runs (its
  // cleanup releases it), undone if the start fails. A root without its init is refused before
  // anything is made in it: before an image is made, or once the image is mounted.
  struct stat ist {};
  bool has_image = ::stat(storage::guest_image(roots, cfg.id()).c_str(), &ist) == 0;
  if (!overlay && !has_image) check_root_has_init(cfg);
  storage::Prepared storage = storage::prepare(roots, cfg);
  for (const auto& note : storage.notes) {
    report_info(fmt::format("vserver {}: {}", cfg.name, note));
  }
  if (!overlay && has_image) check_root_has_init(cfg);
  debug::step(cfg.name, "limits planned, storage prepared");

  if (opts.foreground) {
    return supervise_runs(l, [&] {
      storage.keep();
      lock.reset();
      revert_context.success();  // the guest's cleanup drops it
      run_post_start(roots, target);
    });
  }

  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) throw_errno("pipe", "start of guest " + cfg.name);
  UniqueFd report_read(pipefd[0]);
  UniqueFd report_write(pipefd[1]);
  ::fflush(nullptr);
  pid_t sup = ::fork();
  if (sup < 0) throw_errno("fork", "supervisor of guest " + cfg.name);
  if (sup == 0) {
    // The supervisor. It must not keep the caller's lock, terminal or pipes open.
    report_read.reset();
    // Its messages go to its own standard error (the guest's console log), not to a sink of the
    // caller's thread that lives on in the caller only.
    ScopedReportSink to_console_log{ReportSink{}};
    int rc = 1;
    // The caller learns how the start failed (while it still waits for the report) from the
    // error's phase, errno and text; the console log gets the text.
    auto failed = [&](Phase phase, int err, std::string_view text) {
      if (report_write) {
        try {
          report_to_caller(report_write.get(), SyncKind::error, phase, err, text);
        } catch (const Error&) {  // NOLINT(bugprone-empty-catch): the caller is gone
        }
      }
      report_warning(fmt::format("vserver {}: {}", cfg.name, text));
    };
    try {
      ::setsid();
      lock.reset();  // closes our copy only: the caller's holds the lock until we report
      set_process_title("vserver-supervisor " + cfg.name);
      // The caller's output, for the pre-start scripts, until the caller is told the guest runs.
      UniqueFd caller_out(::fcntl(1, F_DUPFD_CLOEXEC, 3));
      UniqueFd caller_err(::fcntl(2, F_DUPFD_CLOEXEC, 3));
      if (debug::enabled()) debug::set_fd(caller_err.get());
      debug::step(cfg.name, fmt::format("supervisor forked (pid {})", ::getpid()));
      redirect_stdio(roots, cfg.id());
      // Nothing else of the caller's may stay open here (a pipe would keep its reader waiting).
      close_all_but({report_write.get(), caller_out.get(), caller_err.get()},
                    "inherited descriptors of the supervisor");
      l.script_out = caller_out.get();
      l.script_err = caller_err.get();
      // The caller may be gone (killed) by the time we report: that must not end the supervision.
      ::signal(SIGPIPE, SIG_IGN);
      rc = supervise_runs(l, [&] {
        try {
          report_to_caller(report_write.get(), SyncKind::ready, Phase::running, 0, {});
        } catch (const Error& e) {
          report_warning(fmt::format("vserver {}: {}", cfg.name, e.what()));
        }
        report_write.reset();
        debug::set_fd(-1);
        caller_out.reset();
        caller_err.reset();
        l.script_out = l.script_err = -1;
      });
    } catch (const LaunchError& e) {
      failed(e.phase(), e.code(), e.what());
    } catch (const Error& e) {
      failed(Phase::supervisor, e.code(), e.what());
    } catch (const std::exception& e) {
      failed(Phase::supervisor, 0, e.what());
    }
    ::_exit(rc);
  }
  // Killed and reaped when its report cannot be read or makes no sense: a supervisor in an
  // unknown state must not stay behind as a child nobody waits for.
  ChildProcess supervisor(sup);
  report_write.reset();
  std::string report = read_fd(report_read.get());
  std::optional<SyncMessage> m;
  if (!report.empty()) {
    try {
      m = decode(report);
    } catch (const Error& e) {
      rethrow_with_context(e, "start guest " + cfg.name + ": the supervisor's report");
    }
  }
  if (m && m->kind == SyncKind::ready) {
    // It supervises the guest from now on, on its own.
    (void)supervisor.release();
    debug::step(cfg.name, "the supervisor reports the guest running");
    storage.keep();
    revert_context.success();  // the supervisor's cleanup drops it
    lock.reset();
    run_post_start(roots, target);
    debug::step(cfg.name, "post-start scripts run; started");
    return 0;
  }
  // The supervisor failed: it has cleaned up and is exiting; collect it.
  (void)supervisor.wait_status("supervisor of guest " + cfg.name);
  if (!m) throw Error("start guest " + cfg.name + ": the supervisor died");
  if (m->kind != SyncKind::error) {
    throw Error("start guest " + cfg.name + ": the supervisor's report: unexpected message",
                EPROTO);
  }
  debug::step(cfg.name, fmt::format("the supervisor reports the start failed in phase {}",
                                    to_string(m->phase)));
  throw Error(m->text, m->err);
}

}  // namespace vs::runtime
