// The configuration tree as a table (items.hpp). The readers in config.cpp parse the files this
// table marks applied; a unit test loads every row's sample and checks that the reader looked at
// it and that write_guest gives it back, so that the table and the readers cannot drift apart.
#include "config/items.hpp"

#include <fmt/format.h>
#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include "config/capabilities.hpp"
#include "sys/file.hpp"

namespace vs::config {

namespace {

using E = Effect;

// clang-format off
constexpr std::array kItems = std::to_array<Item>({
    // Identity
    {"name", "scalar", E::applied, "display name: messages, process title, default host name", "name", "web", true},
    {"context", "scalar", E::applied, "static context id, shown by the tools and used by disk limits", "context", "40001", true},
    {"vdir", "link", E::applied, "the guest's root filesystem", "", "", true},
    {"nice", "scalar", E::applied, "nice level of the guest's first process", "nice", "5", true},
    {"shell", "scalar", E::applied, "the shell of `vserver NAME enter`", "shell", "/bin/sh", true},
    {"unify/base", "scalar", E::applied, "the base whose files this unified guest shares (storage.md)", "", "", true},
    {"ncontext", "scalar", E::ignored, "mainline Linux has no network contexts: the guest's network namespace is its own", "ncontext", "40001", false},
    {"noncontext", "boolean", E::ignored, "mainline Linux has no network contexts; network/mode host shares the host's network", "noncontext", "", false},
    {"tag", "scalar", E::ignored, "mainline Linux has no filesystem tags; disk limits use the context id as project id", "tag", "40001", false},
    {"ionice/{class,priority}", "scalar", E::ignored, "the guest's processes keep the I/O priority of the caller; limits/ has no I/O setting yet", "ionice/class", "2", false},
    {"badness", "scalar", E::ignored, "the OOM killer's bias of the guest is not set; limits/memory bounds the guest instead", "badness", "5", false},
    {"personality", "list", E::ignored, "the guest runs with the host's personality; run linux32 inside for a 32-bit userland", "personality", "LINUX32", false},
    {"{noisy,keepfds,legacy}", "boolean", E::ignored, "options of util-vserver's own scripts, which are not used", "noisy", "", false},
    {"capabilities", "list", E::ignored, "Linux 2.4 only; bcapabilities sets the bounding set", "capabilities", "!CAP_SYS_CHROOT", false},
    {"{ncapabilities,nflags}", "list", E::ignored, "mainline Linux has no network contexts: the guest's network namespace is its own", "ncapabilities", "NET_ADMIN", false},
    {"umask", "list", E::ignored, "a guest cannot create namespaces: it lacks CAP_SYS_ADMIN", "umask", "uts", false},
    {"{namespace,nonamespace}", "boolean", E::ignored, "every guest has a private mount namespace", "namespace", "", false},
    {"{namespace-cleanup,nonamespace-cleanup,namespace-cleanup-skip}", "boolean", E::ignored, "a guest's mount namespace holds only its own mounts: there is no host mount to clean up", "nonamespace-cleanup", "", false},
    {"spaces/net", "scalar", E::applied, "content 0: the host's network (network/mode host), read when network/mode is absent", "spaces/net", "0", false},
    {"spaces/{pid,mask}", "scalar", E::ignored, "every guest has its own PID, mount, UTS, IPC, cgroup and network namespace", "spaces/pid", "", false},
    {"netns/**", "directory", E::ignored, "the guest's network namespace and links come from network/mode and interfaces/", "netns/name", "web", false},
    {"nonetns", "boolean", E::ignored, "the guest's network namespace and links come from network/mode and interfaces/", "nonetns", "", false},
    {"{cache,run}", "link", E::ignored, "the runtime keeps its state under the run root and uses no cache directory", "", "", false},
    {"sysctl/**", "directory", E::ignored, "sysctls are not written for a guest: /proc/sys is read-only inside", "sysctl/0/setting", "net.ipv4.ip_forward", false},
    // uts/
    {"uts/nodename", "scalar", E::applied, "host name in the guest's UTS namespace", "uts/nodename", "www", true},
    {"uts/domainname", "scalar", E::applied, "NIS domain name in the guest's UTS namespace", "uts/domainname", "example", true},
    {"hostname", "scalar", E::applied, "legacy uts/nodename, read when uts/nodename is absent", "", "", false},
    {"domainname", "scalar", E::applied, "legacy uts/domainname, read when uts/domainname is absent", "", "", false},
    {"uts/sysname", "scalar", E::ignored, "mainline Linux cannot show a guest another kernel name", "uts/sysname", "Linux", false},
    {"uts/release", "scalar", E::ignored, "mainline Linux cannot show a guest another kernel release", "uts/release", "2.6.32", false},
    {"uts/version", "scalar", E::ignored, "mainline Linux cannot show a guest another kernel version", "uts/version", "#1", false},
    {"uts/machine", "scalar", E::ignored, "mainline Linux cannot show a guest another machine; run linux32 inside for i686", "uts/machine", "i686", false},
    {"uts/context", "scalar", E::ignored, "util-vserver's internal record, not a setting", "uts/context", "/etc/vservers/web", false},
    // Filesystems
    {"fstab", "fstab", E::applied, "what is mounted in the guest at start", "fstab", "none /tmp tmpfs size=16m,mode=1777 0 0", true},
    {"fstab.local", "fstab", E::ignored, "deprecated by util-vserver; move its lines into fstab", "fstab.local", "none /srv tmpfs size=1m 0 0", false},
    {"fstab.remote", "fstab", E::ignored, "not mounted: put the entry into fstab (the host mounts it, in the host's network)", "fstab.remote", "srv:/x /x nfs defaults 0 0", false},
    // Capabilities and flags
    {"bcapabilities", "list", E::applied, "changes to the guest's capability bounding set", "bcapabilities", "!CAP_SYS_PTRACE", true},
    {"ccapabilities", "list", E::applied, "raw_icmp and tiocsti are applied; check warns for the others", "ccapabilities", "tiocsti", true},
    {"cflags", "list", E::applied, "sched_hard, sched_pause, virt_mem, virt_load, virt_cpu, virt_uptime are applied; check warns for the others", "cflags", "virt_mem", true},
    {"flags", "list", E::applied, "legacy cflags, read when cflags is absent", "", "", false},
    // apps/init/, apps/vshelper/, scripts/
    {"apps/init/style", "scalar", E::applied, "init style", "apps/init/style", "plain", true},
    {"apps/init/cmd.start", "lines", E::applied, "the start command", "apps/init/cmd.start", "/bin/sleep\n100", true},
    {"apps/init/cmd.stop", "lines", E::applied, "the stop command", "apps/init/cmd.stop", "/bin/true", true},
    {"apps/init/{runlevel,runlevel.start}", "scalar", E::applied, "start runlevel of style sysv", "apps/init/runlevel.start", "2", true},
    {"apps/init/runlevel.stop", "scalar", E::applied, "stop runlevel of style sysv", "apps/init/runlevel.stop", "6", true},
    {"apps/init/environment", "lines", E::applied, "the environment of the guest's processes", "apps/init/environment", "LANG=C.UTF-8", true},
    {"apps/init/killseq", "lines", E::applied, "the kill sequence of stop", "apps/init/killseq", "15\n10\n9", true},
    {"apps/init/mark", "scalar", E::applied, "group of guests started together (vserver-autostart)", "apps/init/mark", "default", true},
    {"apps/init/depends", "list", E::applied, "guests started before this one by vserver-autostart", "apps/init/depends", "db", true},
    {"apps/init/{cmd.prepare,cmd.start-sync,cmd.stop-sync,sync}", "lines", E::ignored, "start returns once the guest's init runs, stop once the guest is gone: there is nothing to prepare or wait for", "apps/init/sync", "", false},
    {"apps/init/{tty,mtab}", "link", E::ignored, "the console is the terminal of start --foreground or the log; /etc/mtab is the guest's own", "apps/init/mtab", "/dev/hdv1 / ufs defaults 0 0", false},
    {"apps/vshelper/sync-timeout", "scalar", E::applied, "seconds a graceful stop may take", "apps/vshelper/sync-timeout", "60", true},
    {"apps/vshelper/action", "scalar", E::applied, "what a reboot inside does: restart or halt", "apps/vshelper/action", "halt", true},
    {"apps/vshelper/disabled", "boolean", E::applied, "a reboot inside leaves the guest stopped", "apps/vshelper/disabled", "", true},
    {"apps/vshelper/{restart,halt,poweroff}", "program", E::applied, "run on the host after that event inside the guest", "", "", false},
    {"apps/vshelper/{swsusp,restart2,shutdown}", "program", E::ignored, "a guest cannot suspend the machine or reboot it with a command string; these events do not happen", "apps/vshelper/swsusp", "", false},
    {"apps/vshelper/{debug,warning-disabled,logfile}", "boolean", E::ignored, "the supervisor logs into the guest's console log; there is no separate helper to debug", "apps/vshelper/debug", "", false},
    {"scripts/{initialize,prepre-start,pre-start,post-start,pre-stop,post-stop,postpost-stop}", "program", E::applied, "run on the host at that point of start and stop", "", "", false},
    {"scripts/{initialize,prepre-start,pre-start,post-start,pre-stop,post-stop,postpost-stop}.d/*", "program", E::applied, "run after the file of the same point, in name order", "", "", false},
    {"apps/vunify/**", "directory", E::ignored, "`vserver NAME unify` shares files through a base and overlayfs (storage.md)", "apps/vunify/exclude", "/etc", false},
    {"apps/{vdevmap,pkgmgmt,vlogin,vprocunhide}/**", "directory", E::ignored, "a guest's /dev is its own (isolation.md), packages are managed inside, enter uses a pseudo-terminal, /proc is filtered", "apps/pkgmgmt/internal", "", false},
    // Network
    {"network/mode", "scalar", E::applied, "how the guest is networked", "network/mode", "bridge", true},
    {"network/create-bridge", "boolean", E::applied, "mode bridge creates a missing bridge", "network/create-bridge", "", true},
    {"interfaces/{dev,prefix,mask}", "scalar", E::applied, "defaults for every address directory", "interfaces/prefix", "24", false},
    {"interfaces/{bcast,scope}", "scalar", E::ignored, "the broadcast address follows from the prefix; the scope of a guest's address is the kernel's", "interfaces/scope", "global", false},
    {"interfaces/lback", "scalar", E::ignored, "every guest has a loopback of its own, 127.0.0.1", "interfaces/lback", "127.0.0.1", false},
    {"interfaces/{vlandev,novlandev}", "boolean", E::applied, "VLAN devices on or off for every address whose dev is DEV.ID (networking.md)", "interfaces/novlandev", "", false},
    {"interfaces/*/{ip,dev,prefix,mask,name,mac,gateway}", "scalar", E::applied, "one address of the guest", "interfaces/0/ip", "10.0.0.2", true},
    {"interfaces/*/{nodev,only_ip,disabled,down}", "boolean", E::applied, "address on lo / skipped / link left down", "interfaces/0/down", "", true},
    {"interfaces/*/{bcast,scope,peer}", "scalar", E::ignored, "the broadcast address follows from the prefix; scope and peer are not set on the guest's address", "interfaces/0/peer", "10.0.0.1", false},
    {"interfaces/*/{vlandev,novlandev,tun,tap}", "boolean", E::applied, "the VLAN device DEV.ID made on the host / none / a tun or tap device made in the guest", "interfaces/0/tap", "", true},
    {"interfaces/*/{uid,gid,linktype}", "scalar", E::applied, "owner, group and hardware type of the tun or tap device", "interfaces/0/uid", "1000", true},
    {"interfaces/*/nocsum", "boolean", E::ignored, "the kernel ignores the checksum switch of tun devices", "interfaces/0/nocsum", "", false},
    {"interfaces/*/shared", "boolean", E::ignored, "a guest's link is its own; a device shared with the host is named in dev", "interfaces/0/shared", "", false},
    {"interfaces/*/{indirect,extip}", "scalar", E::ignored, "dummy-interface mode of network contexts, which mainline Linux does not have", "interfaces/0/extip", "192.0.2.1", false},
    // Limits
    {"rlimits/{cpu,fsize,data,stack,core,rss,nproc,nofile,memlock,as,locks,msgqueue,nsock,openfd,anon,shmem,semary,nsems,dentry}{,.min,.soft,.hard}", "scalar", E::limits, "per-guest limits (limits.md)", "rlimits/nofile", "1024", true},
    {"ulimits/{cpu,data,fsize,locks,memlock,nofile,nproc,rss,stack,core}{,.soft,.hard}", "scalar", E::applied, "per-process limits of the guest's processes", "ulimits/core.soft", "0", true},
    {"limits/{memory,swap,address-space,processes,cpu}", "scalar", E::limits, "byte-valued limits with readable names (limits.md)", "limits/memory", "512M", true},
    {"sched/{fill-rate,interval,tokens,tokens-min,tokens-max,priority-bias,prio-bias,fill-rate2,interval2,idle-time,cpu-id,bucket-id,cpu_mask}", "scalar", E::limits, "CPU token bucket as CFS bandwidth and weight (limits.md)", "sched/interval", "8", true},
    {"sched/*/*", "scalar", E::limits, "per-CPU token buckets (limits.md)", "", "", false},
    {"schedule", "lines", E::limits, "legacy sched/, read when sched/ is absent", "", "", false},
    {"cpuset/{cpus,mems,cpu_exclusive,cpus_exclusive,mem_exclusive,virtualized,nocreate}", "scalar", E::limits, "the CPUs and memory nodes of the guest (limits.md)", "cpuset/cpus", "0", true},
    {"cpuset/name", "scalar", E::ignored, "the guest's cpuset is its own cgroup, named after the guest", "cpuset/name", "web", false},
    {"cgroup/{name,base}", "scalar", E::applied, "the guest's cgroup and its parent", "cgroup/base", "hosting", true},
    {"cgroup/*", "scalar", E::limits, "written verbatim into the guest's cgroup (limits.md)", "cgroup/pids.max", "100", true},
    {"nocgroup", "boolean", E::applied, "the guest does not inherit .defaults/cgroup/", "", "", false},
    {"dlimits/method", "scalar", E::applied, "how disk limits are kept: auto, quota or image (storage.md)", "", "", true},
    {"dlimits/*/{space_total,inodes_total,reserved,directory,disabled}", "scalar", E::applied, "a disk limit (storage.md)", "", "", true},
});
// clang-format on

// "{a,b}x" → "ax", "bx", recursively; other characters as they are.
void expand_braces(std::string_view pattern, std::vector<std::string>& out) {
  auto open = pattern.find('{');
  if (open == std::string_view::npos) {
    out.emplace_back(pattern);
    return;
  }
  auto close = pattern.find('}', open);
  std::string_view head = pattern.substr(0, open);
  std::string_view body = pattern.substr(open + 1, close - open - 1);
  std::string_view tail = pattern.substr(close + 1);
  std::size_t start = 0;
  while (true) {
    auto comma = body.find(',', start);
    std::string alt(body.substr(start, comma - start));
    expand_braces(std::string(head) + alt + std::string(tail), out);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
}

std::vector<std::string> components(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    out.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

bool component_matches(const std::string& pattern, const std::string& name) {
  return ::fnmatch(pattern.c_str(), name.c_str(), FNM_PERIOD) == 0;
}

// One pattern of a row, brace-expanded, split into components.
struct Compiled {
  const Item* item;
  std::vector<std::string> parts;
  [[nodiscard]] bool below() const { return !parts.empty() && parts.back() == "**"; }
};

const std::vector<Compiled>& compiled() {
  static const std::vector<Compiled> table = [] {
    std::vector<Compiled> out;
    for (const auto& item : kItems) {
      std::vector<std::string> alternatives;
      expand_braces(item.path, alternatives);
      for (const auto& a : alternatives) out.push_back({&item, components(a)});
    }
    return out;
  }();
  return table;
}

// Whether the first parts.size() components of c match parts (all of them when whole).
bool prefix_matches(const Compiled& c, const std::vector<std::string>& parts, bool whole) {
  std::size_t fixed = c.below() ? c.parts.size() - 1 : c.parts.size();
  if (whole && !c.below() && parts.size() != fixed) return false;
  if (whole && c.below() && parts.size() <= fixed) return false;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i >= fixed) return c.below();
    if (!component_matches(c.parts[i], parts[i])) return false;
  }
  return true;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The known name closest to the last component of rel among the rows that fit its directory,
// when it is close enough to be a typo.
std::optional<std::string> closest(const std::vector<std::string>& parts) {
  std::vector<std::string> dir(parts.begin(), parts.end() - 1);
  std::optional<std::string> best;
  std::size_t best_d = 3;
  for (const auto& c : compiled()) {
    if (c.below() || c.parts.size() != parts.size() || !prefix_matches(c, dir, false)) continue;
    const std::string& name = c.parts.back();
    if (name.find_first_of("*?[") != std::string::npos) continue;
    std::size_t d = edit_distance(parts.back(), name);
    if (d < best_d) {
      best_d = d;
      best = name;
    }
  }
  if (!best) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) out += parts[i] + "/";
  return out + *best;
}

struct Walker {
  const GuestConfig& cfg;
  std::vector<Problem>& out;

  void warn(const std::string& rel, const std::string& message) {
    out.push_back(Problem{cfg.cfgdir / rel, message});
  }

  void unknown(const std::string& rel, bool directory) {
    auto parts = components(rel);
    std::string message = directory ? "unknown directory, not read" : "unknown file, not read";
    if (auto near = closest(parts)) message += " (did you mean " + *near + "?)";
    warn(rel, message);
  }

  void walk(const fs::path& dir, const std::string& prefix) {
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      names.push_back(it->path().filename().string());
    }
    if (ec) {
      warn(prefix.empty() ? "." : prefix, "cannot list: " + ec.message());
      return;
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      if (name.front() == '.') continue;  // editors' and version control's files
      std::string rel = prefix.empty() ? name : prefix + "/" + name;
      struct stat st {};
      if (::lstat((dir / name).c_str(), &st) != 0) continue;
      const Item* item = find_item(rel);
      if (S_ISDIR(st.st_mode) && (item == nullptr || item->path.ends_with("/**"))) {
        if (known_directory(rel)) {
          walk(dir / name, rel);
        } else {
          unknown(rel, true);
        }
        continue;
      }
      if (!item) {
        unknown(rel, false);
      } else if (item->effect == Effect::ignored) {
        warn(rel, "ignored: " + std::string(item->meaning));
      }
    }
  }
};

bool present(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

// Context flags and capabilities that are applied; every other known name is accepted without
// effect.
constexpr std::array<std::string_view, 6> kAppliedFlags = {
    "sched_hard", "sched_pause", "virt_mem", "virt_load", "virt_cpu", "~virt_uptime"};
constexpr std::array<std::string_view, 3> kAppliedCapabilities = {"raw_icmp", "tiocsti",
                                                                  "~raw_icmp"};

template <std::size_t N>
bool listed(const std::array<std::string_view, N>& list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

void setting_warnings(const GuestConfig& cfg, std::vector<Problem>& out) {
  const fs::path& dir = cfg.cfgdir;
  fs::path flags_file = present(dir / "cflags") ? dir / "cflags" : dir / "flags";
  for (const auto& f : cfg.cflags) {
    if (listed(kAppliedFlags, f)) continue;
    std::string why = f.starts_with("~") ? "it is not on by default, there is nothing to clear"
                      : f == "secure" || f == "hide_netif"
                          ? "the guest sees only its own network interfaces anyway"
                      : f == "default"    ? "virt_uptime is on by default; sc_helper has no effect"
                      : f == "sched_prio" ? "the CPU weight follows the fill rate without it"
                                          : "no effect on mainline Linux";
    out.push_back(Problem{flags_file, fmt::format("context flag {}: ignored: {}", f, why)});
  }
  for (const auto& c : cfg.ccapabilities) {
    if (listed(kAppliedCapabilities, c)) continue;
    out.push_back(Problem{dir / "ccapabilities",
                          fmt::format("context capability {}: ignored: no effect on mainline "
                                      "Linux (only raw_icmp and tiocsti are applied)",
                                      c)});
  }
  for (const auto& c : cfg.ccapabilities_cleared) {
    if (c == "raw_icmp") continue;
    out.push_back(Problem{dir / "ccapabilities",
                          fmt::format("context capability ~{}: ignored: it is not on by default, "
                                      "there is nothing to clear",
                                      c)});
  }
  if (cfg.init.style != InitStyle::sysv) {
    for (const char* f :
         {"apps/init/runlevel", "apps/init/runlevel.start", "apps/init/runlevel.stop"}) {
      if (present(dir / f)) {
        out.push_back(Problem{dir / f,
                              "ignored: runlevels are used by init style sysv only, this guest's "
                              "style is " +
                                  std::string(to_string(cfg.init.style))});
      }
    }
  }
  if (present(dir / "apps/init/runlevel") && present(dir / "apps/init/runlevel.start") &&
      cfg.init.style == InitStyle::sysv) {
    out.push_back(
        Problem{dir / "apps/init/runlevel", "ignored: apps/init/runlevel.start wins over it"});
  }
  for (auto [legacy, successor] :
       {std::pair{"hostname", "uts/nodename"}, std::pair{"domainname", "uts/domainname"},
        std::pair{"flags", "cflags"}}) {
    if (present(dir / legacy) && present(dir / successor)) {
      out.push_back(Problem{dir / legacy, fmt::format("ignored: {} wins over it", successor)});
    }
  }
}

}  // namespace

std::span<const Item> items() {
  return kItems;
}

const Item* find_item(std::string_view rel) {
  auto parts = components(rel);
  // The most specific row wins: "cgroup/base" over "cgroup/*".
  const Item* found = nullptr;
  std::size_t wildcards = 0;
  for (const auto& c : compiled()) {
    if (!prefix_matches(c, parts, true)) continue;
    std::size_t w = 0;
    for (const auto& p : c.parts) w += p.find_first_of("*?[") != std::string::npos ? 1 : 0;
    if (!found || w < wildcards) {
      found = c.item;
      wildcards = w;
    }
  }
  return found;
}

bool known_directory(std::string_view rel) {
  auto parts = components(rel);
  return std::any_of(compiled().begin(), compiled().end(), [&](const Compiled& c) {
    std::size_t fixed = c.below() ? c.parts.size() - 1 : c.parts.size();
    return (parts.size() < fixed || c.below()) && prefix_matches(c, parts, false);
  });
}

std::vector<Problem> effect_warnings(const GuestConfig& cfg) {
  std::vector<Problem> out;
  Walker w{cfg, out};
  w.walk(cfg.cfgdir, "");
  setting_warnings(cfg, out);
  return out;
}

std::string items_markdown() {
  std::string out =
      "| File | Type | Status | What it does, or why it has no effect |\n"
      "|---|---|---|---|\n";
  for (const auto& i : kItems) {
    std::string path(i.path);
    const char* status = i.effect == Effect::applied  ? "applied"
                         : i.effect == Effect::limits ? "applied (limits)"
                                                      : "ignored, with a warning";
    std::string escaped;
    for (char c : std::string(i.meaning)) {
      if (c == '|') escaped += '\\';
      escaped += c;
    }
    out += fmt::format("| `{}` | {} | {} | {} |\n", path, i.type, status, escaped);
  }
  return out;
}

}  // namespace vs::config
