// start, stop and exec in a process of the vserver binary of their own (runtime.hpp, Launcher).
//
// The daemon is multi-threaded: after fork(2) its child may call only async-signal-safe
// functions, while a start runs the whole library (allocations, stdio, the configuration) between
// fork and the guest's execve, and setns(2) into a mount namespace is refused to a multi-threaded
// process. So the daemon's calls run the vserver binary as "vserver-helper" with posix_spawn (no
// code of ours runs between the child's creation and its execve), which does the work as the
// command line would, single-threaded. The guest's supervisor is then the vserver binary too,
// which it re-executes when the guest's init ends (resume_supervision).
//
// The request is the helper's arguments; its result is one JSON object on its descriptor 3:
//   {"ok": true, "value": N}  or  {"ok": false, "kind": "error"|"already-running"|"not-running",
//                                  "message": TEXT, "errno": N}
// Everything it writes on its standard output and error (the scripts' output, warnings) goes, line
// by line, to the calling thread's report sink.
#include "runtime/helper.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "config/config.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/file.hpp"
#include "sys/json.hpp"
#include "sys/process.hpp"
#include "sys/report.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): unistd.h declares it only with
                        // _GNU_SOURCE

#ifndef VSERVER_SBINDIR
#define VSERVER_SBINDIR "/usr/sbin"
#endif

namespace vs::runtime {

namespace {

constexpr int kResultFd = 3;

std::atomic<Launcher> g_launcher{Launcher::helper};
std::mutex g_binary_mutex;
std::filesystem::path g_binary;  // guarded by g_binary_mutex

std::filesystem::path helper_binary() {
  std::lock_guard<std::mutex> lock(g_binary_mutex);
  return g_binary.empty() ? std::filesystem::path(VSERVER_SBINDIR "/vserver") : g_binary;
}

const char* tty_name(Tty t) {
  switch (t) {
    case Tty::automatic:
      return "automatic";
    case Tty::always:
      return "always";
    case Tty::never:
      return "never";
  }
  return "never";
}

}  // namespace

void set_launcher(Launcher launcher, const std::filesystem::path& binary) {
  std::lock_guard<std::mutex> lock(g_binary_mutex);
  g_binary = binary;
  g_launcher.store(launcher);
}

namespace detail {

std::vector<std::string> helper_args(const HelperRequest& r) {
  std::vector<std::string> a;
  switch (r.action) {
    case HelperRequest::Action::start:
      a = {"start", r.guest};
      if (r.start.foreground) a.emplace_back("--foreground");
      break;
    case HelperRequest::Action::stop:
      a = {"stop", r.guest};
      if (r.stop.timeout) {
        a.emplace_back("--timeout");
        a.push_back(std::to_string(*r.stop.timeout));
      }
      break;
    case HelperRequest::Action::exec:
      a = {"exec", r.guest, "--user", r.exec.user, "--tty", tty_name(r.exec.tty)};
      if (r.exec.login) a.emplace_back("--login");
      for (const auto& e : r.exec.environment) {
        a.emplace_back("--env");
        a.push_back(e);
      }
      a.emplace_back("--");
      a.insert(a.end(), r.exec.argv.begin(), r.exec.argv.end());
      break;
  }
  return a;
}

HelperRequest parse_helper_args(const std::vector<std::string>& args) {
  if (args.size() < 2) throw Error("vserver-helper: expected ACTION GUEST [OPTIONS]");
  HelperRequest r;
  const std::string& action = args[0];
  r.guest = args[1];
  if (!config::valid_guest_name(r.guest)) {
    throw Error("vserver-helper: invalid guest name '" + r.guest + "'");
  }
  auto value = [&](std::size_t& i) -> const std::string& {
    if (i + 1 >= args.size()) throw Error("vserver-helper: " + args[i] + " needs a value");
    return args[++i];
  };
  if (action == "start") {
    r.action = HelperRequest::Action::start;
    for (std::size_t i = 2; i < args.size(); ++i) {
      if (args[i] != "--foreground") throw Error("vserver-helper start: unknown option " + args[i]);
      r.start.foreground = true;
    }
  } else if (action == "stop") {
    r.action = HelperRequest::Action::stop;
    for (std::size_t i = 2; i < args.size(); ++i) {
      if (args[i] != "--timeout") throw Error("vserver-helper stop: unknown option " + args[i]);
      const std::string& v = value(i);
      std::size_t used = 0;
      int t = -1;
      try {
        t = std::stoi(v, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != v.size() || t < 0) throw Error("vserver-helper stop: invalid timeout " + v);
      r.stop.timeout = t;
    }
  } else if (action == "exec") {
    r.action = HelperRequest::Action::exec;
    std::size_t i = 2;
    for (; i < args.size() && args[i] != "--"; ++i) {
      if (args[i] == "--user") {
        r.exec.user = value(i);
      } else if (args[i] == "--tty") {
        const std::string& v = value(i);
        if (v == "automatic") {
          r.exec.tty = Tty::automatic;
        } else if (v == "always") {
          r.exec.tty = Tty::always;
        } else if (v == "never") {
          r.exec.tty = Tty::never;
        } else {
          throw Error("vserver-helper exec: invalid --tty " + v);
        }
      } else if (args[i] == "--login") {
        r.exec.login = true;
      } else if (args[i] == "--env") {
        r.exec.environment.push_back(value(i));
      } else {
        throw Error("vserver-helper exec: unknown option " + args[i]);
      }
    }
    if (i >= args.size()) throw Error("vserver-helper exec: no '--' before the command");
    r.exec.argv.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
    if (r.exec.argv.empty()) throw Error("vserver-helper exec: no command given");
  } else {
    throw Error("vserver-helper: unknown action '" + action + "'");
  }
  return r;
}

bool use_helper(const ExecOptions* exec) {
  if (g_launcher.load() == Launcher::helper) return true;
  if (exec != nullptr && (exec->stdin_fd != 0 || exec->stdout_fd != 1 || exec->stderr_fd != 2)) {
    return true;
  }
  if (int n = thread_count(); n > 1) {
    throw Error(fmt::format(
        "this process has {} threads: guests are started, stopped and joined in process only by "
        "a single-threaded vserver binary (set_launcher(Launcher::helper) for any other)",
        n));
  }
  return false;
}

namespace {

// The configuration a helper would read is the caller's: otherwise the helper would act on
// another one without a word.
void check_tree_matches(const config::Roots& roots, const config::GuestConfig& cfg,
                        std::string_view what) {
  config::GuestConfig tree;
  try {
    tree = config::load_guest(roots, cfg.id());
  } catch (const Error& e) {
    rethrow_with_context(e, fmt::format("{} of guest {}", what, cfg.name));
  }
  if (tree != cfg) {
    throw Error(fmt::format(
        "{} of guest {}: the configuration given is not the one in {}; the vserver helper acts on "
        "the configuration the tree holds: write it there first",
        what, cfg.name, (roots.config / cfg.id()).string()));
  }
}

std::vector<std::string> helper_environment(const config::Roots& roots) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view v(*e);
    if (v.starts_with("VSERVER_CONFIG_ROOT=") || v.starts_with("VSERVER_VDIR_ROOT=") ||
        v.starts_with("VSERVER_RUN_ROOT=") || v.starts_with("VSERVER_LOG_ROOT=")) {
      continue;
    }
    env.emplace_back(v);
  }
  env.push_back("VSERVER_CONFIG_ROOT=" + roots.config.string());
  env.push_back("VSERVER_VDIR_ROOT=" + roots.vdir.string());
  env.push_back("VSERVER_RUN_ROOT=" + roots.run.string());
  env.push_back("VSERVER_LOG_ROOT=" + roots.log.string());
  return env;
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Pipe make_pipe(const std::string& what) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw_errno("pipe", what);
  return {UniqueFd(p[0]), UniqueFd(p[1])};
}

// The output of the helper, a line at a time, to the report sink.
void report_lines(std::string& pending, bool flush_all) {
  std::size_t start = 0;
  for (std::size_t nl = pending.find('\n'); nl != std::string::npos;
       nl = pending.find('\n', start)) {
    std::string_view line(pending.data() + start, nl - start);
    report(line.find(": warning: ") != std::string_view::npos ? Severity::warning : Severity::info,
           line);
    start = nl + 1;
  }
  pending.erase(0, start);
  if (flush_all && !pending.empty()) {
    report(Severity::info, pending);
    pending.clear();
  }
}

// Runs the helper for request with the given descriptors as its 0, 1 and 2 and returns its
// result's value; throws its error. output, when there is one, is the pipe the helper's output
// goes into (its write end among stdio): read to the report sink.
std::int64_t run_helper(const config::Roots& roots, const HelperRequest& request,
                        std::vector<std::pair<int, int>> stdio, Pipe* output,
                        const std::string& what) {
  Pipe result = make_pipe(what);
  stdio.emplace_back(result.write.get(), kResultFd);
  std::vector<std::string> argv{"vserver-helper"};
  for (auto& a : helper_args(request)) argv.push_back(std::move(a));
  std::filesystem::path binary = helper_binary();
  ChildProcess child = spawn_program(binary, argv, helper_environment(roots), stdio, what);
  // The helper (and what it leaves running) hold the write ends now: their closing is our EOF.
  result.write.reset();
  if (output != nullptr) output->write.reset();
  std::string json;
  std::string pending;
  std::string tail;  // the end of its output, for an error without a result
  pollfd fds[2] = {{result.read.get(), POLLIN, 0},
                   {output != nullptr ? output->read.get() : -1, POLLIN, 0}};
  bool open[2] = {true, output != nullptr};
  char buf[4096];
  while (open[0] || open[1]) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll", what);
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;
        open[i] = false;
        continue;
      }
      if (i == 0) {
        json.append(buf, static_cast<std::size_t>(n));
      } else {
        pending.append(buf, static_cast<std::size_t>(n));
        tail.append(buf, static_cast<std::size_t>(n));
        if (tail.size() > 2048) tail.erase(0, tail.size() - 2048);
        report_lines(pending, false);
      }
    }
  }
  report_lines(pending, true);
  int status = child.wait(what);
  json::Json r;
  try {
    r = json::Json::parse(json);
  } catch (const json::Json::exception&) {
    while (!tail.empty() && tail.back() == '\n') tail.pop_back();
    throw Error(fmt::format("{}: {} ended with status {} without a result{}{}", what,
                            binary.string(), status, tail.empty() ? "" : ": ", tail));
  }
  try {
    json::require_object(r, "result");
    if (r.value("ok", false)) return json::integer<std::int64_t>(r, "value");
  } catch (const Error& e) {
    rethrow_with_context(e, what + ": the helper's result");
  }
  std::string message;
  int err = 0;
  std::string kind;
  try {
    message = json::string(r, "message");
    err = json::integer<int>(r, "errno", 0, 4095);
    kind = json::string(r, "kind");
  } catch (const Error& e) {
    rethrow_with_context(e, what + ": the helper's result");
  }
  if (kind == "already-running") throw AlreadyRunning(message, err);
  if (kind == "not-running") throw NotRunning(message, err);
  throw Error(message, err);
}

HelperRequest request_for(HelperRequest::Action action, const config::GuestConfig& cfg) {
  HelperRequest r;
  r.action = action;
  r.guest = cfg.id();
  return r;
}

// start and stop: no input, their output (the scripts', warnings) to the report sink.
std::int64_t run_quiet_helper(const config::Roots& roots, const HelperRequest& r,
                              const std::string& what) {
  UniqueFd null = open_file("/dev/null", O_RDWR);
  Pipe out = make_pipe(what);
  return run_helper(roots, r, {{null.get(), 0}, {out.write.get(), 1}, {out.write.get(), 2}}, &out,
                    what);
}

}  // namespace

int start_in_helper(const config::Roots& roots, const config::GuestConfig& cfg,
                    const StartOptions& opts) {
  check_tree_matches(roots, cfg, "start");
  HelperRequest r = request_for(HelperRequest::Action::start, cfg);
  r.start = opts;
  return static_cast<int>(run_quiet_helper(roots, r, "start of guest " + cfg.name));
}

bool stop_in_helper(const config::Roots& roots, const config::GuestConfig& cfg,
                    const StopOptions& opts) {
  check_tree_matches(roots, cfg, "stop");
  HelperRequest r = request_for(HelperRequest::Action::stop, cfg);
  r.stop = opts;
  return run_quiet_helper(roots, r, "stop of guest " + cfg.name) != 0;
}

int exec_in_helper(const config::Roots& roots, const config::GuestConfig& cfg,
                   const ExecOptions& opts) {
  if (opts.argv.empty()) throw Error("exec in guest " + cfg.name + ": no command given");
  check_tree_matches(roots, cfg, "exec");
  HelperRequest r = request_for(HelperRequest::Action::exec, cfg);
  r.exec = opts;
  return static_cast<int>(run_helper(roots, r,
                                     {{opts.stdin_fd, 0}, {opts.stdout_fd, 1}, {opts.stderr_fd, 2}},
                                     nullptr, "exec in guest " + cfg.name));
}

}  // namespace detail

namespace {

void write_result(const json::Json& r) {
  std::string text = r.dump();
  try {
    write_all(kResultFd, text, "the helper's result");
  } catch (const Error&) {
    // The caller is gone: nobody is left to tell.
  }
}

}  // namespace

int helper_main(int argc, char** argv) {
  // Descriptor 3 is the caller's result pipe; without it this was not run by the library.
  if (::fcntl(kResultFd, F_SETFD, FD_CLOEXEC) != 0) {
    std::string m = "vserver-helper is run by the vserver library only (descriptor 3: " +
                    errno_message("fcntl", "result pipe", errno) + ")";
    report(Severity::warning, m);
    return 2;
  }
  // This process is the vserver binary, single-threaded: the work runs here.
  set_launcher(Launcher::in_process);
  json::Json r;
  int rc = 1;
  try {
    detail::HelperRequest q =
        detail::parse_helper_args(std::vector<std::string>(argv + 1, argv + argc));
    config::Roots roots = config::Roots::from_environment();
    config::GuestConfig cfg = config::load_guest(roots, q.guest);
    std::int64_t value = 0;
    switch (q.action) {
      case detail::HelperRequest::Action::start:
        value = start(roots, cfg, q.start);
        break;
      case detail::HelperRequest::Action::stop:
        value = stop(roots, cfg, q.stop) ? 1 : 0;
        break;
      case detail::HelperRequest::Action::exec:
        q.exec.join_caller = true;  // this process ends with the command
        value = exec(roots, cfg, q.exec);
        break;
    }
    r = {{"ok", true}, {"value", value}};
    rc = 0;
  } catch (const AlreadyRunning& e) {
    r = {{"ok", false}, {"kind", "already-running"}, {"message", e.what()}, {"errno", e.code()}};
  } catch (const NotRunning& e) {
    r = {{"ok", false}, {"kind", "not-running"}, {"message", e.what()}, {"errno", e.code()}};
  } catch (const Error& e) {
    r = {{"ok", false}, {"kind", "error"}, {"message", e.what()}, {"errno", e.code()}};
  } catch (const std::exception& e) {
    r = {{"ok", false}, {"kind", "error"}, {"message", e.what()}, {"errno", 0}};
  }
  write_result(r);
  return rc;
}

}  // namespace vs::runtime
