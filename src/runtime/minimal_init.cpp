// The minimal sysv init: PID 1 of a guest of init style sysv, which runs the guest's rc scripts
// and stands in for sysvinit (runlevels, /run/initctl, utmp).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utmpx.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/internal.hpp"
#include "runtime/launch.hpp"
#include "runtime/launch_sync.hpp"
#include "runtime/runtime.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/file.hpp"

namespace vs::runtime {

using namespace detail;

namespace {

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
    // Between fork and execve: write(2) only.
    std::string_view what = e.what();
    std::array<iovec, 3> line{{{const_cast<char*>("init: "), 6},
                               {const_cast<char*>(what.data()), what.size()},
                               {const_cast<char*>("\n"), 1}}};
    (void)::writev(STDERR_FILENO, line.data(), static_cast<int>(line.size()));
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

}  // namespace

namespace detail {

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
      child_fail(sync_fd, Phase::exec, 0,
                 "init style sysv needs /etc/init.d/rc or /etc/rc.d/rc in the guest");
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
  if (sfd < 0) {
    int err = errno;
    child_fail(sync_fd, Phase::exec, err,
               errno_message("signalfd", "init of guest " + cfg.name, err));
  }
  int initctl = own_rc ? open_initctl() : -1;
  std::string level = cfg.init.runlevel_start;
  record_utmp(BOOT_TIME, "reboot", 0);
  record_runlevel(level, 'N');
  pid_t child = spawn_rc(rc, argv, env, level, "N", late_limits, set);
  if (child < 0) {
    int err = errno;
    child_fail(sync_fd, Phase::exec, err, errno_message("fork", "rc in guest " + cfg.name, err));
  }
  // The guest is up: the supervisor may report it running.
  SyncBuffer ready;
  ssize_t sent = ::send(sync_fd, ready.data(), encode(SyncKind::ready, Phase::exec, 0, {}, ready),
                        MSG_NOSIGNAL);
  (void)sent;
  ::close(sync_fd);

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

}  // namespace detail

}  // namespace vs::runtime
