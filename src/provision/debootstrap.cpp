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

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <string_view>

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

// A failure of the child after the fork, in the --debian-installer protocol debootstrap speaks
// ("E: CODE", "EF: text"), with async-signal-safe calls only.
[[noreturn]] void child_fail(const char* code_and_text, int err, const char* after, int status) {
  for (const char* part : {code_and_text, ": ", ::strerrordesc_np(err), after, "\n"}) {
    if (part == nullptr) continue;
    (void)!::write(STDERR_FILENO, part, std::strlen(part));
  }
  ::_exit(status);
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
  // The environment and the program, made before the fork: the child calls async-signal-safe
  // functions only, as the caller may have threads.
  const std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view v = *e;
    if (v.rfind("PATH=", 0) == 0 || v.rfind("LC_ALL=", 0) == 0 ||
        v.rfind("DEBIAN_FRONTEND=", 0) == 0) {
      continue;
    }
    env.emplace_back(v);
  }
  env.push_back("PATH=" + path);
  env.emplace_back("LC_ALL=C.UTF-8");
  env.emplace_back("DEBIAN_FRONTEND=noninteractive");
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string program = argv[0];  // not found on the PATH: its execve says so
  for (std::size_t from = 0; from <= path.size();) {
    std::size_t to = std::min(path.find(':', from), path.size());
    std::string candidate = path.substr(from, to - from) + "/" + argv[0];
    if (::access(candidate.c_str(), X_OK) == 0) {
      program = candidate;
      break;
    }
    from = to + 1;
  }
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
      child_fail("E: MOUNTNS\nEF: cannot make a mount namespace", errno, nullptr, 126);
    }
    int null = ::open("/dev/null", O_RDONLY);
    // fd 3: the progress lines of --debian-installer; 1 (and so 4) and 2: the rest.
    if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(wr.get(), 1) < 0 || ::dup2(wr.get(), 2) < 0 ||
        ::dup2(wr.get(), 3) < 0) {
      ::_exit(126);
    }
    ::execve(program.c_str(), args.data(), envp.data());
    child_fail("E: EXEC\nEF: cannot run debootstrap", errno, " (install the debootstrap package)",
               127);
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
