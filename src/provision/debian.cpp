// Debian guests: apt sources, debootstrap's status output, and fitting a root for a container.
#include "provision/debian.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>

#include "provision/internal.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::provision {

namespace {

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])) != 0) ++i;
    size_t j = i;
    while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j])) == 0) ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::vector<AptSource> parse_sources_list(std::string_view text) {
  std::vector<AptSource> out;
  for (const auto& raw : split_lines(text)) {
    std::string_view line = raw;
    line = line.substr(0, line.find('#'));
    auto w = words(line);
    if (w.empty() || w[0] != "deb") continue;
    size_t i = 1;
    if (i < w.size() && w[i].front() == '[') {
      while (i < w.size() && w[i].back() != ']') ++i;
      ++i;
    }
    if (i + 1 >= w.size()) continue;
    AptSource s{w[i], {w[i + 1]}, {}};
    s.components.assign(w.begin() + static_cast<std::ptrdiff_t>(i) + 2, w.end());
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<AptSource> parse_deb822_sources(std::string_view text) {
  std::vector<AptSource> out;
  std::vector<std::pair<std::string, std::string>> fields;
  auto flush = [&] {
    std::vector<std::string> types;
    std::vector<std::string> uris;
    AptSource proto;
    bool enabled = true;
    for (const auto& [k, v] : fields) {
      if (k == "types") types = words(v);
      if (k == "uris") uris = words(v);
      if (k == "suites") proto.suites = words(v);
      if (k == "components") proto.components = words(v);
      if (k == "enabled" && lower(trim(v)) == "no") enabled = false;
    }
    fields.clear();
    if (!enabled || std::find(types.begin(), types.end(), "deb") == types.end()) return;
    for (const auto& u : uris) {
      AptSource s = proto;
      s.uri = u;
      out.push_back(std::move(s));
    }
  };
  for (const auto& line : split_lines(text)) {
    if (!line.empty() && line[0] == '#') continue;
    if (trim(line).empty()) {
      flush();
      continue;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !fields.empty()) {
      fields.back().second += " " + std::string(trim(line));
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    fields.emplace_back(lower(trim(std::string_view(line).substr(0, colon))),
                        std::string(trim(std::string_view(line).substr(colon + 1))));
  }
  flush();
  return out;
}

std::vector<AptSource> host_apt_sources(const fs::path& etc_apt) {
  std::vector<AptSource> out;
  auto add = [&](std::vector<AptSource> more) {
    out.insert(out.end(), std::make_move_iterator(more.begin()),
               std::make_move_iterator(more.end()));
  };
  if (auto text = read_file_if_exists(etc_apt / "sources.list")) add(parse_sources_list(*text));
  std::vector<fs::path> parts;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(etc_apt / "sources.list.d", ec)) {
    parts.push_back(e.path());
  }
  std::sort(parts.begin(), parts.end());
  for (const auto& p : parts) {
    std::string n = p.filename().string();
    if (ends_with(n, ".list")) {
      if (auto text = read_file_if_exists(p)) add(parse_sources_list(*text));
    } else if (ends_with(n, ".sources")) {
      if (auto text = read_file_if_exists(p)) add(parse_deb822_sources(*text));
    }
  }
  return out;
}

std::string host_codename(const fs::path& os_release) {
  auto text = read_file_if_exists(os_release);
  if (!text) return {};
  std::string version;
  for (const auto& line : split_lines(*text)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq);
    std::string val = line.substr(eq + 1);
    if (val.size() >= 2 && (val.front() == '"' || val.front() == '\'')) {
      val = val.substr(1, val.size() - 2);
    }
    if (key == "VERSION_CODENAME" && !val.empty()) return val;
    if (key == "VERSION") version = val;
  }
  auto open = version.find('(');
  auto close = version.find(')');
  if (open != std::string::npos && close != std::string::npos && close > open + 1) {
    return version.substr(open + 1, close - open - 1);
  }
  return {};
}

std::optional<std::string> mirror_for_suite(const std::vector<AptSource>& sources,
                                            std::string_view suite,
                                            std::string_view fallback_suite) {
  for (std::string_view want : {suite, fallback_suite}) {
    if (want.empty()) continue;
    for (const auto& s : sources) {
      if (std::find(s.suites.begin(), s.suites.end(), want) != s.suites.end()) return s.uri;
    }
  }
  return std::nullopt;
}

// ---- debootstrap's status output ----------------------------------------------------------

std::string format_debootstrap(std::string_view format, const std::vector<std::string>& args) {
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%' || i + 1 >= format.size()) {
      out += format[i];
      continue;
    }
    char c = format[++i];
    if (c == '%') {
      out += '%';
    } else if (std::isalpha(static_cast<unsigned char>(c)) != 0) {
      if (next < args.size()) out += args[next++];
    } else {
      out += '%';
      out += c;
    }
  }
  return out;
}

bool DebootstrapStatus::feed(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  auto colon = line.find(": ");
  if (colon == std::string_view::npos || colon > 2) return false;
  std::string_view tag = line.substr(0, colon);
  std::string_view value = line.substr(colon + 2);
  if (tag.size() == 1) {
    // A new block: "P: now end NAME", "I: NAME", "W: NAME", "E: NAME".
    bool changed = finish_block();
    kind_ = tag[0];
    args_.clear();
    name_.clear();
    if (kind_ == 'P') {
      auto w = words(value);
      now_ = w.size() > 0 ? std::strtoll(w[0].c_str(), nullptr, 10) : 0;
      end_ = w.size() > 1 ? std::strtoll(w[1].c_str(), nullptr, 10) : 0;
      name_ = w.size() > 2 ? w[2] : "";
    } else {
      name_ = std::string(value);
    }
    return changed;
  }
  if (tag.size() == 2 && tag[1] == 'A') {
    args_.emplace_back(value);
    return false;
  }
  if (tag.size() == 2 && tag[1] == 'F' && kind_ == tag[0]) {
    std::string text = format_debootstrap(value, args_);
    bool changed = false;
    if (kind_ == 'P') {
      if (name_ == "SIZEDEBS" && end_ > 0 && progress_.total != end_) {
        progress_.total = end_;
        changed = true;
      }
      if (text != progress_.stage) {
        progress_.stage = text;
        changed = true;
      }
    } else if (kind_ == 'I') {
      static constexpr std::array<std::pair<const char*, const char*>, 4> kActions = {{
          {"VALIDATING", "retrieve"},
          {"EXTRACTING", "extract"},
          {"UNPACKING", "unpack"},
          {"CONFIGURING", "configure"},
      }};
      for (const auto& [name, action] : kActions) {
        if (name_ != name) continue;
        // Validating the Release and Packages files is not a package.
        if (name_ == "VALIDATING" &&
            (args_.empty() || args_[0] == "Release" || args_[0] == "Packages")) {
          break;
        }
        if (progress_.action != action) {
          progress_.action = action;
          progress_.done = 0;
        }
        ++progress_.done;
        changed = true;
      }
    } else if (kind_ == 'W' || kind_ == 'E') {
      messages_.push_back(std::string(kind_ == 'W' ? "warning: " : "error: ") + text);
    }
    kind_ = 0;
    return changed;
  }
  return false;
}

bool DebootstrapStatus::finish_block() {
  kind_ = 0;
  return false;
}

std::vector<std::string> DebootstrapStatus::take_messages() {
  std::vector<std::string> out;
  out.swap(messages_);
  return out;
}

std::string render_progress(const DebootstrapProgress& p, std::int64_t elapsed_ms) {
  std::int64_t s = elapsed_ms / 1000;
  std::string out =
      fmt::format("[{}:{:02}] {}", s / 60, s % 60, p.stage.empty() ? "Starting" : p.stage);
  if (!p.action.empty()) {
    if (p.total > 0) {
      out += fmt::format(": {} {}/{} packages", p.action, std::min(p.done, p.total), p.total);
    } else {
      out += fmt::format(": {} {} packages", p.action, p.done);
    }
  }
  return out;
}

// ---- fitting a root for a container ---------------------------------------------------------

namespace {

using detail::Root;

// The contents of rel in root, never following a symbolic link; nullopt if it is not a regular
// file.
std::optional<std::string> read_in(const Root& root, const fs::path& rel) {
  UniqueFd dir = detail::open_dir_in(root, rel.parent_path().string(), false, 0755, true);
  if (!dir) return std::nullopt;
  UniqueFd f(::openat(dir.get(), rel.filename().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!f) return std::nullopt;
  struct stat st {};
  if (::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return read_fd(f.get());
}

bool exists_in(const Root& root, const fs::path& rel) {
  UniqueFd dir = detail::open_dir_in(root, rel.parent_path().string(), false, 0755, true);
  if (!dir) return false;
  struct stat st {};
  return ::fstatat(dir.get(), rel.filename().c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

// Removes the rc?.d links of a sysv init script; returns how many.
int remove_rc_links(const Root& root, const std::string& script) {
  int n = 0;
  for (const char* level : {"0", "1", "2", "3", "4", "5", "6", "S"}) {
    std::string d = std::string("etc/rc") + level + ".d";
    UniqueFd dir = detail::open_dir_in(root, d, false, 0755, true);
    if (!dir) continue;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root.path / d, ec)) {
      std::string n3 = e.path().filename().string();
      // [SK]NNname
      if (n3.size() > 3 && (n3[0] == 'S' || n3[0] == 'K') && std::isdigit(n3[1]) != 0 &&
          std::isdigit(n3[2]) != 0 && n3.substr(3) == script) {
        if (::unlinkat(dir.get(), n3.c_str(), 0) != 0) throw_errno("remove", e.path().string());
        ++n;
      }
    }
  }
  return n;
}

// The sysv scripts and systemd units that touch the kernel, the hardware clock or real disks.
constexpr std::array<const char*, 17> kSysvScripts = {"hwclock.sh",
                                                      "udev",
                                                      "kmod",
                                                      "mountall.sh",
                                                      "mountall-bootclean.sh",
                                                      "mountkernfs.sh",
                                                      "mountdevsubfs.sh",
                                                      "mountnfs.sh",
                                                      "mountnfs-bootclean.sh",
                                                      "checkroot.sh",
                                                      "checkroot-bootclean.sh",
                                                      "checkfs.sh",
                                                      "umountfs",
                                                      "umountroot",
                                                      "umountnfs.sh",
                                                      "brightness",
                                                      "keyboard-setup.sh"};
constexpr std::array<const char*, 21> kSystemdUnits = {"systemd-udevd.service",
                                                       "systemd-udevd-control.socket",
                                                       "systemd-udevd-kernel.socket",
                                                       "systemd-udev-trigger.service",
                                                       "systemd-udev-settle.service",
                                                       "systemd-modules-load.service",
                                                       "kmod-static-nodes.service",
                                                       "systemd-remount-fs.service",
                                                       "systemd-fsck-root.service",
                                                       "sys-kernel-debug.mount",
                                                       "sys-kernel-tracing.mount",
                                                       "sys-kernel-config.mount",
                                                       "sys-fs-fuse-connections.mount",
                                                       "dev-hugepages.mount",
                                                       "proc-sys-fs-binfmt_misc.automount",
                                                       "systemd-binfmt.service",
                                                       "hwclock.service",
                                                       "systemd-hwdb-update.service",
                                                       "getty@.service",
                                                       "serial-getty@.service",
                                                       "console-getty.service"};

}  // namespace

std::vector<std::string> fit_debian_for_container(const fs::path& path) {
  Root root{path, open_file(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)};
  std::vector<std::string> done;

  // /etc/inittab (sysvinit): no gettys, ctrl-alt-del halts.
  if (auto inittab = read_in(root, "etc/inittab")) {
    std::string out;
    int gettys = 0;
    bool cad = false;
    for (const auto& line : split_lines(*inittab)) {
      bool getty = !line.empty() && line[0] != '#' && (line.find("getty") != std::string::npos) &&
                   line.find(":respawn:") != std::string::npos;
      if (getty) {
        out += "#" + line + "  # no such terminal in a vserver guest\n";
        ++gettys;
      } else if (!line.empty() && line[0] != '#' &&
                 line.find(":ctrlaltdel:") != std::string::npos) {
        out += line.substr(0, line.find(":ctrlaltdel:")) +
               ":ctrlaltdel:/sbin/shutdown -t1 -a -h now\n";
        cad = true;
      } else {
        out += line + "\n";
      }
    }
    if (gettys > 0 || cad) {
      detail::write_file_in(root, "etc/inittab", out, 0644);
      done.push_back(fmt::format(
          "/etc/inittab: {} getty line(s) commented out{}", gettys,
          cad ? "; ctrl-alt-del (SIGINT, how vserver stops a plain-style guest) halts" : ""));
    }
  }

  // sysv-rc links of the scripts that touch the kernel or real disks.
  std::vector<std::string> removed;
  for (const char* s : kSysvScripts) {
    if (remove_rc_links(root, s) > 0) removed.emplace_back(s);
  }
  if (!removed.empty()) {
    done.push_back("/etc/rc?.d: boot and shutdown links removed for " +
                   fmt::format("{}", fmt::join(removed, " ")));
  }

  // systemd units: masked.
  if (exists_in(root, "lib/systemd/systemd") || exists_in(root, "usr/lib/systemd/systemd")) {
    std::vector<std::string> masked;
    detail::open_dir_in(root, "etc/systemd/system", true, 0755);
    for (const char* unit : kSystemdUnits) {
      std::string rel = std::string("etc/systemd/system/") + unit;
      if (exists_in(root, rel)) continue;
      if (detail::symlink_in(root, rel, "/dev/null")) masked.emplace_back(unit);
    }
    if (!masked.empty()) {
      done.push_back("systemd: masked " + fmt::format("{}", fmt::join(masked, " ")));
    }
  }

  // /etc/machine-id: empty, so that each guest gets its own.
  if (auto id = read_in(root, "etc/machine-id"); id && !trim(*id).empty()) {
    detail::write_file_in(root, "etc/machine-id", "", 0444);
    done.emplace_back("/etc/machine-id: emptied (each guest makes its own at first boot)");
  }
  if (auto id = read_in(root, "var/lib/dbus/machine-id"); id && !trim(*id).empty()) {
    UniqueFd dir = detail::open_dir_in(root, "var/lib/dbus", false);
    if (::unlinkat(dir.get(), "machine-id", 0) != 0) {
      throw_errno("remove", (path / "var/lib/dbus/machine-id").string());
    }
  }

  // A policy-rc.d left behind would stop services from starting.
  if (auto p = read_in(root, "usr/sbin/policy-rc.d")) {
    UniqueFd dir = detail::open_dir_in(root, "usr/sbin", false);
    if (::unlinkat(dir.get(), "policy-rc.d", 0) != 0) {
      throw_errno("remove", (path / "usr/sbin/policy-rc.d").string());
    }
    done.emplace_back("/usr/sbin/policy-rc.d: removed");
  }

  // The root account: debootstrap leaves it locked ("*" in /etc/shadow); so do we.
  if (auto shadow = read_in(root, "etc/shadow")) {
    for (const auto& line : split_lines(*shadow)) {
      if (starts_with(line, "root:")) {
        auto rest = line.substr(5);
        std::string pw = rest.substr(0, rest.find(':'));
        done.push_back(pw.empty() || pw == "*" || pw[0] == '!'
                           ? "root password: not set (the account is locked); use vserver NAME "
                             "enter, then passwd, to set one"
                           : "root password: set in the tree");
      }
    }
  }
  return done;
}

}  // namespace vs::provision
