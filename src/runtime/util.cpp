#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "runtime/internal.hpp"
#include "runtime/runtime.hpp"
#include "sys/debug.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::runtime {

namespace {
char* g_argv_start = nullptr;
size_t g_argv_len = 0;
}  // namespace

void remember_argv(int argc, char** argv) {
  if (argc <= 0) return;
  g_argv_start = argv[0];
  char* end = argv[argc - 1] + std::strlen(argv[argc - 1]);
  g_argv_len = static_cast<size_t>(end - g_argv_start);
}

void set_process_title(std::string_view title) {
  if (g_argv_start == nullptr || g_argv_len == 0) return;
  size_t n = std::min(title.size(), g_argv_len);
  std::memcpy(g_argv_start, title.data(), n);
  std::memset(g_argv_start + n, 0, g_argv_len - n + 1);
}

}  // namespace vs::runtime

namespace vs::runtime::detail {

UniqueFd pidfd_open(pid_t pid, const std::string& what) {
  long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) throw_errno("pidfd_open", what);
  return UniqueFd(static_cast<int>(fd));
}

bool pidfd_signal(int pidfd, int sig) {
  if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0) return true;
  if (errno == ESRCH) return false;
  throw_errno("send signal " + std::to_string(sig) + " to", "guest init");
}

bool wait_pidfd(int pidfd, int timeout_ms) {
  std::int64_t deadline = monotonic_ms() + timeout_ms;
  for (;;) {
    pollfd p{pidfd, POLLIN, 0};
    auto left = static_cast<int>(std::max<std::int64_t>(0, deadline - monotonic_ms()));
    int rc = ::poll(&p, 1, left);
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) throw_errno("poll", "pidfd");
  }
}

std::int64_t monotonic_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::int64_t realtime_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::vector<std::string> guest_environment(const config::GuestConfig& cfg) {
  std::vector<std::string> env = cfg.init.environment;
  bool has_path = false;
  for (const auto& e : env) has_path = has_path || e.rfind("PATH=", 0) == 0;
  // util-vserver's default environment.
  if (!has_path)
    env.emplace_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  env.emplace_back("container=vserver");
  return env;
}

std::string find_program(const std::string& argv0, const std::vector<std::string>& env) {
  if (argv0.find('/') != std::string::npos) return argv0;
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& e : env) {
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  }
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t colon = path.find(':', pos);
    if (colon == std::string::npos) colon = path.size();
    std::string dir = path.substr(pos, colon - pos);
    if (!dir.empty()) {
      std::string candidate = dir + "/" + argv0;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    pos = colon + 1;
  }
  return argv0;
}

void exec_program(const std::string& path, const std::vector<std::string>& argv,
                  const std::vector<std::string>& env,
                  const std::vector<cgroup::ProcessLimit>& late_limits) {
  std::vector<char*> a;
  std::vector<char*> e;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  for (const auto& s : env) e.push_back(const_cast<char*>(s.c_str()));
  e.push_back(nullptr);
  for (const auto& l : late_limits) {
    rlimit r{l.soft, l.hard};
    if (::prlimit(0, static_cast<__rlimit_resource>(l.resource), &r, nullptr) != 0) {
      throw_errno("set limit from", l.source);
    }
  }
  ::execve(path.c_str(), a.data(), e.data());
  throw_errno("execute", path);
}

std::pair<std::vector<cgroup::ProcessLimit>, std::vector<cgroup::ProcessLimit>> split_limits(
    const std::vector<cgroup::ProcessLimit>& limits) {
  std::pair<std::vector<cgroup::ProcessLimit>, std::vector<cgroup::ProcessLimit>> out;
  for (const auto& l : limits) {
    bool late = l.resource == RLIMIT_AS || l.resource == RLIMIT_DATA;
    (late ? out.second : out.first).push_back(l);
  }
  return out;
}

pid_t clone_into_cgroup(unsigned long flags, int cgroup_dir, bool& in_cgroup) {
  clone_args args{};
  args.flags = flags | CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<std::uint64_t>(cgroup_dir);
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid >= 0) {
    in_cgroup = true;
    return static_cast<pid_t>(pid);
  }
  // ENOSYS: no clone3 (before Linux 5.3), or a seccomp filter that hides it; E2BIG, EINVAL: no
  // CLONE_INTO_CGROUP (before 5.7); EPERM: a seccomp filter that refuses clone3.
  if (errno != ENOSYS && errno != E2BIG && errno != EINVAL && errno != EPERM) return -1;
  in_cgroup = false;
  return static_cast<pid_t>(
      ::syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
}

pid_t clone_sharing_memory(unsigned long flags, int (*fn)(void*), void* arg) {
  // The child's stack, with a guard page below it; only the pages it touches are ever made.
  constexpr std::size_t kGuard = 4096;
  constexpr std::size_t kStack = std::size_t{1} << 20;
  void* map = ::mmap(nullptr, kGuard + kStack, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED) return -1;
  if (::mprotect(map, kGuard, PROT_NONE) != 0) {
    int e = errno;
    ::munmap(map, kGuard + kStack);
    errno = e;
    return -1;
  }
  const int debug_fd = debug::fd();
  pid_t pid = ::clone(fn, static_cast<char*>(map) + kGuard + kStack,
                      static_cast<int>(flags) | CLONE_VM | CLONE_VFORK | SIGCHLD, arg);
  int e = errno;
  debug::set_fd(debug_fd);  // a child may have turned it off in the memory it shared
  ::munmap(map, kGuard + kStack);
  if (pid < 0 && e == EINVAL) {
    // Some kernels (Debian 12's 6.1) refuse CLONE_VM to a process whose children go to another time
    // namespace (a guest's virt_uptime): a copy of the caller then, as fork makes it.
    pid = static_cast<pid_t>(
        ::syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
    e = errno;
    if (pid == 0) ::_exit(fn(arg));
  }
  errno = e;
  return pid;
}

std::optional<std::filesystem::path> init_cgroup_dir(const std::filesystem::path& guest_dir,
                                                     std::string_view proc_cgroup) {
  namespace fs = std::filesystem;
  const std::string guest = guest_dir.lexically_normal().string();
  for (const auto& line : split_lines(std::string(proc_cgroup))) {
    if (line.rfind("0::/", 0) != 0) continue;
    const fs::path path = fs::path(line.substr(3)).lexically_normal();
    // The longest leading part of the process's path that the guest's directory ends with is the
    // guest's own path in the hierarchy; what follows it is below the guest.
    for (fs::path p = path; p.has_relative_path(); p = p.parent_path()) {
      const std::string head = p.string();
      if (guest.size() > head.size() &&
          guest.compare(guest.size() - head.size(), head.size(), head) == 0) {
        return guest_dir.lexically_normal() / path.lexically_relative(p);
      }
    }
  }
  return std::nullopt;
}

int graceful_signal(config::InitStyle style) {
  switch (style) {
    case config::InitStyle::plain:
      return SIGINT;  // ctrl-alt-del: sysvinit and busybox init shut down
    case config::InitStyle::systemd:
      return SIGRTMIN + 3;  // systemd: halt
    case config::InitStyle::minit:
    case config::InitStyle::sysv:
    case config::InitStyle::command:
      return SIGTERM;
  }
  return SIGTERM;
}

}  // namespace vs::runtime::detail
