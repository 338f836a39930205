// Capability names, the default bounding set and the names util-vserver accepts in ccapabilities
// and cflags (util-vserver.md §1.2).
#include "config/capabilities.hpp"

#include <linux/capability.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "config/parse.hpp"
#include "sys/file.hpp"

namespace vs::config {

namespace {

struct CapName {
  int cap;
  const char* name;
};

// Every capability of <linux/capability.h> up to CAP_CHECKPOINT_RESTORE, in number order.
constexpr std::array<CapName, 41> kCapabilities = {{
    {CAP_CHOWN, "CAP_CHOWN"},
    {CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE"},
    {CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH"},
    {CAP_FOWNER, "CAP_FOWNER"},
    {CAP_FSETID, "CAP_FSETID"},
    {CAP_KILL, "CAP_KILL"},
    {CAP_SETGID, "CAP_SETGID"},
    {CAP_SETUID, "CAP_SETUID"},
    {CAP_SETPCAP, "CAP_SETPCAP"},
    {CAP_LINUX_IMMUTABLE, "CAP_LINUX_IMMUTABLE"},
    {CAP_NET_BIND_SERVICE, "CAP_NET_BIND_SERVICE"},
    {CAP_NET_BROADCAST, "CAP_NET_BROADCAST"},
    {CAP_NET_ADMIN, "CAP_NET_ADMIN"},
    {CAP_NET_RAW, "CAP_NET_RAW"},
    {CAP_IPC_LOCK, "CAP_IPC_LOCK"},
    {CAP_IPC_OWNER, "CAP_IPC_OWNER"},
    {CAP_SYS_MODULE, "CAP_SYS_MODULE"},
    {CAP_SYS_RAWIO, "CAP_SYS_RAWIO"},
    {CAP_SYS_CHROOT, "CAP_SYS_CHROOT"},
    {CAP_SYS_PTRACE, "CAP_SYS_PTRACE"},
    {CAP_SYS_PACCT, "CAP_SYS_PACCT"},
    {CAP_SYS_ADMIN, "CAP_SYS_ADMIN"},
    {CAP_SYS_BOOT, "CAP_SYS_BOOT"},
    {CAP_SYS_NICE, "CAP_SYS_NICE"},
    {CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE"},
    {CAP_SYS_TIME, "CAP_SYS_TIME"},
    {CAP_SYS_TTY_CONFIG, "CAP_SYS_TTY_CONFIG"},
    {CAP_MKNOD, "CAP_MKNOD"},
    {CAP_LEASE, "CAP_LEASE"},
    {CAP_AUDIT_WRITE, "CAP_AUDIT_WRITE"},
    {CAP_AUDIT_CONTROL, "CAP_AUDIT_CONTROL"},
    {CAP_SETFCAP, "CAP_SETFCAP"},
    {CAP_MAC_OVERRIDE, "CAP_MAC_OVERRIDE"},
    {CAP_MAC_ADMIN, "CAP_MAC_ADMIN"},
    {CAP_SYSLOG, "CAP_SYSLOG"},
    {CAP_WAKE_ALARM, "CAP_WAKE_ALARM"},
    {CAP_BLOCK_SUSPEND, "CAP_BLOCK_SUSPEND"},
    {CAP_AUDIT_READ, "CAP_AUDIT_READ"},
    {CAP_PERFMON, "CAP_PERFMON"},
    {CAP_BPF, "CAP_BPF"},
    {CAP_CHECKPOINT_RESTORE, "CAP_CHECKPOINT_RESTORE"},
}};

static_assert(kCapabilities.back().cap == CAP_LAST_CAP,
              "capability table does not end at CAP_LAST_CAP");
static_assert(CAP_LAST_CAP < 64, "capability sets are 64-bit masks");

constexpr bool table_in_order() {
  for (std::size_t i = 0; i < kCapabilities.size(); ++i) {
    if (kCapabilities[i].cap != static_cast<int>(i)) return false;
  }
  return true;
}
static_assert(table_in_order(), "capability table must be indexed by capability number");

constexpr std::uint64_t bit(int cap) {
  return std::uint64_t{1} << cap;
}

// Context capabilities of lib/ccaps-v13.c; legacy aliases map to the capability they stand for.
struct ContextCap {
  std::string_view name;
  std::string_view canonical;
};
constexpr std::array<ContextCap, 24> kContextCapabilities = {{
    {"set_utsname", "set_utsname"},
    {"set_rlimit", "set_rlimit"},
    {"fs_security", "fs_security"},
    {"fs_trusted", "fs_trusted"},
    {"tiocsti", "tiocsti"},
    {"raw_icmp", "raw_icmp"},
    {"syslog", "syslog"},
    {"oom_adjust", "oom_adjust"},
    {"audit_control", "audit_control"},
    {"secure_mount", "secure_mount"},
    {"secure_remount", "secure_remount"},
    {"binary_mount", "binary_mount"},
    {"dev_mount", "dev_mount"},
    {"quota_ctl", "quota_ctl"},
    {"admin_mapper", "admin_mapper"},
    {"admin_cloop", "admin_cloop"},
    {"kthread", "kthread"},
    {"namespace", "namespace"},
    // legacy aliases
    {"mount", "secure_mount"},
    {"remount", "secure_remount"},
    {"icmp", "raw_icmp"},
    {"ping", "raw_icmp"},
    {"utsname", "set_utsname"},
    {"rlimit", "set_rlimit"},
}};

// Context flags of lib/cflags-v13.c plus the pseudo-flags secure and default.
constexpr std::array<std::string_view, 30> kContextFlags = {
    "lock",        "nproc",      "private",     "fakeinit",     "hideinfo",    "ulimit",
    "namespace",   "sched_hard", "sched_prio",  "sched_pause",  "virt_mem",    "virt_uptime",
    "virt_cpu",    "virt_load",  "virt_time",   "hide_mount",   "hide_netif",  "hide_vinfo",
    "state_setup", "state_init", "state_admin", "sc_helper",    "reboot_kill", "persistent",
    "fork_rss",    "prolific",   "igneg_nice",  "igneg_ionice", "secure",      "default",
};

}  // namespace

std::optional<int> capability_from_name(std::string_view name) {
  if (name.size() > 4 && iequals(name.substr(0, 4), "CAP_")) name.remove_prefix(4);
  if (name.empty()) return std::nullopt;
  for (const auto& c : kCapabilities) {
    if (iequals(std::string_view(c.name).substr(4), name)) return c.cap;
  }
  return std::nullopt;
}

std::string capability_name(int cap) {
  if (cap >= 0 && cap <= CAP_LAST_CAP) return kCapabilities[static_cast<std::size_t>(cap)].name;
  // Not a name capability_from_name accepts: such a capability cannot be configured.
  return "capability " + std::to_string(cap);
}

int last_capability() {
  return CAP_LAST_CAP;
}

std::uint64_t default_bounding_set() {
  // lib/getinsecurebcaps.c (vattribute --secure), plus SYS_BOOT (reboot(2) in a PID namespace
  // only ends the guest's init) and AUDIT_WRITE.
  return bit(CAP_CHOWN) | bit(CAP_DAC_OVERRIDE) | bit(CAP_DAC_READ_SEARCH) | bit(CAP_FOWNER) |
         bit(CAP_FSETID) | bit(CAP_KILL) | bit(CAP_SETGID) | bit(CAP_SETUID) |
         bit(CAP_NET_BIND_SERVICE) | bit(CAP_SYS_CHROOT) | bit(CAP_SYS_PTRACE) |
         bit(CAP_SYS_TTY_CONFIG) | bit(CAP_LEASE) | bit(CAP_SETFCAP) | bit(CAP_SYS_BOOT) |
         bit(CAP_AUDIT_WRITE);
}

std::uint64_t apply_capability_lines(std::uint64_t base, const std::vector<std::string>& lines,
                                     std::vector<std::string>& errors) {
  std::uint64_t set = base;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = trim(lines[i]);
    if (line.empty() || line.front() == '#') continue;
    bool remove = line.front() == '!' || line.front() == '~';
    std::string_view name = remove ? trim(line.substr(1)) : line;
    auto cap = capability_from_name(name);
    if (!cap) {
      errors.push_back("line " + std::to_string(i + 1) + ": unknown capability \"" +
                       std::string(name) + "\"");
      continue;
    }
    if (remove) {
      set &= ~bit(*cap);
    } else {
      set |= bit(*cap);
    }
  }
  return set;
}

bool known_context_capability(std::string_view name) {
  return canonical_context_capability(name).has_value();
}

bool known_context_flag(std::string_view name) {
  return std::any_of(kContextFlags.begin(), kContextFlags.end(),
                     [&](std::string_view f) { return iequals(f, name); });
}

std::optional<std::string_view> canonical_context_capability(std::string_view name) {
  for (const auto& c : kContextCapabilities) {
    if (iequals(c.name, name)) return c.canonical;
  }
  return std::nullopt;
}

}  // namespace vs::config
