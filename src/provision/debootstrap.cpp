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

#include <fmt/format.h>
#include <fmt/ranges.h>
#include "provision/debian.hpp"
#include "provision/internal.hpp"
#include "provision/method.hpp"
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

namespace {

class Debootstrap final : public BuildMethod {
 public:
  void validate(const BuildOptions& o) const override {
    if (o.suite.empty()) throw Error("method debootstrap needs a suite (-d SUITE)");
    if (o.suite.find_first_of("/ \t") != std::string::npos || o.suite.front() == '-') {
      throw Error("invalid suite " + quote(o.suite));
    }
    if (::geteuid() != 0) throw Error("method debootstrap needs root");
  }
  void check(Build& b) const override {
    const BuildOptions& o = b.o;
    DebootstrapRun& deb = b.deb;
    deb.suite = o.suite;
    deb.variant = o.variant;
    deb.script = o.script;
    deb.extra = o.debootstrap_options;
    if (o.mirror.empty()) {
      auto [mirror, from] = default_debootstrap_mirror(b.roots, o.name, o.suite);
      deb.mirror = mirror;
      if (o.progress) o.progress("Mirror " + mirror + " (from " + from + ")");
    } else {
      deb.mirror = o.mirror;
    }
    deb.include = init_packages(o.init_style.value_or(config::InitStyle::sysv));
  }
  void populate(Build& b) const override {
    const BuildOptions& o = b.o;
    if (o.progress) {
      o.progress("Running " + fmt::format("{}", fmt::join(debootstrap_argv(b.deb, b.vdir), " ")));
    }
    run_debootstrap(b.deb, b.tmp_vdir, o.debootstrap_progress, o.warning);
    // debootstrap's own directory is gone on success; a guest has no use for a hostname of the
    // build host's.
    make_standard_dirs(*b.root, true);
    write_file_in(*b.root, "etc/hostname", b.hostname + "\n");
    write_file_in(*b.root, "etc/hosts", hosts_file(b.hostname));
    for (const auto& change : fit_debian_for_container(b.tmp_vdir)) {
      if (o.progress) o.progress("Fitted for a container: " + change);
    }
    // util-vserver's mark of a guest whose packages are managed from inside.
    fs::create_directories(b.tmp_cfg / "apps/pkgmgmt");
    write_file_atomic(b.tmp_cfg / "apps/pkgmgmt/internal", "");
  }
  [[nodiscard]] bool foreign_root(const Build& /*b*/) const override { return true; }
};

}  // namespace

const BuildMethod& debootstrap_method() {
  static const Debootstrap m;
  return m;
}

}  // namespace vs::provision::detail
