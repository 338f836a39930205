// Interruption, safe file operations inside a guest root under construction, tree removal and
// running commands for the build methods.
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

namespace {

std::atomic<bool> g_interrupt{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");

void on_interrupt_signal(int /*sig*/) {
  g_interrupt.store(true);
}

constexpr std::array<int, 3> kInterruptSignals = {SIGINT, SIGTERM, SIGHUP};

}  // namespace

void request_interrupt() noexcept {
  g_interrupt.store(true);
}

namespace detail {

bool interrupted() noexcept {
  return g_interrupt.load();
}

void clear_interrupt() noexcept {
  g_interrupt.store(false);
}

void check_interrupted() {
  if (interrupted()) throw Error("build interrupted");
}

InterruptScope::InterruptScope(bool install) {
  if (!install) return;
  struct sigaction sa {};
  sa.sa_handler = on_interrupt_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a wait for a child must notice the signal
  for (std::size_t i = 0; i < kInterruptSignals.size(); ++i) {
    if (::sigaction(kInterruptSignals[i], &sa, &old_[i]) != 0) {
      int err = errno;
      for (std::size_t j = 0; j < i; ++j) ::sigaction(kInterruptSignals[j], &old_[j], nullptr);
      throw_errno("install handler for", ::strsignal(kInterruptSignals[i]), err);
    }
  }
  installed_ = true;
}

InterruptScope::~InterruptScope() {
  if (!installed_) return;
  for (std::size_t i = 0; i < kInterruptSignals.size(); ++i) {
    ::sigaction(kInterruptSignals[i], &old_[i], nullptr);
  }
}

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

// ---- removal ------------------------------------------------------------------------------

namespace {

struct Node {
  dev_t dev = 0;
  ino_t ino = 0;
  std::uint64_t mnt = 0;
  bool has_mnt = false;
  bool is_dir = false;
};

// statx without following a final symlink; errno preserved on failure.
bool node_at(int dirfd, const char* name, Node& out) {
  struct statx stx {};
  int flags = AT_SYMLINK_NOFOLLOW | (name[0] == '\0' ? AT_EMPTY_PATH : 0);
  if (::statx(dirfd, name, flags, STATX_TYPE | STATX_INO | STATX_MNT_ID, &stx) != 0) return false;
  out.dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
  out.ino = stx.stx_ino;
  out.has_mnt = (stx.stx_mask & STATX_MNT_ID) != 0;
  out.mnt = stx.stx_mnt_id;
  out.is_dir = S_ISDIR(stx.stx_mode);
  return true;
}

bool same_mount(const Node& a, const Node& b) {
  if (a.dev != b.dev) return false;
  return !(a.has_mnt && b.has_mnt) || a.mnt == b.mnt;
}

class DirStream {
 public:
  // where() names the directory in messages; it is called only on failure.
  template <typename WhereFn>
  DirStream(int fd, const WhereFn& where) {
    int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d < 0) throw_errno("duplicate descriptor of", where().string());
    dir_ = ::fdopendir(d);
    if (dir_ == nullptr) {
      int err = errno;
      ::close(d);
      throw_errno("open directory", where().string(), err);
    }
    ::rewinddir(dir_);
  }
  DirStream(const DirStream&) = delete;
  DirStream& operator=(const DirStream&) = delete;
  ~DirStream() { ::closedir(dir_); }
  DIR* get() const { return dir_; }

 private:
  DIR* dir_ = nullptr;
};

// Removes the entries of the directory open as dir that are not directories; returns the names of
// its subdirectories.
template <typename WhereFn>
std::vector<std::string> remove_files(int dir, const WhereFn& where_fn) {
  std::vector<std::string> subdirs;
  DirStream ds(dir, where_fn);
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(ds.get());
    if (e == nullptr) {
      if (errno != 0) throw_errno("read directory", where_fn().string());
      break;
    }
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st {};
      if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        throw_errno("stat", (where_fn() / name).string());
      }
      is_dir = S_ISDIR(st.st_mode);
    }
    if (!is_dir) {
      if (::unlinkat(dir, name.c_str(), 0) == 0 || errno == ENOENT) continue;
      if (errno != EISDIR) throw_errno("remove", (where_fn() / name).string());
    }
    subdirs.push_back(std::move(name));
  }
  return subdirs;
}

// Empties the directory open as dir (which lives on mount top), returning an fd of the same
// directory. Iterative, so that the depth of a tree a guest made cannot exhaust the stack, and
// holding one directory fd at a time: going down, the parent's fd is closed; coming back up, it is
// reopened through ".." and checked to be the same directory.
UniqueFd remove_contents(UniqueFd dir, const Node& top, const fs::path& where) {
  struct Level {
    std::vector<std::string> subdirs;
    size_t next = 0;
    std::string name;  // this directory's name in its parent
    Node parent;       // the parent, to check the way back up
  };
  std::vector<Level> stack;
  // The path of the current directory, for messages only: building it at every level would make
  // deep trees quadratic.
  auto path_of = [&](size_t levels) {
    fs::path p = where;
    for (size_t i = 1; i < levels; ++i) p /= stack[i].name;
    return p;
  };
  auto here = [&] { return path_of(stack.size()); };
  stack.push_back({{}, 0, {}, {}});
  stack.back().subdirs = remove_files(dir.get(), here);
  for (;;) {
    Level& level = stack.back();
    if (level.next < level.subdirs.size()) {
      std::string sub = level.subdirs[level.next++];
      Node n;
      if (!node_at(dir.get(), sub.c_str(), n)) {
        if (errno == ENOENT) continue;
        throw_errno("stat", (here() / sub).string());
      }
      if (!same_mount(n, top)) {
        throw Error("remove " + (here() / sub).string() +
                    ": another filesystem is mounted there; unmount it first");
      }
      int cfd = ::openat(dir.get(), sub.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (cfd < 0) throw_errno("open directory", (here() / sub).string());
      UniqueFd child(cfd);
      Node opened;
      if (!node_at(child.get(), "", opened)) throw_errno("stat", (here() / sub).string());
      if (opened.ino != n.ino || !same_mount(opened, top)) {
        throw Error("remove " + (here() / sub).string() + ": changed while being removed");
      }
      Node parent;
      if (!node_at(dir.get(), "", parent)) throw_errno("stat", here().string());
      dir = std::move(child);
      stack.push_back({{}, 0, sub, parent});
      // Listing may fail; the level is on the stack already so that messages name it.
      stack.back().subdirs = remove_files(dir.get(), here);
      continue;
    }
    // This directory is empty now.
    if (stack.size() == 1) return dir;
    int pfd = ::openat(dir.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) throw_errno("open directory", path_of(stack.size() - 1).string());
    UniqueFd back(pfd);
    Node again;
    if (!node_at(back.get(), "", again)) throw_errno("stat", path_of(stack.size() - 1).string());
    const Level& done = stack.back();
    if (again.ino != done.parent.ino || again.dev != done.parent.dev) {
      throw Error("remove " + path_of(stack.size() - 1).string() + ": moved while being removed");
    }
    dir = std::move(back);
    if (::unlinkat(dir.get(), done.name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      throw_errno("remove directory", here().string());
    }
    stack.pop_back();
  }
}

}  // namespace

void remove_tree(const fs::path& path) {
  fs::path p = path.lexically_normal();
  if (p.has_filename() == false) p = p.parent_path();
  std::string name = p.filename().string();
  if (name.empty() || name == "." || name == ".." || name == "/") {
    throw Error("remove " + path.string() + ": refusing to remove this path");
  }
  fs::path parent = p.has_parent_path() ? p.parent_path() : fs::path(".");
  int pfd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (pfd < 0) {
    if (errno == ENOENT) return;
    throw_errno("open directory", parent.string());
  }
  UniqueFd pdir(pfd);
  Node top;
  if (!node_at(pdir.get(), name.c_str(), top)) {
    if (errno == ENOENT) return;
    throw_errno("stat", p.string());
  }
  if (!top.is_dir) {
    if (::unlinkat(pdir.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
      throw_errno("remove", p.string());
    }
    return;
  }
  int dfd = ::openat(pdir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) throw_errno("open directory", p.string());
  UniqueFd dir(dfd);
  Node opened;
  if (!node_at(dir.get(), "", opened)) throw_errno("stat", p.string());
  if (opened.ino != top.ino || opened.dev != top.dev) {
    throw Error("remove " + p.string() + ": changed while being removed");
  }
  dir = remove_contents(std::move(dir), opened, p);
  dir.reset();
  if (::unlinkat(pdir.get(), name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    throw_errno("remove directory", p.string());
  }
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  try {
    remove_tree(path_);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vserver: warning: could not remove %s: %s\n", path_.c_str(), e.what());
  }
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
