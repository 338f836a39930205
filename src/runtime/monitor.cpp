// The hand-over of a running guest's supervisor to vserver-monitor, and the way back.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "runtime/internal.hpp"
#include "runtime/launch.hpp"
#include "runtime/runtime.hpp"
#include "state/state.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/report.hpp"

namespace vs::runtime {

using namespace detail;

namespace {

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

}  // namespace

namespace detail {

// Replaces the supervisor of a running guest with vserver-monitor (src/monitor/monitor.cpp),
// which keeps the pid, init as its child and the blocked signals, and executes this binary
// again (resume_supervision) when init has ended. What the supervisor holds while the guest runs
// is then that small static program instead of this process's heap, libraries and page tables.
// Returns only when that cannot be done: the supervisor then goes on as it is.
void become_monitor(const config::Roots& roots, const config::GuestConfig& cfg, pid_t init,
                    bool own_time_namespace) {
  auto path = monitor_path();
  if (!path) {
    report_info(
        fmt::format("vserver {}: note: no vserver-monitor next to this binary or in {}; the "
                    "supervisor stays resident as it is",
                    cfg.name, VSERVER_LIBEXECDIR));
    return;
  }
  // execve would move the monitor into the time namespace made for the guest's processes; it
  // stays in the host's, so that a restart sets the next guest's uptime from the host's clock.
  if (own_time_namespace) {
    UniqueFd own(::open("/proc/self/ns/time", O_RDONLY | O_CLOEXEC));
    if (!own || ::setns(own.get(), CLONE_NEWTIME) != 0) {
      report_info(fmt::format("vserver {}: note: leave the guest's time namespace: {}", cfg.name,
                              std::strerror(errno)));
      return;
    }
  }
  // The monitor executes the binary that started the guest, even if it has been replaced since.
  int exe = ::open("/proc/self/exe", O_RDONLY);  // inherited on purpose: no O_CLOEXEC
  if (exe < 0) {
    report_info(
        fmt::format("vserver {}: note: open /proc/self/exe: {}", cfg.name, std::strerror(errno)));
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
  report_info(fmt::format("vserver {}: note: run {}: {}; the supervisor stays resident as it is",
                          cfg.name, *path, std::strerror(err)));
}

}  // namespace detail

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
    report_info(fmt::format("vserver {}: stopped (init exit status {})", name, out.status));
    return out.status;
  }
  finish_run(roots, *st, name, out);
  // The supervision signals stay blocked until the run has been cleaned up, as in supervise().
  sigset_t set = supervision_signals();
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  if (!cfg) {
    if (out.end == InitEnd::reboot && !out.stop_requested) {
      report_warning(fmt::format("vserver {}: not restarted: {}", name, cfg_error));
    }
    return out.status;
  }
  return restart_runs(roots, *cfg, st->context, out, true);
}

}  // namespace vs::runtime
