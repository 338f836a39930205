// util-vserver's scriptlets (execScriptlets in its vserver.functions), run with posix_spawn so
// that nothing of this process runs between the fork and the program.
#include "runtime/scripts.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <system_error>

#include <fmt/format.h>

#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/process.hpp"

namespace vs::runtime {

namespace {

bool is_regular(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// scripts/FLAVOUR, then the regular files of scripts/FLAVOUR.d in name order (the shell's glob
// order in the C locale).
std::vector<fs::path> scripts_in(const fs::path& dir, Scriptlet s) {
  std::vector<fs::path> out;
  std::string name(to_string(s));
  if (is_regular(dir / name)) out.push_back(dir / name);
  std::vector<fs::path> parts;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir / (name + ".d"), ec)) {
    if (e.path().filename().string().front() != '.' && is_regular(e.path())) {
      parts.push_back(e.path());
    }
  }
  std::sort(parts.begin(), parts.end());
  out.insert(out.end(), parts.begin(), parts.end());
  return out;
}

bool runs_in_cfgdir(Scriptlet s) {
  return s == Scriptlet::initialize || s == Scriptlet::prepre_start;
}

// This process's environment with the guest's variables set.
std::vector<std::string> script_environment(const ScriptTarget& t) {
  std::map<std::string, std::string> set{
      {"VSERVER_NAME", t.name}, {"VSERVER_DIR", t.cfgdir.string()}, {"VDIR", t.vdir.string()}};
  if (t.context) set["S_CONTEXT"] = std::to_string(*t.context);
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    auto eq = entry.find('=');
    if (eq != std::string_view::npos && set.count(std::string(entry.substr(0, eq))) != 0) continue;
    if (eq != std::string_view::npos && entry.substr(0, eq) == "S_CONTEXT") continue;
    env.emplace_back(entry);
  }
  for (const auto& [k, v] : set) env.push_back(k + "=" + v);
  return env;
}

// Runs one scriptlet to its end. Returns whether a sourced one set DONT_SKIP_DEFAULTS.
bool run_one(const fs::path& file, const ScriptTarget& t, Scriptlet s, int out_fd, int err_fd) {
  std::string flavour(to_string(s));
  bool executable = ::access(file.c_str(), X_OK) == 0;
  // A sourced script reports DONT_SKIP_DEFAULTS on descriptor 3.
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno("pipe", "scriptlet " + file.string());
  UniqueFd report_read(p[0]);
  UniqueFd report_write(p[1]);
  std::vector<std::string> argv;
  if (executable) {
    argv = {file.string(), flavour, t.name};
  } else {
    argv = {"/bin/sh",
            "-c",
            ". \"$0\"; rc=$?; [ -z \"${DONT_SKIP_DEFAULTS-}\" ] || echo 1 >&3; exit $rc",
            file.string(),
            flavour,
            t.name};
  }
  std::vector<std::string> env = script_environment(t);
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  for (auto& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  fs::path cwd = runs_in_cfgdir(s) ? t.cfgdir : t.vdir;
  // fork, then only async-signal-safe calls before execve. Not posix_spawn: its CLONE_VM child is
  // refused (EINVAL) in a supervisor whose children go into the guest's time namespace.
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", flavour + " script " + file.string());
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) (void)::sigaction(sig, &dfl, nullptr);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Standard output and error first: either may be descriptor 3 now.
    if ((out_fd >= 0 && ::dup2(out_fd, 1) < 0) || (err_fd >= 0 && ::dup2(err_fd, 2) < 0)) {
      ::_exit(126);
    }
    int report = report_write.get();
    bool report_ok = report == 3 ? ::fcntl(3, F_SETFD, 0) == 0 : ::dup2(report, 3) == 3;
    if (!report_ok || ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execve(cargv[0], cargv.data(), cenv.data());
    ::_exit(errno == ENOENT ? 127 : 126);
  }
  report_write.reset();
  ChildProcess child(pid);
  int status = child.wait(flavour + " script " + file.string());
  if (status != 0) {
    throw Error(
        fmt::format("{} script {} failed (exit status {})", flavour, file.string(), status));
  }
  char c = 0;
  return ::read(report_read.get(), &c, 1) == 1;
}

}  // namespace

std::string_view to_string(Scriptlet s) {
  switch (s) {
    case Scriptlet::initialize:
      return "initialize";
    case Scriptlet::prepre_start:
      return "prepre-start";
    case Scriptlet::pre_start:
      return "pre-start";
    case Scriptlet::post_start:
      return "post-start";
    case Scriptlet::pre_stop:
      return "pre-stop";
    case Scriptlet::post_stop:
      return "post-stop";
    case Scriptlet::postpost_stop:
      return "postpost-stop";
  }
  return "?";
}

ScriptletFiles find_scriptlets(const config::Roots& roots, const fs::path& cfgdir, Scriptlet s) {
  // Absolute, as sh's "." looks a name without a slash up in PATH.
  return {scripts_in(fs::absolute(cfgdir / "scripts"), s),
          scripts_in(fs::absolute(roots.defaults_dir() / "scripts"), s)};
}

void run_scriptlets(const config::Roots& roots, const ScriptTarget& target, Scriptlet s, int out_fd,
                    int err_fd) {
  ScriptletFiles files = find_scriptlets(roots, target.cfgdir, s);
  bool dont_skip_defaults = false;
  for (const auto& f : files.guest) {
    dont_skip_defaults = run_one(f, target, s, out_fd, err_fd) || dont_skip_defaults;
  }
  if (!files.guest.empty() && !dont_skip_defaults) return;
  for (const auto& f : files.defaults) run_one(f, target, s, out_fd, err_fd);
}

std::vector<std::string> scriptlet_notes(const config::Roots& roots, const fs::path& cfgdir) {
  std::vector<std::string> notes;
  std::string names;
  for (Scriptlet s : kAllScriptlets)
    names += (names.empty() ? "" : ", ") + std::string(to_string(s));
  for (const fs::path& dir : {cfgdir / "scripts", roots.defaults_dir() / "scripts"}) {
    std::error_code ec;
    std::vector<fs::path> entries;
    for (const auto& e : fs::directory_iterator(dir, ec)) entries.push_back(e.path());
    std::sort(entries.begin(), entries.end());
    for (const auto& p : entries) {
      std::string n = p.filename().string();
      if (n.front() == '.') continue;
      bool known = false;
      for (Scriptlet s : kAllScriptlets) {
        std::string f(to_string(s));
        if (n == f || n == f + ".d") known = true;
      }
      if (!known) {
        notes.push_back(p.string() + ": never runs: not a scriptlet name (" + names + ", or " +
                        "NAME.d/ for several)");
      }
    }
  }
  return notes;
}

}  // namespace vs::runtime
