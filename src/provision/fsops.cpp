// Safe file operations inside a guest root under construction and running commands for the build
// methods.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <map>

#include "provision/build.hpp"
#include "provision/internal.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"
#include "sys/process.hpp"

namespace vs::provision {

namespace detail {

// ---- the root filesystem under construction ------------------------------------------------

std::vector<std::string> components(std::string_view rel) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= rel.size()) {
    std::size_t slash = rel.find('/', pos);
    if (slash == std::string_view::npos) slash = rel.size();
    std::string_view c = rel.substr(pos, slash - pos);
    if (c == "..") throw Error("path \"" + std::string(rel) + "\" contains \"..\"");
    if (!c.empty() && c != ".") out.emplace_back(c);
    pos = slash + 1;
  }
  return out;
}

std::optional<std::vector<std::string>> clean_entry_name(std::string_view name) {
  if (!name.empty() && name.front() == '/') return std::nullopt;
  try {
    return components(name);
  } catch (const Error&) {
    return std::nullopt;
  }
}

namespace {

UniqueFd dup_fd(int fd, std::string_view what) {
  int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (d < 0) throw_errno("duplicate fd of", what);
  return UniqueFd(d);
}

std::string join(const std::vector<std::string>& comps, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) s += '/';
    s += comps[i];
  }
  return s;
}

}  // namespace

UniqueFd open_dir_in(const Root& root, std::string_view rel, bool create, mode_t mode,
                     bool lenient) {
  auto comps = components(rel);
  UniqueFd cur = dup_fd(root.fd.get(), root.path.string());
  for (std::size_t i = 0; i < comps.size(); ++i) {
    const std::string& c = comps[i];
    fs::path where = root.path / join(comps, i + 1);
    int fd = ::openat(cur.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      bool made = ::mkdirat(cur.get(), c.c_str(), 0700) == 0;
      if (!made && errno != EEXIST) throw_errno("create directory", where.string());
      fd = ::openat(cur.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      // The mode is set explicitly so that the umask does not matter.
      mode_t want = i + 1 == comps.size() ? mode : 0755;
      if (fd >= 0 && made && ::fchmod(fd, want) != 0) {
        int err = errno;
        ::close(fd);
        throw_errno("chmod", where.string(), err);
      }
    }
    if (fd < 0) {
      int err = errno;
      if (lenient && (err == ELOOP || err == ENOTDIR || err == ENOENT)) return UniqueFd();
      if (err == ELOOP || err == ENOTDIR) {
        throw Error("open directory " + where.string() +
                    ": not a directory (symbolic links are not followed in a guest root)");
      }
      throw_errno("open directory", where.string(), err);
    }
    cur.reset(fd);
  }
  return cur;
}

void write_file_in(const Root& root, std::string_view rel, std::string_view content, mode_t mode) {
  auto comps = components(rel);
  if (comps.empty()) throw Error("write " + root.path.string() + ": no file name");
  UniqueFd dir = open_dir_in(root, join(comps, comps.size() - 1), true);
  const std::string& base = comps.back();
  fs::path where = root.path / join(comps, comps.size());
  // A new inode renamed over the old name: never writes through a symlink or into a file that
  // is hard-linked elsewhere.
  std::string tmp = "." + base + ".vs-new-" + std::to_string(::getpid());
  int fd =
      ::openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw_errno("create", (root.path / join(comps, comps.size() - 1) / tmp).string());
  UniqueFd f(fd);
  try {
    write_all(f.get(), content, where.string());
    if (::fchmod(f.get(), mode) != 0) throw_errno("chmod", where.string());
    if (::renameat(dir.get(), tmp.c_str(), dir.get(), base.c_str()) != 0) {
      throw_errno("rename into place", where.string());
    }
  } catch (...) {
    ::unlinkat(dir.get(), tmp.c_str(), 0);
    throw;
  }
}

bool symlink_in(const Root& root, std::string_view rel, const std::string& target) {
  auto comps = components(rel);
  if (comps.empty()) throw Error("symlink in " + root.path.string() + ": no file name");
  UniqueFd dir = open_dir_in(root, join(comps, comps.size() - 1), true);
  if (::symlinkat(target.c_str(), dir.get(), comps.back().c_str()) != 0) {
    if (errno == EEXIST) return false;
    throw_errno("symlink " + target + " at", (root.path / join(comps, comps.size())).string());
  }
  return true;
}

const std::vector<StdDir>& standard_dirs() {
  static const std::vector<StdDir> dirs = {
      {"bin", 0755},     {"boot", 0755},      {"dev", 0755},       {"dev/pts", 0755},
      {"etc", 0755},     {"home", 0755},      {"lib", 0755},       {"media", 0755},
      {"mnt", 0755},     {"opt", 0755},       {"proc", 0555},      {"root", 0700},
      {"run", 0755},     {"sbin", 0755},      {"srv", 0755},       {"sys", 0555},
      {"tmp", 01777},    {"usr", 0755},       {"usr/bin", 0755},   {"usr/sbin", 0755},
      {"usr/lib", 0755}, {"var", 0755},       {"var/log", 0755},   {"var/tmp", 01777},
      {"var/lib", 0755}, {"var/cache", 0755}, {"var/spool", 0755},
  };
  return dirs;
}

void make_standard_dirs(const Root& root, bool lenient) {
  for (const auto& d : standard_dirs()) open_dir_in(root, d.path, true, d.mode, lenient);
}

std::string hosts_file(const std::string& hostname) {
  std::string names = hostname;
  std::size_t dot = hostname.find('.');
  if (dot != std::string::npos && dot > 0)
    fmt::format_to(std::back_inserter(names), " {}", hostname.substr(0, dot));
  return "127.0.0.1\tlocalhost\n"
         "127.0.1.1\t" +
         names +
         "\n"
         "\n"
         "::1\tlocalhost ip6-localhost ip6-loopback\n"
         "ff02::1\tip6-allnodes\n"
         "ff02::2\tip6-allrouters\n";
}

// ---- commands -------------------------------------------------------------------------------

namespace {

// Waits for a build command and returns its raw wait status; kills it when the build is
// interrupted meanwhile. The interrupting signals are blocked except inside ppoll, so one that
// arrives before the wait cannot be missed.
int wait_interruptible(ChildProcess& child) {
  const pid_t pid = child.pid();
  sigset_t block;
  sigemptyset(&block);
  for (int sig : kInterruptSignals) sigaddset(&block, sig);
  sigset_t old;
  if (::pthread_sigmask(SIG_BLOCK, &block, &old) != 0) throw Error("block signals failed");
  struct Restore {
    sigset_t mask;
    ~Restore() { ::pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
  } restore{old};
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  for (;;) {
    if (interrupted()) ::kill(pid, SIGKILL);
    if (!pidfd) break;  // no pidfd (old kernel): waitpid below, signals noticed after it
    struct pollfd p {
      pidfd.get(), POLLIN, 0
    };
    int r = ::ppoll(&p, 1, nullptr, &old);
    if (r > 0) break;
    if (r < 0 && errno != EINTR) throw_errno("wait for process", std::to_string(pid));
  }
  return child.wait_status("process " + std::to_string(pid));
}

std::string command_line(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

}  // namespace

namespace {

// Runs argv (see run_command) and returns its raw wait status; its standard output goes to out
// when capture_out is set, its standard error to err when capture_err is set (both read as they
// come, so neither pipe fills up).
int spawn(const std::vector<std::string>& argv, const fs::path& cwd,
          const std::vector<std::string>& env, bool capture_out, bool capture_err, std::string& out,
          std::string& err) {
  if (argv.empty()) throw Error("run: empty command");
  std::string cmd = command_line(argv);

  // Everything the child needs is prepared before fork.
  std::map<std::string, std::string> vars;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv = *e;
    std::size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    vars[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (const auto& kv : env) {
    std::size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      throw Error(std::string("run ").append(cmd).append(": bad environment entry ").append(kv));
    }
    vars[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  std::vector<std::string> env_strings;
  env_strings.reserve(vars.size());
  for (const auto& [k, v] : vars) {
    std::string entry = k;
    entry += '=';
    entry += v;
    env_strings.push_back(std::move(entry));
  }
  std::vector<char*> cenv;
  cenv.reserve(env_strings.size() + 1);
  for (auto& s : env_strings) cenv.push_back(s.data());
  cenv.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  cargv.reserve(args.size() + 1);
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  int errpipe[2];
  if (::pipe2(errpipe, O_CLOEXEC) != 0) throw_errno("create pipe for", cmd);
  UniqueFd exec_r(errpipe[0]), exec_w(errpipe[1]);
  std::array<UniqueFd, 2> out_pipe, err_pipe;  // read end, write end
  for (auto [want, pipe] : {std::pair{capture_out, &out_pipe}, std::pair{capture_err, &err_pipe}}) {
    if (!want) continue;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("create pipe for", cmd);
    (*pipe)[0].reset(fds[0]);
    (*pipe)[1].reset(fds[1]);
  }

  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork for", cmd);
  if (pid == 0) {
    // Child: only async-signal-safe calls from here.
    int e = 0;
    if ((capture_out && ::dup2(out_pipe[1].get(), STDOUT_FILENO) < 0) ||
        (capture_err && ::dup2(err_pipe[1].get(), STDERR_FILENO) < 0) ||
        ::chdir(cwd.c_str()) != 0) {
      e = errno;
    } else {
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execvpe(cargv[0], cargv.data(), cenv.data());
      e = errno;
    }
    ssize_t n = ::write(exec_w.get(), &e, sizeof e);
    (void)n;
    ::_exit(127);
  }
  ChildProcess child(pid);
  exec_w.reset();
  out_pipe[1].reset();
  err_pipe[1].reset();

  std::array<std::pair<UniqueFd*, std::string*>, 2> streams{
      {{&out_pipe[0], &out}, {&err_pipe[0], &err}}};
  for (;;) {
    std::array<struct pollfd, 2> p{};
    nfds_t n = 0;
    std::array<std::size_t, 2> which{};
    for (std::size_t i = 0; i < streams.size(); ++i) {
      if (!*streams[i].first) continue;
      p[n] = {streams[i].first->get(), POLLIN, 0};
      which[n++] = i;
    }
    if (n == 0) break;
    if (::poll(p.data(), n, -1) < 0) {
      if (errno != EINTR) throw_errno("wait for the output of", cmd);
      if (interrupted()) ::kill(child.pid(), SIGKILL);
      continue;
    }
    for (nfds_t k = 0; k < n; ++k) {
      if (p[k].revents == 0) continue;
      auto& [fd, text] = streams[which[k]];
      std::array<char, 8192> buf{};
      ssize_t r = ::read(fd->get(), buf.data(), buf.size());
      if (r < 0) {
        if (errno == EINTR) continue;
        throw_errno("read output of", cmd);
      }
      if (r == 0) {
        fd->reset();
        continue;
      }
      text->append(buf.data(), static_cast<std::size_t>(r));
    }
  }
  int exec_errno = 0;
  ssize_t n;
  while ((n = ::read(exec_r.get(), &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
  }
  int status = wait_interruptible(child);
  check_interrupted();
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    throw_errno("execute", argv[0] + " (in " + cwd.string() + ")", exec_errno);
  }
  return status;
}

}  // namespace

std::string run_command(const std::vector<std::string>& argv, const fs::path& cwd,
                        const std::vector<std::string>& env, bool capture) {
  std::string out, err;
  int status = spawn(argv, cwd, env, capture, false, out, err);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return out;
  std::string cmd = command_line(argv);
  if (WIFSIGNALED(status)) {
    throw Error(cmd + " was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
                ::strsignal(WTERMSIG(status)) + ")");
  }
  throw Error(cmd + " exited with status " + std::to_string(WEXITSTATUS(status)));
}

CommandResult run_command_result(const std::vector<std::string>& argv, const fs::path& cwd) {
  CommandResult r;
  std::string out;
  r.status = spawn(argv, cwd, {}, false, true, out, r.errors);
  return r;
}

}  // namespace detail
}  // namespace vs::provision
