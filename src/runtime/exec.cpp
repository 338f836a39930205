// exec, enter, suexec: a process that joins a running guest.
//
// A process joins the guest's namespaces (setns through a pidfd of the guest's init) and creates
// the command, which moves itself into the guest's cgroup and is then PID n of the guest's PID
// namespace. That process is the caller itself when it asks to (ExecOptions::join_caller: the
// command line, which exits when the command ends), else a helper it forks. The command shares
// the joining process's memory until its execve, as vfork's child does: no page tables are copied
// and no page is copied on write. It is confined exactly like the guest's init (seccomp, bounding
// set). With a terminal, the command opens a pseudo-terminal in the guest's own devpts and passes
// the master side back to the caller, which relays between it and the caller's terminal.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>

#include "cgroup/cgroup.hpp"
#include "runtime/helper.hpp"
#include "runtime/internal.hpp"
#include "runtime/rootfs.hpp"
#include "runtime/runtime.hpp"
#include "runtime/security.hpp"
#include "state/state.hpp"
#include "sys/debug.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"
#include "sys/process.hpp"

namespace vs::runtime {

using namespace detail;

namespace {

struct User {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name = "root";
  std::string home = "/";
  std::string shell = "/bin/sh";
  std::vector<gid_t> groups;
};

bool parse_id(std::string_view s, unsigned& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string> split(std::string_view line, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    size_t n = line.find(sep, pos);
    out.emplace_back(
        line.substr(pos, n == std::string_view::npos ? std::string_view::npos : n - pos));
    if (n == std::string_view::npos) break;
    pos = n + 1;
  }
  return out;
}

// The guest's own files that this privileged process reads are the guest's to write: at most this
// much of them is read.
constexpr std::size_t kMaxGuestFile = std::size_t{4} << 20;

// A file of the guest (we are in its mount namespace, under its root), if it is a regular file:
// a FIFO, a device or a link to one of our own descriptors (/proc/self/fd/0) planted at its name
// is ignored, as is a missing file; a larger file is read up to kMaxGuestFile.
std::optional<std::string> read_guest_file(const char* path) {
  UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return std::nullopt;
  UniqueFd f = open_file_in_root(root.get(), path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  struct stat st {};
  if (!f || ::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  std::string out;
  std::array<char, 16384> buf{};
  while (out.size() < kMaxGuestFile) {
    ssize_t n = ::read(f.get(), buf.data(), std::min(buf.size(), kMaxGuestFile - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf.data(), static_cast<size_t>(n));
  }
  return out;
}

// Looks the user up in the guest's own /etc/passwd and /etc/group (we are in its mount namespace).
// Parsed by hand: NSS would load the guest's libraries into this privileged process.
User lookup_user(const std::string& spec, const std::string& guest) {
  User u;
  unsigned numeric = 0;
  bool by_id = parse_id(spec, numeric);
  bool found = false;
  if (auto passwd = read_guest_file("/etc/passwd")) {
    for (const auto& line : split_lines(*passwd)) {
      auto f = split(line, ':');
      if (f.size() < 7) continue;
      unsigned uid = 0;
      unsigned gid = 0;
      if (!parse_id(f[2], uid) || !parse_id(f[3], gid)) continue;
      if (by_id ? uid == numeric : f[0] == spec) {
        u = {uid, gid, f[0], f[5].empty() ? "/" : f[5], f[6].empty() ? "/bin/sh" : f[6], {}};
        found = true;
        break;
      }
    }
  }
  if (!found && spec == "root") {
    found = true;  // uid 0 whatever the guest's /etc/passwd says or holds
  }
  if (!found) {
    if (!by_id) throw Error(fmt::format("user {} does not exist in guest {}", spec, guest));
    u.uid = numeric;
    u.gid = numeric;
    u.name = spec;
  }
  if (auto group = read_guest_file("/etc/group")) {
    for (const auto& line : split_lines(*group)) {
      auto f = split(line, ':');
      if (f.size() < 4) continue;
      unsigned gid = 0;
      if (!parse_id(f[2], gid)) continue;
      for (const auto& member : split(f[3], ',')) {
        if (member == u.name) u.groups.push_back(gid);
      }
    }
  }
  return u;
}

void send_fd(int sock, int fd) {
  char byte = 'F';
  iovec iov{&byte, 1};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> buf{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = buf.data();
  msg.msg_controllen = buf.size();
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  if (::sendmsg(sock, &msg, MSG_NOSIGNAL) != 1) throw_errno("send", "terminal to caller");
}

UniqueFd receive_fd(int sock) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> buf{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = buf.data();
  msg.msg_controllen = buf.size();
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return UniqueFd();
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS) return UniqueFd();
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return UniqueFd(fd);
}

// Makes the controlling terminal of this process a new pty of the guest's devpts and passes its
// master to the caller.
void attach_new_pty(int sock) {
  UniqueFd master(::open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master) throw_errno("open", "/dev/pts/ptmx in guest");
  int unlock = 0;
  if (::ioctl(master.get(), TIOCSPTLCK, &unlock) != 0) throw_errno("unlock", "guest pty");
  int slave = ::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (slave < 0) throw_errno("open", "guest pty peer");
  send_fd(sock, master.get());
  master.reset();
  if (::setsid() < 0) throw_errno("setsid", "");
  if (::ioctl(slave, TIOCSCTTY, 0) != 0) throw_errno("set controlling terminal", "guest pty");
  for (int i = 0; i < 3; ++i) {
    if (::dup2(slave, i) < 0) throw_errno("dup2", "guest pty");
  }
  if (slave > 2) ::close(slave);
}

// What the command needs of the host, opened by the joining process before it joins.
struct Joined {
  UniqueFd pidfd;               // of the guest's init: the command joins its cgroup namespace
  std::vector<UniqueFd> procs;  // cgroup.procs of the v2 directory, then of the v1 ones
  std::vector<cgroup::ProcessLimit> limits;  // the guest's per-process limits
};

// The command, from its creation to its execve. It runs in the memory of the process that joined
// the guest, which waits meanwhile (CLONE_VFORK): what it allocates stays there, and it changes no
// variable of that process's.
[[noreturn]] void command_child(const config::GuestConfig& cfg, const ExecOptions& opts,
                                const Joined& j, int pty_sock) {
  try {
    // Into the guest's cgroup ("0" is the writer itself; v1 hierarchies first, the v2 directory
    // that marks the guest's processes last) while still in the host's cgroup namespace, then
    // into the guest's cgroup namespace, rooted there.
    for (auto it = j.procs.rbegin(); it != j.procs.rend(); ++it) {
      if (::write(it->get(), "0", 1) != 1) throw_errno("join cgroup of guest", cfg.name);
    }
    // The guest's per-process limits, as its own processes have them (the address-space ones
    // just before execve).
    auto [early_limits, late_limits] = split_limits(j.limits);
    set_process_limits(0, early_limits);
    if (::setns(j.pidfd.get(), CLONE_NEWCGROUP) != 0)
      throw_errno("join cgroup namespace of guest", cfg.name);
    if (pty_sock >= 0) attach_new_pty(pty_sock);
    User u = lookup_user(opts.user, cfg.name);
    std::vector<std::string> env = guest_environment(cfg);
    env.push_back("HOME=" + u.home);
    env.push_back("USER=" + u.name);
    env.push_back("LOGNAME=" + u.name);
    env.push_back("SHELL=" + u.shell);
    if (const char* term = std::getenv("TERM"); term != nullptr) {
      env.push_back(std::string("TERM=") + term);
    }
    for (const auto& e : opts.environment) {
      std::string var = e.substr(0, e.find('=') + 1);
      env.erase(std::remove_if(env.begin(), env.end(),
                               [&](const std::string& x) { return x.rfind(var, 0) == 0; }),
                env.end());
      env.push_back(e);
    }
    std::string dir = opts.login ? u.home : "/";
    if (::chdir(dir.c_str()) != 0 && ::chdir("/") != 0) throw_errno("change directory to", dir);
    std::vector<std::string> argv = opts.argv;
    std::string program = find_program(argv[0], env);
    if (opts.login) argv[0] = "-" + argv[0].substr(argv[0].rfind('/') + 1);
    if (::syscall(SYS_close_range, 3U, ~0U, 0) != 0) throw_errno("close_range", "descriptors");
    install_seccomp(guest_filter(cfg));
    limit_bounding_set(guest_bounding_set(cfg));
    if (u.uid != 0 || u.gid != 0 || !u.groups.empty()) {
      if (::setgroups(u.groups.size(), u.groups.data()) != 0) throw_errno("setgroups", u.name);
      if (::setresgid(u.gid, u.gid, u.gid) != 0) throw_errno("setgid", std::to_string(u.gid));
    }
    if (u.uid != 0) {
      // Changing from uid 0 clears the capability sets.
      if (::setresuid(u.uid, u.uid, u.uid) != 0) throw_errno("setuid", std::to_string(u.uid));
    } else {
      set_capabilities(guest_bounding_set(cfg));
    }
    exec_program(program, argv, env, late_limits);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vserver %s: %s\n", cfg.name.c_str(), e.what());
  }
  ::_exit(127);
}

// The v2 cgroup a command joins: the guest's own, unless the guest has given it controllers for
// cgroups of its own (a systemd guest does); a cgroup with controllers for its children holds no
// processes, so the command then joins the cgroup of the guest's init (systemd's init.scope).
fs::path command_cgroup(const cgroup::GuestCgroup& cg, pid_t init) {
  auto controllers = read_file_if_exists(cg.path() / "cgroup.subtree_control");
  if (!controllers || trim(*controllers).empty()) return cg.path();
  auto own = read_file_if_exists("/proc/" + std::to_string(init) + "/cgroup");
  if (auto dir = own ? init_cgroup_dir(cg.path(), *own) : std::nullopt) return *dir;
  throw Error("exec in guest: the cgroup of its init (pid " + std::to_string(init) +
              ") was not found below " + cg.path().string());
}

// Joins the calling process to the guest's namespaces, all but its cgroup namespace (that is the
// command's alone). The process stays outside the guest's cgroup: only the command belongs to the
// guest. It must be single-threaded; afterwards its root and working directory are the guest's.
Joined join_guest(const state::GuestState& st, const config::GuestConfig& cfg) {
  Joined j;
  j.pidfd = pidfd_open(st.init_pid, "init of guest " + cfg.name);
  if (!state::init_alive(st)) throw NotRunning("vserver '" + cfg.name + "' is not running");
  cgroup::GuestCgroup cg = guest_cgroup(st);
  fs::path v2_dir = command_cgroup(cg, st.init_pid);
  for (const auto& dir : cg.all_dirs()) {
    j.procs.push_back(open_file((dir == cg.path() ? v2_dir : dir) / "cgroup.procs", O_WRONLY));
  }
  j.limits = cgroup::plan_limits(cfg, host_facts()).rlimits;
  int nstype = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID;
  if (st.network != "host") nstype |= CLONE_NEWNET;
  // The guest's time namespace (virt_uptime), where the kernel has them.
  if (::access("/proc/self/ns/time", F_OK) == 0) nstype |= CLONE_NEWTIME;
  if (::setns(j.pidfd.get(), nstype) != 0) throw_errno("join namespaces of guest", cfg.name);
  debug::step(cfg.name, "joined the guest's namespaces");
  // The command is created in the guest's PID namespace (this process's children go there), where
  // the guest's processes see it, and runs this binary until it executes the command. Not
  // dumpable: /proc/PID/exe, /proc/PID/map_files and ptrace of it need CAP_SYS_PTRACE, so that a
  // guest without it cannot open the host's vserver binary (CVE-2019-5736). execve makes the
  // command dumpable again. See docs/security.md.
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) throw_errno("prctl", "PR_SET_DUMPABLE");
  return j;
}

struct CommandArgs {
  const config::GuestConfig* cfg;
  const ExecOptions* opts;
  const Joined* joined;
  int pty_sock;
};

int command_main(void* arg) {
  const auto* a = static_cast<const CommandArgs*>(arg);
  debug::set_fd(-1);  // the command gets no descriptor of the caller's but its stdio
  command_child(*a->cfg, *a->opts, *a->joined, a->pty_sock);
}

// Creates the command from a process that joined the guest; returns once it has executed the
// program or failed (the parent is suspended meanwhile, CLONE_VFORK).
ChildProcess create_command(const Joined& j, const config::GuestConfig& cfg,
                            const ExecOptions& opts, int pty_sock) {
  CommandArgs args{&cfg, &opts, &j, pty_sock};
  pid_t pid = clone_sharing_memory(0, command_main, &args);
  if (pid < 0) throw_errno("create command", "in guest " + cfg.name);
  debug::step(cfg.name, fmt::format("command created in the guest (host pid {})", pid));
  return ChildProcess(pid);
}

// While a command runs, terminal signals are for it, not for the process that waits for it (as
// system(3) does).
class IgnoreTerminalSignals {
 public:
  IgnoreTerminalSignals() {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    ::sigaction(SIGINT, &ign, &old_int_);
    ::sigaction(SIGQUIT, &ign, &old_quit_);
  }
  IgnoreTerminalSignals(const IgnoreTerminalSignals&) = delete;
  IgnoreTerminalSignals& operator=(const IgnoreTerminalSignals&) = delete;
  ~IgnoreTerminalSignals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGQUIT, &old_quit_, nullptr);
  }

 private:
  struct sigaction old_int_ {};
  struct sigaction old_quit_ {};
};

// The helper: joins the guest and runs the command as its child; exits with its status.
[[noreturn]] void join_helper(const state::GuestState& st, const config::GuestConfig& cfg,
                              const ExecOptions& opts, int pty_sock) {
  try {
    ChildProcess child = [&] {
      Joined j = join_guest(st, cfg);
      return create_command(j, cfg, opts, pty_sock);
    }();
    if (pty_sock >= 0) ::close(pty_sock);
    IgnoreTerminalSignals ignore;
    ::_exit(child.wait("command in guest " + cfg.name));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vserver: %s\n", e.what());
  }
  ::_exit(125);
}

// Puts the caller's terminal in raw mode for the relay and restores it afterwards.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (::tcgetattr(fd_, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(fd_, TCSANOW, &raw) == 0;
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  ~RawTerminal() {
    if (active_) ::tcsetattr(fd_, TCSANOW, &saved_);
  }

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

void copy_winsize(int from, int to) {
  winsize ws{};
  if (::ioctl(from, TIOCGWINSZ, &ws) == 0) ::ioctl(to, TIOCSWINSZ, &ws);
}

// Relays the caller's stdin/stdout to the guest pty until the guest side closes.
void relay(int master) {
  bool in_tty = ::isatty(0) == 1;
  RawTerminal raw(0);
  if (in_tty) copy_winsize(0, master);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGWINCH);
  sigset_t old;
  sigprocmask(SIG_BLOCK, &set, &old);
  UniqueFd sfd(::signalfd(-1, &set, SFD_CLOEXEC));
  std::array<char, 16384> buf{};
  bool stdin_open = true;
  for (;;) {
    std::array<pollfd, 3> p{
        {{master, POLLIN, 0}, {stdin_open ? 0 : -1, POLLIN, 0}, {sfd.get(), POLLIN, 0}}};
    if (::poll(p.data(), p.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if ((p[2].revents & POLLIN) != 0) {
      signalfd_siginfo si{};
      if (::read(sfd.get(), &si, sizeof(si)) > 0 && in_tty) copy_winsize(0, master);
    }
    if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      ssize_t n = ::read(master, buf.data(), buf.size());
      if (n <= 0) break;  // EIO: the guest side is closed
      try {
        write_all(1, std::string_view(buf.data(), static_cast<size_t>(n)), "stdout");
      } catch (const Error&) {
        break;
      }
    }
    if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      ssize_t n = ::read(0, buf.data(), buf.size());
      if (n <= 0) {
        stdin_open = false;
        char eot = 4;  // end of input for the program on the pty
        (void)::write(master, &eot, 1);
      } else {
        try {
          write_all(master, std::string_view(buf.data(), static_cast<size_t>(n)), "guest pty");
        } catch (const Error&) {
          break;
        }
      }
    }
  }
  sigprocmask(SIG_SETMASK, &old, nullptr);
}

}  // namespace

int exec(const config::Roots& roots, const config::GuestConfig& cfg, const ExecOptions& opts) {
  if (detail::use_helper(&opts)) return detail::exec_in_helper(roots, cfg, opts);
  if (opts.argv.empty()) throw Error("exec in guest " + cfg.name + ": no command given");
  auto st = state::read_state(roots, cfg.id());
  if (!st || !state::init_alive(*st)) {
    throw NotRunning("vserver '" + cfg.name + "' is not running");
  }
  bool use_pty = opts.tty == Tty::always || (opts.tty == Tty::automatic && ::isatty(0) == 1);
  UniqueFd caller_sock;
  UniqueFd helper_sock;
  if (use_pty) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      throw_errno("socketpair", "terminal of guest " + cfg.name);
    }
    caller_sock.reset(sv[0]);
    helper_sock.reset(sv[1]);
  }
  ::fflush(nullptr);
  // The command (the caller joins the guest), or the helper that joins it; killed and reaped if
  // the relay fails.
  const std::string what = (opts.join_caller ? "command in guest " : "helper of guest ") + cfg.name;
  ChildProcess child = [&] {
    if (opts.join_caller) {
      Joined j = join_guest(*st, cfg);
      return create_command(j, cfg, opts, helper_sock ? helper_sock.get() : -1);
    }
    pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork", what);
    if (pid == 0) {
      caller_sock.reset();
      join_helper(*st, cfg, opts, helper_sock ? helper_sock.release() : -1);
    }
    return ChildProcess(pid);
  }();
  helper_sock.reset();
  IgnoreTerminalSignals ignore;
  if (use_pty) {
    UniqueFd master = receive_fd(caller_sock.get());
    caller_sock.reset();
    if (master) relay(master.get());
  }
  return child.wait(what);
}

}  // namespace vs::runtime
