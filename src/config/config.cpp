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
#include "config/config.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include "config/capabilities.hpp"
#include "config/parse.hpp"
#include "sys/file.hpp"

namespace vs::config {

namespace {

constexpr std::array<const char*, 4> kFallbackItems = {
    "shell", "apps/init/environment", "apps/init/killseq", "apps/vshelper/sync-timeout"};

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

std::string error_text(const Error& e) {
  return e.code() != 0 ? std::string(std::strerror(e.code())) : std::string(e.what());
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
  TreeReader(fs::path dir, fs::path defaults, std::vector<Problem>& problems)
      : dir_(std::move(dir)), defaults_(std::move(defaults)), problems_(problems) {}

  void problem(const fs::path& file, std::string message) {
    problems_.push_back(Problem{file, std::move(message)});
  }
  [[nodiscard]] fs::path path(const fs::path& rel) const { return dir_ / rel; }
  [[nodiscard]] const fs::path& defaults() const { return defaults_; }

  // The whole file: per-guest, then .defaults for the items that fall back.
  std::optional<Text> read(const fs::path& rel) {
    if (auto t = read_at(dir_ / rel)) return t;
    if (falls_back(rel)) return read_at(defaults_ / rel);
    return std::nullopt;
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
    fs::path p = dir_ / rel;
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) return true;
    if (errno != ENOENT && errno != ENOTDIR)
      problem(p, std::string("cannot stat: ") + std::strerror(errno));
    return false;
  }

  // Sorted names of the entries of a directory of the tree that satisfy keep (dot names
  // skipped). Empty if the directory does not exist.
  template <typename Keep>
  std::vector<std::string> entries(const fs::path& rel, Keep keep) {
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
      if (n.empty() || n.front() == '.') continue;
      if (keep(*it)) names.push_back(std::move(n));
    }
    if (ec) problem(d, "cannot list: " + ec.message());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::optional<Text> read_at(const fs::path& p) {
    try {
      auto c = read_file_if_exists(p);
      if (!c) return std::nullopt;
      return Text{p, std::move(*c)};
    } catch (const Error& e) {
      problem(p, "cannot read: " + error_text(e));
      return std::nullopt;
    }
  }

  fs::path dir_;
  fs::path defaults_;
  std::vector<Problem>& problems_;
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
      if (known_context_flag(lower)) {
        cfg.cflags.insert(lower);
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
    for (const auto& c : caps->lines) {
      if (auto canonical = canonical_context_capability(c)) {
        cfg.ccapabilities.insert(std::string(*canonical));
      } else {
        r.problem(caps->path, "unknown context capability " + quote(c));
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
}

// Global defaults of interfaces/ (§1.4), checked once.
struct InterfaceDefaults {
  std::optional<Text> dev, prefix, mask, bcast, scope;
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

// Writes items into one guest's tree: every file atomically, parent directories on demand.
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
  // Whether .defaults holds this item: then the guest needs its own file even for the built-in
  // default, or the .defaults value would win on the next load.
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

std::vector<Problem> check_guest(const Roots& roots, std::string_view name, GuestConfig& cfg) {
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
  read_identity(r, roots, name, cfg);
  read_uts(r, cfg);
  read_fstab(r, cfg);
  read_flags_and_caps(r, cfg);
  read_init(r, name, cfg);
  read_network(r, cfg);
  read_limits(r, "rlimits", kRlimitResources, true, cfg.rlimits);
  read_limits(r, "ulimits", kUlimitResources, false, cfg.ulimits);
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
  if (cfg.ccapabilities.empty()) {
    w.remove("ccapabilities");
  } else {
    w.put_lines("ccapabilities", cfg.ccapabilities);
  }

  if (cfg.nice) {
    w.put_line("nice", std::to_string(*cfg.nice));
  } else {
    w.remove("nice");
  }
  w.put_optional("shell", cfg.shell);

  write_init(w, cfg.init);
  write_network(w, cfg);
  write_limits(w, "rlimits", kRlimitResources, true, cfg.rlimits);
  write_limits(w, "ulimits", kUlimitResources, false, cfg.ulimits);
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
      std::optional<std::string> content;
      try {
        content = read_file_if_exists(roots.guest_config_dir(name) / "context");
      } catch (const Error&) {
        continue;  // unreadable: this guest cannot be the one
      }
      if (!content) continue;
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
