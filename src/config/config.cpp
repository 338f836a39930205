// The configuration tree /etc/vservers/NAME/ in util-vserver's layout (util-vserver.md §0, §1).
//
// Reading collects every problem instead of stopping at the first, so that an administrator sees
// all of them at once; each problem names the file it was found in.
//
// Fallbacks to /etc/vservers/.defaults/<same relative path> (util-vserver's findFile, §0, §1.11),
// used only when the guest has no file of its own:
//   shell, apps/init/environment, apps/init/killseq, apps/vshelper/sync-timeout
// and for vdir, whose default is .defaults/vdirbase/NAME when that link exists. Every other item is
// per-guest only. In particular .defaults/fstab is a template copied when a guest is built: a guest
// without an fstab of its own gets default_fstab().
//
// cgroup/ falls back as a whole: a guest without a cgroup/ directory (and without nocgroup) gets
// .defaults/cgroup/; .defaults/cgroup/base applies to every guest without a base of its own.
#include "config/config.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <system_error>
#include <tuple>
#include <utility>

#include "config/capabilities.hpp"
#include "config/parse.hpp"
#include "sys/file.hpp"

namespace vs::config {

namespace {

constexpr std::array<const char*, 5> kFallbackItems = {
    "shell", "apps/init/environment", "apps/init/killseq", "apps/vshelper/sync-timeout",
    "apps/vshelper/action"};

bool falls_back(const fs::path& rel) {
  return std::find(kFallbackItems.begin(), kFallbackItems.end(), rel.string()) !=
         kFallbackItems.end();
}

// rlimits/ resources (§1.6): the POSIX ones plus the VServer-specific ones.
constexpr std::array<std::string_view, 19> kRlimitResources = {
    "cpu",   "fsize",    "data",  "stack",  "core", "rss",   "nproc",  "nofile", "memlock", "as",
    "locks", "msgqueue", "nsock", "openfd", "anon", "shmem", "semary", "nsems",  "dentry"};
// ulimits/ resources (§1.6, exec-ulimit).
constexpr std::array<std::string_view, 10> kUlimitResources = {
    "cpu", "data", "fsize", "locks", "memlock", "nofile", "nproc", "rss", "stack", "core"};

// Global defaults directly in interfaces/.
constexpr std::array<const char*, 5> kInterfaceDefaults = {"dev", "prefix", "mask", "bcast",
                                                           "scope"};

struct UtsItem {
  const char* file;
  std::optional<std::string> Uts::*field;
};
constexpr std::array<UtsItem, 6> kUtsItems = {{
    {"nodename", &Uts::nodename},
    {"domainname", &Uts::domainname},
    {"sysname", &Uts::sysname},
    {"release", &Uts::release},
    {"version", &Uts::version},
    {"machine", &Uts::machine},
}};

std::string quote(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

bool has_space(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; });
}

const char* family_name(int family) {
  return family == AF_INET6 ? "IPv6" : "IPv4";
}

struct Text {
  fs::path path;
  std::string value;
};

struct Lines {
  fs::path path;
  std::vector<std::string> lines;
};

// Reads items of one guest's tree and records problems.
class TreeReader {
 public:
  // empty_is_absent: a file that holds nothing but white space reads as absent (the .defaults
  // files that stand for new guests' limits, where an empty file means "no default").
  TreeReader(fs::path dir, fs::path defaults, std::vector<Problem>& problems,
             bool empty_is_absent = false)
      : dir_(std::move(dir)),
        defaults_(std::move(defaults)),
        problems_(problems),
        empty_is_absent_(empty_is_absent) {}

  void problem(const fs::path& file, std::string message) {
    problems_.push_back(Problem{file, std::move(message)});
  }
  [[nodiscard]] fs::path path(const fs::path& rel) const { return dir_ / rel; }
  [[nodiscard]] const fs::path& defaults() const { return defaults_; }

  // The whole file: per-guest, then .defaults for the items that fall back.
  std::optional<Text> read(const fs::path& rel) {
    consult(rel);
    auto t = read_at(dir_, dir_fd_, rel);
    if (!t && falls_back(rel)) t = read_at(defaults_, defaults_fd_, rel);
    if (t && empty_is_absent_ && trim(t->value).empty()) return std::nullopt;
    return t;
  }

  // Scalar file: the first line, trimmed.
  std::optional<Text> scalar(const fs::path& rel) {
    auto t = read(rel);
    if (!t) return std::nullopt;
    std::string_view v = t->value;
    v = trim(v.substr(0, v.find('\n')));
    t->value = std::string(v);
    return t;
  }

  // List file read like _readFileToArray: items trimmed, blank and '#' lines skipped.
  std::optional<Lines> list(const fs::path& rel) {
    auto t = read(rel);
    if (!t) return std::nullopt;
    Lines out{t->path, {}};
    for (const auto& l : split_lines(t->value)) {
      std::string_view item = trim(l);
      if (item.empty() || item.front() == '#') continue;
      out.lines.emplace_back(item);
    }
    return out;
  }

  // List file read like getFileArray: every line as it is (no comment stripping); a trailing
  // empty line is dropped.
  std::optional<Lines> array(const fs::path& rel) {
    auto t = read(rel);
    if (!t) return std::nullopt;
    Lines out{t->path, split_lines(t->value)};
    if (!out.lines.empty() && out.lines.back().empty()) out.lines.pop_back();
    return out;
  }

  // Boolean file: existence (following symlinks, like test -e).
  bool flag(const fs::path& rel) {
    consult(rel);
    fs::path p = dir_ / rel;
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) return true;
    if (errno != ENOENT && errno != ENOTDIR)
      problem(p, std::string("cannot stat: ") + std::strerror(errno));
    return false;
  }

  // Whether the item exists (following symlinks), without reporting anything.
  [[nodiscard]] bool exists(const fs::path& rel) const {
    consult(rel);
    struct stat st {};
    return ::stat((dir_ / rel).c_str(), &st) == 0;
  }
  [[nodiscard]] bool is_dir(const fs::path& rel) const {
    consult(rel);
    struct stat st {};
    return ::stat((dir_ / rel).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }

  // Sorted names of the entries of a directory of the tree that satisfy keep (dot names
  // skipped unless hidden is set). Empty if the directory does not exist.
  template <typename Keep>
  std::vector<std::string> entries(const fs::path& rel, Keep keep, bool hidden = false) {
    consult(rel);
    std::vector<std::string> names;
    fs::path d = dir_ / rel;
    std::error_code ec;
    fs::directory_iterator it(d, ec);
    if (ec) {
      if (ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory) {
        problem(d, "cannot list: " + ec.message());
      }
      return names;
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      std::string n = it->path().filename().string();
      if (n.empty() || (n.front() == '.' && !hidden)) continue;
      if (keep(*it)) names.push_back(std::move(n));
    }
    if (ec) problem(d, "cannot list: " + ec.message());
    std::sort(names.begin(), names.end());
    return names;
  }

  // Records that the reader looked at rel (for the test that keeps items.cpp's table and the
  // readers in step).
  void trace(std::set<std::string>* consulted) { consulted_ = consulted; }
  void consult(const fs::path& rel) const {
    if (consulted_ != nullptr) consulted_->insert(rel.lexically_normal().string());
  }

 private:
  // Where the files of the tree may live: the guest's directory, .defaults/ and the configuration
  // root (files shared by guests), wherever symbolic links put them.
  bool inside_tree(const fs::path& real) {
    if (trees_.empty()) {
      std::error_code ec;
      for (const auto& d : {dir_, defaults_, defaults_.parent_path()}) {
        fs::path c = fs::weakly_canonical(d, ec);
        if (!ec) trees_.push_back(c);
      }
    }
    return std::any_of(trees_.begin(), trees_.end(), [&](const fs::path& t) {
      auto [a, b] = std::mismatch(t.begin(), t.end(), real.begin(), real.end());
      return a == t.end();
    });
  }

  // The path of the file open as fd, symbolic links resolved: one readlink of its /proc/self/fd
  // entry instead of one for each component of p (fs::canonical), which matters for the dozens of
  // files of every start. fs::canonical where /proc is not mounted.
  static fs::path real_path(int fd, const fs::path& p, std::error_code& ec) {
    std::array<char, 4096> buf{};
    std::string link = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size());
    if (n > 0 && static_cast<size_t>(n) < buf.size() && buf[0] == '/') {
      ec.clear();
      return fs::path(std::string(buf.data(), static_cast<size_t>(n)));
    }
    return fs::canonical(p, ec);
  }

  // The file rel below the directory base, held open as base_fd once it is needed.
  std::optional<Text> read_at(const fs::path& base, std::optional<UniqueFd>& base_fd,
                              const fs::path& rel) {
    const fs::path p = base / rel;
    constexpr int kFlags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    if (!base_fd) base_fd = UniqueFd(::open(base.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    // A file reached below the directory without a symbolic link is inside the tree: no readlink
    // of its path (one per file of every start and exec). With a link on the way, or where the
    // kernel has no openat2, the path is opened as it is and its real path checked.
    if (*base_fd) {
      open_how how{};
      how.flags = kFlags;
      how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
      long fd = ::syscall(SYS_openat2, base_fd->get(), rel.c_str(), &how, sizeof how);
      if (fd >= 0) return read_open(UniqueFd(static_cast<int>(fd)), p, true);
      if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    }
    UniqueFd f(::open(p.c_str(), kFlags));
    if (!f) {
      if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
      problem(p, std::string("cannot read: ") + std::strerror(errno));
      return std::nullopt;
    }
    return read_open(std::move(f), p, false);
  }

  // known_inside: f was reached below a directory of the tree without a symbolic link.
  std::optional<Text> read_open(UniqueFd f, const fs::path& p, bool known_inside) {
    struct stat st {};
    if (::fstat(f.get(), &st) != 0) {
      problem(p, std::string("cannot stat: ") + std::strerror(errno));
      return std::nullopt;
    }
    if (S_ISDIR(st.st_mode)) return std::nullopt;
    if (!S_ISREG(st.st_mode)) {
      problem(p, "not a regular file; configuration values are read from regular files only");
      return std::nullopt;
    }
    std::error_code ec;
    fs::path real = known_inside ? fs::path() : real_path(f.get(), p, ec);
    if (!known_inside && (ec || !inside_tree(real))) {
      problem(p, "a symbolic link out of the configuration tree (to " + real.string() +
                     "); configuration files are read from inside " +
                     defaults_.parent_path().string() + " only");
      return std::nullopt;
    }
    std::string content;
    std::array<char, 16384> buf{};
    while (content.size() <= kMaxConfigFile) {
      ssize_t n = ::read(f.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        problem(p, std::string("cannot read: ") + std::strerror(errno));
        return std::nullopt;
      }
      if (n == 0) break;
      content.append(buf.data(), static_cast<size_t>(n));
    }
    if (content.size() > kMaxConfigFile) {
      problem(p, "larger than " + std::to_string(kMaxConfigFile) +
                     " bytes; configuration files are read up to that size");
      return std::nullopt;
    }
    if (content.find('\0') != std::string::npos) {
      problem(p, "contains a NUL byte; configuration files are text");
      return std::nullopt;
    }
    return Text{p, std::move(content)};
  }

  std::vector<fs::path> trees_;

  fs::path dir_;
  fs::path defaults_;
  std::optional<UniqueFd> dir_fd_;
  std::optional<UniqueFd> defaults_fd_;
  std::vector<Problem>& problems_;
  bool empty_is_absent_ = false;
  std::set<std::string>* consulted_ = nullptr;
};

bool is_dir_entry(const fs::directory_entry& e) {
  std::error_code ec;
  return e.is_directory(ec);
}
bool is_file_entry(const fs::directory_entry& e) {
  std::error_code ec;
  return e.is_regular_file(ec);
}

// An integer scalar within [lo, hi]; what names the kind of value for the message, which reads
// "\"abc\" is not a context id (2..49151)".
std::optional<int> bounded(TreeReader& r, const Text& t, long long lo, long long hi,
                           std::string_view what) {
  auto v = parse_integer(t.value);
  if (!v || *v < lo || *v > hi) {
    r.problem(t.path, quote(t.value) + " is not " + std::string(what) + " (" + std::to_string(lo) +
                          ".." + std::to_string(hi) + ")");
    return std::nullopt;
  }
  return static_cast<int>(*v);
}

// A word: non-empty, no whitespace, no '/'.
bool valid_word(std::string_view s) {
  return !s.empty() && !has_space(s) && s.find('/') == std::string_view::npos;
}

// The target of a vdir-like link: a relative target is resolved against the directory holding
// the link, like util-vserver's ../.defaults/vdirbase/NAME.
std::optional<fs::path> link_target(TreeReader& r, const fs::path& link) {
  struct stat st {};
  if (::lstat(link.c_str(), &st) != 0) {
    if (errno != ENOENT && errno != ENOTDIR) {
      r.problem(link, std::string("cannot stat: ") + std::strerror(errno));
    }
    return std::nullopt;
  }
  if (S_ISDIR(st.st_mode)) return link;
  if (!S_ISLNK(st.st_mode)) {
    r.problem(link, "not a symbolic link or directory");
    return std::nullopt;
  }
  std::error_code ec;
  fs::path target = fs::read_symlink(link, ec);
  if (ec) {
    r.problem(link, "cannot read link: " + ec.message());
    return std::nullopt;
  }
  if (target.is_absolute()) return target;
  fs::path resolved = fs::weakly_canonical(link.parent_path() / target, ec);
  if (ec) {
    r.problem(link, "cannot resolve " + quote(target.string()) + ": " + ec.message());
    return std::nullopt;
  }
  return resolved;
}

void read_identity(TreeReader& r, const Roots& roots, std::string_view dirname, GuestConfig& cfg) {
  if (auto t = r.scalar("name")) {
    if (valid_guest_name(t->value)) {
      cfg.name = t->value;
    } else {
      r.problem(t->path, quote(t->value) +
                             " is not a valid guest name (1..64 characters of A-Z a-z 0-9 . _ -, "
                             "not starting with . or -)");
    }
  }
  if (auto t = r.scalar("context")) {
    cfg.context = bounded(r, *t, kMinContext, kMaxContext, "a context id");
  }

  fs::path link = r.path("vdir");
  r.consult("vdir");
  if (auto target = link_target(r, link)) {
    cfg.vdir = *target;
  } else if (auto base = link_target(r, r.defaults() / "vdirbase")) {
    link = r.defaults() / "vdirbase";
    cfg.vdir = *base / dirname;
  } else {
    cfg.vdir = roots.default_vdir(dirname);
  }
  if (!cfg.vdir.is_absolute()) {
    r.problem(link, "vdir " + quote(cfg.vdir.string()) + " is not an absolute path");
  }

  if (auto t = r.scalar("nice")) cfg.nice = bounded(r, *t, -20, 19, "a nice value");
  if (auto t = r.scalar("shell")) {
    if (t->value.empty()) {
      r.problem(t->path, "empty shell");
    } else {
      cfg.shell = t->value;
    }
  }
  if (auto t = r.scalar("unify/base")) {
    if (valid_guest_name(t->value)) {
      cfg.base = t->value;
    } else {
      r.problem(t->path, quote(t->value) +
                             " is not a valid base name (1..64 characters of A-Z a-z 0-9 . _ -, "
                             "not starting with . or -)");
    }
  }
}

void read_uts(TreeReader& r, GuestConfig& cfg) {
  for (const auto& item : kUtsItems) {
    std::string_view f = item.file;
    auto t = r.scalar(fs::path("uts") / item.file);
    // Legacy top-level files, read when uts/ has none (§1.3).
    if (!t && f == "nodename") t = r.scalar("hostname");
    if (!t && f == "domainname") t = r.scalar("domainname");
    if (!t) continue;
    bool host_like = f == "nodename" || f == "domainname";
    bool ok = !t->value.empty() && t->value.size() <= 64 &&
              (!host_like || (!has_space(t->value) && t->value.find('/') == std::string::npos));
    if (!ok) {
      r.problem(t->path, quote(t->value) + " is not a valid " + std::string(f) +
                             (host_like ? " (1..64 characters, no '/' or whitespace)"
                                        : " (1..64 characters)"));
      continue;
    }
    cfg.uts.*item.field = t->value;
  }
}

void read_fstab(TreeReader& r, GuestConfig& cfg) {
  auto t = r.read("fstab");
  if (!t) {
    cfg.fstab = default_fstab();
    return;
  }
  auto parsed = parse_fstab(t->value);
  for (auto& e : parsed.errors) r.problem(t->path, std::move(e));
  cfg.fstab = std::move(parsed.entries);
}

void read_flags_and_caps(TreeReader& r, GuestConfig& cfg) {
  auto flags = r.list("cflags");
  if (!flags) flags = r.list("flags");  // the pre-0.30 name
  if (flags) {
    for (const auto& f : flags->lines) {
      std::string lower = to_lower(f);
      // "~flag" or "!flag" clears a flag that is on by default (virt_uptime); kept as "~flag".
      bool clear = !lower.empty() && (lower[0] == '~' || lower[0] == '!');
      std::string bare = clear ? lower.substr(1) : lower;
      if (known_context_flag(bare)) {
        cfg.cflags.insert(clear ? "~" + bare : bare);
      } else {
        r.problem(flags->path, "unknown context flag " + quote(f));
      }
    }
  }

  cfg.bcapabilities = default_bounding_set();
  if (auto t = r.read("bcapabilities")) {
    std::vector<std::string> errors;
    cfg.bcapabilities =
        apply_capability_lines(default_bounding_set(), split_lines(t->value), errors);
    for (auto& e : errors) r.problem(t->path, std::move(e));
  }

  if (auto caps = r.list("ccapabilities")) {
    for (const auto& line : caps->lines) {
      // "~NAME" or "!NAME" clears a context capability that is on by default (raw_icmp).
      bool clear = !line.empty() && (line.front() == '~' || line.front() == '!');
      std::string_view c = clear ? std::string_view(line).substr(1) : std::string_view(line);
      if (auto canonical = canonical_context_capability(c)) {
        std::string name(*canonical);
        if (clear) {
          cfg.ccapabilities.erase(name);
          cfg.ccapabilities_cleared.insert(name);
        } else {
          cfg.ccapabilities.insert(name);
          cfg.ccapabilities_cleared.erase(name);
        }
      } else {
        r.problem(caps->path, "unknown context capability " + quote(line));
      }
    }
  }
}

void read_init(TreeReader& r, std::string_view dirname, GuestConfig& cfg) {
  InitConfig& init = cfg.init;
  auto style = r.scalar("apps/init/style");
  auto cmd_start = r.array("apps/init/cmd.start");
  if (style) {
    if (auto s = init_style_from_string(style->value)) {
      init.style = *s;
    } else if (style->value == "gentoo" || style->value == "openrc" || style->value == "arch") {
      r.problem(style->path,
                "init style " + quote(style->value) +
                    " is not supported; use plain, or command with apps/init/cmd.start");
    } else {
      r.problem(style->path, "unknown init style " + quote(style->value) +
                                 " (sysv, plain, minit, systemd, command)");
    }
  } else if (cmd_start) {
    // cmd.start overrides every style; without a style file it is the style.
    init.style = InitStyle::command;
  }
  if (cmd_start) init.cmd_start = cmd_start->lines;
  if (init.style == InitStyle::command && init.cmd_start.empty()) {
    r.problem(cmd_start ? cmd_start->path : style->path,
              "init style command needs a command in apps/init/cmd.start");
  }
  if (auto t = r.array("apps/init/cmd.stop")) init.cmd_stop = t->lines;

  if (auto t = r.scalar("apps/init/mark")) {
    if (valid_word(t->value)) {
      init.mark = t->value;
    } else {
      r.problem(t->path, quote(t->value) + " is not a mark (one word)");
    }
  }

  auto runlevel = [&](const char* rel, std::string& out) {
    auto t = r.scalar(rel);
    if (!t) return;
    if (valid_word(t->value)) {
      out = t->value;
    } else {
      r.problem(t->path, quote(t->value) + " is not a runlevel (one word)");
    }
  };
  runlevel("apps/init/runlevel", init.runlevel_start);
  runlevel("apps/init/runlevel.start", init.runlevel_start);  // wins over runlevel
  runlevel("apps/init/runlevel.stop", init.runlevel_stop);

  if (auto t = r.array("apps/init/environment")) {
    init.environment.clear();
    for (const auto& e : t->lines) {
      if (valid_environment_entry(e)) {
        init.environment.push_back(e);
      } else {
        r.problem(t->path, quote(e) + " is not VAR=VALUE");
      }
    }
  }

  if (auto t = r.list("apps/init/depends")) {
    for (const auto& d : t->lines) {
      if (!valid_guest_name(d)) {
        r.problem(t->path, quote(d) + " is not a guest name");
      } else if (d == dirname) {
        r.problem(t->path, "the guest depends on itself");
      } else {
        init.depends.push_back(d);
      }
    }
  }

  if (auto t = r.array("apps/init/killseq")) {
    std::string error;
    if (auto seq = parse_killseq(t->lines, error)) {
      init.killseq = std::move(*seq);
    } else {
      r.problem(t->path, error);
    }
  }

  if (auto t = r.scalar("apps/vshelper/sync-timeout")) {
    if (auto v = bounded(r, *t, 1, 86400, "a timeout in seconds")) init.stop_timeout = *v;
  }
  if (auto t = r.scalar("apps/vshelper/action")) {
    if (auto a = vshelper_action_from_string(t->value)) {
      init.vshelper_action = *a;
    } else {
      r.problem(t->path, "unknown vshelper action " + quote(t->value) + " (restart, halt)");
    }
  }
  struct stat st {};
  init.vshelper_disabled = r.flag("apps/vshelper/disabled") ||
                           ::stat((r.defaults() / "apps/vshelper/disabled").c_str(), &st) == 0;
}

// Global defaults of interfaces/ (§1.4), checked once.
struct InterfaceDefaults {
  std::optional<Text> dev, prefix, mask, bcast, scope;
  bool vlandev = false;    // interfaces/vlandev or .defaults/interfaces/vlandev
  bool novlandev = false;  // interfaces/novlandev
};

// An address of the given family for peer/gateway/bcast; reports and returns false otherwise.
bool check_address(TreeReader& r, const Text& t, int family, std::string_view what) {
  int f = address_family(t.value);
  if (f == 0) {
    r.problem(t.path, quote(t.value) + " is not an " + std::string(what) + " address");
    return false;
  }
  if (family != 0 && f != family) {
    r.problem(t.path, quote(t.value) + " is not an " + family_name(family) + " address like ip");
    return false;
  }
  return true;
}

std::optional<int> prefix_from(TreeReader& r, const std::optional<Text>& prefix,
                               const std::optional<Text>& mask, int family, bool global) {
  int max = family == AF_INET ? 32 : 128;
  if (prefix) {
    auto v = parse_integer(prefix->value);
    if (!v || *v < 0 || *v > max) {
      r.problem(prefix->path,
                quote(prefix->value) + " is not a prefix length (0.." + std::to_string(max) + ")");
      return std::nullopt;
    }
    return static_cast<int>(*v);
  }
  if (mask) {
    int mask_family = address_family(mask->value);
    // A global mask of the other family does not apply to this address.
    if (global && mask_family != 0 && mask_family != family) return std::nullopt;
    auto v = mask_to_prefix(mask->value, family == 0 ? mask_family : family);
    if (!v) {
      r.problem(mask->path,
                quote(mask->value) + " is not a contiguous " + family_name(family) + " netmask");
      return std::nullopt;
    }
    return v;
  }
  return std::nullopt;
}

// vlandev / novlandev (util-vserver's order): the interface's own files, then interfaces/novlandev,
// then interfaces/vlandev or .defaults/interfaces/vlandev. The global switch applies to devices
// named DEV.ID only; the interface's own vlandev asks for one.
void read_vlandev(TreeReader& r, const fs::path& base, const InterfaceDefaults& defaults,
                  const std::optional<Text>& dev, Interface& iface) {
  bool own_on = r.flag(base / "vlandev");
  bool own_off = r.flag(base / "novlandev");
  if (own_on && own_off) {
    r.problem(r.path(base), "both vlandev and novlandev; remove one");
    return;
  }
  bool on = own_on || (!own_off && !defaults.novlandev && defaults.vlandev);
  if (!on || iface.nodev || !iface.dev) return;
  if (!split_vlan_device(*iface.dev)) {
    bool dotted = iface.dev->find('.') != std::string::npos;
    if (!own_on && !dotted) return;  // the global switch: not a VLAN device name
    r.problem(dev->path,
              quote(*iface.dev) + " is not a VLAN device for vlandev (DEV.ID, with ID in 1..4094)");
    return;
  }
  iface.vlandev = true;
}

// tun / tap and their options. util-vserver passed them to its tunctl; here the device is made in
// the guest's network namespace.
void read_tun(TreeReader& r, const fs::path& base, Interface& iface) {
  bool tun = r.flag(base / "tun");
  bool tap = r.flag(base / "tap");
  if (tun && tap) {
    r.problem(r.path(base), "both tun and tap; remove one");
    return;
  }
  iface.tun = tun ? TunKind::tun : tap ? TunKind::tap : TunKind::none;
  auto id_of = [&](const char* file, std::optional<std::uint32_t>& out) {
    auto t = r.scalar(base / file);
    if (!t) return;
    if (iface.tun == TunKind::none) {
      r.problem(t->path, "only for a tun or tap interface (add tun or tap)");
      return;
    }
    auto v = parse_integer(t->value);
    if (!v || *v < 0 || *v >= 0xffffffffLL) {
      r.problem(t->path, quote(t->value) + " is not a numeric id");
      return;
    }
    out = static_cast<std::uint32_t>(*v);
  };
  id_of("uid", iface.tun_uid);
  id_of("gid", iface.tun_gid);
  if (auto t = r.scalar(base / "linktype")) {
    auto v = parse_integer(t->value);
    if (iface.tun == TunKind::none) {
      r.problem(t->path, "only for a tun or tap interface (add tun or tap)");
    } else if (!v || *v < 0 || *v > 0xfffe) {
      r.problem(t->path, quote(t->value) + " is not a link type (an ARPHRD_* number, 0..65534)");
    } else {
      iface.linktype = static_cast<std::uint16_t>(*v);
    }
  }
  iface.nocsum = r.flag(base / "nocsum");
  if (iface.nocsum && iface.tun == TunKind::none) {
    r.problem(r.path(base / "nocsum"), "only for a tun or tap interface (add tun or tap)");
  }
  if (iface.tun != TunKind::none) {
    if (iface.nodev)
      r.problem(r.path(base), "tun or tap with nodev; a tun or tap device needs dev");
    if (iface.vlandev) r.problem(r.path(base), "tun or tap with vlandev; remove one");
  }
}

void read_interface(TreeReader& r, const std::string& id, const InterfaceDefaults& defaults,
                    GuestConfig& cfg) {
  fs::path base = fs::path("interfaces") / id;
  Interface iface;
  iface.id = id;

  if (auto t = r.scalar(base / "ip")) {
    iface.ip = t->value;
    iface.family = address_family(t->value);
    if (iface.family == 0) r.problem(t->path, quote(t->value) + " is not an IPv4 or IPv6 address");
  } else {
    r.problem(r.path(base / "ip"), "missing; every interface needs an address");
  }

  auto dev = r.scalar(base / "dev");
  if (!dev) dev = defaults.dev;
  if (dev) {
    if (valid_device_name(dev->value)) {
      iface.dev = dev->value;
    } else {
      r.problem(dev->path, quote(dev->value) + " is not a device name");
    }
  }
  iface.nodev = r.flag(base / "nodev") || r.flag(base / "only_ip");
  if (!dev && !iface.nodev) r.problem(r.path(base), "no device; add dev or nodev");

  auto prefix = r.scalar(base / "prefix");
  auto mask = r.scalar(base / "mask");
  std::optional<int> p;
  if (prefix || mask) {
    p = prefix_from(r, prefix, mask, iface.family, false);
  } else {
    p = prefix_from(r, defaults.prefix, defaults.mask, iface.family, true);
  }
  iface.prefix = p.value_or(iface.family == AF_INET6 ? 128 : 32);

  if (auto t = r.scalar(base / "name")) {
    if (valid_device_name(t->value)) {
      iface.name = t->value;
    } else {
      r.problem(t->path, quote(t->value) +
                             " is not an interface label (1..15 characters, no "
                             "'/', ':' or whitespace)");
    }
  }

  if (auto t = r.scalar(base / "bcast")) {
    if (iface.family == AF_INET6) {
      r.problem(t->path, "IPv6 has no broadcast address");
    } else if (check_address(r, *t, AF_INET, "IPv4")) {
      iface.bcast = t->value;
    }
  } else if (defaults.bcast && iface.family == AF_INET) {
    iface.bcast = defaults.bcast->value;
  }

  if (auto t = r.scalar(base / "scope")) {
    if (valid_word(t->value)) {
      iface.scope = t->value;
    } else {
      r.problem(t->path, quote(t->value) + " is not a scope (one word)");
    }
  } else if (defaults.scope) {
    iface.scope = defaults.scope->value;
  }

  if (auto t = r.scalar(base / "peer")) {
    if (check_address(r, *t, iface.family, "IPv4 or IPv6")) iface.peer = t->value;
  }
  if (auto t = r.scalar(base / "gateway")) {
    if (check_address(r, *t, iface.family, "IPv4 or IPv6")) iface.gateway = t->value;
  }
  if (auto t = r.scalar(base / "mac")) {
    if (valid_mac(t->value)) {
      iface.mac = t->value;
    } else {
      r.problem(t->path, quote(t->value) + " is not a MAC address (xx:xx:xx:xx:xx:xx)");
    }
  }
  iface.disabled = r.flag(base / "disabled");
  iface.down = r.flag(base / "down");
  read_vlandev(r, base, defaults, dev, iface);
  read_tun(r, base, iface);
  cfg.interfaces.push_back(std::move(iface));
}

void read_network(TreeReader& r, GuestConfig& cfg) {
  if (auto t = r.scalar("network/mode")) {
    if (auto m = network_mode_from_string(t->value)) {
      cfg.network = *m;
    } else {
      r.problem(t->path, "unknown network mode " + quote(t->value) +
                             " (automatic, none, host, bridge, ipvlan, macvlan)");
    }
  } else if (auto net = r.scalar("spaces/net"); net && net->value == "0") {
    // util-vserver: spaces/net containing 0 means no network namespace.
    cfg.network = NetworkMode::host;
  }
  cfg.create_bridge = r.flag("network/create-bridge");

  InterfaceDefaults defaults;
  defaults.dev = r.scalar("interfaces/dev");
  if (defaults.dev && !valid_device_name(defaults.dev->value)) {
    r.problem(defaults.dev->path, quote(defaults.dev->value) + " is not a device name");
    defaults.dev.reset();
  }
  defaults.prefix = r.scalar("interfaces/prefix");
  if (defaults.prefix) {
    auto v = parse_integer(defaults.prefix->value);
    if (!v || *v < 0 || *v > 128) {
      r.problem(defaults.prefix->path,
                quote(defaults.prefix->value) + " is not a prefix length (0..128)");
      defaults.prefix.reset();
    }
  }
  defaults.mask = r.scalar("interfaces/mask");
  if (defaults.mask) {
    int f = address_family(defaults.mask->value);
    if (f == 0 || !mask_to_prefix(defaults.mask->value, f)) {
      r.problem(defaults.mask->path, quote(defaults.mask->value) + " is not a contiguous netmask");
      defaults.mask.reset();
    }
  }
  defaults.bcast = r.scalar("interfaces/bcast");
  if (defaults.bcast && address_family(defaults.bcast->value) != AF_INET) {
    r.problem(defaults.bcast->path, quote(defaults.bcast->value) + " is not an IPv4 address");
    defaults.bcast.reset();
  }
  defaults.scope = r.scalar("interfaces/scope");
  if (defaults.scope && !valid_word(defaults.scope->value)) {
    r.problem(defaults.scope->path, quote(defaults.scope->value) + " is not a scope (one word)");
    defaults.scope.reset();
  }

  struct stat st {};
  defaults.vlandev = r.flag("interfaces/vlandev") ||
                     ::stat((r.defaults() / "interfaces/vlandev").c_str(), &st) == 0;
  defaults.novlandev = r.flag("interfaces/novlandev");

  for (const auto& id : r.entries("interfaces", is_dir_entry)) {
    read_interface(r, id, defaults, cfg);
  }
}

template <std::size_t N>
bool known_resource(const std::array<std::string_view, N>& table, std::string_view res) {
  return std::find(table.begin(), table.end(), res) != table.end();
}

// "nofile.soft" → {"nofile", "soft"}; "nofile" → {"nofile", ""}.
std::pair<std::string, std::string> split_limit_name(const std::string& file) {
  auto dot = file.rfind('.');
  if (dot != std::string::npos) {
    std::string suffix = file.substr(dot + 1);
    if (suffix == "min" || suffix == "soft" || suffix == "hard")
      return {file.substr(0, dot), suffix};
  }
  return {file, ""};
}

template <std::size_t N>
void read_limits(TreeReader& r, const char* dirname, const std::array<std::string_view, N>& table,
                 bool has_min, std::map<std::string, Rlimit>& out) {
  auto files = r.entries(dirname, is_file_entry);
  // Bare files first so that the suffixed ones override them whatever the order.
  std::stable_sort(files.begin(), files.end(), [](const std::string& a, const std::string& b) {
    return split_limit_name(a).second.empty() && !split_limit_name(b).second.empty();
  });
  for (const auto& file : files) {
    auto [res, suffix] = split_limit_name(file);
    fs::path rel = fs::path(dirname) / file;
    if (!known_resource(table, res)) {
      std::string names;
      for (auto n : table) {
        if (!names.empty()) names += ", ";
        names += n;
      }
      r.problem(r.path(rel), "unknown resource " + quote(res) + " (" + names + ")");
      continue;
    }
    if (suffix == "min" && !has_min) {
      std::string msg = "ulimits have no minimum; use ";
      msg.append(res).append(".soft and ").append(res).append(".hard");
      r.problem(r.path(rel), std::move(msg));
      continue;
    }
    auto t = r.scalar(rel);
    if (!t) continue;
    auto v = parse_limit(t->value);
    if (!v) {
      r.problem(t->path, quote(t->value) +
                             " is not a limit (a number, 0x-hex, optionally followed by K, M, G, "
                             "k, m or g; or inf)");
      continue;
    }
    Rlimit& l = out[res];
    if (suffix.empty()) {
      if (has_min) l.min = v;
      l.soft = v;
      l.hard = v;
    } else if (suffix == "min") {
      l.min = v;
    } else if (suffix == "soft") {
      l.soft = v;
    } else {
      l.hard = v;
    }
  }
  for (const auto& [res, l] : out) {
    if (l.soft && l.hard && *l.soft > *l.hard) {
      r.problem(r.path(fs::path(dirname) / (res + ".soft")), "soft limit " + format_limit(*l.soft) +
                                                                 " is above the hard limit " +
                                                                 format_limit(*l.hard));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// sched/, schedule, cpuset/, cgroup/ and limits/ (util-vserver.md §1.7; docs/limits.md)

// Jiffies and tokens are ints in the VServer kernel.
constexpr long long kIntMax = 2147483647;

struct SchedItem {
  const char* file;
  std::optional<std::int64_t> Sched::*field;
  long long lo;
  long long hi;
  const char* what;
};
// In the order of the legacy schedule file's lines for the first six.
constexpr std::array<SchedItem, 8> kSchedItems = {{
    {"fill-rate", &Sched::fill_rate, 0, kIntMax, "a fill rate in tokens per interval"},
    {"interval", &Sched::interval, 1, kIntMax, "an interval in jiffies"},
    {"tokens", &Sched::tokens, 0, kIntMax, "a number of tokens"},
    {"tokens-min", &Sched::tokens_min, 0, kIntMax, "a number of tokens"},
    {"tokens-max", &Sched::tokens_max, 0, kIntMax, "a number of tokens"},
    {"priority-bias", &Sched::prio_bias, -20, 20, "a priority bias"},
    {"fill-rate2", &Sched::fill_rate2, 0, kIntMax, "a fill rate in tokens per interval"},
    {"interval2", &Sched::interval2, 1, kIntMax, "an interval in jiffies"},
}};
constexpr const char* kSchedNames =
    "fill-rate, interval, tokens, tokens-min, tokens-max, priority-bias, fill-rate2, interval2, "
    "idle-time";

const SchedItem* sched_item(std::string_view file) {
  if (file == "prio-bias") file = "priority-bias";  // vsched's alias
  for (const auto& item : kSchedItems) {
    if (file == item.file) return &item;
  }
  return nullptr;
}

std::string range_text(long long lo, long long hi) {
  return " (" + std::to_string(lo) + ".." + std::to_string(hi) + ")";
}

// A per-CPU bucket sched/DIR/ (§1.7): not applied (CFS bandwidth is aggregate), but checked so
// that a typo is not silently carried along.
void check_sched_bucket(TreeReader& r, const fs::path& rel) {
  bool cpu_id = false;
  for (const auto& name : r.entries(rel, is_file_entry)) {
    fs::path file = rel / name;
    if (name == "idle-time" || name == "cpu_mask") continue;
    if (name == "cpu-id" || name == "bucket-id") {
      if (auto t = r.scalar(file)) bounded(r, *t, 0, kIntMax, "a CPU or bucket number");
      cpu_id = cpu_id || name == "cpu-id";
      continue;
    }
    const SchedItem* item = sched_item(name);
    if (item == nullptr) {
      r.problem(r.path(file), std::string("unknown file (") + kSchedNames + ", cpu-id, bucket-id)");
      continue;
    }
    if (auto t = r.scalar(file)) bounded(r, *t, item->lo, item->hi, item->what);
  }
  if (!cpu_id) r.problem(r.path(rel), "per-CPU bucket without cpu-id");
}

// sched/, or the legacy schedule file when there is no sched/ directory (util-vserver's
// _generateScheduleOptions tests for the directory). Returns the file that set the rate
// (fill-rate, else interval), for the conflict with limits/cpu.
std::optional<fs::path> read_sched(TreeReader& r, Sched& s) {
  if (r.is_dir("sched")) {
    for (const auto& name : r.entries("sched", is_file_entry)) {
      fs::path rel = fs::path("sched") / name;
      if (name == "idle-time") {
        s.idle_time = true;
        continue;
      }
      if (name == "cpu_mask") continue;  // deprecated; vsched ignores it too
      if (name == "cpu-id" || name == "bucket-id") {
        r.problem(r.path(rel), "belongs in a per-CPU directory sched/DIR/, not in sched/");
        continue;
      }
      const SchedItem* item = sched_item(name);
      if (item == nullptr) {
        r.problem(r.path(rel), std::string("unknown file (") + kSchedNames + ")");
        continue;
      }
      if (name == "prio-bias" && r.exists("sched/priority-bias")) {
        r.problem(r.path(rel), "sched/priority-bias sets the same value; keep one of them");
        continue;
      }
      auto t = r.scalar(rel);
      if (!t) continue;
      if (auto v = bounded(r, *t, item->lo, item->hi, item->what)) s.*(item->field) = *v;
    }
    for (const auto& dir : r.entries("sched", is_dir_entry)) {
      check_sched_bucket(r, fs::path("sched") / dir);
      s.per_cpu.push_back(dir);
    }
    s.schedule_ignored = r.exists("schedule");
    if (s.fill_rate) return fs::path("sched/fill-rate");
    if (s.interval) return fs::path("sched/interval");
    return std::nullopt;
  }

  auto t = r.read("schedule");
  if (!t) return std::nullopt;
  auto lines = split_lines(t->value);
  if (lines.size() < 6 || trim(lines[5]).empty()) {
    r.problem(t->path,
              "bad content: 6 lines expected (fill-rate, interval, tokens, tokens-min, "
              "tokens-max, priority-bias), found " +
                  std::to_string(lines.size() < 6 ? lines.size() : 5));
    return std::nullopt;
  }
  Sched parsed;
  bool ok = true;
  for (std::size_t i = 0; i < 6; ++i) {
    const SchedItem& item = kSchedItems[i];
    std::string_view value = trim(lines[i]);
    auto v = parse_integer(value);
    if (!v || *v < item.lo || *v > item.hi) {
      r.problem(t->path, "line " + std::to_string(i + 1) + " (" + item.file + "): " + quote(value) +
                             " is not " + item.what + range_text(item.lo, item.hi));
      ok = false;
      continue;
    }
    parsed.*(item.field) = *v;
  }
  if (!ok) return std::nullopt;
  s = parsed;
  return fs::path("schedule");
}

// A CPU or memory node list as cpuset.cpus takes it: "0-3,5".
bool valid_cpu_list(std::string_view s) {
  if (s.empty()) return false;
  std::size_t pos = 0;
  while (true) {
    std::size_t comma = s.find(',', pos);
    std::string_view item = s.substr(pos, comma == std::string_view::npos ? comma : comma - pos);
    std::size_t dash = item.find('-');
    auto first = parse_integer(item.substr(0, dash));
    if (!first || *first < 0) return false;
    if (dash != std::string_view::npos) {
      auto last = parse_integer(item.substr(dash + 1));
      if (!last || *last < *first) return false;
    }
    if (comma == std::string_view::npos) return true;
    pos = comma + 1;
  }
}

constexpr std::array<std::string_view, 8> kCpusetFiles = {
    "name",           "cpus",          "mems",        "cpu_exclusive",
    "cpus_exclusive", "mem_exclusive", "virtualized", "nocreate"};

// cpu_exclusive, mem_exclusive, virtualized: util-vserver copies their content into the cpuset
// (addtoCPUSET), so "1" means yes and "0" no. An empty file counts as yes, like the boolean files
// of the tree.
std::optional<bool> zero_one(TreeReader& r, const fs::path& rel) {
  auto t = r.scalar(rel);
  if (!t) return std::nullopt;
  if (t->value.empty() || t->value == "1") return true;
  if (t->value == "0") return false;
  r.problem(t->path, quote(t->value) + " is not 0 or 1");
  return std::nullopt;
}

void read_cpuset(TreeReader& r, Cpuset& c) {
  for (const auto& name : r.entries("cpuset", is_file_entry)) {
    if (std::find(kCpusetFiles.begin(), kCpusetFiles.end(), name) == kCpusetFiles.end()) {
      r.problem(r.path(fs::path("cpuset") / name),
                "unknown file (name, cpus, mems, cpu_exclusive, mem_exclusive, virtualized, "
                "nocreate)");
    }
  }
  if (auto t = r.scalar("cpuset/name")) {
    if (valid_word(t->value)) {
      c.name = t->value;
    } else {
      r.problem(t->path, quote(t->value) + " is not a cpuset name (one word)");
    }
  }
  for (auto [rel, field, what] : {std::tuple{"cpuset/cpus", &Cpuset::cpus, "CPUs"},
                                  std::tuple{"cpuset/mems", &Cpuset::mems, "memory nodes"}}) {
    auto t = r.scalar(rel);
    if (!t) continue;
    if (valid_cpu_list(t->value)) {
      c.*field = t->value;
    } else {
      r.problem(t->path, quote(t->value) + " is not a list of " + what + " (like 0-3,5)");
    }
  }
  std::optional<bool> exclusive = zero_one(r, "cpuset/cpu_exclusive");
  // vserver-build --cpusetcpus N:1 writes cpus_exclusive, which util-vserver's start never read.
  if (!r.exists("cpuset/cpu_exclusive")) exclusive = zero_one(r, "cpuset/cpus_exclusive");
  c.cpu_exclusive = exclusive.value_or(false);
  c.mem_exclusive = zero_one(r, "cpuset/mem_exclusive").value_or(false);
  c.virtualized = zero_one(r, "cpuset/virtualized").value_or(false);
  c.nocreate = r.flag("cpuset/nocreate");
}

// util-vserver's cgroup/ control files that are accepted and not used (the hierarchies are found
// automatically), and files that the runtime itself manages.
constexpr std::array<std::string_view, 4> kCgroupIgnored = {"inherit", "mnt", "per-ss", "subsys"};
constexpr std::array<std::string_view, 7> kCgroupManaged = {
    "cgroup.procs", "cgroup.threads", "cgroup.kill",          "cgroup.subtree_control",
    "cgroup.type",  "tasks",          "cgroup.clone_children"};

// Why a file name cannot be a cgroup/ file written verbatim; empty when it can.
std::string bad_cgroup_file(std::string_view name) {
  if (name.empty() || name.find('/') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos) {
    return "not a file name";
  }
  if (name.front() == '.') return "a hidden file is not a cgroup file; rename or remove it";
  if (std::find(kCgroupManaged.begin(), kCgroupManaged.end(), name) != kCgroupManaged.end()) {
    return "managed by vserver itself; it cannot be set in cgroup/";
  }
  if (name.find('.') == std::string_view::npos) {
    return "not a controller file (CONTROLLER.NAME, like cpu.weight)";
  }
  return {};
}

// cgroup/base and cgroup/name: a relative path without empty, "." or ".." components.
bool valid_cgroup_path(std::string_view s) {
  if (s.empty() || s.front() == '/') return false;
  std::size_t pos = 0;
  while (true) {
    std::size_t slash = s.find('/', pos);
    std::string_view part = s.substr(pos, slash == std::string_view::npos ? slash : slash - pos);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string_view::npos) return true;
    pos = slash + 1;
  }
}

// cgroup/base or cgroup/name; util-vserver writes base with a trailing '/', which is dropped.
std::optional<std::string> cgroup_path_item(TreeReader& r, const fs::path& rel) {
  auto t = r.scalar(rel);
  if (!t) return std::nullopt;
  std::string v = t->value;
  if (rel.filename() == "base") {
    while (v.size() > 1 && v.back() == '/') v.pop_back();
  }
  if (!valid_cgroup_path(v)) {
    r.problem(t->path,
              quote(t->value) + " is not a relative cgroup path (no empty, \".\" or \"..\" parts)");
    return std::nullopt;
  }
  return v;
}

// The cgroup/ directory of one tree (a guest's, or .defaults).
void read_cgroup_dir(TreeReader& r, CgroupConfig& c, bool defaults) {
  for (const auto& name : r.entries(
           "cgroup", [](const auto&) { return true; }, true)) {
    fs::path rel = fs::path("cgroup") / name;
    if (std::find(kCgroupIgnored.begin(), kCgroupIgnored.end(), name) != kCgroupIgnored.end()) {
      c.ignored.push_back(name);
      continue;
    }
    std::error_code ec;
    if (!fs::is_regular_file(r.path(rel), ec)) {
      r.problem(r.path(rel), "not a regular file");
      continue;
    }
    if (name == "name" || name == "base") {
      auto v = cgroup_path_item(r, rel);
      if (!v) continue;
      if (name == "base") {
        c.base = std::move(v);
      } else if (defaults) {
        r.problem(r.path(rel), "every guest would share one cgroup; set cgroup/name per guest");
      } else {
        c.name = std::move(v);
      }
      continue;
    }
    if (auto why = bad_cgroup_file(name); !why.empty()) {
      r.problem(r.path(rel), why);
      continue;
    }
    auto t = r.read(rel);
    if (!t) continue;
    std::string v = std::move(t->value);
    if (!v.empty() && v.back() == '\n') v.pop_back();
    c.files[name] = std::move(v);
  }
}

// What a guest without a cgroup/ directory of its own gets from .defaults/cgroup/ (the whole
// directory, util-vserver's findDir), or with nocgroup only the base. Problems go to problems.
CgroupConfig inherited_cgroup(const fs::path& defaults, bool disabled,
                              std::vector<Problem>& problems) {
  TreeReader d(defaults, defaults, problems);
  CgroupConfig c;
  c.disabled = disabled;
  if (disabled) {
    c.base = cgroup_path_item(d, "cgroup/base");
  } else {
    read_cgroup_dir(d, c, true);
  }
  return c;
}

// cgroup/ of the guest, else .defaults/cgroup/ unless nocgroup exists. util-vserver reads base,
// mnt, subsys, inherit and per-ss only from .defaults/cgroup/; here a guest's own base wins, and
// the .defaults ones apply to guests with a cgroup/ of their own too.
void read_cgroup(TreeReader& r, std::vector<Problem>& problems, CgroupConfig& c) {
  bool disabled = r.flag("nocgroup");
  if (!r.is_dir("cgroup")) {
    c = inherited_cgroup(r.defaults(), disabled, problems);
    return;
  }
  c.disabled = disabled;
  read_cgroup_dir(r, c, false);
  TreeReader d(r.defaults(), r.defaults(), problems);
  if (!c.base) c.base = cgroup_path_item(d, "cgroup/base");
  for (auto name : kCgroupIgnored) {
    std::string n(name);
    if (d.exists(fs::path("cgroup") / n) &&
        std::find(c.ignored.begin(), c.ignored.end(), n) == c.ignored.end()) {
      c.ignored.push_back(n);
    }
  }
  std::sort(c.ignored.begin(), c.ignored.end());
}

constexpr std::array<std::string_view, 5> kByteLimitFiles = {"address-space", "cpu", "memory",
                                                             "processes", "swap"};

bool unlimited_word(std::string_view s) {
  std::string l = to_lower(s);
  return l == "inf" || l == "max" || l == "unlimited";
}

void read_byte_limits(TreeReader& r, ByteLimits& l) {
  for (const auto& name : r.entries("limits", is_file_entry)) {
    if (std::find(kByteLimitFiles.begin(), kByteLimitFiles.end(), name) == kByteLimitFiles.end()) {
      r.problem(r.path(fs::path("limits") / name),
                "unknown file (memory, swap, address-space, processes, cpu)");
    }
  }
  auto bytes = [&](const char* rel, std::optional<std::uint64_t>& out, bool zero_ok) {
    auto t = r.scalar(rel);
    if (!t) return;
    auto v = parse_bytes(t->value);
    if (!v) {
      r.problem(t->path, quote(t->value) +
                             " is not a size (a number of bytes, optionally followed by K, M, G "
                             "or T, times 1024, and B or iB; or max)");
    } else if (*v == 0 && !zero_ok) {
      r.problem(t->path, "0 bytes would leave the guest nothing; remove the file for no limit");
    } else {
      out = v;
    }
  };
  bytes("limits/memory", l.memory, false);
  bytes("limits/swap", l.swap, true);
  bytes("limits/address-space", l.address_space, false);
  if (auto t = r.scalar("limits/processes")) {
    auto v = parse_integer(t->value);
    if (unlimited_word(t->value)) {
      l.processes = kUnlimited;
    } else if (v && *v >= 1) {
      l.processes = static_cast<std::uint64_t>(*v);
    } else {
      r.problem(t->path, quote(t->value) + " is not a number of processes (1 or more, or max)");
    }
  }
  if (auto t = r.scalar("limits/cpu")) {
    if (auto v = parse_cpus(t->value)) {
      l.cpus = v;
    } else {
      r.problem(t->path, quote(t->value) + " is not a number of CPUs (like 0.5, 2 or 50%)");
    }
  }
}

// limits/ says in bytes what rlimits/ and sched/ say in pages and tokens: one of each pair only.
void check_limit_conflicts(TreeReader& r, const GuestConfig& cfg,
                           const std::optional<fs::path>& rate_file) {
  // The first existing rlimits/ file of a resource, to name it.
  auto file_of = [&](const std::string& res, std::initializer_list<const char*> suffixes) {
    for (const char* suffix : suffixes) {
      std::string f = "rlimits/" + res + suffix;
      if (r.exists(f)) return f;
    }
    return "rlimits/" + res;
  };
  auto conflict = [&](const char* ours, const std::string& theirs, const char* what) {
    r.problem(r.path(ours), "conflicts with " + theirs + ": both " + what + "; keep one of them");
  };
  const Rlimit* rss = cfg.rlimits.count("rss") != 0 ? &cfg.rlimits.at("rss") : nullptr;
  const auto& l = cfg.limits;
  bool ram_conflict = l.memory && rss && rss->soft;
  if (ram_conflict) conflict("limits/memory", file_of("rss", {".soft", ""}), "set the guest's RAM");
  if (l.swap && rss && rss->hard) {
    conflict("limits/swap", file_of("rss", {".hard", ""}), "set the guest's swap");
  }
  if (l.address_space && cfg.rlimits.count("as") != 0) {
    conflict("limits/address-space", file_of("as", {"", ".soft", ".hard", ".min"}),
             "set the address space of the guest's processes");
  }
  if (l.processes && cfg.rlimits.count("nproc") != 0) {
    conflict("limits/processes", file_of("nproc", {"", ".hard", ".soft", ".min"}),
             "set the guest's number of processes");
  }
  if (l.cpus && rate_file && cfg.cflags.count("sched_hard") != 0) {
    conflict("limits/cpu", rate_file->string() + " and cflags sched_hard", "cap the guest's CPU");
  }
  // rss.hard is RAM plus swap: below limits/memory it makes no sense.
  if (l.memory && !ram_conflict && rss && rss->hard && *rss->hard != kUnlimited) {
    long page = ::sysconf(_SC_PAGESIZE);
    std::uint64_t total = 0;
    if (page > 0 && !__builtin_mul_overflow(*rss->hard, static_cast<std::uint64_t>(page), &total) &&
        total < *l.memory) {
      r.problem(r.path("limits/memory"), format_bytes(*l.memory) + " is above " +
                                             file_of("rss", {".hard", ""}) + " (RAM plus swap, " +
                                             format_bytes(total) + ")");
    }
  }
}

// Writes items into one guest's tree: every file atomically, parent directories on demand.
// dlimits/ (§1.8). util-vserver skips an entry silently unless all four files exist; here a
// missing value is simply "no limit of that kind" and what cannot be honoured is a problem.
void read_dlimits(TreeReader& r, GuestConfig& cfg) {
  DiskLimits& d = cfg.dlimits;
  if (!r.is_dir("dlimits")) {
    if (r.exists("dlimits")) r.problem(r.path("dlimits"), "not a directory");
    return;
  }
  if (auto t = r.scalar("dlimits/method")) {
    if (auto m = disk_limit_method_from_string(t->value)) {
      d.method = *m;
    } else {
      r.problem(t->path, "unknown disk limit method " + quote(t->value) + " (auto, quota, image)");
    }
  }
  for (const auto& id : r.entries("dlimits", is_dir_entry)) {
    fs::path dir = fs::path("dlimits") / id;
    if (r.flag(dir / "disabled")) {
      d.disabled.push_back(id);
      continue;
    }
    DiskLimit l;
    l.id = id;
    bool ok = true;
    if (auto t = r.scalar(dir / "directory")) {
      fs::path p(t->value);
      if (t->value.empty() || !p.is_absolute()) {
        r.problem(t->path, quote(t->value) + " is not an absolute path");
        ok = false;
      } else {
        l.directory = p.lexically_normal();
      }
    }
    auto amount = [&](const char* file, std::uint64_t max, std::string_view unit,
                      std::uint64_t& out) {
      auto t = r.scalar(dir / file);
      if (!t) return;
      auto v = parse_disk_limit(t->value, max);
      if (!v) {
        r.problem(t->path, quote(t->value) + " is not " + std::string(unit) +
                               " (a number from 1 to " + std::to_string(max) +
                               ", or -1 or inf for no limit)");
        ok = false;
      } else {
        out = *v;
      }
    };
    amount("space_total", kMaxDiskSpaceKiB, "a space in KiB", l.space_total);
    amount("inodes_total", kMaxDiskInodes, "a number of inodes", l.inodes_total);
    if (auto t = r.scalar(dir / "reserved")) {
      if (auto v = bounded(r, *t, 0, 100, "a percentage")) {
        l.reserved = *v;
      } else {
        ok = false;
      }
    }
    if (!ok) continue;
    if (l.space_total == kUnlimited && l.inodes_total == kUnlimited) {
      r.problem(r.path(dir), "neither space_total nor inodes_total sets a limit");
      continue;
    }
    if (d.limit) {
      r.problem(r.path(dir),
                "a second disk limit; a guest has one, on the filesystem of its data "
                "(dlimits/" +
                    d.limit->id + " is that one)");
      continue;
    }
    d.limit = std::move(l);
  }
  if (!d.limit) return;
  fs::path where = r.path(fs::path("dlimits") / d.limit->id);
  if (d.method != DiskLimitMethod::image && !cfg.context) {
    r.problem(where,
              "a disk limit needs a static context, since the project quota is keyed by the "
              "context id: write one into " +
                  r.path("context").string() +
                  " (or use the image method: dlimits/method = image)");
  }
  if (d.method == DiskLimitMethod::image && d.limit->space_total == kUnlimited) {
    r.problem(where, "the image method needs space_total (the size of the image)");
  }
}

// The host paths a bind mount in fstab may not bring into a guest: the host's root, the kernel's
// views, the guests' configuration, roots and state, and anything that contains one of them.
std::string refused_bind_source(const Roots& roots, const fs::path& source) {
  const std::array<fs::path, 3> kernel = {"/proc", "/sys", "/dev"};
  for (const auto& k : kernel) {
    if (is_within(source, k)) return "the host's " + k.string() + " (the guest has its own)";
  }
  struct Protected {
    fs::path path;
    const char* what;
  };
  const std::array<Protected, 7> guarded = {{
      {roots.config, "the guests' configuration"},
      {"/etc/vservers", "the guests' configuration"},
      {roots.vdir, "the guests' root filesystems"},
      {"/var/lib/vservers", "the guests' root filesystems"},
      {roots.run, "the guests' runtime state"},
      {"/run/vservers", "the guests' runtime state"},
      {roots.log, "the guests' console logs"},
  }};
  for (const auto& p : guarded) {
    fs::path n = p.path.lexically_normal();
    if (is_within(source, n)) return n.string() + ", " + p.what;
    if (is_within(n, source)) {
      return source == "/" ? std::string("the host's root")
                           : "a directory that holds " + n.string() + ", " + p.what;
    }
  }
  if (source == "/run") return "the host's /run";
  return {};
}

// fstab entries that can be parsed but must not be mounted: checked now, before any syscall.
void check_fstab(TreeReader& r, const Roots& roots, const GuestConfig& cfg) {
  fs::path file = r.path("fstab");
  for (const auto& e : cfg.fstab) {
    std::string line = format_fstab({e});
    if (!line.empty() && line.back() == '\n') line.pop_back();
    auto refuse = [&](const std::string& why) { r.problem(file, quote(line) + ": " + why); };
    if (fs::path(e.target).lexically_normal() == "/" && e.type != "proc" && e.type != "sysfs") {
      refuse("mounting over the guest's root is not supported; point the vdir link at it instead");
      continue;
    }
    auto opts = split_options(e.options);
    bool bind = e.type == "bind" || std::find(opts.begin(), opts.end(), "bind") != opts.end() ||
                std::find(opts.begin(), opts.end(), "rbind") != opts.end();
    if (bind) {
      fs::path src(e.source);
      if (!src.is_absolute()) {
        refuse("the source of a bind mount must be an absolute host path");
        continue;
      }
      std::string why = refused_bind_source(roots, src.lexically_normal());
      if (why.empty()) {
        // The path as the kernel will resolve it: a symlink must not lead where a typo may not.
        std::error_code ec;
        fs::path real = fs::weakly_canonical(src, ec);
        if (!ec && real != src.lexically_normal()) {
          why = refused_bind_source(roots, real);
          if (!why.empty()) why += " (through " + real.string() + ")";
        }
      }
      if (!why.empty()) refuse("a bind mount of " + why + " is refused");
      continue;
    }
    if (e.type == "tmpfs") {
      for (const auto& o : opts) {
        if (o.rfind("size=", 0) == 0 && !valid_tmpfs_size(o.substr(5))) {
          refuse(quote(o) + " is not a tmpfs size (bytes with k, m or g, or a percentage of RAM)");
        }
      }
    }
  }
}

class TreeWriter {
 public:
  TreeWriter(fs::path dir, fs::path defaults)
      : dir_(std::move(dir)), defaults_(std::move(defaults)) {}

  [[nodiscard]] fs::path path(const fs::path& rel) const { return dir_ / rel; }

  void put(const fs::path& rel, std::string_view content) {
    fs::path p = dir_ / rel;
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    if (ec) throw_errno("create directory", p.parent_path().string(), ec.value());
    write_file_atomic(p, content, 0644, false);
  }
  void put_line(const fs::path& rel, std::string_view value) {
    put(rel, std::string(value) + "\n");
  }
  void put_lines(const fs::path& rel, const auto& lines) {
    std::string content;
    for (const auto& l : lines) {
      content += l;
      content += '\n';
    }
    put(rel, content);
  }
  void put_flag(const fs::path& rel, bool set) {
    if (set) {
      if (!exists(rel)) put(rel, "");
    } else {
      remove(rel);
    }
  }
  void put_optional(const fs::path& rel, const std::optional<std::string>& v) {
    if (v) {
      put_line(rel, *v);
    } else {
      remove(rel);
    }
  }

  void remove(const fs::path& rel) {
    fs::path p = dir_ / rel;
    if (::unlink(p.c_str()) != 0 && errno != ENOENT && errno != ENOTDIR) {
      throw_errno("remove", p.string());
    }
  }
  // Removes a file, a link or a whole directory.
  void remove_tree(const fs::path& rel) {
    fs::path p = dir_ / rel;
    std::error_code ec;
    fs::remove_all(p, ec);
    if (ec) throw_errno("remove", p.string(), ec.value());
  }

  [[nodiscard]] bool exists(const fs::path& rel) const {
    struct stat st {};
    return ::lstat((dir_ / rel).c_str(), &st) == 0;
  }
  [[nodiscard]] bool is_dir(const fs::path& rel) const {
    struct stat st {};
    return ::stat((dir_ / rel).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }
  void make_dir(const fs::path& rel) {
    fs::path p = dir_ / rel;
    std::error_code ec;
    fs::create_directories(p, ec);
    if (ec) throw_errno("create directory", p.string(), ec.value());
  }
  [[nodiscard]] const fs::path& defaults() const { return defaults_; }
  // Whether .defaults holds this item: then the guest needs its own file even for the built-in
  // default, or the .defaults value would win on the next load.
  // Whether .defaults holds rel, for the few switches read there that are not fallbacks.
  [[nodiscard]] bool defaults_hold(const fs::path& rel) const {
    struct stat st {};
    return ::stat((defaults_ / rel).c_str(), &st) == 0;
  }
  [[nodiscard]] bool in_defaults(const fs::path& rel) const {
    struct stat st {};
    return falls_back(rel) && ::stat((defaults_ / rel).c_str(), &st) == 0;
  }

  // Names in a directory of the tree (empty if it does not exist).
  [[nodiscard]] std::vector<std::string> names(const fs::path& rel) const {
    std::vector<std::string> out;
    fs::path d = dir_ / rel;
    std::error_code ec;
    fs::directory_iterator it(d, ec);
    if (ec) {
      if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory)
        return out;
      throw_errno("open directory", d.string(), ec.value());
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      out.push_back(it->path().filename().string());
    }
    if (ec) throw_errno("read directory", d.string(), ec.value());
    return out;
  }

 private:
  fs::path dir_;
  fs::path defaults_;
};

// cfgdir/vdir as an absolute symlink to vdir, replaced atomically when it points elsewhere.
void write_vdir_link(const fs::path& cfgdir, const fs::path& vdir) {
  fs::path link = cfgdir / "vdir";
  struct stat st {};
  if (::lstat(link.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode)) {
      std::error_code ec;
      if (fs::read_symlink(link, ec) == vdir && !ec) return;
    } else if (S_ISDIR(st.st_mode)) {
      std::error_code ec;
      if (link == vdir || fs::equivalent(link, vdir, ec)) return;
      throw Error(link.string() + " is a directory, not a link to " + vdir.string());
    } else {
      throw Error(link.string() + " is not a symbolic link");
    }
  } else if (errno != ENOENT) {
    throw_errno("stat", link.string());
  }
  fs::path tmp = link;
  tmp += ".tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  if (::symlink(vdir.c_str(), tmp.c_str()) != 0) {
    throw_errno("symlink " + vdir.string() + " at", tmp.string());
  }
  if (::rename(tmp.c_str(), link.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw_errno("rename " + tmp.string() + " to", link.string(), err);
  }
}

void write_init(TreeWriter& w, const InitConfig& init) {
  // Without a style file, a cmd.start makes the style command: write sysv out explicitly then.
  if (init.style != InitStyle::sysv || !init.cmd_start.empty()) {
    w.put_line("apps/init/style", to_string(init.style));
  } else {
    w.remove("apps/init/style");
  }
  w.put_optional("apps/init/mark", init.mark);
  for (auto [rel, lines] : {std::pair{"apps/init/cmd.start", &init.cmd_start},
                            std::pair{"apps/init/cmd.stop", &init.cmd_stop}}) {
    if (lines->empty()) {
      w.remove(rel);
    } else {
      w.put_lines(rel, *lines);
    }
  }
  InitConfig defaults;
  w.remove("apps/init/runlevel");  // runlevel.start says it
  if (init.runlevel_start != defaults.runlevel_start) {
    w.put_line("apps/init/runlevel.start", init.runlevel_start);
  } else {
    w.remove("apps/init/runlevel.start");
  }
  if (init.runlevel_stop != defaults.runlevel_stop) {
    w.put_line("apps/init/runlevel.stop", init.runlevel_stop);
  } else {
    w.remove("apps/init/runlevel.stop");
  }
  if (!init.environment.empty() || w.in_defaults("apps/init/environment")) {
    w.put_lines("apps/init/environment", init.environment);
  } else {
    w.remove("apps/init/environment");
  }
  if (!init.depends.empty()) {
    w.put_lines("apps/init/depends", init.depends);
  } else {
    w.remove("apps/init/depends");
  }
  if (init.killseq != defaults.killseq || w.in_defaults("apps/init/killseq")) {
    std::vector<std::string> fields;
    for (int v : init.killseq) fields.push_back(std::to_string(v));
    w.put_lines("apps/init/killseq", fields);
  } else {
    w.remove("apps/init/killseq");
  }
  if (init.stop_timeout != defaults.stop_timeout || w.in_defaults("apps/vshelper/sync-timeout")) {
    w.put_line("apps/vshelper/sync-timeout", std::to_string(init.stop_timeout));
  } else {
    w.remove("apps/vshelper/sync-timeout");
  }
  if (init.vshelper_action != defaults.vshelper_action || w.in_defaults("apps/vshelper/action")) {
    w.put_line("apps/vshelper/action", to_string(init.vshelper_action));
  } else {
    w.remove("apps/vshelper/action");
  }
  w.put_flag("apps/vshelper/disabled",
             init.vshelper_disabled && !w.in_defaults("apps/vshelper/disabled"));
}

void write_network(TreeWriter& w, const GuestConfig& cfg) {
  if (cfg.network != NetworkMode::automatic) {
    w.put_line("network/mode", to_string(cfg.network));
  } else {
    // spaces/net containing 0 means host unless network/mode says otherwise.
    auto net = read_file_if_exists(w.path("spaces/net"));
    if (net && trim(std::string_view(*net).substr(0, net->find('\n'))) == "0") {
      w.put_line("network/mode", to_string(cfg.network));
    } else {
      w.remove("network/mode");
    }
  }
  w.put_flag("network/create-bridge", cfg.create_bridge);

  // Every interface is written with its resolved values, so the global defaults go.
  for (const char* f : kInterfaceDefaults) w.remove(fs::path("interfaces") / f);
  w.remove("interfaces/vlandev");
  w.remove("interfaces/novlandev");
  const bool vlandev_by_default = w.defaults_hold("interfaces/vlandev");
  std::set<std::string> ids;
  for (const auto& i : cfg.interfaces) ids.insert(i.id);
  for (const auto& name : w.names("interfaces")) {
    fs::path base = fs::path("interfaces") / name;
    if (ids.count(name) != 0 || name.front() == '.') continue;
    struct stat st {};
    if (::stat(w.path(base).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    // The interface is gone, and so is whatever else its directory held for it (vlandev, tun…).
    w.remove_tree(base);
  }
  for (const auto& i : cfg.interfaces) {
    fs::path base = fs::path("interfaces") / i.id;
    w.put_line(base / "ip", i.ip);
    w.put_optional(base / "dev", i.dev);
    if (i.prefix >= 0) {
      w.put_line(base / "prefix", std::to_string(i.prefix));
    } else {
      w.remove(base / "prefix");
    }
    w.remove(base / "mask");
    w.put_optional(base / "name", i.name);
    w.put_optional(base / "bcast", i.bcast);
    w.put_optional(base / "scope", i.scope);
    w.put_optional(base / "peer", i.peer);
    w.put_optional(base / "mac", i.mac);
    w.put_optional(base / "gateway", i.gateway);
    w.put_flag(base / "nodev", i.nodev);
    w.remove(base / "only_ip");
    w.put_flag(base / "disabled", i.disabled);
    w.put_flag(base / "down", i.down);
    w.put_flag(base / "vlandev", i.vlandev);
    w.put_flag(base / "novlandev",
               !i.vlandev && vlandev_by_default && i.dev && split_vlan_device(*i.dev));
    w.put_flag(base / "tun", i.tun == TunKind::tun);
    w.put_flag(base / "tap", i.tun == TunKind::tap);
    auto number = [](const auto& v) {
      return v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt;
    };
    w.put_optional(base / "uid", number(i.tun_uid));
    w.put_optional(base / "gid", number(i.tun_gid));
    w.put_optional(base / "linktype", number(i.linktype));
    w.put_flag(base / "nocsum", i.nocsum);
  }
}

template <std::size_t N>
void write_limits(TreeWriter& w, const char* dirname, const std::array<std::string_view, N>& table,
                  bool has_min, const std::map<std::string, Rlimit>& limits) {
  std::map<std::string, std::string> files;  // file name → value
  for (const auto& [res, l] : limits) {
    if (!known_resource(table, res)) {
      throw Error(std::string("cannot write ") + dirname + "/" + res + ": unknown resource");
    }
    if (!has_min && l.min) {
      throw Error(std::string("cannot write ") + dirname + "/" + res +
                  ".min: ulimits have no minimum");
    }
    bool all_equal = l.soft && l.hard && l.soft == l.hard && (has_min ? l.min == l.soft : !l.min);
    if (all_equal) {
      files[res] = format_limit(*l.soft);
      continue;
    }
    if (l.min) files[res + ".min"] = format_limit(*l.min);
    if (l.soft) files[res + ".soft"] = format_limit(*l.soft);
    if (l.hard) files[res + ".hard"] = format_limit(*l.hard);
  }
  for (const auto& name : w.names(dirname)) {
    if (files.count(name) != 0) continue;
    auto [res, suffix] = split_limit_name(name);
    if (known_resource(table, res)) w.remove(fs::path(dirname) / name);
  }
  for (const auto& [name, value] : files) w.put_line(fs::path(dirname) / name, value);
}

// A byte size in the largest unit that keeps it exact ("512M"), "max" for no limit.
std::string exact_bytes(std::uint64_t v) {
  if (v == kUnlimited) return "max";
  for (auto [shift, unit] :
       {std::pair{40, 'T'}, std::pair{30, 'G'}, std::pair{20, 'M'}, std::pair{10, 'K'}}) {
    std::uint64_t size = std::uint64_t{1} << shift;
    if (v != 0 && v % size == 0) return std::to_string(v / size) + unit;
  }
  return std::to_string(v);
}

void write_sched(TreeWriter& w, const Sched& s) {
  for (const auto& item : kSchedItems) {
    fs::path rel = fs::path("sched") / item.file;
    if (auto v = s.*(item.field)) {
      w.put_line(rel, std::to_string(*v));
    } else {
      w.remove(rel);
    }
  }
  w.remove("sched/prio-bias");  // priority-bias says it
  w.put_flag("sched/idle-time", s.idle_time);
  w.remove("schedule");  // the legacy form of the same values
  // Per-CPU buckets stay as they are (check_writable made sure they exist); the ones no longer
  // listed go.
  for (const auto& name : w.names("sched")) {
    fs::path rel = fs::path("sched") / name;
    if (name.front() == '.' || !w.is_dir(rel)) continue;
    if (std::find(s.per_cpu.begin(), s.per_cpu.end(), name) == s.per_cpu.end()) {
      w.remove_tree(rel);
    }
  }
}

void write_cpuset(TreeWriter& w, const Cpuset& c) {
  w.put_optional("cpuset/name", c.name);
  w.put_optional("cpuset/cpus", c.cpus);
  w.put_optional("cpuset/mems", c.mems);
  for (auto [rel, set] : {std::pair{"cpuset/cpu_exclusive", c.cpu_exclusive},
                          std::pair{"cpuset/mem_exclusive", c.mem_exclusive},
                          std::pair{"cpuset/virtualized", c.virtualized}}) {
    if (set) {
      w.put_line(rel, "1");
    } else {
      w.remove(rel);
    }
  }
  w.remove("cpuset/cpus_exclusive");  // vserver-build's name of cpu_exclusive
  w.put_flag("cpuset/nocreate", c.nocreate);
}

// cgroup/: a guest without a directory of its own keeps going without one as long as what it
// inherits from .defaults/cgroup/ is what it should have.
void write_cgroup(TreeWriter& w, const CgroupConfig& c) {
  w.put_flag("nocgroup", c.disabled);
  std::vector<Problem> ignored;
  CgroupConfig inherited = inherited_cgroup(w.defaults(), c.disabled, ignored);
  if (!w.is_dir("cgroup") && c.files == inherited.files && c.name == inherited.name &&
      c.base == inherited.base) {
    return;
  }
  w.make_dir("cgroup");
  for (const auto& name : w.names("cgroup")) {
    if (name.front() == '.' || c.files.count(name) != 0 || name == "name" || name == "base") {
      continue;
    }
    if (std::find(kCgroupIgnored.begin(), kCgroupIgnored.end(), name) != kCgroupIgnored.end()) {
      continue;  // not ours
    }
    w.remove(fs::path("cgroup") / name);
  }
  for (const auto& [name, value] : c.files) w.put(fs::path("cgroup") / name, value + "\n");
  w.put_optional("cgroup/name", c.name);
  // The .defaults base applies to every guest without one of its own: write it only when it
  // differs, or when the guest already had its own file.
  std::vector<Problem> scratch;
  TreeReader d(w.defaults(), w.defaults(), scratch);
  if (c.base != cgroup_path_item(d, "cgroup/base") || w.exists("cgroup/base")) {
    w.put_optional("cgroup/base", c.base);
  }
}

void write_byte_limits(TreeWriter& w, const ByteLimits& l) {
  for (auto [rel, v] : {std::pair{"limits/memory", &l.memory}, std::pair{"limits/swap", &l.swap},
                        std::pair{"limits/address-space", &l.address_space}}) {
    if (*v) {
      w.put_line(rel, exact_bytes(**v));
    } else {
      w.remove(rel);
    }
  }
  if (l.processes) {
    w.put_line("limits/processes",
               *l.processes == kUnlimited ? "max" : std::to_string(*l.processes));
  } else {
    w.remove("limits/processes");
  }
  if (l.cpus) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, *l.cpus);  // shortest exact form
    w.put_line("limits/cpu", std::string_view(buf, ec == std::errc() ? end - buf : 0));
  } else {
    w.remove("limits/cpu");
  }
}

// dlimits/: the method when not auto, the enabled entry; entries with a disabled file are left as
// they are, and other entries are removed.
void write_dlimits(TreeWriter& w, const DiskLimits& d) {
  if (d.method == DiskLimitMethod::automatic) {
    w.remove("dlimits/method");
  } else {
    w.put_line("dlimits/method", to_string(d.method));
  }
  for (const auto& name : w.names("dlimits")) {
    fs::path rel = fs::path("dlimits") / name;
    if (!w.is_dir(rel) || name.front() == '.') continue;
    if (std::find(d.disabled.begin(), d.disabled.end(), name) != d.disabled.end()) continue;
    if (d.limit && d.limit->id == name) continue;
    w.remove_tree(rel);
  }
  if (!d.limit) return;
  const DiskLimit& l = *d.limit;
  fs::path dir = fs::path("dlimits") / l.id;
  w.make_dir(dir);
  auto amount = [&](const char* file, std::uint64_t v) {
    if (v == kUnlimited) {
      w.remove(dir / file);
    } else {
      w.put_line(dir / file, std::to_string(v));
    }
  };
  amount("space_total", l.space_total);
  amount("inodes_total", l.inodes_total);
  w.put_optional(dir / "directory",
                 l.directory ? std::optional<std::string>(l.directory->string()) : std::nullopt);
  if (l.reserved != 0 || w.exists(dir / "reserved")) {
    w.put_line(dir / "reserved", std::to_string(l.reserved));
  }
}

// What write_guest refuses for the items of this file because it could not be read back in the
// same shape: an Error naming the item, or nothing.
void check_writable(const GuestConfig& cfg, const fs::path& dir, const std::string& where) {
  for (const auto& name : cfg.sched.per_cpu) {
    struct stat st {};
    fs::path p = dir / "sched" / name;
    if (!valid_word(name) || name.front() == '.' || ::stat(p.c_str(), &st) != 0 ||
        !S_ISDIR(st.st_mode)) {
      throw Error(where + "per-CPU bucket sched/" + name +
                  "/ does not exist; such directories are kept, not created");
    }
  }
  for (const auto& [name, value] : cfg.cgroup.files) {
    std::string why = bad_cgroup_file(name);
    if (why.empty() &&
        (name == "name" || name == "base" ||
         std::find(kCgroupIgnored.begin(), kCgroupIgnored.end(), name) != kCgroupIgnored.end())) {
      why = "a control file, not a cgroup file";
    }
    if (!why.empty()) throw Error(where + "cgroup/" + name + ": " + why);
  }
  for (const auto& [item, v] :
       {std::pair{"cgroup/base", &cfg.cgroup.base}, std::pair{"cgroup/name", &cfg.cgroup.name}}) {
    if (*v && !valid_cgroup_path(**v)) {
      throw Error(where + item + " " + quote(**v) + " is not a relative cgroup path");
    }
  }
  if (!cfg.cgroup.base) {
    std::vector<Problem> scratch;
    TreeReader d(dir.parent_path() / ".defaults", dir.parent_path() / ".defaults", scratch);
    if (auto base = cgroup_path_item(d, "cgroup/base")) {
      throw Error(where + "no cgroup base, but .defaults/cgroup/base sets " + quote(*base) +
                  " for every guest; set the base explicitly");
    }
  }
  if (const auto& l = cfg.dlimits.limit) {
    if (l->id.empty() || l->id.front() == '.' || l->id.find('/') != std::string::npos ||
        l->reserved < 0 || l->reserved > 100 || (l->directory && !l->directory->is_absolute())) {
      throw Error(where + "dlimits/" + l->id + " cannot be written as it is");
    }
  }
  if (cfg.limits.cpus && !(*cfg.limits.cpus > 0 && std::isfinite(*cfg.limits.cpus))) {
    throw Error(where + "limits/cpu must be a positive number of CPUs");
  }
}

bool valid_interface_id(std::string_view id) {
  return !id.empty() && id.front() != '.' && id.find('/') == std::string_view::npos &&
         id.find('\0') == std::string_view::npos;
}

std::string join_problems(const std::vector<Problem>& problems) {
  std::string out;
  for (const auto& p : problems) {
    if (!out.empty()) out += '\n';
    out += p.to_string();
  }
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

ConfigError::ConfigError(std::vector<Problem> problems)
    : Error(join_problems(problems)), problems_(std::move(problems)) {}

std::vector<Problem> check_guest(const Roots& roots, std::string_view name, GuestConfig& cfg,
                                 std::set<std::string>* consulted) {
  if (!valid_guest_name(name)) throw Error("invalid guest name " + quote(name));
  fs::path dir = roots.guest_config_dir(name);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      throw Error("guest " + std::string(name) + " does not exist (no " + dir.string() + ")");
    }
    throw_errno("stat", dir.string());
  }
  if (!S_ISDIR(st.st_mode)) {
    throw Error("guest " + std::string(name) + " does not exist (" + dir.string() +
                " is not a directory)");
  }

  cfg = GuestConfig{};
  cfg.name = std::string(name);
  cfg.cfgdir = dir;
  std::vector<Problem> problems;
  TreeReader r(dir, roots.defaults_dir(), problems);
  r.trace(consulted);
  read_identity(r, roots, name, cfg);
  read_uts(r, cfg);
  read_fstab(r, cfg);
  read_flags_and_caps(r, cfg);
  read_init(r, name, cfg);
  read_network(r, cfg);
  read_limits(r, "rlimits", kRlimitResources, true, cfg.rlimits);
  read_limits(r, "ulimits", kUlimitResources, false, cfg.ulimits);
  auto rate_file = read_sched(r, cfg.sched);
  read_cpuset(r, cfg.cpuset);
  read_cgroup(r, problems, cfg.cgroup);
  read_byte_limits(r, cfg.limits);
  read_dlimits(r, cfg);
  check_fstab(r, roots, cfg);
  check_limit_conflicts(r, cfg, rate_file);
  return problems;
}

std::vector<Problem> new_guest_limits(const Roots& roots, GuestConfig& cfg) {
  std::vector<Problem> problems;
  fs::path defaults = roots.defaults_dir();
  TreeReader r(defaults, defaults, problems, true);
  ByteLimits limits;
  Sched sched;
  read_byte_limits(r, limits);
  std::optional<fs::path> rate_file;
  if (r.is_dir("sched")) {
    rate_file = read_sched(r, sched);
    for (const auto& dir : sched.per_cpu) {
      r.problem(r.path(fs::path("sched") / dir),
                "per-CPU buckets are not copied into new guests; remove the directory");
    }
    sched.per_cpu.clear();
    sched.schedule_ignored = false;  // .defaults/schedule means nothing
  }
  // The built-in defaults, for each file .defaults does not have (an empty one says "none").
  if (!r.exists("limits/processes")) limits.processes = kNewGuestProcesses;
  if (!r.exists("sched/fill-rate")) {
    sched.fill_rate = kNewGuestFillRate;
    if (!rate_file) rate_file = "sched/fill-rate";
  }
  if (!r.exists("sched/interval")) sched.interval = kNewGuestInterval;

  GuestConfig candidate = cfg;
  candidate.limits = limits;
  candidate.sched = sched;
  // What .defaults/cgroup/ gives every guest without a cgroup/ of its own (a base, controller
  // files): a new guest has it too, and write_guest then writes no cgroup/ for it.
  if (candidate.cgroup == CgroupConfig{}) {
    candidate.cgroup = inherited_cgroup(defaults, false, problems);
  }
  check_limit_conflicts(r, candidate, rate_file);
  if (problems.empty()) cfg = std::move(candidate);
  return problems;
}

GuestConfig load_guest(const Roots& roots, std::string_view name) {
  GuestConfig cfg;
  auto problems = check_guest(roots, name, cfg);
  if (!problems.empty()) throw ConfigError(std::move(problems));
  return cfg;
}

void write_guest(const GuestConfig& cfg) {
  // Refuse what could not be read back.
  if (cfg.cfgdir.empty())
    throw Error("cannot write guest " + cfg.name + ": no configuration directory");
  std::string where = "cannot write " + cfg.cfgdir.string() + ": ";
  if (!valid_guest_name(cfg.name))
    throw Error(where + quote(cfg.name) + " is not a valid guest name");
  if (!cfg.vdir.is_absolute())
    throw Error(where + "vdir " + quote(cfg.vdir.string()) + " is not absolute");
  if (cfg.context && (*cfg.context < kMinContext || *cfg.context > kMaxContext)) {
    throw Error(where + "context " + std::to_string(*cfg.context) + " is not in 2..49151");
  }
  if (last_capability() < 63 && (cfg.bcapabilities >> (last_capability() + 1)) != 0) {
    throw Error(where + "bcapabilities hold capabilities unknown to this build");
  }
  for (const auto& i : cfg.interfaces) {
    if (!valid_interface_id(i.id)) throw Error(where + quote(i.id) + " is not an interface id");
  }

  fs::path dir = cfg.cfgdir;
  if (!dir.has_filename()) dir = dir.parent_path();  // "/etc/vservers/web/"
  check_writable(cfg, dir, where);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw_errno("create directory", dir.string(), ec.value());
  TreeWriter w(dir, dir.parent_path() / ".defaults");

  w.put_line("name", cfg.name);
  if (cfg.context) {
    w.put_line("context", std::to_string(*cfg.context));
  } else {
    w.remove("context");
  }
  write_vdir_link(dir, cfg.vdir);

  for (const auto& item : kUtsItems)
    w.put_optional(fs::path("uts") / item.file, cfg.uts.*item.field);
  w.remove("hostname");  // legacy names of uts/nodename and uts/domainname
  w.remove("domainname");

  w.put("fstab", format_fstab(cfg.fstab));

  if (cfg.cflags.empty()) {
    w.remove("cflags");
  } else {
    w.put_lines("cflags", cfg.cflags);
  }
  w.remove("flags");

  std::vector<std::string> caps;
  std::uint64_t def = default_bounding_set();
  for (int c = 0; c <= last_capability(); ++c) {
    std::uint64_t b = std::uint64_t{1} << c;
    if ((cfg.bcapabilities & b) && !(def & b)) caps.push_back(capability_name(c));
    if (!(cfg.bcapabilities & b) && (def & b)) caps.push_back("!" + capability_name(c));
  }
  if (caps.empty()) {
    w.remove("bcapabilities");
  } else {
    w.put_lines("bcapabilities", caps);
  }
  std::vector<std::string> ccaps(cfg.ccapabilities.begin(), cfg.ccapabilities.end());
  for (const auto& c : cfg.ccapabilities_cleared) ccaps.push_back("~" + c);
  if (ccaps.empty()) {
    w.remove("ccapabilities");
  } else {
    w.put_lines("ccapabilities", ccaps);
  }

  if (cfg.nice) {
    w.put_line("nice", std::to_string(*cfg.nice));
  } else {
    w.remove("nice");
  }
  w.put_optional("shell", cfg.shell);
  if (cfg.base && !valid_guest_name(*cfg.base)) {
    throw Error(where + quote(*cfg.base) + " is not a valid base name");
  }
  w.put_optional("unify/base", cfg.base);

  write_init(w, cfg.init);
  write_network(w, cfg);
  write_limits(w, "rlimits", kRlimitResources, true, cfg.rlimits);
  write_limits(w, "ulimits", kUlimitResources, false, cfg.ulimits);
  write_sched(w, cfg.sched);
  write_cpuset(w, cfg.cpuset);
  write_cgroup(w, cfg.cgroup);
  write_byte_limits(w, cfg.limits);
  write_dlimits(w, cfg.dlimits);
}

std::vector<std::string> list_guests(const Roots& roots) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::directory_iterator it(roots.config, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return out;
    throw_errno("open directory", roots.config.string(), ec.value());
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    std::error_code dir_ec;
    if (valid_guest_name(name) && it->is_directory(dir_ec)) out.push_back(std::move(name));
  }
  if (ec) throw_errno("read directory", roots.config.string(), ec.value());
  std::sort(out.begin(), out.end());
  return out;
}

std::string resolve_guest(const Roots& roots, std::string_view spec) {
  if (spec.empty()) throw Error("empty guest name");

  if (spec.find('/') != std::string_view::npos) {
    std::string s(spec);
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    fs::path p(s);
    std::string name = p.filename().string();
    fs::path parent = p.has_parent_path() ? p.parent_path() : fs::path(".");
    std::error_code ec1, ec2, ec3;
    if (valid_guest_name(name) && fs::is_directory(p, ec1) &&
        fs::weakly_canonical(parent, ec2) == fs::weakly_canonical(roots.config, ec3) && !ec2 &&
        !ec3) {
      return name;
    }
    throw Error(quote(spec) + " is not a guest configuration directory in " +
                roots.config.string());
  }

  if (all_digits(spec)) {
    // A guest named like a number wins, as util-vserver tries the cfgdir first.
    std::error_code ec;
    if (valid_guest_name(spec) && fs::is_directory(roots.guest_config_dir(spec), ec)) {
      return std::string(spec);
    }
    auto id = parse_integer(spec);
    std::vector<std::string> matches;
    for (const auto& name : list_guests(roots)) {
      // The first bytes of a regular file only: a FIFO or /dev/zero there must not hang us.
      std::optional<std::string> content;
      UniqueFd f(::open((roots.guest_config_dir(name) / "context").c_str(),
                        O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
      struct stat st {};
      if (!f || ::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      std::array<char, 64> buf{};
      ssize_t n = ::read(f.get(), buf.data(), buf.size());
      if (n <= 0) continue;  // unreadable: this guest cannot be the one
      content = std::string(buf.data(), static_cast<size_t>(n));
      std::string_view v = trim(std::string_view(*content).substr(0, content->find('\n')));
      if (id && parse_integer(v) == id) matches.push_back(name);
    }
    if (matches.empty()) throw Error("no guest has context " + std::string(spec));
    if (matches.size() > 1) {
      std::string names;
      for (const auto& m : matches) names += (names.empty() ? "" : ", ") + m;
      throw Error("context " + std::string(spec) + " is claimed by several guests: " + names);
    }
    return matches.front();
  }

  if (!valid_guest_name(spec)) throw Error("invalid guest name " + quote(spec));
  return std::string(spec);
}

}  // namespace vs::config
