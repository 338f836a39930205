// The supervisor of one run of a guest: makes its cgroup, serves its /proc views, clones its first
// process, sets up its network, and waits for its init to end.
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "cgroup/cgroup.hpp"
#include "cgroup/limits.hpp"
#include "procfs/procfs.hpp"
#include "runtime/devices.hpp"
#include "runtime/internal.hpp"
#include "runtime/launch.hpp"
#include "runtime/launch_sync.hpp"
#include "runtime/network.hpp"
#include "runtime/runtime.hpp"
#include "runtime/scripts.hpp"
#include "state/state.hpp"
#include "sys/debug.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/file.hpp"
#include "sys/process.hpp"
#include "sys/report.hpp"
#include "sys/reverter.hpp"

namespace vs::runtime {

using namespace detail;

namespace {

// The serving process of a guest's /proc views, restarted when it dies while the guest runs (at
// most kMaxRestarts times a minute, so that a server crashing at once does not spin).
class ProcfsServer {
 public:
  explicit ProcfsServer(std::string name) : name_(std::move(name)) {}
  ProcfsServer(const ProcfsServer&) = delete;
  ProcfsServer& operator=(const ProcfsServer&) = delete;
  ~ProcfsServer() { stop(); }

  void start(int fd, const procfs::Views& views, const cgroup::GuestCgroup& cg) {
    pid_ = procfs::spawn_server(fd, views, procfs::Source{cg}, name_);
  }
  // After SIGCHLD: if the server ended, start another on the same connection.
  void check(int fd, const procfs::Views& views, const cgroup::GuestCgroup& cg) {
    if (pid_ <= 0) return;
    int ws = 0;
    if (::waitpid(pid_, &ws, WNOHANG) != pid_) return;
    pid_ = -1;
    std::int64_t now = monotonic_ms();
    if (now - window_start_ > 60000) {
      window_start_ = now;
      restarts_ = 0;
    }
    if (++restarts_ > kMaxRestarts) {
      report_warning(
          fmt::format("vserver {}: the /proc server ended (status {}) {} times within a minute; "
                      "not restarting it: the guest's virtual /proc files fail until its restart",
                      name_, exit_status(ws), kMaxRestarts));
      return;
    }
    report_info(fmt::format("vserver {}: the /proc server ended (status {}); restarting it", name_,
                            exit_status(ws)));
    try {
      start(fd, views, cg);
    } catch (const Error& e) {
      report_warning(fmt::format("vserver {}: {}", name_, e.what()));
    }
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  static constexpr int kMaxRestarts = 5;
  std::string name_;
  pid_t pid_ = -1;
  std::int64_t window_start_ = 0;
  int restarts_ = 0;
};

// Writes the cgroup part of the plan. Swap limits without swap accounting and CPU bursts before
// Linux 5.14 have no file: the start goes on, with a warning unless the value is the default.
void apply_cgroup_limits(const config::GuestConfig& cfg, const cgroup::GuestCgroup& cg,
                         const cgroup::CgroupLimits& limits) {
  for (const auto& w : cgroup::cgroup_writes(limits, cg.version())) {
    try {
      cg.write(w);
    } catch (const Error& e) {
      bool optional = w.file == "memory.memsw.limit_in_bytes" || w.file == "memory.swap.max" ||
                      w.file == "cpu.max.burst" || w.file == "cpu.cfs_burst_us";
      if (e.code() != ENOENT || !optional) rethrow_with_context(e, "apply limits");
      if (w.value != "-1" && w.value != "max" && w.value != "0") {
        report_warning(
            fmt::format("vserver {}: warning: {} is not applied: {}", cfg.name, w.file,
                        w.file.find("sw") != std::string::npos
                            ? "this kernel does not account swap (boot with swapaccount=1)"
                            : "this kernel has no CPU burst (Linux 5.14 and later)"));
      }
    }
  }
}

// Puts the guest's future processes in a new time namespace whose CLOCK_BOOTTIME starts at 0, so
// /proc/uptime inside shows the guest's uptime (util-vserver's virt_uptime). False when the
// kernel has no time namespaces.
bool enter_uptime_namespace(const config::GuestConfig& cfg) {
  timespec now{};
  ::clock_gettime(CLOCK_BOOTTIME, &now);
  if (::unshare(CLONE_NEWTIME) != 0) {
    if (errno == EINVAL) return false;  // no time namespaces: the host's uptime shows
    throw_errno("unshare", "time namespace of guest " + cfg.name);
  }
  // The offset is -now to the nanosecond (seconds, then non-negative nanoseconds): a whole
  // number of seconds alone would start the guest's uptime anywhere in its first second.
  long long sec = -static_cast<long long>(now.tv_sec);
  long nsec = 0;
  if (now.tv_nsec > 0) {
    sec -= 1;
    nsec = 1000000000L - now.tv_nsec;
  }
  std::string offsets = fmt::format("boottime {} {}", sec, nsec);
  write_existing("/proc/self/timens_offsets", offsets);
  return true;
}

}  // namespace

namespace detail {

// The signals a supervisor takes with sigwaitinfo while a guest runs (vserver-monitor blocks the
// same set): init's end, stop requests, and a terminal's signals in the foreground.
sigset_t supervision_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1}) sigaddset(&set, s);
  return set;
}

// How init ended, from its wait status.
Outcome outcome_of(int wstatus) {
  Outcome out;
  out.status = exit_status(wstatus);
  if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGHUP) out.end = InitEnd::reboot;
  if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGINT) out.end = InitEnd::halt;
  return out;
}

// After init has ended: removes what the run left on the host and says how it ended.
void finish_run(const config::Roots& roots, const state::GuestState& st, const std::string& name,
                const Outcome& out) {
  cleanup(roots, st);
  const char* how = out.end == InitEnd::reboot ? "rebooted from inside"
                    : out.end == InitEnd::halt ? "halted from inside"
                                               : "stopped";
  report_info(fmt::format("vserver {}: {} (init exit status {})", name, how, out.status));
}

namespace {

// What the guest's first process says over the sync socket: nothing (its execve closed the
// socket), that the guest is up (the minimal init), or its error.
std::optional<SyncMessage> receive_from_child(int sync_fd, const std::string& name) {
  SyncBuffer buf;
  ssize_t n;
  do {
    n = ::recv(sync_fd, buf.data(), buf.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw_errno("receive from", "first process of guest " + name);
  if (n == 0) return std::nullopt;
  SyncMessage m = decode({buf.data(), static_cast<std::size_t>(n)});
  if (m.kind == SyncKind::ready) return std::nullopt;
  if (m.kind != SyncKind::error) {
    throw Error("receive from first process of guest " + name + ": unexpected message", EPROTO);
  }
  return m;
}

struct GuestChildArgs {
  const config::GuestConfig* cfg;
  int sync_fd;    // the child's end of the sync socket
  int parent_fd;  // the supervisor's end, closed in the child
  const ChildSetup* cs;
  const sigset_t* mask;  // the signal mask before the supervisor blocked its signals
};

// The guest's first process, from its clone. It changes nothing in memory: it may share the
// supervisor's.
[[noreturn]] int guest_child_main(void* arg) {
  const auto* a = static_cast<const GuestChildArgs*>(arg);
  sigprocmask(SIG_SETMASK, a->mask, nullptr);
  for (int s : {SIGTERM, SIGHUP, SIGINT, SIGQUIT}) ::signal(s, SIG_DFL);
  ::close(a->parent_fd);
  guest_child(*a->cfg, a->sync_fd, *a->cs);
}

// The body of supervise: phase says how far it got.
Outcome run_guest(const Launch& l, const std::function<void()>& started, Phase& phase) {
  const config::GuestConfig& cfg = l.cfg;
  auto step = [&](std::string_view what) {
    if (debug::enabled()) debug::step(cfg.name, fmt::format("{}: {}", to_string(phase), what));
  };
  phase = Phase::cgroup;
  auto cg = cgroup::GuestCgroup::create(l.hierarchy,
                                        cfg.cgroup.base.value_or(cgroup::default_base(l.hierarchy)),
                                        cfg.cgroup.name.value_or(cfg.id()));
  // Undone if the start fails: the cgroup goes last, once the child in it is gone.
  Reverter revert_cgroup;
  revert_cgroup.add([&cg] {
    cg.kill_all();
    cg.destroy();
  });
  // Limits hold before the guest's first instruction.
  apply_cgroup_limits(cfg, cg, l.plan.cgroup);
  step("cgroup " + cg.path().string() + " made, limits written");

  // The /proc views (virt_mem, virt_load, virt_cpu): the server runs before the guest mounts
  // them. The supervisor keeps the connection open, so a new server can take over if one dies.
  ChildSetup cs{l.plan, -1, procfs::views_for(cfg)};
  cs.overlay = l.overlay;
  std::optional<procfs::Connection> procfs_conn;
  ProcfsServer procfs_server(cfg.id());
  if (cs.views.any()) {
    phase = Phase::procfs;
    procfs_conn = procfs::Connection::open();
    cs.procfs_fd = procfs_conn->fd();
    procfs_server.start(procfs_conn->fd(), cs.views, cg);
    step("/proc views served");
  }
  phase = Phase::clone;
  // virt_uptime (on unless cflags says ~virt_uptime): the guest's own uptime, from a time
  // namespace whose boot time is the guest's start.
  bool own_time_namespace = cfg.cflags.count("~virt_uptime") == 0 && enter_uptime_namespace(cfg);

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    throw_errno("socketpair", "guest " + cfg.name);
  }
  UniqueFd parent_end(sv[0]);
  UniqueFd child_end(sv[1]);

  unsigned long flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
  if (cfg.network != config::NetworkMode::host) flags |= CLONE_NEWNET;
  // Links, addresses and routes are made by the supervisor; a loopback alone by the guest's
  // process.
  bool net_by_supervisor = network_needs_supervisor(cfg);
  cs.loopback = cfg.network != config::NetworkMode::host && !net_by_supervisor;
  UniqueFd cg_dir = open_file(cg.path(), O_RDONLY | O_DIRECTORY);
  // Only the harmless devices open, whatever nodes the guest's mounts hold (runtime/devices.hpp).
  try {
    attach_device_filter(cg_dir.get(), "guest " + cfg.name, needs_tun_device(cfg));
  } catch (const Error& e) {
    report_warning(
        fmt::format("vserver {}: warning: {}; device nodes on mounts without nodev stay usable",
                    cfg.name, e.what()));
  }
  // Block the signals the supervisor waits for before the child exists, so none is lost.
  sigset_t set = supervision_signals();
  sigset_t old;
  sigprocmask(SIG_BLOCK, &set, &old);

  // pre-start scripts run once the guest's cgroup, mounts and network exist, before its init.
  ScriptTarget target{cfg.id(), cfg.cfgdir, cfg.vdir, l.context};
  ScriptletFiles pre_start = find_scriptlets(l.roots, cfg.cfgdir, Scriptlet::pre_start);
  bool run_pre_start = !pre_start.guest.empty() || !pre_start.defaults.empty();

  // When the supervisor has nothing to do between the clone and the child's execve, the child
  // shares its memory until then (vfork's way) and moves itself into its cgroups: no page table
  // copied, no copy-on-write fault in either process. Not with the minimal init (sysv: the child
  // runs this binary on) nor with the /proc views (their server is the supervisor).
  const bool share_memory = !net_by_supervisor && !run_pre_start && !cs.views.any() &&
                            cfg.init.style != config::InitStyle::sysv;
  bool in_cgroup = false;
  pid_t pid = 0;
  std::vector<UniqueFd> procs;
  if (share_memory) {
    for (const auto& [ctrl, dir] : cg.v1_dirs()) {
      procs.push_back(open_file(dir / "cgroup.procs", O_WRONLY));
      cs.cgroup_procs.push_back(procs.back().get());
    }
    procs.push_back(open_file(cg.path() / "cgroup.procs", O_WRONLY));
    cs.cgroup_procs.push_back(procs.back().get());
    cs.wait_go = false;
    GuestChildArgs args{&cfg, child_end.get(), parent_end.get(), &cs, &old};
    pid = clone_sharing_memory(flags, guest_child_main, &args);
    if (pid < 0) throw_errno("clone", "namespaces of guest " + cfg.name);
    in_cgroup = true;
  } else {
    pid = clone_into_cgroup(flags, cg_dir.get(), in_cgroup);
    if (pid < 0) throw_errno("clone", "namespaces of guest " + cfg.name);
    // The child goes on at once unless it has to be moved into a cgroup (it must be in all of
    // them before it makes its cgroup namespace), or the supervisor sets up its network or runs
    // pre-start scripts.
    cs.wait_go = !in_cgroup || !cg.v1_dirs().empty() || net_by_supervisor || run_pre_start;
    if (pid == 0) {
      GuestChildArgs args{&cfg, child_end.get(), parent_end.get(), &cs, &old};
      guest_child_main(&args);
    }
  }
  auto init = pid;
  ChildProcess child_guard(init);
  step(fmt::format("guest's first process cloned (host pid {}){}", init,
                   share_memory ? ", sharing memory until its execve"
                   : in_cgroup  ? ", in its cgroup"
                                : ""));
  child_end.reset();
  cg_dir.reset();
  procs.clear();

  phase = Phase::network;
  // A v1 hierarchy costs a migration (and its RCU grace period) all the same.
  if (share_memory) {
    // It moved itself.
  } else if (in_cgroup) {
    cg.attach_v1(init);
  } else {
    cg.attach(init);
  }
  NetworkResult net;
  // Undone if the start fails, before the child is killed and its network namespace goes.
  Reverter revert_network;
  revert_network.add([&] {
    cleanup_network(l.roots, cfg.id(), net.host_links, net.created_bridges, net.shared_links);
  });
  if (!share_memory && (!in_cgroup || !cg.v1_dirs().empty())) step("moved into its cgroups");
  if (net_by_supervisor) {
    net = setup_network(l.roots, cfg, l.context, init);
    step("network set up");
  }
  if (run_pre_start) {
    phase = Phase::pre_start;
    run_scriptlets(l.roots, target, Scriptlet::pre_start, l.script_out, l.script_err);
    step("pre-start scripts run");
  }
  if (cs.wait_go) {
    SyncBuffer go;
    std::size_t size = encode(SyncKind::go, phase, 0, {}, go);
    if (::send(parent_end.get(), go.data(), size, MSG_NOSIGNAL) != static_cast<ssize_t>(size)) {
      throw_errno("send go to", "first process of guest " + cfg.name);
    }
  }
  // The child's phases: it reports an error in one of them, or (the minimal init) that the guest
  // is up; its execve closes the socket.
  phase = Phase::exec;
  if (auto failure = receive_from_child(parent_end.get(), cfg.name)) {
    phase = failure->phase;
    throw Error(failure->text, failure->err);
  }
  step("init runs");
  // An init that ends right away is reaped by the supervision below, which reports its status (a
  // short-lived command is a valid guest).
  int wstatus = 0;
  phase = Phase::running;

  state::GuestState st;
  st.name = cfg.id();
  st.context = l.context;
  st.supervisor_pid = ::getpid();
  st.init_pid = init;
  st.init_start_ticks = state::process_start_ticks(init).value_or(0);
  st.started_at_ms = realtime_ms();
  st.cgroup = cg.path().string();
  for (const auto& [ctrl, dir] : cg.v1_dirs()) st.cgroup_v1[ctrl] = dir.string();
  st.init_style = config::to_string(cfg.init.style);
  st.network = config::to_string(cfg.network);
  st.cfgdir = cfg.cfgdir.string();
  st.vdir = cfg.vdir.string();
  st.host_links = net.host_links;
  st.created_bridges = net.created_bridges;
  st.shared_links = net.shared_links;
  st.addresses = net.addresses;
  state::write_state(l.roots, st);
  step("state recorded");
  (void)child_guard.release();
  revert_cgroup.success();
  revert_network.success();
  started();
  // The supervisor lives as long as the guest: a detached one becomes the small vserver-monitor
  // (the /proc views' server is a child it watches, so not with those); on a terminal, or when
  // that fails, it gives back at least the heap pages the start used and no longer needs.
  if (l.detached && !cs.views.any()) become_monitor(l.roots, cfg, init, own_time_namespace);
  ::malloc_trim(0);

  // Supervise until init ends.
  Outcome out;
  for (;;) {
    siginfo_t si{};
    if (sigwaitinfo(&set, &si) < 0) continue;
    if (si.si_signo == SIGCHLD) {
      pid_t r = ::waitpid(init, &wstatus, WNOHANG);
      if (r == init) {
        bool stop_requested = out.stop_requested;
        out = outcome_of(wstatus);
        out.stop_requested = stop_requested;
        break;
      }
      if (procfs_conn) procfs_server.check(procfs_conn->fd(), cs.views, cg);
      continue;
    }
    // vserver stop is stopping the guest: however its init ends, it is not restarted.
    if (si.si_signo == SIGUSR1) out.stop_requested = true;
    // The supervisor asked to end (host shutdown): ask the guest to stop as its style wants.
    if (si.si_signo == SIGTERM || si.si_signo == SIGHUP) {
      out.stop_requested = true;
      ::kill(init, graceful_signal(cfg.init.style));
    }
    // SIGINT and SIGQUIT from a terminal reach the guest's init directly in the foreground.
  }
  procfs_server.stop();
  sigprocmask(SIG_SETMASK, &old, nullptr);
  finish_run(l.roots, st, cfg.name, out);
  return out;
}

}  // namespace

// Runs the guest; calls started() once its init runs. Returns how init ended.
Outcome supervise(const Launch& l, const std::function<void()>& started) {
  Phase phase = Phase::cgroup;
  try {
    return run_guest(l, started, phase);
  } catch (const Error& e) {
    if (phase == Phase::running) throw;
    throw LaunchError(phase,
                      fmt::format("start guest {}: failed in phase {}: {}", l.cfg.name,
                                  to_string(phase), e.what()),
                      e.code());
  }
}

}  // namespace detail

}  // namespace vs::runtime
