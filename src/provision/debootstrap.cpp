// The debootstrap build method: Debian's debootstrap into the temporary root of the build, with
// its machine-readable status output turned into progress reports.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>

#include "provision/debian.hpp"
#include "provision/internal.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::provision::detail {

namespace {

std::int64_t now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Ends debootstrap's process group: SIGTERM, then SIGKILL after a grace period, and reaps it.
void end_group(pid_t pid) {
  ::kill(-pid, SIGTERM);
  std::int64_t deadline = now_ms() + 3000;
  while (now_ms() < deadline) {
    int st = 0;
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) break;
    ::usleep(50000);
  }
  ::kill(-pid, SIGKILL);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

std::vector<std::string> debootstrap_argv(const DebootstrapRun& run, const fs::path& target) {
  std::vector<std::string> argv{"debootstrap", "--debian-installer"};
  if (!run.variant.empty()) argv.push_back("--variant=" + run.variant);
  if (!run.include.empty()) {
    std::string list;
    for (const auto& p : run.include) list += (list.empty() ? "" : ",") + p;
    argv.push_back("--include=" + list);
  }
  argv.insert(argv.end(), run.extra.begin(), run.extra.end());
  argv.push_back(run.suite);
  argv.push_back(target.string());
  argv.push_back(run.mirror);
  if (!run.script.empty()) argv.push_back(run.script);
  return argv;
}

void run_debootstrap(const DebootstrapRun& run, const fs::path& target,
                     const DebootstrapReport& progress, const Report& warning) {
  std::vector<std::string> argv = debootstrap_argv(run, target);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw_errno("pipe", "debootstrap output");
  UniqueFd rd(p[0]);
  UniqueFd wr(p[1]);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::int64_t start = now_ms();
  ::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", "debootstrap");
  if (pid == 0) {
    // Its own process group (to end it as a whole) and mount namespace (what it mounts in the new
    // root, /proc and /sys, goes away with it, whatever happens).
    ::setpgid(0, 0);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      std::fprintf(stderr, "E: MOUNTNS\nEF: cannot make a mount namespace: %s\n",
                   std::strerror(errno));
      ::_exit(126);
    }
    int null = ::open("/dev/null", O_RDONLY);
    // fd 3: the progress lines of --debian-installer; 1 (and so 4) and 2: the rest.
    if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(wr.get(), 1) < 0 || ::dup2(wr.get(), 2) < 0 ||
        ::dup2(wr.get(), 3) < 0) {
      ::_exit(126);
    }
    ::setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
    ::setenv("LC_ALL", "C.UTF-8", 1);
    ::setenv("DEBIAN_FRONTEND", "noninteractive", 1);
    ::execvp(args[0], args.data());
    std::fprintf(stderr,
                 "E: EXEC\nEF: cannot run debootstrap: %s (install the debootstrap package)\n",
                 std::strerror(errno));
    ::_exit(127);
  }
  wr.reset();

  DebootstrapStatus status;
  std::deque<std::string> tail;  // the last lines that were not status lines, for errors
  std::vector<std::string> errors;
  std::string pending;
  std::array<char, 4096> buf{};
  bool open = true;
  while (open) {
    if (interrupted()) {
      end_group(pid);
      check_interrupted();
    }
    pollfd pfd{rd.get(), POLLIN, 0};
    int r = ::poll(&pfd, 1, 250);
    if (r > 0) {
      ssize_t n = ::read(rd.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        open = false;
      } else {
        pending.append(buf.data(), static_cast<size_t>(n));
      }
    }
    size_t nl = 0;
    bool changed = false;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      bool is_status = line.size() >= 3 && line[1] != ' ' && line.find(": ") <= 2 &&
                       std::string("PIWE").find(line[0]) != std::string::npos;
      if (is_status) {
        changed |= status.feed(line);
        for (auto& m : status.take_messages()) {
          if (m.rfind("error: ", 0) == 0) {
            errors.push_back(m.substr(7));
          } else if (warning) {
            warning("debootstrap: " + m.substr(9));
          }
        }
      } else if (!line.empty()) {
        tail.push_back(line);
        if (tail.size() > 10) tail.pop_front();
      }
    }
    if (progress && (changed || r == 0)) progress(status.progress(), now_ms() - start);
  }
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) break;
  }
  // Anything it left running in its group (a service started by a maintainer script).
  ::kill(-pid, SIGKILL);
  check_interrupted();
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
    if (progress) progress(status.progress(), now_ms() - start);
    return;
  }
  std::string why;
  for (const auto& e : errors) why += "\n  " + e;
  if (errors.empty()) {
    for (const auto& l : tail) why += "\n  " + l;
  }
  std::string log = (target / "debootstrap/debootstrap.log").string();
  if (auto text = read_file_if_exists(log)) {
    auto lines = split_lines(*text);
    why += "\n  last lines of debootstrap.log:";
    for (size_t i = lines.size() > 8 ? lines.size() - 8 : 0; i < lines.size(); ++i) {
      why += "\n    " + lines[i];
    }
  }
  throw Error("debootstrap " + run.suite + " from " + run.mirror + " failed (" +
              (WIFEXITED(wstatus) ? "exit status " + std::to_string(WEXITSTATUS(wstatus))
                                  : std::string("signal ") + ::strsignal(WTERMSIG(wstatus))) +
              ")" + why);
}

}  // namespace vs::provision::detail
