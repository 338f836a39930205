// vserver NAME build / delete (util-vserver.md §2.1): options, context allocation, the temporary
// directories a build works in, moving the result into place, and deletion.
#include "provision/build.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <iterator>

#include "config/capabilities.hpp"
#include "config/config.hpp"
#include "provision/internal.hpp"
#include "provision/method.hpp"
#include "runtime/runtime.hpp"
#include "state/state.hpp"
#include "storage/base.hpp"
#include "storage/image.hpp"
#include "storage/layout.hpp"
#include "storage/overlay.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"
#include "sys/process.hpp"
#include "sys/tree.hpp"

namespace vs::provision {

namespace {

constexpr std::array<std::pair<Method, const char*>, 7> kMethods = {{
    {Method::skeleton, "skeleton"},
    {Method::archive, "template"},
    {Method::clone, "clone"},
    {Method::busybox, "busybox"},
    {Method::base, "base"},
    {Method::debootstrap, "debootstrap"},
    {Method::rsync, "rsync"},
}};

}  // namespace

namespace detail {

config::Roots absolute_roots(const config::Roots& r) {
  config::Roots a = r;
  a.config = absolute_path(r.config);
  a.vdir = absolute_path(r.vdir);
  a.run = absolute_path(r.run);
  a.log = absolute_path(r.log);
  return a;
}

std::string quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

// Whether an executable named cmd is in PATH (as execvp would find it).
bool in_path(std::string_view cmd) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  for (std::size_t pos = 0; pos <= dirs.size();) {
    std::size_t colon = std::min(dirs.find(':', pos), dirs.size());
    std::string_view dir = dirs.substr(pos, colon - pos);
    fs::path file = fs::path(dir.empty() ? "." : std::string(dir)) / std::string(cmd);
    if (::access(file.c_str(), X_OK) == 0) return true;
    pos = colon + 1;
  }
  return false;
}

// util-vserver copies these from .defaults/files into new guests (§2.1, build step 4).
constexpr std::array<const char*, 8> kDefaultFiles = {"hosts",     "nsswitch.conf", "krb5.conf",
                                                      "krb.conf",  "krb.realms",    "ldap.conf",
                                                      "localtime", "resolv.conf"};

void copy_default_files(const config::Roots& roots, const Root& root) {
  for (const char* f : kDefaultFiles) {
    fs::path src = roots.defaults_dir() / "files" / f;
    if (auto content = read_file_if_exists(src)) {
      write_file_in(root, std::string("etc/") + f, *content);
    }
  }
}

namespace {

// Nameservers of the host's resolv.conf that a guest can reach: loopback resolvers (a local
// caching daemon, systemd-resolved's 127.0.0.53) are the host's own, out of the guest's reach.
std::string guest_resolv_conf() {
  auto host = read_file_if_exists("/etc/resolv.conf");
  std::string out = "# Written by vserver build from the host's /etc/resolv.conf\n";
  bool nameserver = false;
  for (const auto& line : split_lines(host.value_or(""))) {
    std::string_view l = trim(line);
    if (l.rfind("nameserver", 0) == 0) {
      std::string_view addr = trim(l.substr(10));
      if (addr.rfind("127.", 0) == 0 || addr == "::1") continue;
      nameserver = true;
    }
    if (!l.empty() && l[0] != '#') out += std::string(l) + "\n";
  }
  if (!nameserver) {
    out += "# No nameserver: the host's are loopback resolvers, which the guest cannot reach.\n";
  }
  return out;
}

}  // namespace

// /etc/hosts naming the guest's addresses and /etc/resolv.conf, written when the guest has none
// (or, for the methods that wrote a default hosts file themselves, rewritten with the addresses).
void write_network_files(const config::Roots& roots, const Root& root, const std::string& hostname,
                         const std::vector<config::Interface>& interfaces, bool ours) {
  UniqueFd etc = open_dir_in(root, "etc", true, 0755, true);
  if (!etc) return;
  auto absent = [&](const char* f) {
    struct stat st {};
    return ::fstatat(etc.get(), f, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT;
  };
  bool admin_hosts = lexists(roots.defaults_dir() / "files" / "hosts");
  if (absent("hosts") || (ours && !admin_hosts)) {
    std::string hosts = hosts_file(hostname);
    for (const auto& i : interfaces) {
      if (!i.disabled) hosts += i.ip + "\t" + hostname + "\n";
    }
    write_file_in(root, "etc/hosts", hosts);
  }
  if (absent("resolv.conf")) write_file_in(root, "etc/resolv.conf", guest_resolv_conf());
}

// A clone of a guest gets its own name in /etc/hostname when the file held the source's.
void rename_hostname(const Root& root, const std::string& old_name, const std::string& new_name) {
  UniqueFd etc = open_dir_in(root, "etc", false, 0755, true);
  if (!etc) return;
  int fd = ::openat(etc.get(), "hostname", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return;  // absent, or a symlink: not ours to change
  UniqueFd f(fd);
  struct stat st {};
  if (::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 4096) return;
  std::string content = read_fd(f.get());
  if (trim(content) != old_name) return;
  write_file_in(root, "etc/hostname", new_name + "\n", st.st_mode & 07777);
}

}  // namespace detail

using detail::absolute_roots;
using detail::quote;

const char* to_string(Method m) {
  for (const auto& [method, name] : kMethods) {
    if (method == m) return name;
  }
  return "unknown";
}

std::optional<Method> method_from_string(std::string_view s) {
  for (const auto& [method, name] : kMethods) {
    if (s == name) return method;
  }
  return std::nullopt;
}

// ---- helpers --------------------------------------------------------------------------------

namespace {

using detail::Report;

// Creates dir and missing parents; a directory created here gets mode 0755.
void make_root_dir(const fs::path& dir) {
  if (lexists(dir)) return;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw_errno("create directory", dir.string(), ec.value());
  if (::chmod(dir.c_str(), 0755) != 0) throw_errno("chmod", dir.string());
}

// An existing directory (not a symbolic link) that a build can fill in place: empty, or holding
// only the empty lost+found of a freshly made ext2/3/4 filesystem.
constexpr std::string_view kLostFound = "lost+found";

bool empty_directory(const fs::path& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename() != kLostFound || !it->is_directory(ec) || it->is_symlink(ec) ||
        !fs::is_empty(it->path(), ec)) {
      return false;
    }
  }
  return !ec;
}

// A prepared directory being filled in place (a mount point, or a plain empty directory): on
// destruction, unless dismissed, everything the build put in it is removed and its owner and mode
// are put back; the directory itself stays.
class FillGuard {
 public:
  explicit FillGuard(fs::path dir) : dir_(std::move(dir)) {
    if (::lstat(dir_.c_str(), &st_) != 0) throw_errno("stat", dir_.string());
  }
  FillGuard(const FillGuard&) = delete;
  FillGuard& operator=(const FillGuard&) = delete;
  ~FillGuard() {
    if (!active_) return;
    try {
      std::vector<fs::path> entries;
      for (const auto& e : fs::directory_iterator(dir_)) {
        if (e.path().filename() != kLostFound) entries.push_back(e.path());
      }
      for (const auto& e : entries) remove_tree(e);
      if (::lchown(dir_.c_str(), st_.st_uid, st_.st_gid) != 0) throw_errno("chown", dir_.string());
      if (::chmod(dir_.c_str(), st_.st_mode & 07777) != 0) throw_errno("chmod", dir_.string());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "vserver: warning: could not empty %s again: %s\n", dir_.c_str(),
                   e.what());
    }
  }
  void dismiss() { active_ = false; }

 private:
  fs::path dir_;
  struct stat st_ {};
  bool active_ = true;
};

std::string temp_name(std::string_view name) {
  return fmt::format(".{}.build-{}", name, ::getpid());
}

// For ".NAME.build-PID", NAME and PID.
std::optional<std::pair<std::string, pid_t>> parse_temp_name(std::string_view entry) {
  constexpr std::string_view kMark = ".build-";
  if (entry.size() < 2 || entry.front() != '.') return std::nullopt;
  std::size_t mark = entry.rfind(kMark);
  if (mark == std::string_view::npos || mark < 2) return std::nullopt;
  std::string_view digits = entry.substr(mark + kMark.size());
  if (digits.empty() || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::pair{std::string(entry.substr(1, mark - 1)),
                   static_cast<pid_t>(std::stol(std::string(digits)))};
}

// Temporary directories of builds in dir: (entry name, guest name, pid).
struct TempEntry {
  fs::path path;
  std::string name;
  pid_t pid;
};
std::vector<TempEntry> temp_entries(const fs::path& dir) {
  std::vector<TempEntry> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return out;
    throw_errno("open directory", dir.string(), ec.value());
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (auto t = parse_temp_name(it->path().filename().string())) {
      out.push_back({it->path(), t->first, t->second});
    }
  }
  if (ec) throw_errno("read directory", dir.string(), ec.value());
  return out;
}

// Leftovers of builds of this guest whose process is gone (killed, crashed, power cut).
void remove_stale_builds(const config::Roots& roots, std::string_view name) {
  for (const auto& dir : {roots.config, roots.vdir, storage::layers_root(roots)}) {
    for (const auto& t : temp_entries(dir)) {
      // The guest lock is held: a directory of our own pid is a leftover too.
      if (t.name == name && (t.pid == ::getpid() || !process_exists(t.pid))) {
        remove_tree(t.path);
      }
    }
  }
}

// flock on CONFIG_ROOT/.defaults/.context.lock: one context choice at a time.
class ContextLock {
 public:
  explicit ContextLock(const config::Roots& roots) {
    make_root_dir(roots.defaults_dir());
    fs::path file = roots.defaults_dir() / ".context.lock";
    fd_ = open_file(file, O_RDWR | O_CREAT, 0600);
    while (::flock(fd_.get(), LOCK_EX) != 0) {
      if (errno != EINTR) throw_errno("lock", file.string());
      check_interrupted();
    }
  }

 private:
  UniqueFd fd_;
};

std::optional<int> parse_context(std::string_view text) {
  text = trim(text.substr(0, text.find('\n')));
  if (text.empty() || text.size() > 6 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  int v = std::stoi(std::string(text));
  if (v < config::kMinContext || v > config::kMaxContext) return std::nullopt;
  return v;
}

// Context ids in use → who uses them: existing guests (but not `except`, which is being
// replaced) and builds in progress. Called with the context lock held.
std::map<int, std::string> used_contexts(const config::Roots& roots, std::string_view except) {
  std::map<int, std::string> used;
  for (const auto& g : config::list_guests(roots)) {
    if (g == except) continue;
    config::GuestConfig cfg;
    try {
      config::check_guest(roots, g, cfg);  // problems elsewhere in its tree do not matter here
    } catch (const Error&) {
      continue;  // removed meanwhile
    }
    if (cfg.context) used.emplace(*cfg.context, "vserver '" + g + "'");
  }
  for (const auto& t : temp_entries(roots.config)) {
    if (!process_exists(t.pid)) continue;
    std::optional<std::string> text;
    try {
      text = read_file_if_exists(t.path / "context");
    } catch (const Error&) {
      continue;
    }
    if (!text) continue;
    if (auto c = parse_context(*text)) {
      used.emplace(*c, "the build of vserver '" + t.name + "' in progress");
    }
  }
  return used;
}

// util-vserver's allocation: context.next, skipping used ids, wrapping once to 40000.
int pick_context(const config::Roots& roots, const std::map<int, std::string>& used) {
  fs::path next_file = roots.defaults_dir() / "context.next";
  int next = config::kFirstAllocatedContext;
  if (auto text = read_file_if_exists(next_file)) {
    auto v = parse_context(*text);
    if (!v) {
      throw Error(next_file.string() + ": " +
                  quote(trim(std::string_view(*text).substr(0, text->find('\n')))) +
                  " is not a context id (2..49151)");
    }
    next = *v;
  }
  std::optional<int> chosen;
  for (int c = next; c <= config::kMaxContext && !chosen; ++c) {
    if (used.count(c) == 0) chosen = c;
  }
  for (int c = config::kFirstAllocatedContext; c < next && !chosen; ++c) {
    if (used.count(c) == 0) chosen = c;
  }
  if (!chosen) {
    throw Error("no free context id from " + std::to_string(next) + " to " +
                std::to_string(config::kMaxContext) + "; give one with --context");
  }
  int after = *chosen + 1 > config::kMaxContext ? config::kFirstAllocatedContext : *chosen + 1;
  write_file_atomic(next_file, std::to_string(after) + "\n");
  return *chosen;
}

// A hostname for uts/nodename: 1..64 characters of letters, digits, '.', '-', '_', starting with
// a letter or digit.
bool valid_hostname(std::string_view h) {
  if (h.empty() || h.size() > 64) return false;
  if (!std::isalnum(static_cast<unsigned char>(h.front()))) return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_';
  });
}

void validate(const BuildOptions& o) {
  if (!config::valid_guest_name(o.name)) {
    throw Error("invalid vserver name " + quote(o.name) +
                " (1..64 characters of A-Z a-z 0-9 . _ -, not starting with . or -)");
  }
  if (o.context && (*o.context < config::kMinContext || *o.context > config::kMaxContext)) {
    throw Error("context " + std::to_string(*o.context) + " is not in 2..49151");
  }
  if (o.hostname && !valid_hostname(*o.hostname)) {
    throw Error("invalid hostname " + quote(*o.hostname) +
                " (1..64 characters of A-Z a-z 0-9 . - _, starting with a letter or digit)");
  }
  std::set<std::string> ids;
  for (const auto& i : o.interfaces) {
    if (i.id.empty() || i.id.front() == '.' || i.id.find('/') != std::string::npos) {
      throw Error("invalid interface id " + quote(i.id));
    }
    if (!ids.insert(i.id).second) throw Error("interface id " + quote(i.id) + " given twice");
    if (i.family == 0 || i.ip.empty()) throw Error("interface " + i.id + " has no address");
  }
  if (o.cflags) {
    for (const auto& f : *o.cflags) {
      if (!config::known_context_flag(f)) throw Error("unknown context flag " + quote(f));
    }
  }
  if (o.init_style == config::InitStyle::command) {
    throw Error("init style command needs apps/init/cmd.start; build with another style first");
  }
  detail::method_for(o.method).validate(o);
  if (o.method != Method::skeleton && !o.command.empty()) {
    throw Error("only the skeleton method runs a command");
  }
}

std::string backup_suffix(const config::Roots& roots, const std::string& name) {
  for (std::time_t t = std::time(nullptr);; ++t) {
    std::string n = name + "~" + std::to_string(t) + "~";
    if (!lexists(roots.config / n) && !lexists(roots.vdir / n)) return n;
  }
}

void rename_noreplace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
    throw_errno("rename " + from.string() + " to", to.string());
  }
}

// Moves the finished build into place: the layers of a unified guest (tmp_layers, when not
// empty), its root, then its configuration, which makes the guest exist. With force, an existing
// guest is first renamed to NAME~EPOCH~ (util-vserver's backup names), its layers too; on failure
// everything is put back.
void move_into_place(const config::Roots& roots, const std::string& name, const fs::path& tmp_cfg,
                     const fs::path& tmp_vdir, const fs::path& tmp_layers, bool vdir_in_place,
                     const Report& progress) {
  fs::path cfgdir = roots.guest_config_dir(name);
  fs::path vdir = roots.default_vdir(name);
  fs::path layers = storage::layers_dir(roots, name);
  std::vector<std::pair<fs::path, fs::path>> moved;  // (from, to), to undo in reverse
  auto undo = [&]() noexcept {
    for (auto it = moved.rbegin(); it != moved.rend(); ++it) {
      ::renameat2(AT_FDCWD, it->second.c_str(), AT_FDCWD, it->first.c_str(), RENAME_NOREPLACE);
    }
  };
  try {
    if (lexists(cfgdir) || (!vdir_in_place && lexists(vdir))) {
      std::string backup = backup_suffix(roots, name);
      if (lexists(cfgdir)) {
        rename_noreplace(cfgdir, roots.config / backup);
        moved.emplace_back(cfgdir, roots.config / backup);
        // The backup's vdir link follows its root.
        fs::path link = roots.config / backup / "vdir";
        std::error_code ec;
        if (fs::is_symlink(link, ec) && fs::read_symlink(link, ec) == vdir && !ec) {
          fs::path tmp = link;
          tmp += ".new";
          fs::create_symlink(roots.vdir / backup, tmp, ec);
          if (!ec) fs::rename(tmp, link, ec);
        }
      }
      if (!vdir_in_place && lexists(vdir)) {
        rename_noreplace(vdir, roots.vdir / backup);
        moved.emplace_back(vdir, roots.vdir / backup);
      }
      if (lexists(layers)) {
        rename_noreplace(layers, storage::layers_dir(roots, backup));
        moved.emplace_back(layers, storage::layers_dir(roots, backup));
      }
      if (progress) progress("Kept the previous vserver '" + name + "' as " + backup);
    } else if (lexists(layers)) {
      // Layers without a guest: left by a unified build or a unify that died before its end.
      remove_tree(layers);
    }
    if (!tmp_layers.empty()) {
      rename_noreplace(tmp_layers, layers);
      moved.emplace_back(tmp_layers, layers);
    }
    if (!vdir_in_place) {
      rename_noreplace(tmp_vdir, vdir);
      moved.emplace_back(tmp_vdir, vdir);
    }
    rename_noreplace(tmp_cfg, cfgdir);
  } catch (...) {
    undo();
    throw;
  }
}

// New SSH host keys for a clone, made by the guest's own ssh-keygen -A, run once confined as the
// guest's init (no network). A guest without ssh-keygen gets them when its SSH server is
// installed; a failure is a warning: the guest is built, and `vserver NAME exec ssh-keygen -A`
// makes them later.
void regenerate_host_keys(const config::Roots& roots, const std::string& name,
                          const Report& progress, const Report& warning) {
  config::GuestConfig cfg;
  try {
    cfg = config::load_guest(roots, name);
  } catch (const Error& e) {
    if (warning) warning("SSH host keys not regenerated: " + std::string(e.what()));
    return;
  }
  std::string keygen;
  for (const char* p : {"usr/bin/ssh-keygen", "bin/ssh-keygen"}) {
    struct stat st {};
    if (::fstatat(AT_FDCWD, (cfg.vdir / p).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      keygen = std::string("/") + p;
      break;
    }
  }
  if (keygen.empty()) {
    if (progress) progress("No ssh-keygen in the guest: no SSH host keys to make");
    return;
  }
  cfg.init.style = config::InitStyle::command;
  cfg.init.cmd_start = {keygen, "-A"};
  cfg.init.cmd_stop.clear();
  cfg.network = config::NetworkMode::none;
  cfg.interfaces.clear();
  require_single_threaded("making a new guest's SSH host keys");
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", "to make the SSH host keys of vserver " + name);
  if (pid == 0) {
    int rc = 1;
    try {
      runtime::StartOptions so;
      so.foreground = true;
      rc = runtime::start(roots, cfg, so);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "vserver %s: %s\n", name.c_str(), e.what());
    }
    std::fflush(nullptr);
    ::_exit(rc & 0xff);
  }
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) throw_errno("wait for ssh-keygen in vserver", name);
  }
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
    if (progress) progress("Made new SSH host keys with the guest's " + keygen + " -A");
  } else if (warning) {
    warning("SSH host keys not regenerated (" + keygen + " -A failed); run 'vserver " + name +
            " exec ssh-keygen -A' once it runs");
  }
}

}  // namespace

std::pair<std::string, std::string> default_debootstrap_mirror(const config::Roots& roots,
                                                               std::string_view name,
                                                               std::string_view suite) {
  std::vector<fs::path> files;
  if (config::valid_guest_name(name)) {
    files.push_back(roots.guest_config_dir(name) / "apps/debootstrap/mirror");
  }
  if (!suite.empty() && suite.find('/') == std::string_view::npos) {
    files.push_back(roots.config / ".distributions" / std::string(suite) / "debootstrap.mirror");
  }
  files.push_back(roots.defaults_dir() / "apps/debootstrap/mirror");
  for (const auto& f : files) {
    if (auto text = read_file_if_exists(f)) {
      std::string m(trim(*text));
      if (!m.empty()) return {m, f.string()};
    }
  }
  std::string host = host_codename();
  if (auto m = mirror_for_suite(host_apt_sources(), suite, host)) {
    return {*m, "the host's apt sources"};
  }
  throw Error("no mirror for suite " + quote(suite) + ": none in " +
              (roots.defaults_dir() / "apps/debootstrap/mirror").string() +
              " and no apt source of this host serves it; give one with -m MIRROR");
}

// What in a root each init style starts, as the start looks for it (runtime/start.cpp).
struct InitFacts {
  bool rc = false;           // /etc/init.d/rc or /etc/rc.d/rc: sysv
  bool init = false;         // /sbin/init: plain
  bool systemd = false;      // /sbin/init is systemd
  bool minit = false;        // /sbin/minit-start
  bool any_systemd = false;  // systemd is installed (/lib/systemd/systemd)
};

InitFacts init_facts(const fs::path& root) {
  InitFacts f;
  f.rc = lexists(root / "etc/init.d/rc") || lexists(root / "etc/rc.d/rc");
  f.init = lexists(root / "sbin/init");
  // The link's own text: an absolute target names a file of the guest's, not of the host's.
  std::error_code ec;
  fs::path target = fs::read_symlink(root / "sbin/init", ec);
  f.systemd = !ec && target.filename() == "systemd";
  f.minit = lexists(root / "sbin/minit-start");
  f.any_systemd =
      lexists(root / "lib/systemd/systemd") || lexists(root / "usr/lib/systemd/systemd");
  return f;
}

// The style that starts what the root has: systemd when /sbin/init is systemd, sysv when it has
// an rc script, plain for another /sbin/init, minit; nullopt when it has none of them.
std::optional<config::InitStyle> detect_init_style(const InitFacts& f) {
  if (f.systemd) return config::InitStyle::systemd;
  if (f.rc) return config::InitStyle::sysv;
  if (f.init) return config::InitStyle::plain;
  if (f.minit) return config::InitStyle::minit;
  return std::nullopt;
}

// Why style cannot start the root; empty when it can.
std::string missing_for_style(const InitFacts& f, config::InitStyle style) {
  switch (style) {
    case config::InitStyle::sysv:
      return f.rc ? "" : "needs /etc/init.d/rc or /etc/rc.d/rc (Debian's sysv-rc)";
    case config::InitStyle::plain:
      return f.init ? "" : "needs /sbin/init";
    case config::InitStyle::systemd:
      return f.systemd || f.any_systemd ? "" : "needs systemd (/lib/systemd/systemd)";
    case config::InitStyle::minit:
      return f.minit ? "" : "needs /sbin/minit-start";
    case config::InitStyle::command:
      return "";
  }
  return "";
}

std::vector<std::string> init_packages(config::InitStyle style) {
  switch (style) {
    case config::InitStyle::sysv:
      // sysv-rc's /etc/init.d/rc, and the shutdown, halt, reboot and runlevel commands that talk
      // to our init (sysvinit-core depends on sysv-rc).
      return {"sysvinit-core"};
    case config::InitStyle::plain:
      return {"sysvinit-core"};
    case config::InitStyle::systemd:
      return {"systemd", "systemd-sysv"};
    case config::InitStyle::minit:
    case config::InitStyle::command:
      return {};
  }
  return {};
}

int allocate_context(const config::Roots& roots_in) {
  config::Roots roots = absolute_roots(roots_in);
  ContextLock lock(roots);
  return pick_context(roots, used_contexts(roots, ""));
}

bool guest_exists(const config::Roots& roots, std::string_view name) {
  return lexists(roots.guest_config_dir(name)) || lexists(roots.default_vdir(name));
}

void build_guest(const config::Roots& roots_in, const BuildOptions& o) {
  validate(o);
  const config::Roots roots = absolute_roots(roots_in);
  const std::string& name = o.name;
  std::string hostname = o.hostname.value_or(name);
  clear_interrupt();
  InterruptScope signals(o.catch_signals);

  make_root_dir(roots.config);
  make_root_dir(roots.vdir);
  std::optional<state::GuestLock> lock;
  lock.emplace(roots, name);
  check_interrupted();

  fs::path cfgdir = roots.guest_config_dir(name);
  fs::path vdir = roots.default_vdir(name);
  // A volume prepared for the guest (an empty directory or a mount point at VDIR_ROOT/NAME, and
  // no configuration yet) is filled in place: a mount point cannot be renamed into place.
  const bool in_place = !lexists(cfgdir) && empty_directory(vdir);
  if (!in_place && (lexists(cfgdir) || lexists(vdir))) {
    if (!o.force) {
      throw Error("vserver '" + name + "' already exists (" +
                  (lexists(cfgdir) ? cfgdir : vdir).string() + "); use --force to replace it");
    }
    if (state::guest_running(roots, name)) {
      throw Error("vserver '" + name + "' is running; stop it before replacing it");
    }
  }
  remove_stale_builds(roots, name);

  // Everything that can be checked is checked before anything is written.
  const detail::BuildMethod& method = detail::method_for(o.method);
  detail::Build b(roots, o);
  b.hostname = hostname;
  method.check(b);
  const std::string& base = b.base;
  const std::optional<config::GuestConfig>& source_cfg = b.source_cfg;
  const auto& exports = b.exports;

  // The base cannot be deleted while the guest is put on it.
  std::optional<storage::BaseLock> base_lock;
  if (!base.empty()) {
    base_lock.emplace(roots);
    if (!storage::base_exists(roots, base)) {
      throw Error("base '" + base + "' does not exist (" + storage::base_dir(roots, base).string() +
                  "; see vserver-base list)");
    }
  }

  // An import: the exported configuration, unpacked aside and checked before anything else.
  std::optional<detail::StagedImport> import;
  if (o.import_config) {
    import.emplace(detail::stage_import(
        roots, o, !exports.empty() && exports.front() ? &*exports.front() : nullptr));
    if (!o.hostname) hostname = import->hostname;
    b.hostname = hostname;
  }
  const fs::path import_cfg = import ? import->config : fs::path();

  // The configuration, in a directory of its own until the end.
  fs::path tmp_cfg = roots.config / temp_name(name);
  fs::path tmp_vdir = in_place ? vdir : roots.vdir / temp_name(name);
  config::GuestConfig cfg;
  if (source_cfg) {
    cfg = *source_cfg;
    cfg.init.depends.erase(std::remove(cfg.init.depends.begin(), cfg.init.depends.end(), name),
                           cfg.init.depends.end());
  } else {
    cfg.fstab = config::default_fstab();
    cfg.bcapabilities = config::default_bounding_set();
  }
  cfg.name = name;
  cfg.cfgdir = tmp_cfg;
  cfg.vdir = vdir;
  cfg.uts.nodename = hostname;
  cfg.interfaces = o.interfaces;
  if (o.init_style) {
    cfg.init.style = *o.init_style;
  } else if (auto style = method.default_init_style(b)) {
    cfg.init.style = *style;
  }
  if (o.cflags) cfg.cflags = *o.cflags;
  if (!base.empty()) cfg.base = base;
  // A new configuration starts with limits that keep the guest from taking the host down; a
  // clone keeps its source's, an import the exported ones.
  if (!source_cfg && !o.import_config) {
    auto problems = config::new_guest_limits(roots, cfg);
    if (!problems.empty()) throw config::ConfigError(std::move(problems));
  }

  std::optional<TempDir> cfg_guard;
  {
    ContextLock context_lock(roots);
    auto used = used_contexts(roots, o.force ? name : "");
    std::optional<int> exported = o.import_config ? exports.front()->context : std::nullopt;
    if (o.context) {
      if (auto it = used.find(*o.context); it != used.end()) {
        throw Error("context " + std::to_string(*o.context) + " is already used by " + it->second);
      }
      cfg.context = *o.context;
    } else if (exported && used.count(*exported) == 0) {
      cfg.context = *exported;  // the guest keeps its context where it is free
    } else {
      cfg.context = pick_context(roots, used);
      if (exported && o.progress) {
        o.progress("Context " + std::to_string(*exported) + " is used by " + used.at(*exported) +
                   " here; vserver '" + name + "' gets context " + std::to_string(*cfg.context));
      }
    }
    // Written while the lock is held, so that other builds see the context as taken.
    if (o.import_config) {
      // The exported tree as it is (scripts and files this version does not model included),
      // with the new context, and the new name where the old one was written.
      rename_noreplace(import_cfg, tmp_cfg);
      cfg_guard.emplace(tmp_cfg);
      write_file_atomic(tmp_cfg / "context", std::to_string(*cfg.context) + "\n");
      if (auto n = read_file_if_exists(tmp_cfg / "name"); n && trim(*n) == exports.front()->name) {
        write_file_atomic(tmp_cfg / "name", name + "\n");
      }
      if (o.hostname) {
        ::mkdir((tmp_cfg / "uts").c_str(), 0755);
        write_file_atomic(tmp_cfg / "uts" / "nodename", *o.hostname + "\n");
      }
    } else {
      if (::mkdir(tmp_cfg.c_str(), 0700) != 0) throw_errno("create directory", tmp_cfg.string());
      cfg_guard.emplace(tmp_cfg);
      if (::chmod(tmp_cfg.c_str(), 0755) != 0) throw_errno("chmod", tmp_cfg.string());
      config::write_guest(cfg);
    }
  }
  if (!source_cfg && !o.import_config) {
    // .defaults/fstab is the template of a new guest's fstab (§1.5).
    if (auto fstab = read_file_if_exists(roots.defaults_dir() / "fstab")) {
      write_file_atomic(tmp_cfg / "fstab", *fstab);
    }
  }

  // The root filesystem.
  std::optional<TempDir> vdir_guard;
  std::optional<FillGuard> fill_guard;
  if (in_place) {
    fill_guard.emplace(tmp_vdir);
    if (o.progress) o.progress("Building into the empty directory " + vdir.string());
  } else {
    if (::mkdir(tmp_vdir.c_str(), 0700) != 0) throw_errno("create directory", tmp_vdir.string());
    vdir_guard.emplace(tmp_vdir);
  }
  detail::Root root{tmp_vdir, UniqueFd()};
  root.fd = open_file(tmp_vdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (::geteuid() == 0 && ::fchown(root.fd.get(), 0, 0) != 0)
    throw_errno("chown", tmp_vdir.string());
  if (::fchmod(root.fd.get(), 0755) != 0) throw_errno("chmod", tmp_vdir.string());

  // A unified guest: tmp_vdir is the mount point; its files go to an upper layer of its own.
  fs::path tmp_layers;
  std::optional<TempDir> layers_guard;
  if (!base.empty()) {
    fs::path lr = storage::layers_root(roots);
    if (::mkdir(lr.c_str(), 0700) != 0 && errno != EEXIST) {
      throw_errno("create directory", lr.string());
    }
    tmp_layers = lr / temp_name(name);
    if (::mkdir(tmp_layers.c_str(), 0700) != 0) {
      throw_errno("create directory", tmp_layers.string());
    }
    layers_guard.emplace(tmp_layers);
    b.overlay =
        storage::Overlay{storage::base_dir(roots, base), tmp_layers / "upper", tmp_layers / "work"};
    const storage::Overlay* overlay = &*b.overlay;
    if (::mkdir(overlay->upper.c_str(), 0755) != 0) {
      throw_errno("create directory", overlay->upper.string());
    }
    if (::chmod(overlay->upper.c_str(), 0755) != 0) throw_errno("chmod", overlay->upper.string());
    if (::mkdir(overlay->work.c_str(), 0700) != 0) {
      throw_errno("create directory", overlay->work.string());
    }
  }
  // Runs fn on the merged root of a unified guest (mounted in a private mount namespace).
  b.in_merged_root = [&](const std::function<void(const detail::Root&)>& fn) {
    storage::run_in_merged_root(*b.overlay, tmp_vdir, [&] {
      detail::Root merged{tmp_vdir, open_file(tmp_vdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)};
      fn(merged);
    });
  };

  b.cfg = &cfg;
  b.vdir = vdir;
  b.tmp_vdir = tmp_vdir;
  b.tmp_cfg = tmp_cfg;
  b.root = &root;
  method.populate(b);

  if (!b.overlay) {
    detail::write_network_files(roots, root, hostname, cfg.interfaces, method.writes_own_hosts());
  }
  // The init style of a root that came from elsewhere (a template, a directory, debootstrap): an
  // explicit one that cannot start it is refused now rather than at the first start; without
  // one, the style that starts what the root has, said.
  bool foreign_root = method.foreign_root(b) && !source_cfg && !o.import_config;
  if (foreign_root) {
    InitFacts facts = init_facts(tmp_vdir);
    if (o.init_style) {
      std::string why = missing_for_style(facts, *o.init_style);
      if (!why.empty()) {
        throw Error("build vserver '" + name + "': init style " +
                    std::string(config::to_string(*o.init_style)) + " " + why +
                    " in the root, which it does not have; choose another with --initstyle");
      }
    } else if (auto style = detect_init_style(facts)) {
      cfg.init.style = *style;
      if (*style != config::InitStyle::sysv) {
        fs::create_directories(tmp_cfg / "apps/init");
        write_file_atomic(tmp_cfg / "apps/init/style",
                          std::string(config::to_string(*style)) + "\n");
      }
      if (o.progress) {
        o.progress("Init style " + std::string(config::to_string(*style)) +
                   ", for what the root has (--initstyle chooses another)");
      }
    } else if (o.warning) {
      o.warning(
          "the root has no init (no /sbin/init, /etc/init.d/rc or /sbin/minit-start): "
          "give the guest apps/init/style command and apps/init/cmd.start before starting it");
    }
  }
  check_interrupted();

  root.fd.reset();
  move_into_place(roots, name, tmp_cfg, tmp_vdir, tmp_layers, in_place, o.progress);
  if (layers_guard) layers_guard->dismiss();
  if (vdir_guard) vdir_guard->dismiss();
  if (fill_guard) fill_guard->dismiss();
  cfg_guard->dismiss();
  if (o.progress) {
    o.progress("Built vserver '" + name + "' (context " + std::to_string(*cfg.context) + ") in " +
               vdir.string());
  }
  lock.reset();
  b.source_lock.reset();
  if (b.regenerate_keys) regenerate_host_keys(roots, name, o.progress, o.warning);
}

}  // namespace vs::provision
