// start: the supervisor and the guest's first process.
//
// Processes: the caller (vserver NAME start) claims the context id and forks the supervisor, which
// clones the guest's init into new PID, mount, UTS, IPC and network namespaces. Phases, in order:
//   1. supervisor: create the guest's cgroup, clone the child into it (clone3 with
//      CLONE_INTO_CGROUP; where the kernel lacks it, a plain clone)
//   2. supervisor, only when there is something to do while the child waits: move the child into
//      the cgroup (plain clone) and the v1 hierarchies (hybrid host), set up the network (links,
//      addresses); then send GO
//   3. child: loopback up (a guest without links), cgroup namespace, hostname, root filesystem,
//      seccomp, capabilities, exec init
//   4. supervisor: EOF on the sync socket = exec succeeded (a message = the child's error);
//      write the state record, report OK to the caller, then wait for init to end
//   5. supervisor: kill what is left in the cgroup, remove it and the state record, drop the
//      context id
#include <fcntl.h>
#include <linux/capability.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utmpx.h>

#include <fmt/format.h>
#include <linux/close_range.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "cgroup/cgroup.hpp"
#include "cgroup/limits.hpp"
#include "config/config.hpp"
#include "procfs/procfs.hpp"
#include "runtime/devices.hpp"
#include "runtime/helper.hpp"
#include "runtime/internal.hpp"
#include "runtime/network.hpp"
#include "runtime/rootfs.hpp"
#include "runtime/runtime.hpp"
#include "runtime/scripts.hpp"
#include "runtime/security.hpp"
#include "state/state.hpp"
#include "storage/layout.hpp"
#include "storage/storage.hpp"
#include "sys/debug.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"
#include "sys/process.hpp"

namespace vs::runtime {

using namespace detail;

namespace {

constexpr int kFirstDynamicContext = 49152;
constexpr int kLastDynamicContext = 65535;

// Reports a failure in the child to the supervisor, which reports it to the user.
[[noreturn]] void child_fail(int sync_fd, const std::string& message) {
  ssize_t n = ::send(sync_fd, message.data(), message.size(), MSG_NOSIGNAL);
  (void)n;
  ::_exit(127);
}

std::string sysv_rc_script() {
  // util-vserver tests /etc/init.d/rc first and lets /etc/rc.d/rc win if both exist.
  if (::access("/etc/rc.d/rc", X_OK) == 0) return "/etc/rc.d/rc";
  if (::access("/etc/init.d/rc", X_OK) == 0) return "/etc/init.d/rc";
  return {};
}

// sysvinit's request on /run/initctl (initreq.h): what shutdown, reboot, halt and telinit send.
struct InitRequest {
  int magic;  // kInitMagic
  int cmd;    // 1: change runlevel
  int runlevel;
  int sleeptime;
  char data[368];
};
constexpr int kInitMagic = 0x03091969;
constexpr int kInitCmdRunlevel = 1;

// Starts "rc LEVEL" with the environment sysv-rc expects; returns its pid (or -1).
pid_t spawn_rc(const std::string& rc, const std::vector<std::string>& argv,
               const std::vector<std::string>& env, const std::string& level,
               const std::string& prev, const std::vector<cgroup::ProcessLimit>& late_limits,
               const sigset_t& blocked) {
  pid_t child = ::fork();
  if (child != 0) return child;
  sigprocmask(SIG_UNBLOCK, &blocked, nullptr);
  std::vector<std::string> rc_env = env;
  rc_env.push_back("RUNLEVEL=" + level);
  rc_env.push_back("PREVLEVEL=" + prev);
  try {
    exec_program(rc, argv, rc_env, late_limits);
  } catch (const Error& e) {
    std::fprintf(stderr, "init: %s\n", e.what());
  }
  ::_exit(127);
}

// The group id of name in the guest's /etc/group (read by hand: no NSS module of the guest is
// loaded into its init); nullopt when there is none.
std::optional<gid_t> guest_group(std::string_view name) {
  auto text = read_file_if_exists("/etc/group");
  if (!text) return std::nullopt;
  for (const auto& line : split_lines(*text)) {
    // NAME:PASSWORD:GID:MEMBERS
    auto first = line.find(':');
    auto second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos || std::string_view(line).substr(0, first) != name) continue;
    auto third = line.find(':', second + 1);
    std::string_view gid_text = std::string_view(line).substr(
        second + 1, third == std::string::npos ? std::string::npos : third - second - 1);
    unsigned gid = 0;
    auto [p, ec] = std::from_chars(gid_text.data(), gid_text.data() + gid_text.size(), gid);
    if (ec == std::errc() && p == gid_text.data() + gid_text.size()) return gid;
  }
  return std::nullopt;
}

// sysvinit's records in the guest's utmp (and its wtmp, when there is one): the boot, and each
// runlevel as RUN_LVL with the runlevel and the previous one, so that runlevel(8), who -r and
// invoke-rc.d (which starts what a package installs only in a known runlevel) see the guest's.
void record_utmp(short type, const char* user, int pid_field) {
  // A new /run has no utmp: make it as Debian's boot scripts do (root:utmp, 0664).
  UniqueFd fd(::open("/var/run/utmp", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0664));
  if (!fd) return;
  if (auto gid = guest_group("utmp")) (void)::fchown(fd.get(), 0, *gid);
  fd.reset();
  utmpx ut{};
  ut.ut_type = type;
  ut.ut_pid = pid_field;
  std::strncpy(ut.ut_line, "~", sizeof ut.ut_line);
  std::strncpy(ut.ut_id, "~~", sizeof ut.ut_id);
  std::strncpy(ut.ut_user, user, sizeof ut.ut_user);
  utsname u{};
  if (::uname(&u) == 0) std::strncpy(ut.ut_host, u.release, sizeof ut.ut_host - 1);
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  ut.ut_tv.tv_sec = static_cast<decltype(ut.ut_tv.tv_sec)>(tv.tv_sec);
  ut.ut_tv.tv_usec = static_cast<decltype(ut.ut_tv.tv_usec)>(tv.tv_usec);
  ::utmpxname("/var/run/utmp");
  ::setutxent();
  (void)::pututxline(&ut);
  ::endutxent();
  if (::access("/var/log/wtmp", W_OK) == 0) ::updwtmpx("/var/log/wtmp", &ut);
}

// A runlevel change as sysvinit records it; level and prev are single characters ('N': none).
void record_runlevel(const std::string& level, char prev) {
  if (level.size() != 1) return;
  record_utmp(RUN_LVL, "runlevel", level[0] + 256 * prev);
}

// /run/initctl, so that shutdown, reboot, halt and telinit inside the guest reach us; -1 when the
// guest has no /run or the FIFO cannot be made.
int open_initctl() {
  struct stat st {};
  if (::lstat("/run", &st) != 0 || !S_ISDIR(st.st_mode)) return -1;
  if (::lstat("/run/initctl", &st) == 0 && !S_ISFIFO(st.st_mode)) return -1;
  if (::lstat("/run/initctl", &st) != 0 && ::mkfifo("/run/initctl", 0600) != 0) return -1;
  // Read and write: the FIFO never reports EOF when a writer goes away.
  return ::open("/run/initctl", O_RDWR | O_NONBLOCK | O_CLOEXEC);
}

// PID 1 of a sysv-style guest: runs "rc RUNLEVEL", reaps orphans, and
//  - on SIGTERM, SIGINT or SIGPWR ends everything with SIGTERM, then SIGKILL after 5 seconds, and
//    exits (vserver stop runs "rc 0" first);
//  - on a runlevel request on /run/initctl (shutdown, reboot, halt, telinit inside the guest):
//    runlevel 0 or 6 runs "rc 0" or "rc 6", then halts or reboots the guest's PID namespace
//    (reboot(2), which the supervisor sees as the end of init by SIGINT or SIGHUP); another
//    runlevel runs "rc N".
[[noreturn]] void minimal_init(const config::GuestConfig& cfg, const std::vector<std::string>& env,
                               std::vector<std::string> argv, int sync_fd,
                               const std::vector<cgroup::ProcessLimit>& late_limits) {
  set_process_title("init");
  ::prctl(PR_SET_NAME, "init", 0, 0, 0);
  // PID 1 stays this binary: a guest root without CAP_SYS_PTRACE must not open /proc/1/exe, the
  // host's vserver binary (docs/security.md).
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  std::string rc;
  bool own_rc = argv.empty();
  if (own_rc) {
    rc = sysv_rc_script();
    if (rc.empty()) {
      child_fail(sync_fd,
                 "start guest " + cfg.name +
                     ": init style sysv needs /etc/init.d/rc or /etc/rc.d/rc in the guest");
    }
    argv = {rc, cfg.init.runlevel_start};
  } else {
    rc = find_program(argv[0], env);
  }
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGPWR, SIGHUP, SIGUSR1, SIGUSR2}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int sfd = ::signalfd(-1, &set, SFD_CLOEXEC);
  if (sfd < 0) child_fail(sync_fd, errno_message("signalfd", "init of guest " + cfg.name, errno));
  int initctl = own_rc ? open_initctl() : -1;
  std::string level = cfg.init.runlevel_start;
  record_utmp(BOOT_TIME, "reboot", 0);
  record_runlevel(level, 'N');
  pid_t child = spawn_rc(rc, argv, env, level, "N", late_limits, set);
  if (child < 0) child_fail(sync_fd, errno_message("fork", "rc in guest " + cfg.name, errno));
  ::close(sync_fd);  // the guest is up: the supervisor sees EOF

  pid_t shutdown_rc = -1;  // "rc 0" or "rc 6" asked for from inside
  int shutdown_cmd = 0;
  for (;;) {
    std::array<pollfd, 2> p{{{sfd, POLLIN, 0}, {initctl, POLLIN, 0}}};
    if (::poll(p.data(), initctl >= 0 ? 2 : 1, -1) < 0) continue;
    if ((p[1].revents & POLLIN) != 0) {
      InitRequest req{};
      ssize_t n = ::read(initctl, &req, sizeof req);
      if (n == static_cast<ssize_t>(sizeof req) && req.magic == kInitMagic &&
          req.cmd == kInitCmdRunlevel && shutdown_rc < 0) {
        char want = static_cast<char>(req.runlevel);
        std::string next(1, want);
        if ((want >= '0' && want <= '6') && level.size() == 1) record_runlevel(next, level[0]);
        if (want == '0' || want == '6') {
          shutdown_cmd = want == '0' ? RB_POWER_OFF : RB_AUTOBOOT;
          shutdown_rc = spawn_rc(rc, {rc, next}, env, next, level, late_limits, set);
          if (shutdown_rc < 0) ::reboot(shutdown_cmd);
        } else if (want >= '1' && want <= '5') {
          spawn_rc(rc, {rc, next}, env, next, level, late_limits, set);
        }
        level = next;
      }
    }
    if ((p[0].revents & POLLIN) == 0) continue;
    signalfd_siginfo si{};
    if (::read(sfd, &si, sizeof si) != static_cast<ssize_t>(sizeof si)) continue;
    if (si.ssi_signo == SIGCHLD) {
      pid_t r;
      while ((r = ::waitpid(-1, nullptr, WNOHANG)) > 0) {
        // rc 0 / rc 6 is done and did not end the guest itself: do it now.
        if (r == shutdown_rc) ::reboot(shutdown_cmd);
      }
      continue;
    }
    if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT || si.ssi_signo == SIGPWR) {
      ::kill(-1, SIGTERM);
      std::int64_t deadline = monotonic_ms() + 5000;
      while (monotonic_ms() < deadline) {
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
        if (::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD) break;
        ::usleep(20000);
      }
      ::kill(-1, SIGKILL);
      ::_exit(0);
    }
  }
}

// The first process of the styles that exec one (sysv runs rc under our init instead).
std::vector<std::string> style_command(config::InitStyle style) {
  switch (style) {
    case config::InitStyle::plain:
      return {"/sbin/init"};
    case config::InitStyle::systemd:
      // Debian's systemd-sysv links /sbin/init to systemd; without it, systemd itself.
      if (::access("/sbin/init", X_OK) == 0) return {"/sbin/init"};
      if (::access("/lib/systemd/systemd", X_OK) == 0) return {"/lib/systemd/systemd"};
      return {"/usr/lib/systemd/systemd"};
    case config::InitStyle::minit:
      return {"/sbin/minit-start"};
    case config::InitStyle::sysv:
    case config::InitStyle::command:
      return {};
  }
  return {};
}

// systemd wants a machine id. A tree shared by several guests (a template, a clone) has none
// (docs/debian.md): the guest gets its own here, kept across restarts. Runs inside the guest's
// root.
void ensure_machine_id() {
  struct stat st {};
  if (::lstat("/etc/machine-id", &st) == 0 && (!S_ISREG(st.st_mode) || st.st_size >= 32)) return;
  std::array<unsigned char, 16> raw{};
  UniqueFd r(::open("/dev/urandom", O_RDONLY | O_CLOEXEC));
  if (!r || ::read(r.get(), raw.data(), raw.size()) != static_cast<ssize_t>(raw.size())) {
    throw_errno("read", "/dev/urandom for a machine id");
  }
  raw[6] = static_cast<unsigned char>((raw[6] & 0x0f) | 0x40);  // a v4 UUID, as systemd makes
  raw[8] = static_cast<unsigned char>((raw[8] & 0x3f) | 0x80);
  std::string id;
  for (unsigned char c : raw) id += fmt::format("{:02x}", c);
  UniqueFd f(
      ::open("/etc/machine-id", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0444));
  if (!f) throw_errno("write", "/etc/machine-id of the guest");
  write_all(f.get(), id + "\n", "/etc/machine-id of the guest");
}

// What the guest's first process needs besides its configuration.
struct ChildSetup {
  const cgroup::LimitPlan& plan;
  int procfs_fd = -1;  // the FUSE connection of the /proc views, or -1
  procfs::Views views;
  bool wait_go = true;   // the supervisor still works on the child before it may go on
  bool loopback = true;  // the child brings up lo itself (a network namespace without links)
  std::optional<storage::Overlay> overlay;  // the layers of a unified guest's root
};

// Closes every descriptor from 3 up but those in keep (-1 entries are ignored).
void close_all_but(std::vector<int> keep, const std::string& what) {
  keep.push_back(2);
  std::sort(keep.begin(), keep.end());
  for (size_t i = 0; i < keep.size(); ++i) {
    if (keep[i] < 2) continue;
    unsigned first = static_cast<unsigned>(keep[i]) + 1;
    unsigned last = i + 1 < keep.size() ? static_cast<unsigned>(keep[i + 1]) - 1 : ~0U;
    if (first <= last && ::syscall(SYS_close_range, first, last, 0) != 0) {
      throw_errno("close_range", what);
    }
  }
}

// The guest's first process: PID 1 of the new PID namespace.
[[noreturn]] void guest_child(const config::GuestConfig& cfg, int sync_fd, const ChildSetup& cs) {
  try {
    char go = 0;
    if (cs.wait_go && ::read(sync_fd, &go, 1) != 1) ::_exit(127);  // the supervisor went away
    const std::string who = cfg.name + " (guest's first process)";
    debug::step(who, cs.wait_go ? "told to go on" : "going on");
    // ping without CAP_NET_RAW too (ICMP datagram sockets), in the guest's own network namespace.
    if (cfg.network != config::NetworkMode::host) allow_ping();
    if (cs.loopback) loopback_up();
    // The cgroup namespace is rooted at the guest's cgroup, which we are in (in every hierarchy)
    // by now.
    if (::unshare(CLONE_NEWCGROUP) != 0) throw_errno("unshare", "cgroup namespace");
    std::string host = cfg.uts.nodename.value_or(cfg.name);
    if (::sethostname(host.data(), host.size()) != 0) throw_errno("set hostname", host);
    debug::step(who, "cgroup namespace, hostname");
    if (cfg.uts.domainname) {
      const std::string& d = *cfg.uts.domainname;
      if (::setdomainname(d.data(), d.size()) != 0) throw_errno("set domainname", d);
    }
    ::umask(0);
    setup_rootfs(
        cfg,
        [&](const std::string& root) {
          if (cs.procfs_fd >= 0) procfs::mount_views(cs.procfs_fd, root, cs.views);
        },
        cs.overlay);
    ::umask(022);
    debug::step(who, "root filesystem mounted, pivot_root done");
    if (cfg.nice && ::setpriority(PRIO_PROCESS, 0, *cfg.nice) != 0) {
      throw_errno("set nice level", std::to_string(*cfg.nice));
    }
    // Per-process limits (rlimits/, ulimits/), inherited by every process of the guest; the
    // address-space ones just before execve.
    auto [early_limits, late_limits] = split_limits(cs.plan.rlimits);
    set_process_limits(0, early_limits);
    // Nothing of the host's but stdin, stdout, stderr and the sync socket (close-on-exec) reaches
    // the guest; --debug's descriptor (close-on-exec) until the last step.
    std::vector<int> keep_fds{sync_fd};
    if (debug::fd() > 2) keep_fds.push_back(debug::fd());
    close_all_but(keep_fds, "inherited descriptors");
    std::vector<std::string> env = guest_environment(cfg);
    if (const char* term = std::getenv("TERM"); term != nullptr && ::isatty(0) == 1) {
      env.push_back(std::string("TERM=") + term);
    }
    // apps/init/cmd.start overrides the start command of every style (util-vserver).
    std::vector<std::string> argv = cfg.init.cmd_start;
    if (argv.empty()) argv = style_command(cfg.init.style);
    if (cfg.init.style == config::InitStyle::systemd) ensure_machine_id();
    std::string program;
    if (!argv.empty()) {
      program = find_program(argv[0], env);
      if (::access(program.c_str(), X_OK) != 0) {
        throw_errno("execute init", argv[0] + " in guest " + cfg.name);
      }
    }
    install_seccomp(guest_filter(cfg));
    // systemd narrows the bounding set of its services (CapabilityBoundingSet=), which takes
    // CAP_SETPCAP; it only ever lowers what the guest has.
    std::uint64_t bcaps = guest_bounding_set(cfg);
    if (cfg.init.style == config::InitStyle::systemd) bcaps |= std::uint64_t{1} << CAP_SETPCAP;
    drop_capabilities(bcaps);
    debug::step(who, cfg.init.style == config::InitStyle::sysv
                         ? "seccomp and capabilities set; becoming the minimal init"
                         : "seccomp and capabilities set; executing " + program);
    // The caller's descriptor must not stay open in a PID 1 that is this binary (sysv).
    if (debug::fd() > 2) ::close(debug::fd());
    debug::set_fd(-1);
    if (cfg.init.style == config::InitStyle::sysv) {
      minimal_init(cfg, env, argv, sync_fd, late_limits);
    }
    exec_program(program, argv, env, late_limits);
  } catch (const std::exception& e) {
    child_fail(sync_fd, e.what());
  }
  ::_exit(127);
}

// Removes the guest's cgroup unless dismissed.
class CgroupGuard {
 public:
  explicit CgroupGuard(const cgroup::GuestCgroup& cg) : cg_(cg) {}
  CgroupGuard(const CgroupGuard&) = delete;
  CgroupGuard& operator=(const CgroupGuard&) = delete;
  ~CgroupGuard() {
    if (!active_) return;
    try {
      cg_.kill_all();
      cg_.destroy();
    } catch (const Error&) {
      // Best effort on an error path; the start's own error is what the user needs.
    }
  }
  void dismiss() { active_ = false; }

 private:
  const cgroup::GuestCgroup& cg_;
  bool active_ = true;
};

// Drops the claim on the guest's context id unless dismissed.
class ContextGuard {
 public:
  ContextGuard(const config::Roots& roots, int id, std::string name)
      : roots_(roots), id_(id), name_(std::move(name)) {}
  ContextGuard(const ContextGuard&) = delete;
  ContextGuard& operator=(const ContextGuard&) = delete;
  ~ContextGuard() {
    if (!active_) return;
    try {
      state::release_context(roots_, id_, name_);
    } catch (const Error&) {
      // Best effort on an error path: a claim left behind is stale and is taken over later.
    }
  }
  void dismiss() { active_ = false; }

 private:
  const config::Roots& roots_;
  int id_;
  std::string name_;
  bool active_ = true;
};

// Removes what the guest's network left on the host unless dismissed.
class NetworkGuard {
 public:
  NetworkGuard(const config::Roots& roots, std::string guest, const NetworkResult& net)
      : roots_(roots), guest_(std::move(guest)), net_(net) {}
  NetworkGuard(const NetworkGuard&) = delete;
  NetworkGuard& operator=(const NetworkGuard&) = delete;
  ~NetworkGuard() {
    if (active_) {
      cleanup_network(roots_, guest_, net_.host_links, net_.created_bridges, net_.shared_links);
    }
  }
  void dismiss() { active_ = false; }

 private:
  const config::Roots& roots_;
  std::string guest_;
  const NetworkResult& net_;
  bool active_ = true;
};

void check_supported(const config::GuestConfig& cfg) {
  using config::InitStyle;
  if (cfg.init.style == InitStyle::systemd && cfg.network == config::NetworkMode::host) {
    // systemd would take the host's network as its own (and its udev the host's devices).
    std::fprintf(stderr, "vserver %s: note: a systemd guest on the host's network\n",
                 cfg.name.c_str());
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

// Runs the post-start scripts of a guest whose init runs: a failing one is reported, and the
// guest goes on running.
void run_post_start(const config::Roots& roots, const ScriptTarget& target) {
  try {
    run_scriptlets(roots, target, Scriptlet::post_start);
  } catch (const Error& e) {
    std::fprintf(stderr, "vserver %s: warning: %s\n", target.name.c_str(), e.what());
  }
}

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
      std::fprintf(stderr,
                   "vserver %s: the /proc server ended (status %d) %d times within a minute; "
                   "not restarting it: the guest's virtual /proc files fail until its restart\n",
                   name_.c_str(), exit_status(ws), kMaxRestarts);
      return;
    }
    std::fprintf(stderr, "vserver %s: the /proc server ended (status %d); restarting it\n",
                 name_.c_str(), exit_status(ws));
    try {
      start(fd, views, cg);
    } catch (const Error& e) {
      std::fprintf(stderr, "vserver %s: %s\n", name_.c_str(), e.what());
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
        std::fprintf(stderr, "vserver %s: warning: %s is not applied: %s\n", cfg.name.c_str(),
                     w.file.c_str(),
                     w.file.find("sw") != std::string::npos
                         ? "this kernel does not account swap (boot with swapaccount=1)"
                         : "this kernel has no CPU burst (Linux 5.14 and later)");
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

constexpr const char* kSupervisorVars[] = {
    "VSERVER_SUPERVISOR_GUEST",  "VSERVER_SUPERVISOR_INIT",    "VSERVER_SUPERVISOR_SIGNAL",
    "VSERVER_SUPERVISOR_EXE_FD", "VSERVER_SUPERVISOR_WSTATUS", "VSERVER_SUPERVISOR_STOP"};

// Where vserver-monitor is: next to this binary (a build tree), else where it is installed.
std::optional<std::string> monitor_path() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path sibling = self.parent_path() / "vserver-monitor";
    if (::access(sibling.c_str(), X_OK) == 0) return sibling.string();
  }
  std::string installed = VSERVER_LIBEXECDIR "/vserver-monitor";
  if (::access(installed.c_str(), X_OK) == 0) return installed;
  return std::nullopt;
}

// Replaces the supervisor of a running guest with vserver-monitor (src/monitor/monitor.cpp),
// which keeps the pid, init as its child and the blocked signals, and executes this binary
// again (resume_supervision) when init has ended. What the supervisor holds while the guest runs
// is then that small static program instead of this process's heap, libraries and page tables.
// Returns only when that cannot be done: the supervisor then goes on as it is.
void become_monitor(const config::Roots& roots, const config::GuestConfig& cfg, pid_t init,
                    bool own_time_namespace) {
  auto path = monitor_path();
  if (!path) {
    std::fprintf(stderr,
                 "vserver %s: note: no vserver-monitor next to this binary or in %s; the "
                 "supervisor stays resident as it is\n",
                 cfg.name.c_str(), VSERVER_LIBEXECDIR);
    return;
  }
  // execve would move the monitor into the time namespace made for the guest's processes; it
  // stays in the host's, so that a restart sets the next guest's uptime from the host's clock.
  if (own_time_namespace) {
    UniqueFd own(::open("/proc/self/ns/time", O_RDONLY | O_CLOEXEC));
    if (!own || ::setns(own.get(), CLONE_NEWTIME) != 0) {
      std::fprintf(stderr, "vserver %s: note: leave the guest's time namespace: %s\n",
                   cfg.name.c_str(), std::strerror(errno));
      return;
    }
  }
  // The monitor executes the binary that started the guest, even if it has been replaced since.
  int exe = ::open("/proc/self/exe", O_RDONLY);  // inherited on purpose: no O_CLOEXEC
  if (exe < 0) {
    std::fprintf(stderr, "vserver %s: note: open /proc/self/exe: %s\n", cfg.name.c_str(),
                 std::strerror(errno));
    return;
  }
  auto is_ours = [](std::string_view entry) {
    for (const char* v : kSupervisorVars) {
      std::string_view name(v);
      if (entry.size() > name.size() && entry.substr(0, name.size()) == name &&
          entry[name.size()] == '=')
        return true;
    }
    for (std::string_view name :
         {"VSERVER_CONFIG_ROOT=", "VSERVER_VDIR_ROOT=", "VSERVER_RUN_ROOT=", "VSERVER_LOG_ROOT="}) {
      if (entry.substr(0, name.size()) == name) return true;
    }
    return false;
  };
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!is_ours(*e)) env.emplace_back(*e);
  }
  std::error_code ec;
  env.push_back("VSERVER_CONFIG_ROOT=" + fs::absolute(roots.config, ec).string());
  env.push_back("VSERVER_VDIR_ROOT=" + fs::absolute(roots.vdir, ec).string());
  env.push_back("VSERVER_RUN_ROOT=" + fs::absolute(roots.run, ec).string());
  env.push_back("VSERVER_LOG_ROOT=" + fs::absolute(roots.log, ec).string());
  env.push_back("VSERVER_SUPERVISOR_GUEST=" + cfg.id());
  env.push_back("VSERVER_SUPERVISOR_INIT=" + std::to_string(init));
  env.push_back("VSERVER_SUPERVISOR_SIGNAL=" + std::to_string(graceful_signal(cfg.init.style)));
  env.push_back("VSERVER_SUPERVISOR_EXE_FD=" + std::to_string(exe));
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string title = "vserver-supervisor";
  std::string name = cfg.name;
  std::array<char*, 3> argv{title.data(), name.data(), nullptr};
  ::execve(path->c_str(), argv.data(), envp.data());
  int err = errno;
  ::close(exe);
  std::fprintf(stderr, "vserver %s: note: run %s: %s; the supervisor stays resident as it is\n",
               cfg.name.c_str(), path->c_str(), std::strerror(err));
}

// How a guest's init ended. Inside a PID namespace reboot(2) ends its init as if by SIGHUP
// (restart) or SIGINT (halt, poweroff); it never reaches the host.
enum class InitEnd { exited, reboot, halt };

struct Outcome {
  int status = 0;
  InitEnd end = InitEnd::exited;
  bool stop_requested = false;  // vserver stop (SIGUSR1) or the supervisor was told to end
};

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
  std::fprintf(stderr, "vserver %s: %s (init exit status %d)\n", name.c_str(), how, out.status);
}

// Runs the guest; calls started() once its init runs. Returns how init ended.
template <typename Started>
Outcome supervise(const Launch& l, Started started) {
  const config::GuestConfig& cfg = l.cfg;
  auto cg = cgroup::GuestCgroup::create(l.hierarchy,
                                        cfg.cgroup.base.value_or(cgroup::default_base(l.hierarchy)),
                                        cfg.cgroup.name.value_or(cfg.id()));
  CgroupGuard cg_guard(cg);
  // Limits hold before the guest's first instruction.
  apply_cgroup_limits(cfg, cg, l.plan.cgroup);
  debug::step(cfg.name, "cgroup " + cg.path().string() + " made, limits written");

  // The /proc views (virt_mem, virt_load, virt_cpu): the server runs before the guest mounts
  // them. The supervisor keeps the connection open, so a new server can take over if one dies.
  ChildSetup cs{l.plan, -1, procfs::views_for(cfg)};
  cs.overlay = l.overlay;
  std::optional<procfs::Connection> procfs_conn;
  ProcfsServer procfs_server(cfg.id());
  if (cs.views.any()) {
    procfs_conn = procfs::Connection::open();
    cs.procfs_fd = procfs_conn->fd();
    procfs_server.start(procfs_conn->fd(), cs.views, cg);
    debug::step(cfg.name, "/proc views served");
  }
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
    std::fprintf(stderr,
                 "vserver %s: warning: %s; device nodes on mounts without nodev stay usable\n",
                 cfg.name.c_str(), e.what());
  }
  // Block the signals the supervisor waits for before the child exists, so none is lost.
  sigset_t set = supervision_signals();
  sigset_t old;
  sigprocmask(SIG_BLOCK, &set, &old);

  // pre-start scripts run once the guest's cgroup, mounts and network exist, before its init.
  ScriptTarget target{cfg.id(), cfg.cfgdir, cfg.vdir, l.context};
  ScriptletFiles pre_start = find_scriptlets(l.roots, cfg.cfgdir, Scriptlet::pre_start);
  bool run_pre_start = !pre_start.guest.empty() || !pre_start.defaults.empty();

  bool in_cgroup = false;
  pid_t pid = clone_into_cgroup(flags, cg_dir.get(), in_cgroup);
  if (pid < 0) throw_errno("clone", "namespaces of guest " + cfg.name);
  // The child goes on at once unless it has to be moved into a cgroup (it must be in all of them
  // before it makes its cgroup namespace), or the supervisor sets up its network or runs
  // pre-start scripts.
  cs.wait_go = !in_cgroup || !cg.v1_dirs().empty() || net_by_supervisor || run_pre_start;
  if (pid == 0) {
    sigprocmask(SIG_SETMASK, &old, nullptr);
    for (int s : {SIGTERM, SIGHUP, SIGINT, SIGQUIT}) ::signal(s, SIG_DFL);
    parent_end.reset();
    guest_child(cfg, child_end.get(), cs);
  }
  auto init = pid;
  ChildProcess child_guard(init);
  debug::step(cfg.name, fmt::format("guest's first process cloned (host pid {}){}", init,
                                    in_cgroup ? ", in its cgroup" : ""));
  child_end.reset();
  cg_dir.reset();

  // A v1 hierarchy costs a migration (and its RCU grace period) all the same.
  if (in_cgroup) {
    cg.attach_v1(init);
  } else {
    cg.attach(init);
  }
  NetworkResult net;
  NetworkGuard net_guard(l.roots, cfg.id(), net);
  if (!in_cgroup || !cg.v1_dirs().empty()) debug::step(cfg.name, "moved into its cgroups");
  if (net_by_supervisor) {
    net = setup_network(l.roots, cfg, l.context, init);
    debug::step(cfg.name, "network set up");
  }
  if (run_pre_start) {
    try {
      run_scriptlets(l.roots, target, Scriptlet::pre_start, l.script_out, l.script_err);
    } catch (const Error& e) {
      rethrow_with_context(e, "start guest " + cfg.name);
    }
    debug::step(cfg.name, "pre-start scripts run");
  }
  if (cs.wait_go && ::send(parent_end.get(), "G", 1, MSG_NOSIGNAL) != 1) {
    throw_errno("start guest", cfg.name);
  }
  std::string msg(4096, '\0');
  ssize_t n;
  do {
    n = ::recv(parent_end.get(), msg.data(), msg.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    msg.resize(static_cast<size_t>(n));
    throw Error(msg);
  }
  debug::step(cfg.name, "init runs (the sync socket closed on its execve)");
  // EOF: exec succeeded. An init that ends right away is reaped by the supervision below, which
  // reports its status (a short-lived command is a valid guest).
  int wstatus = 0;

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
  debug::step(cfg.name, "state recorded");
  (void)child_guard.release();
  cg_guard.dismiss();
  net_guard.dismiss();
  started();
  msg = std::string();
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
    std::fprintf(stderr, "vserver %s: running %s\n", cfg.name.c_str(), h.c_str());
    pid_t pid = ::fork();
    if (pid == 0) {
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      std::string ctx = std::to_string(context);
      std::string file = h.string();
      std::string ev = event;
      if (::chdir(cfg.cfgdir.c_str()) != 0) ::_exit(126);
      char* argv[] = {file.data(), ctx.data(), ev.data(), nullptr};
      ::execv(argv[0], argv);
      ::_exit(127);
    }
    if (pid > 0) {
      int ws = 0;
      while (::waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
      }
      if (exit_status(ws) != 0) {
        std::fprintf(stderr, "vserver %s: %s exited with status %d\n", cfg.name.c_str(), h.c_str(),
                     exit_status(ws));
      }
    }
    return false;
  }
  return out.end == InitEnd::reboot && cfg.init.vshelper_action == config::VshelperAction::restart;
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
    std::fprintf(stderr, "vserver %s: restarting\n", cfg.name.c_str());
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
        std::fprintf(stderr, "vserver %s: %s\n", cfg.name.c_str(), note.c_str());
      }
    } catch (const Error& e) {
      std::fprintf(stderr, "vserver %s: not restarted: %s\n", first_cfg.name.c_str(), e.what());
      return out.status;
    }
    ContextGuard context_guard(roots, context, cfg.id());
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
        context_guard.dismiss();
        run_post_start(roots, {cfg.id(), cfg.cfgdir, cfg.vdir, context});
      });
    } catch (const Error& e) {
      std::fprintf(stderr, "vserver %s: restart failed: %s\n", cfg.name.c_str(), e.what());
      return 1;
    }
  }
  return out.status;
}

// Supervises the guest, and starts it again each time a reboot inside asks for it (restart_runs).
// first_started() is called when the first run's init runs. Returns the last init's exit status;
// a detached supervisor (not the caller on a terminal) does not return while the guest runs, but
// becomes vserver-monitor, and then resume_supervision does the rest.
template <typename Started>
int supervise_runs(const Launch& first, Started first_started) {
  ignore_stop_signal_between_runs();
  Outcome out = supervise(first, first_started);
  return restart_runs(first.roots, first.cfg, first.context, out, first.detached);
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
  if (auto c =
          state::claim_free_context(roots, kFirstDynamicContext, kLastDynamicContext, cfg.id())) {
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
    std::fprintf(stderr, "vserver %s: %s\n", st.name.c_str(), problem.c_str());
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
      std::fprintf(stderr, "vserver %s: warning: %s\n", st.name.c_str(), e.what());
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
  ContextGuard context_guard(roots, context, cfg.id());
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
    std::fprintf(stderr, "vserver %s: note: %s\n", cfg.name.c_str(), note.c_str());
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
    std::fprintf(stderr, "vserver %s: %s\n", cfg.name.c_str(), note.c_str());
  }
  if (!overlay && has_image) check_root_has_init(cfg);
  debug::step(cfg.name, "limits planned, storage prepared");

  if (opts.foreground) {
    return supervise_runs(l, [&] {
      storage.keep();
      lock.reset();
      context_guard.dismiss();  // the guest's cleanup drops it
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
    int rc = 1;
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
          write_all(report_write.get(), "OK", "start report");
        } catch (const Error& e) {
          std::fprintf(stderr, "vserver %s: %s\n", cfg.name.c_str(), e.what());
        }
        report_write.reset();
        debug::set_fd(-1);
        caller_out.reset();
        caller_err.reset();
        l.script_out = l.script_err = -1;
      });
    } catch (const std::exception& e) {
      if (report_write) {
        std::string m = e.what();
        try {
          write_all(report_write.get(), m, "start report");
        } catch (const Error&) {
        }
      }
      std::fprintf(stderr, "vserver %s: %s\n", cfg.name.c_str(), e.what());
    }
    ::_exit(rc);
  }
  report_write.reset();
  std::string report = read_fd(report_read.get());
  if (report == "OK") {
    debug::step(cfg.name, "the supervisor reports the guest running");
    storage.keep();
    context_guard.dismiss();  // the supervisor's cleanup drops it
    lock.reset();
    run_post_start(roots, target);
    debug::step(cfg.name, "post-start scripts run; started");
    return 0;
  }
  // The supervisor failed: it has cleaned up and is exiting; collect it.
  ::waitpid(sup, nullptr, 0);
  if (report.empty()) throw Error("start guest " + cfg.name + ": the supervisor died");
  throw Error(report);
}

int resume_supervision() {
  // What vserver-monitor passes on (see become_monitor), taken out of the environment that
  // handler scripts and later runs inherit.
  auto take = [](const char* var) -> std::optional<std::string> {
    const char* v = std::getenv(var);
    if (v == nullptr) return std::nullopt;
    std::string value = v;
    ::unsetenv(var);
    return value;
  };
  auto number = [](const std::optional<std::string>& v) -> std::optional<long> {
    if (!v) return std::nullopt;
    long n = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || p != v->data() + v->size()) return std::nullopt;
    return n;
  };
  auto guest = take("VSERVER_SUPERVISOR_GUEST");
  auto init = number(take("VSERVER_SUPERVISOR_INIT"));
  auto exe = number(take("VSERVER_SUPERVISOR_EXE_FD"));
  auto wstatus = number(take("VSERVER_SUPERVISOR_WSTATUS"));
  bool stop_requested = take("VSERVER_SUPERVISOR_STOP") == "1";
  (void)take("VSERVER_SUPERVISOR_SIGNAL");
  if (exe) ::close(static_cast<int>(*exe));
  if (!guest || !init) {
    throw Error(
        "vserver-supervisor is what a guest's supervisor runs when the guest's init has ended; it "
        "is not run by hand");
  }
  config::Roots roots = config::Roots::from_environment();
  ignore_stop_signal_between_runs();
  Outcome out = wstatus ? outcome_of(static_cast<int>(*wstatus)) : Outcome{};
  out.stop_requested = stop_requested;
  std::optional<config::GuestConfig> cfg;
  std::string cfg_error;
  try {
    cfg = config::load_guest(roots, *guest);
  } catch (const Error& e) {
    cfg_error = e.what();
  }
  std::string name = cfg ? cfg->name : *guest;
  auto st = state::read_state(roots, *guest);
  if (!st || st->init_pid != static_cast<pid_t>(*init)) {
    // vserver stop has cleaned up already (it does when this took too long).
    std::fprintf(stderr, "vserver %s: stopped (init exit status %d)\n", name.c_str(), out.status);
    return out.status;
  }
  finish_run(roots, *st, name, out);
  // The supervision signals stay blocked until the run has been cleaned up, as in supervise().
  sigset_t set = supervision_signals();
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  if (!cfg) {
    if (out.end == InitEnd::reboot && !out.stop_requested) {
      std::fprintf(stderr, "vserver %s: not restarted: %s\n", name.c_str(), cfg_error.c_str());
    }
    return out.status;
  }
  return restart_runs(roots, *cfg, st->context, out, true);
}

}  // namespace vs::runtime
