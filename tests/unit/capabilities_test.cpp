#include "config/capabilities.hpp"

#include <gtest/gtest.h>
#include <linux/capability.h>

#include "config/parse.hpp"

namespace vs::config {
namespace {

constexpr std::uint64_t bit(int cap) {
  return std::uint64_t{1} << cap;
}

TEST(Capabilities, NamesInEveryAcceptedSpelling) {
  EXPECT_EQ(capability_from_name("CAP_NET_RAW"), CAP_NET_RAW);
  EXPECT_EQ(capability_from_name("NET_RAW"), CAP_NET_RAW);
  EXPECT_EQ(capability_from_name("net_raw"), CAP_NET_RAW);
  EXPECT_EQ(capability_from_name("cap_sys_admin"), CAP_SYS_ADMIN);
  EXPECT_EQ(capability_from_name("CAP_CHOWN"), 0);
  EXPECT_EQ(capability_from_name("CHECKPOINT_RESTORE"), CAP_CHECKPOINT_RESTORE);
}

TEST(Capabilities, UnknownNames) {
  EXPECT_FALSE(capability_from_name(""));
  EXPECT_FALSE(capability_from_name("CAP_"));
  EXPECT_FALSE(capability_from_name("CAP_NET_RAWX"));
  EXPECT_FALSE(capability_from_name("NET"));
  EXPECT_FALSE(capability_from_name("13"));  // numbers are not names
  EXPECT_FALSE(capability_from_name("CAP_CAP_CHOWN"));
}

TEST(Capabilities, EveryNumberHasAName) {
  EXPECT_EQ(last_capability(), CAP_LAST_CAP);
  EXPECT_EQ(last_capability(), 40);
  for (int c = 0; c <= last_capability(); ++c) {
    std::string name = capability_name(c);
    ASSERT_EQ(name.rfind("CAP_", 0), 0U) << name;
    EXPECT_EQ(capability_from_name(name), c) << name;
  }
  EXPECT_EQ(capability_name(CAP_SETFCAP), "CAP_SETFCAP");
  EXPECT_EQ(capability_name(CAP_BPF), "CAP_BPF");
  EXPECT_FALSE(capability_from_name(capability_name(last_capability() + 1)));
}

TEST(Capabilities, DefaultBoundingSetIsTheSecureSet) {
  std::uint64_t expected = bit(CAP_CHOWN) | bit(CAP_DAC_OVERRIDE) | bit(CAP_DAC_READ_SEARCH) |
                           bit(CAP_FOWNER) | bit(CAP_FSETID) | bit(CAP_KILL) | bit(CAP_SETGID) |
                           bit(CAP_SETUID) | bit(CAP_NET_BIND_SERVICE) | bit(CAP_SYS_CHROOT) |
                           bit(CAP_SYS_PTRACE) | bit(CAP_SYS_TTY_CONFIG) | bit(CAP_LEASE) |
                           bit(CAP_SETFCAP) | bit(CAP_SYS_BOOT) | bit(CAP_AUDIT_WRITE);
  EXPECT_EQ(default_bounding_set(), expected);
  EXPECT_EQ(default_bounding_set() & bit(CAP_SYS_ADMIN), 0U);
  EXPECT_EQ(default_bounding_set() & bit(CAP_NET_RAW), 0U);
  EXPECT_EQ(default_bounding_set() & bit(CAP_NET_ADMIN), 0U);
}

TEST(Capabilities, ApplyLinesAddsAndRemoves) {
  std::vector<std::string> errors;
  std::uint64_t base = bit(CAP_CHOWN) | bit(CAP_KILL);
  std::uint64_t set = apply_capability_lines(
      base, {"CAP_NET_RAW", "  sys_time  ", "!CAP_CHOWN", "~kill", "", "# CAP_SYS_ADMIN"}, errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(set, bit(CAP_NET_RAW) | bit(CAP_SYS_TIME));
}

TEST(Capabilities, ApplyLinesLaterLinesWin) {
  std::vector<std::string> errors;
  EXPECT_EQ(apply_capability_lines(0, {"NET_RAW", "!NET_RAW"}, errors), 0U);
  EXPECT_EQ(apply_capability_lines(0, {"!NET_RAW", "NET_RAW"}, errors), bit(CAP_NET_RAW));
  EXPECT_TRUE(errors.empty());
}

TEST(Capabilities, ApplyLinesReportsEveryBadLine) {
  std::vector<std::string> errors;
  std::uint64_t set = apply_capability_lines(
      bit(CAP_CHOWN), {"# comment", "CAP_BOGUS", "NET_RAW", "!NOPE", "!"}, errors);
  EXPECT_EQ(set, bit(CAP_CHOWN) | bit(CAP_NET_RAW));
  ASSERT_EQ(errors.size(), 3U);
  EXPECT_EQ(errors[0], "line 2: unknown capability \"CAP_BOGUS\"");
  EXPECT_EQ(errors[1], "line 4: unknown capability \"NOPE\"");
  EXPECT_EQ(errors[2], "line 5: unknown capability \"\"");
}

TEST(Capabilities, ContextCapabilities) {
  for (const char* name :
       {"set_utsname", "set_rlimit", "fs_security", "fs_trusted", "tiocsti", "raw_icmp", "syslog",
        "oom_adjust", "audit_control", "secure_mount", "secure_remount", "binary_mount",
        "dev_mount", "quota_ctl", "admin_mapper", "admin_cloop", "kthread", "namespace"}) {
    EXPECT_TRUE(known_context_capability(name)) << name;
    EXPECT_EQ(canonical_context_capability(name), std::string_view(name));
  }
  EXPECT_TRUE(known_context_capability("SET_UTSNAME"));
  EXPECT_FALSE(known_context_capability("net_raw"));
  EXPECT_FALSE(known_context_capability(""));
  EXPECT_FALSE(known_context_capability("raw_icmpx"));
}

TEST(Capabilities, ContextCapabilityAliases) {
  EXPECT_EQ(canonical_context_capability("mount"), "secure_mount");
  EXPECT_EQ(canonical_context_capability("remount"), "secure_remount");
  EXPECT_EQ(canonical_context_capability("icmp"), "raw_icmp");
  EXPECT_EQ(canonical_context_capability("ping"), "raw_icmp");
  EXPECT_EQ(canonical_context_capability("utsname"), "set_utsname");
  EXPECT_EQ(canonical_context_capability("RLIMIT"), "set_rlimit");
  for (const char* alias : {"mount", "remount", "icmp", "ping", "utsname", "rlimit"}) {
    EXPECT_TRUE(known_context_capability(alias)) << alias;
  }
}

TEST(Capabilities, ContextFlags) {
  for (const char* name :
       {"lock",        "nproc",      "private",     "fakeinit",     "hideinfo",    "ulimit",
        "namespace",   "sched_hard", "sched_prio",  "sched_pause",  "virt_mem",    "virt_uptime",
        "virt_cpu",    "virt_load",  "virt_time",   "hide_mount",   "hide_netif",  "hide_vinfo",
        "state_setup", "state_init", "state_admin", "sc_helper",    "reboot_kill", "persistent",
        "fork_rss",    "prolific",   "igneg_nice",  "igneg_ionice", "secure",      "default"}) {
    EXPECT_TRUE(known_context_flag(name)) << name;
  }
  EXPECT_TRUE(known_context_flag("VIRT_MEM"));
  // There is no sched_idle flag (util-vserver.md §1.2).
  EXPECT_FALSE(known_context_flag("sched_idle"));
  EXPECT_FALSE(known_context_flag(""));
  EXPECT_FALSE(known_context_flag("virt"));
}

}  // namespace
}  // namespace vs::config
