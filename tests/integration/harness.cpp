#include "harness.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "cgroup/cgroup.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace it {

namespace {

std::int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::vector<std::string> environment(const Env& env) {
  std::vector<std::string> out;
  auto overridden = [&](std::string_view entry) {
    std::string_view name = entry.substr(0, entry.find('=') + 1);
    return std::any_of(env.extra_env().begin(), env.extra_env().end(),
                       [&](const std::string& x) { return x.rfind(name, 0) == 0; });
  };
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "VSERVER_", 8) != 0 && !overridden(*e)) out.emplace_back(*e);
  }
  out.push_back("VSERVER_CONFIG_ROOT=" + env.config_root().string());
  out.push_back("VSERVER_VDIR_ROOT=" + env.vdir_root().string());
  out.push_back("VSERVER_RUN_ROOT=" + env.run_root().string());
  out.push_back("VSERVER_LOG_ROOT=" + env.log_root().string());
  out.insert(out.end(), env.extra_env().begin(), env.extra_env().end());
  return out;
}

std::vector<char*> cstrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// In a forked child: joins /run/netns/NAME (if a name is given) or dies.
void enter_netns(const std::string& name) {
  if (name.empty()) return;
  std::string path = "/run/netns/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
    std::perror(path.c_str());
    ::_exit(126);
  }
  ::close(fd);
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Result& r) {
  return os << "rc=" << r.rc << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err;
}

bool is_root() {
  return ::geteuid() == 0;
}

Process::Process(int pid) : fd_(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))) {
  EXPECT_TRUE(fd_.valid()) << "pidfd_open " << pid << ": " << std::strerror(errno);
}

bool Process::signal(int sig) const {
  return fd_.valid() && ::syscall(SYS_pidfd_send_signal, fd_.get(), sig, nullptr, 0) == 0;
}

bool Process::wait_exited(int timeout_ms) const {
  if (!fd_.valid()) return false;
  std::int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    pollfd p{fd_.get(), POLLIN, 0};
    int left = static_cast<int>(std::max<std::int64_t>(0, deadline - now_ms()));
    int n = ::poll(&p, 1, left);
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
  }
}

bool Process::wait_reaped(int timeout_ms) const {
  if (!wait_exited(timeout_ms)) return false;
  // Its parent (init, or a subreaper) reaps it; signal 0 finds no process from then on.
  return wait_until(
      [&] {
        return ::syscall(SYS_pidfd_send_signal, fd_.get(), 0, nullptr, 0) != 0 && errno == ESRCH;
      },
      std::chrono::milliseconds(timeout_ms));
}

Env::Env() {
  // TMPDIR moves the roots (the cgroup v2 VM puts them on a tmpfs: its /tmp is an overlayfs, which
  // cannot hold the upper layer of a unified guest).
  const char* tmpdir = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") + "/vs-it-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp in " + tmpl + " failed");
  root_ = tmpl;
  fs::permissions(root_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);
  for (const char* d : {"etc", "vdir", "run", "log", "bin"}) fs::create_directories(root_ / d);
  bin_ = root_ / "bin";
  for (const char* prog : {"vserver", "vserver-stat", "vps", "vkill", "vtop", "vserver-base",
                           "vserver-autostart", "vserver-supervisor"}) {
    fs::create_symlink(VSERVER_BINARY, bin_ / prog);
  }
}

Env::~Env() {
  // Every guest of these roots: the ones built with busybox_guest and the ones a test made
  // otherwise (clone, rename, import), so that a test that fails half-way leaves none running.
  std::set<std::string> names(guests_.begin(), guests_.end());
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(config_root(), ec)) {
    std::string n = e.path().filename().string();
    if (!n.empty() && n[0] != '.') names.insert(n);
  }
  for (const auto& g : names) {
    run({g, "stop", "--timeout", "2"}, "", 60);
  }
  fs::remove_all(root_, ec);
}

Result Env::run_as(const std::string& prog, const std::vector<std::string>& args,
                   const std::string& input, int timeout_s) const {
  return run_program((bin_ / prog).string(), args, input, timeout_s);
}

Result Env::run_program(const std::string& path, const std::vector<std::string>& args,
                        const std::string& input, int timeout_s) const {
  int in[2];
  int out[2];
  int err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  std::vector<std::string> argv{path};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> envv = environment(*this);
  pid_t pid = ::fork();
  if (pid == 0) {
    enter_netns(netns_);
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::setpgid(0, 0);
    auto a = cstrings(argv);
    auto e = cstrings(envv);
    ::execve(a[0], a.data(), e.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (!input.empty()) {
    (void)::write(in[1], input.data(), input.size());
  }
  ::close(in[1]);
  Result r;
  std::array<char, 4096> buf{};
  std::int64_t deadline = now_ms() + timeout_s * 1000LL;
  bool out_open = true;
  bool err_open = true;
  while (out_open || err_open) {
    std::array<pollfd, 2> p{
        {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}}};
    int left = static_cast<int>(deadline - now_ms());
    if (left <= 0) {
      ::kill(-pid, SIGKILL);
      r.err += "\n[harness: timed out]\n";
      break;
    }
    if (::poll(p.data(), 2, left) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if ((p[i].revents & (POLLIN | POLLHUP)) == 0) continue;
      ssize_t n = ::read(p[i].fd, buf.data(), buf.size());
      if (n <= 0) {
        (i == 0 ? out_open : err_open) = false;
      } else {
        (i == 0 ? r.out : r.err).append(buf.data(), static_cast<size_t>(n));
      }
    }
  }
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

Result Env::run_on_pty(const std::vector<std::string>& args, const std::string& input,
                       int timeout_s) const {
  std::vector<std::string> argv{(bin_ / "vserver").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> envv = environment(*this);
  envv.emplace_back("TERM=dumb");
  int master = -1;
  pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  if (pid == 0) {
    enter_netns(netns_);
    auto a = cstrings(argv);
    auto e = cstrings(envv);
    ::execve(a[0], a.data(), e.data());
    ::_exit(127);
  }
  Result r;
  (void)::write(master, input.data(), input.size());
  std::array<char, 4096> buf{};
  std::int64_t deadline = now_ms() + timeout_s * 1000LL;
  for (;;) {
    pollfd p{master, POLLIN, 0};
    int left = static_cast<int>(deadline - now_ms());
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      r.err = "[harness: timed out]";
      break;
    }
    if (::poll(&p, 1, left) <= 0) continue;
    ssize_t n = ::read(master, buf.data(), buf.size());
    if (n <= 0) break;
    r.out.append(buf.data(), static_cast<size_t>(n));
  }
  ::close(master);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string Env::unique_name(const std::string& base) {
  static std::atomic<int> counter{0};
  std::string name = base + std::to_string(::getpid()) + "x" + std::to_string(counter++);
  guests_.push_back(name);
  return name;
}

std::string Env::busybox_guest(const std::vector<std::string>& build_args) {
  std::string name = unique_name();
  std::vector<std::string> args{name, "build", "-m", "busybox"};
  args.insert(args.end(), build_args.begin(), build_args.end());
  Result r = run(args);
  EXPECT_EQ(r.rc, 0) << r;
  std::error_code ec;
  fs::copy_file(VSERVER_PROBE, vdir(name) / "bin" / "probe", fs::copy_options::overwrite_existing,
                ec);
  EXPECT_FALSE(ec) << "copy probe: " << ec.message();
  return name;
}

void Env::write_config(const std::string& name, const std::string& rel,
                       const std::string& content) {
  fs::path p = cfgdir(name) / rel;
  fs::create_directories(p.parent_path());
  std::ofstream(p) << content;
}

std::string set_test_xattr(const fs::path& path, const std::string& name,
                           const std::string& value) {
  for (const char* ns : {"user.", "trusted."}) {
    std::string full = ns + name;
    if (::setxattr(path.c_str(), full.c_str(), value.data(), value.size(), 0) == 0) return full;
    if (errno != EOPNOTSUPP) break;
  }
  ADD_FAILURE() << "set an extended attribute on " << path << ": " << std::strerror(errno);
  return "user." + name;
}

fs::path guest_cgroup(const std::string& name) {
  auto h = vs::cgroup::Hierarchy::detect();
  return vs::cgroup::guest_cgroup_path(h, vs::cgroup::default_base(h), name);
}

std::vector<fs::path> guest_v1_cgroups(const std::string& name) {
  auto h = vs::cgroup::Hierarchy::detect();
  std::vector<fs::path> out;
  for (const auto& [ctrl, dir] : vs::cgroup::guest_v1_paths(h, vs::cgroup::default_base(h), name)) {
    out.push_back(dir);
  }
  return out;
}

std::vector<int> guest_processes(const std::string& name) {
  std::vector<int> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string pid = e.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    auto g = vs::cgroup::guest_of_pid(std::stoi(pid));
    if (g && *g == name) out.push_back(std::stoi(pid));
  }
  return out;
}

void expect_nothing_left(const Env& env, const std::string& name) {
  // A guest that ended by itself (halt inside, init killed) is cleaned up by its supervisor, which
  // first executes the vserver binary again (vserver-monitor does not clean up): on a slow machine
  // that takes a moment after `status` already says the guest is stopped. The state record goes
  // last; what is still there after 15 s is left behind.
  wait_until([&] { return !fs::exists(env.run_root() / name); });
  EXPECT_FALSE(fs::exists(guest_cgroup(name))) << "cgroup left: " << guest_cgroup(name);
  for (const auto& d : guest_v1_cgroups(name)) {
    EXPECT_FALSE(fs::exists(d)) << "cgroup v1 directory left: " << d;
  }
  // No /proc server of the guest (its process title names the guest).
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string pid = e.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string comm;
    try {
      comm = vs::read_file(e.path() / "cmdline");
    } catch (const vs::Error&) {
      continue;
    }
    EXPECT_EQ(comm.find("vserver-procfs " + name), std::string::npos)
        << "the /proc server of " << name << " is left: pid " << pid;
  }
  EXPECT_FALSE(fs::exists(env.run_root() / name)) << "state left for " << name;
  EXPECT_TRUE(guest_processes(name).empty()) << "processes left in guest " << name;
  std::string mounts = vs::read_file("/proc/self/mountinfo");
  EXPECT_EQ(mounts.find(env.vdir(name).string()), std::string::npos)
      << "mount left below " << env.vdir(name);
}

}  // namespace it
