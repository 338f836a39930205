#include "config/config.hpp"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/capabilities.hpp"
#include "config/parse.hpp"
#include "sys/file.hpp"

namespace vs::config {
namespace {

constexpr std::uint64_t bit(int cap) {
  return std::uint64_t{1} << cap;
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = "/tmp/vs-config-test-XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    tmp_ = templ;
    roots_.config = tmp_ / "etc";
    roots_.vdir = tmp_ / "vdirs";
    roots_.run = tmp_ / "run";
    roots_.log = tmp_ / "log";
    fs::create_directories(roots_.config);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  // Writes ROOT/rel (relative to the configuration root), creating directories.
  void put(const fs::path& rel, const std::string& content) {
    fs::path p = roots_.config / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }
  void mkguest(const std::string& name) { fs::create_directories(roots_.config / name); }
  [[nodiscard]] fs::path cfgpath(const fs::path& rel) const { return roots_.config / rel; }

  // The problems of a guest, as "relative/file: message" lines for readable comparisons.
  std::vector<std::string> problems(const std::string& name) {
    GuestConfig cfg;
    std::vector<std::string> out;
    for (const auto& p : check_guest(roots_, name, cfg)) {
      out.push_back(p.file.lexically_relative(roots_.config).string() + ": " + p.message);
    }
    return out;
  }
  // Loads a guest that must be free of problems.
  GuestConfig load(const std::string& name) {
    GuestConfig cfg;
    auto p = check_guest(roots_, name, cfg);
    EXPECT_TRUE(p.empty()) << (p.empty() ? "" : p.front().to_string());
    return cfg;
  }

  fs::path tmp_;
  Roots roots_;
};

// Expected problem lines: exact, or by prefix or substring for long messages.
struct Line {
  enum Kind { exact, prefix, substring };
  Line(const char* s) : text(s) {}             // NOLINT(google-explicit-constructor)
  Line(std::string s) : text(std::move(s)) {}  // NOLINT(google-explicit-constructor)
  std::string text;
  Kind kind = exact;
};
Line starts_with(std::string s) {
  Line l(std::move(s));
  l.kind = Line::prefix;
  return l;
}
Line contains(std::string s) {
  Line l(std::move(s));
  l.kind = Line::substring;
  return l;
}

::testing::AssertionResult lines_match(const std::vector<std::string>& got,
                                       const std::vector<Line>& want) {
  bool ok = got.size() == want.size();
  for (size_t i = 0; ok && i < got.size(); ++i) {
    const Line& w = want[i];
    switch (w.kind) {
      case Line::exact:
        ok = got[i] == w.text;
        break;
      case Line::prefix:
        ok = got[i].rfind(w.text, 0) == 0;
        break;
      case Line::substring:
        ok = got[i].find(w.text) != std::string::npos;
        break;
    }
  }
  if (ok) return ::testing::AssertionSuccess();
  auto r = ::testing::AssertionFailure() << "got:\n";
  for (const auto& g : got) r << "  " << g << "\n";
  r << "want:\n";
  for (const auto& w : want) {
    r << "  "
      << (w.kind == Line::prefix      ? "starts with "
          : w.kind == Line::substring ? "contains "
                                      : "")
      << w.text << "\n";
  }
  return r;
}
#define EXPECT_LINES(got, ...) EXPECT_TRUE(lines_match(got, {__VA_ARGS__}))

// ---------------------------------------------------------------------------------------------
// Identity, defaults, existence

TEST_F(ConfigTest, EmptyDirectoryGivesDefaults) {
  mkguest("web");
  GuestConfig cfg = load("web");
  EXPECT_EQ(cfg.name, "web");
  EXPECT_EQ(cfg.cfgdir, roots_.config / "web");
  EXPECT_EQ(cfg.vdir, roots_.vdir / "web");
  EXPECT_FALSE(cfg.context);
  EXPECT_EQ(cfg.fstab, default_fstab());
  EXPECT_TRUE(cfg.cflags.empty());
  EXPECT_EQ(cfg.bcapabilities, default_bounding_set());
  EXPECT_TRUE(cfg.ccapabilities.empty());
  EXPECT_FALSE(cfg.nice);
  EXPECT_EQ(cfg.init, InitConfig{});
  EXPECT_EQ(cfg.init.style, InitStyle::sysv);
  EXPECT_EQ(cfg.network, NetworkMode::automatic);
  EXPECT_FALSE(cfg.create_bridge);
  EXPECT_TRUE(cfg.interfaces.empty());
  EXPECT_TRUE(cfg.rlimits.empty());
  EXPECT_TRUE(cfg.ulimits.empty());
  EXPECT_FALSE(cfg.shell);
  EXPECT_EQ(cfg.uts, Uts{});
}

TEST_F(ConfigTest, MissingGuestIsAPlainError) {
  try {
    load_guest(roots_, "nope");
    FAIL() << "no exception";
  } catch (const ConfigError&) {
    FAIL() << "a missing guest is not a configuration problem";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "guest nope does not exist (no " + (roots_.config / "nope").string() + ")");
  }
  GuestConfig cfg;
  EXPECT_THROW(check_guest(roots_, "nope", cfg), Error);
}

TEST_F(ConfigTest, GuestThatIsAFileDoesNotExist) {
  put("web", "not a directory\n");
  EXPECT_THROW(load_guest(roots_, "web"), Error);
}

TEST_F(ConfigTest, InvalidNamesAreRejectedBeforeTouchingTheTree) {
  mkguest("web");
  EXPECT_THROW(load_guest(roots_, "../etc/web"), Error);
  EXPECT_THROW(load_guest(roots_, ".defaults"), Error);
  EXPECT_THROW(load_guest(roots_, ""), Error);
}

TEST_F(ConfigTest, ReadsEveryItem) {
  put("web/name", "webby\n");
  put("web/context", " 40001 \nignored second line\n");
  put("web/uts/nodename", "web.example.org\n");
  put("web/uts/domainname", "example.org\n");
  put("web/uts/sysname", "Linux\n");
  put("web/uts/release", "2.6.32-vs\n");
  put("web/uts/version", "#1 SMP Tue Jan 1\n");
  put("web/uts/machine", "i686\n");
  put("web/fstab", "none /proc proc defaults 0 0\n/srv/data /data none bind,ro 0 0\n");
  put("web/cflags", "VIRT_MEM\n# comment\n\nvirt_uptime\n");
  put("web/bcapabilities", "CAP_NET_RAW\n!CAP_SYS_BOOT\n");
  put("web/ccapabilities", "raw_icmp\nset_utsname\n");
  put("web/nice", "-5\n");
  put("web/shell", "/bin/zsh -l\n");
  put("web/apps/init/style", "plain\n");
  put("web/apps/init/mark", "default\n");
  put("web/apps/init/cmd.start", "/sbin/init\nauto\n");
  put("web/apps/init/cmd.stop", "/sbin/halt\n");
  put("web/apps/init/runlevel.start", "5\n");
  put("web/apps/init/runlevel.stop", "6\n");
  put("web/apps/init/environment", "PATH=/bin:/usr/bin\nLANG=C\n");
  put("web/apps/init/depends", "db\n# no comment\ndns\n");
  put("web/apps/init/killseq", "2\n10\n15\n3\n9\n");
  put("web/apps/vshelper/sync-timeout", "90\n");
  put("web/network/mode", "host\n");
  put("web/interfaces/0/ip", "192.0.2.10\n");
  put("web/interfaces/0/dev", "eth0\n");
  put("web/interfaces/0/prefix", "24\n");
  put("web/rlimits/nproc", "200\n");
  put("web/ulimits/nofile.soft", "1K\n");
  put("web/ulimits/nofile.hard", "inf\n");

  GuestConfig cfg = load("web");
  EXPECT_EQ(cfg.name, "webby");
  EXPECT_EQ(cfg.context, 40001);
  EXPECT_EQ(cfg.uts.nodename, "web.example.org");
  EXPECT_EQ(cfg.uts.domainname, "example.org");
  EXPECT_EQ(cfg.uts.sysname, "Linux");
  EXPECT_EQ(cfg.uts.release, "2.6.32-vs");
  EXPECT_EQ(cfg.uts.version, "#1 SMP Tue Jan 1");
  EXPECT_EQ(cfg.uts.machine, "i686");
  ASSERT_EQ(cfg.fstab.size(), 2U);
  EXPECT_EQ(cfg.fstab[1], (FstabEntry{"/srv/data", "/data", "none", "bind,ro", 0, 0}));
  EXPECT_EQ(cfg.cflags, (std::set<std::string>{"virt_mem", "virt_uptime"}));
  EXPECT_EQ(cfg.bcapabilities, (default_bounding_set() | bit(CAP_NET_RAW)) & ~bit(CAP_SYS_BOOT));
  EXPECT_EQ(cfg.ccapabilities, (std::set<std::string>{"raw_icmp", "set_utsname"}));
  EXPECT_EQ(cfg.nice, -5);
  EXPECT_EQ(cfg.shell, "/bin/zsh -l");
  EXPECT_EQ(cfg.init.style, InitStyle::plain);
  EXPECT_EQ(cfg.init.mark, "default");
  EXPECT_EQ(cfg.init.cmd_start, (std::vector<std::string>{"/sbin/init", "auto"}));
  EXPECT_EQ(cfg.init.cmd_stop, (std::vector<std::string>{"/sbin/halt"}));
  EXPECT_EQ(cfg.init.runlevel_start, "5");
  EXPECT_EQ(cfg.init.runlevel_stop, "6");
  EXPECT_EQ(cfg.init.environment, (std::vector<std::string>{"PATH=/bin:/usr/bin", "LANG=C"}));
  EXPECT_EQ(cfg.init.depends, (std::vector<std::string>{"db", "dns"}));
  EXPECT_EQ(cfg.init.killseq, (std::vector<int>{2, 10, 15, 3, 9}));
  EXPECT_EQ(cfg.init.stop_timeout, 90);
  EXPECT_EQ(cfg.network, NetworkMode::host);
  ASSERT_EQ(cfg.interfaces.size(), 1U);
  EXPECT_EQ(cfg.interfaces[0].ip, "192.0.2.10");
  EXPECT_EQ(cfg.interfaces[0].family, AF_INET);
  EXPECT_EQ(cfg.interfaces[0].prefix, 24);
  EXPECT_EQ(cfg.interfaces[0].dev, "eth0");
  EXPECT_EQ(cfg.rlimits.at("nproc"), (Rlimit{200, 200, 200}));
  EXPECT_EQ(cfg.ulimits.at("nofile"), (Rlimit{std::nullopt, 1024, kUnlimited}));
}

TEST_F(ConfigTest, BadContextMessageIsExact) {
  put("web/context", "abc\n");
  GuestConfig cfg;
  auto p = check_guest(roots_, "web", cfg);
  ASSERT_EQ(p.size(), 1U);
  EXPECT_EQ(p[0].file, cfgpath("web/context"));
  EXPECT_EQ(p[0].message, "\"abc\" is not a context id (2..49151)");
  EXPECT_FALSE(cfg.context);
  try {
    load_guest(roots_, "web");
    FAIL() << "no exception";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              cfgpath("web/context").string() + ": \"abc\" is not a context id (2..49151)");
    ASSERT_EQ(e.problems().size(), 1U);
  }
}

TEST_F(ConfigTest, ContextRange) {
  for (const char* bad :
       {"1", "0", "49152", "-3", "", "4e4", "+40000", "40000x", "99999999999999"}) {
    put("web/context", std::string(bad) + "\n");
    auto p = problems("web");
    ASSERT_EQ(p.size(), 1U) << bad;
    EXPECT_EQ(p[0], "web/context: \"" + std::string(bad) + "\" is not a context id (2..49151)");
  }
  for (int good : {2, 40000, 49151}) {
    put("web/context", std::to_string(good));  // no trailing newline
    EXPECT_EQ(load("web").context, good);
  }
}

TEST_F(ConfigTest, NameMustBeValid) {
  put("web/name", "bad name\n");
  EXPECT_LINES(problems("web"), starts_with("web/name: \"bad name\" is not a valid guest name"));
}

TEST_F(ConfigTest, NiceRange) {
  put("web/nice", "20\n");
  EXPECT_LINES(problems("web"), "web/nice: \"20\" is not a nice value (-20..19)");
  put("web/nice", "-20\n");
  EXPECT_EQ(load("web").nice, -20);
}

TEST_F(ConfigTest, EveryProblemIsReportedAtOnce) {
  put("web/context", "abc\n");
  put("web/nice", "x\n");
  put("web/uts/nodename", "has space\n");
  put("web/fstab", "none proc proc\nnone tmp tmpfs defaults\n");
  put("web/cflags", "bogus\n");
  put("web/bcapabilities", "CAP_NOPE\n");
  put("web/ccapabilities", "nope\n");
  put("web/apps/init/style", "gentoo\n");
  put("web/apps/init/killseq", "15 5\n");
  put("web/apps/init/environment", "novalue\n");
  put("web/apps/vshelper/sync-timeout", "0\n");
  put("web/network/mode", "vlan\n");
  put("web/interfaces/0/ip", "300.1.1.1\n");
  put("web/rlimits/nofile", "lots\n");
  auto p = problems("web");
  EXPECT_LINES(p, "web/context: \"abc\" is not a context id (2..49151)",
               "web/nice: \"x\" is not a nice value (-20..19)",
               // NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one message split in two
               "web/uts/nodename: \"has space\" is not a valid nodename (1..64 characters, no '/' "
               "or whitespace)",
               "web/fstab: line 1: expected 4 to 6 fields (source target type options [dump "
               "[pass]]), found 3",
               "web/fstab: line 2: mount point \"tmp\" is not an absolute path",
               "web/cflags: unknown context flag \"bogus\"",
               "web/bcapabilities: line 1: unknown capability \"CAP_NOPE\"",
               "web/ccapabilities: unknown context capability \"nope\"",
               "web/apps/init/style: init style \"gentoo\" is not supported; use plain, or command "
               "with apps/init/cmd.start",
               "web/apps/init/environment: \"novalue\" is not VAR=VALUE",
               "web/apps/init/killseq: kill sequence has 2 fields; expected \"signal [wait "
               "signal]*\" (an odd number)",
               "web/apps/vshelper/sync-timeout: \"0\" is not a timeout in seconds (1..86400)",
               "web/network/mode: unknown network mode \"vlan\" (automatic, none, host, bridge, "
               "ipvlan, macvlan)",
               "web/interfaces/0/ip: \"300.1.1.1\" is not an IPv4 or IPv6 address",
               "web/interfaces/0: no device; add dev or nodev",
               starts_with("web/rlimits/nofile: \"lots\" is not a limit"));

  try {
    load_guest(roots_, "web");
    FAIL() << "no exception";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.problems().size(), p.size());
    std::string what = e.what();
    EXPECT_EQ(static_cast<size_t>(std::count(what.begin(), what.end(), '\n')), p.size() - 1);
    EXPECT_NE(what.find(cfgpath("web/nice").string() + ": \"x\" is not a nice value"),
              std::string::npos);
  }
}

TEST_F(ConfigTest, UnknownFilesAreIgnored) {
  put("web/ncontext", "40001\n");
  put("web/sched/fill-rate", "1\n");
  put("web/apps/vunify/exclude", "/etc\n");
  put("web/interfaces/lback", "127.0.0.2\n");
  put("web/interfaces/0/vlandev", "");
  put("web/interfaces/0/ip", "192.0.2.1\n");
  put("web/interfaces/0/nodev", "");
  load("web");
}

// ---------------------------------------------------------------------------------------------
// .defaults fallbacks

TEST_F(ConfigTest, DefaultsFallbackForTheItemsThatHaveOne) {
  mkguest("web");
  put(".defaults/shell", "/bin/bash -login\n");
  put(".defaults/apps/init/environment", "PATH=/usr/bin\n");
  put(".defaults/apps/init/killseq", "15 10 9\n");
  put(".defaults/apps/vshelper/sync-timeout", "60\n");
  GuestConfig cfg = load("web");
  EXPECT_EQ(cfg.shell, "/bin/bash -login");
  EXPECT_EQ(cfg.init.environment, (std::vector<std::string>{"PATH=/usr/bin"}));
  EXPECT_EQ(cfg.init.killseq, (std::vector<int>{15, 10, 9}));
  EXPECT_EQ(cfg.init.stop_timeout, 60);

  put("web/shell", "/bin/sh\n");
  put("web/apps/init/environment", "A=1\n");
  put("web/apps/init/killseq", "9\n");
  put("web/apps/vshelper/sync-timeout", "5\n");
  cfg = load("web");
  EXPECT_EQ(cfg.shell, "/bin/sh");
  EXPECT_EQ(cfg.init.environment, (std::vector<std::string>{"A=1"}));
  EXPECT_EQ(cfg.init.killseq, (std::vector<int>{9}));
  EXPECT_EQ(cfg.init.stop_timeout, 5);
}

TEST_F(ConfigTest, ProblemsInDefaultsNameTheDefaultsFile) {
  mkguest("web");
  put(".defaults/apps/vshelper/sync-timeout", "soon\n");
  EXPECT_LINES(problems("web"),
               ".defaults/apps/vshelper/sync-timeout: \"soon\" is not a timeout in "
               "seconds (1..86400)");
}

TEST_F(ConfigTest, ItemsWithoutFallbackIgnoreDefaults) {
  mkguest("web");
  put(".defaults/fstab", "none /x tmpfs defaults 0 0\n");
  put(".defaults/nice", "5\n");
  put(".defaults/cflags", "virt_mem\n");
  put(".defaults/context", "40000\n");
  put(".defaults/apps/init/style", "plain\n");
  put(".defaults/apps/init/cmd.start", "/bin/true\n");
  GuestConfig cfg = load("web");
  EXPECT_EQ(cfg.fstab, default_fstab());
  EXPECT_FALSE(cfg.nice);
  EXPECT_TRUE(cfg.cflags.empty());
  EXPECT_FALSE(cfg.context);
  EXPECT_EQ(cfg.init.style, InitStyle::sysv);
  EXPECT_TRUE(cfg.init.cmd_start.empty());
}

// ---------------------------------------------------------------------------------------------
// vdir

TEST_F(ConfigTest, VdirAbsoluteLink) {
  mkguest("web");
  fs::create_symlink("/srv/guests/web", cfgpath("web/vdir"));
  EXPECT_EQ(load("web").vdir, fs::path("/srv/guests/web"));
}

TEST_F(ConfigTest, VdirRelativeLinkResolvesAgainstCfgdir) {
  mkguest("web");
  fs::create_directories(tmp_ / "elsewhere");
  fs::create_directories(cfgpath(".defaults"));
  fs::create_directory_symlink(tmp_ / "elsewhere",
                               cfgpath(".defaults/vdirbase").parent_path() / "vdirbase");
  fs::create_symlink("../.defaults/vdirbase/web", cfgpath("web/vdir"));
  EXPECT_EQ(load("web").vdir, tmp_ / "elsewhere" / "web");

  fs::remove(cfgpath("web/vdir"));
  fs::create_symlink("../../rootfs/web", cfgpath("web/vdir"));
  EXPECT_EQ(load("web").vdir, tmp_ / "rootfs" / "web");
}

TEST_F(ConfigTest, VdirDefaultsToVdirbase) {
  mkguest("web");
  fs::create_directories(cfgpath(".defaults"));
  fs::create_directory_symlink("/srv/vservers", cfgpath(".defaults/vdirbase"));
  EXPECT_EQ(load("web").vdir, fs::path("/srv/vservers/web"));
}

TEST_F(ConfigTest, VdirMustBeAbsolute) {
  mkguest("web");
  roots_.vdir = "relative/vdirs";
  EXPECT_LINES(problems("web"), "web/vdir: vdir \"relative/vdirs/web\" is not an absolute path");
}

TEST_F(ConfigTest, VdirThatIsAFileIsAProblem) {
  put("web/vdir", "/srv/web\n");
  EXPECT_LINES(problems("web"), "web/vdir: not a symbolic link or directory");
}

// ---------------------------------------------------------------------------------------------
// uts

TEST_F(ConfigTest, LegacyHostnameAndDomainname) {
  put("web/hostname", "legacy-host\n");
  put("web/domainname", "legacy.org\n");
  GuestConfig cfg = load("web");
  EXPECT_EQ(cfg.uts.nodename, "legacy-host");
  EXPECT_EQ(cfg.uts.domainname, "legacy.org");
  put("web/uts/nodename", "new-host\n");
  EXPECT_EQ(load("web").uts.nodename, "new-host");
  EXPECT_EQ(load("web").uts.domainname, "legacy.org");
}

TEST_F(ConfigTest, UtsValidation) {
  put("web/uts/nodename", std::string(65, 'a') + "\n");
  put("web/uts/domainname", "a/b\n");
  put("web/uts/release", "\n");
  put("web/uts/version", "#1 SMP PREEMPT with spaces is fine\n");
  auto p = problems("web");
  ASSERT_EQ(p.size(), 3U);
  EXPECT_EQ(p[0], "web/uts/nodename: \"" + std::string(65, 'a') +
                      "\" is not a valid nodename (1..64 characters, no '/' or whitespace)");
  EXPECT_EQ(p[1],
            "web/uts/domainname: \"a/b\" is not a valid domainname (1..64 characters, no "
            "'/' or whitespace)");
  EXPECT_EQ(p[2], "web/uts/release: \"\" is not a valid release (1..64 characters)");
  put("web/uts/nodename", std::string(64, 'a') + "\n");
  put("web/uts/domainname", "b\n");
  put("web/uts/release", "6.1\n");
  EXPECT_EQ(load("web").uts.nodename, std::string(64, 'a'));
}

TEST_F(ConfigTest, LegacyHostnameIsValidatedToo) {
  put("web/hostname", "bad host\n");
  EXPECT_LINES(problems("web"), starts_with("web/hostname: \"bad host\""));
}

// ---------------------------------------------------------------------------------------------
// fstab

TEST_F(ConfigTest, FstabParsing) {
  put("web/fstab",
      "# the guest's mounts\n"
      "\n"
      "none\t/proc  proc defaults 0 0\n"
      "   # indented comment\n"
      "/srv/my\\040files /mnt/my\\040files none bind\n"
      "tmpfs /run tmpfs size=8m,mode=755 1\n");
  auto fstab = load("web").fstab;
  ASSERT_EQ(fstab.size(), 3U);
  EXPECT_EQ(fstab[0], (FstabEntry{"none", "/proc", "proc", "defaults", 0, 0}));
  EXPECT_EQ(fstab[1], (FstabEntry{"/srv/my files", "/mnt/my files", "none", "bind", 0, 0}));
  EXPECT_EQ(fstab[2], (FstabEntry{"tmpfs", "/run", "tmpfs", "size=8m,mode=755", 1, 0}));
}

TEST_F(ConfigTest, EmptyFstabMeansNoMounts) {
  put("web/fstab", "# nothing\n");
  EXPECT_TRUE(load("web").fstab.empty());
}

TEST_F(ConfigTest, FstabBadLinesHaveLineNumbers) {
  put("web/fstab",
      "none /proc proc defaults 0 0\n"
      "# ok\n"
      "none /tmp\n"
      "none tmp tmpfs defaults\n"
      "none /a tmpfs defaults x 0\n"
      "none /b tmpfs defaults 0 -1\n"
      "none /c tmpfs defaults 0 0 extra\n"
      "none /d tmpfs defaults 0 2\n");
  GuestConfig cfg;
  auto p = check_guest(roots_, "web", cfg);
  std::vector<std::string> messages;
  for (const auto& x : p) {
    EXPECT_EQ(x.file, cfgpath("web/fstab"));
    messages.push_back(x.message);
  }
  EXPECT_LINES(messages,
               // NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one message split in two
               "line 3: expected 4 to 6 fields (source target type options [dump "
               "[pass]]), found 2",
               "line 4: mount point \"tmp\" is not an absolute path",
               "line 5: dump field \"x\" is not a number",
               "line 6: pass field \"-1\" is not a number",
               "line 7: expected 4 to 6 fields (source target type options [dump "
               "[pass]]), found 7");
  // The good lines are kept.
  ASSERT_EQ(cfg.fstab.size(), 2U);
  EXPECT_EQ(cfg.fstab[1].target, "/d");
  EXPECT_EQ(cfg.fstab[1].pass, 2);
}

TEST(FstabFormat, EscapesRoundTrip) {
  std::vector<FstabEntry> entries = {
      {"/srv/a b", "/mnt/tab\there", "none", "bind", 0, 0},
      {"back\\slash", "/#hash", "tmpfs", "defaults", 1, 2},
      {"#source", "/x", "none", "bind", 0, 0},
  };
  std::string text = format_fstab(entries);
  auto parsed = parse_fstab(text);
  EXPECT_TRUE(parsed.errors.empty());
  EXPECT_EQ(parsed.entries, entries);
  EXPECT_NE(text.find("/srv/a\\040b"), std::string::npos);
  EXPECT_NE(text.find("\\043source"), std::string::npos);
}

TEST(FstabFormat, DefaultFstabIsUtilVservers) {
  auto text = format_fstab(default_fstab());
  EXPECT_EQ(text,
            "none /proc proc defaults 0 0\n"
            "none /tmp tmpfs size=16m,mode=1777 0 0\n"
            "none /dev/pts devpts gid=5,mode=620 0 0\n");
}

// ---------------------------------------------------------------------------------------------
// flags and capabilities

TEST_F(ConfigTest, CflagsCaseInsensitiveStoredLowerCase) {
  put("web/cflags", "  VIRT_MEM  \nHide_Netif\nsecure\ndefault\n#virt_load\n");
  EXPECT_EQ(load("web").cflags,
            (std::set<std::string>{"virt_mem", "hide_netif", "secure", "default"}));
}

TEST_F(ConfigTest, LegacyFlagsFileOnlyWithoutCflags) {
  put("web/flags", "lock\n");
  EXPECT_EQ(load("web").cflags, (std::set<std::string>{"lock"}));
  put("web/cflags", "nproc\n");
  EXPECT_EQ(load("web").cflags, (std::set<std::string>{"nproc"}));
}

TEST_F(ConfigTest, UnknownFlagsAreProblems) {
  put("web/cflags", "sched_idle\nvirt_mem\n!nosuch\n");
  EXPECT_LINES(problems("web"), "web/cflags: unknown context flag \"sched_idle\"",
               "web/cflags: unknown context flag \"!nosuch\"");
}

TEST_F(ConfigTest, ClearedFlagsAreKept) {
  put("web/cflags", "~virt_uptime\n!Sched_Hard\nvirt_mem\n");
  EXPECT_EQ(load("web").cflags, (std::set<std::string>{"~virt_uptime", "~sched_hard", "virt_mem"}));
}

TEST_F(ConfigTest, Bcapabilities) {
  put("web/bcapabilities", "# grant raw sockets\nNET_RAW\n\n~CAP_SYS_PTRACE\nsys_time\n");
  EXPECT_EQ(load("web").bcapabilities,
            (default_bounding_set() | bit(CAP_NET_RAW) | bit(CAP_SYS_TIME)) & ~bit(CAP_SYS_PTRACE));
  put("web/bcapabilities", "NET_RAW\nCAP_WHAT\n!ALSO_BAD\n");
  EXPECT_LINES(problems("web"),
               "web/bcapabilities: line 2: unknown capability "
               "\"CAP_WHAT\"",
               "web/bcapabilities: line 3: unknown capability "
               "\"ALSO_BAD\"");
}

TEST_F(ConfigTest, CcapabilitiesAliasesAreCanonical) {
  put("web/ccapabilities", "ping\nMOUNT\n# x\nutsname\nrlimit\nremount\nicmp\n");
  EXPECT_EQ(load("web").ccapabilities,
            (std::set<std::string>{"raw_icmp", "secure_mount", "set_utsname", "set_rlimit",
                                   "secure_remount"}));
  put("web/ccapabilities", "net_raw\n");
  EXPECT_LINES(problems("web"), "web/ccapabilities: unknown context capability \"net_raw\"");
}

// raw_icmp is on unless cleared, as in util-vserver; "~" or "!" clears it, and a write keeps that.
TEST_F(ConfigTest, CcapabilitiesRawIcmpIsOnUnlessCleared) {
  put("web/ccapabilities", "tiocsti\n");
  EXPECT_TRUE(load("web").raw_icmp());
  put("web/ccapabilities", "tiocsti\n~ping\n");
  auto cfg = load("web");
  EXPECT_FALSE(cfg.raw_icmp());
  EXPECT_EQ(cfg.ccapabilities, std::set<std::string>{"tiocsti"});
  put("web/ccapabilities", "!raw_icmp\n");
  EXPECT_FALSE(load("web").raw_icmp());
  put("web/ccapabilities", "~bogus\n");
  EXPECT_LINES(problems("web"), "web/ccapabilities: unknown context capability \"~bogus\"");
  cfg.ccapabilities_cleared = {"raw_icmp"};
  vs::config::write_guest(cfg);
  EXPECT_EQ(vs::read_file(cfg.cfgdir / "ccapabilities"), "tiocsti\n~raw_icmp\n");
  EXPECT_FALSE(load("web").raw_icmp());
}

// ---------------------------------------------------------------------------------------------
// init

TEST_F(ConfigTest, InitStyles) {
  mkguest("web");
  for (auto [text, style] :
       {std::pair{"sysv", InitStyle::sysv}, std::pair{"plain", InitStyle::plain},
        std::pair{"minit", InitStyle::minit}, std::pair{"systemd", InitStyle::systemd}}) {
    put("web/apps/init/style", std::string(text) + "\n");
    EXPECT_EQ(load("web").init.style, style) << text;
  }
  put("web/apps/init/style", "arch\n");
  EXPECT_LINES(problems("web"),
               "web/apps/init/style: init style \"arch\" is not supported; use plain, "
               "or command with apps/init/cmd.start");
  put("web/apps/init/style", "upstart\n");
  EXPECT_LINES(problems("web"),
               "web/apps/init/style: unknown init style \"upstart\" "
               "(sysv, plain, minit, systemd, command)");
}

TEST_F(ConfigTest, CmdStartWithoutStyleMeansCommand) {
  put("web/apps/init/cmd.start", "/usr/sbin/sshd\n-D\n\n");
  GuestConfig cfg = load("web");
  EXPECT_EQ(cfg.init.style, InitStyle::command);
  EXPECT_EQ(cfg.init.cmd_start, (std::vector<std::string>{"/usr/sbin/sshd", "-D"}));
  // An explicit style wins; cmd.start is kept as the override.
  put("web/apps/init/style", "sysv\n");
  cfg = load("web");
  EXPECT_EQ(cfg.init.style, InitStyle::sysv);
  EXPECT_EQ(cfg.init.cmd_start.size(), 2U);
}

TEST_F(ConfigTest, CommandStyleNeedsCmdStart) {
  put("web/apps/init/style", "command\n");
  EXPECT_LINES(problems("web"),
               "web/apps/init/style: init style command needs a "
               "command in apps/init/cmd.start");
  put("web/apps/init/cmd.start", "");
  EXPECT_LINES(problems("web"),
               "web/apps/init/cmd.start: init style command needs a "
               "command in apps/init/cmd.start");
}

TEST_F(ConfigTest, CmdFilesKeepCommentsAndSpaces) {
  put("web/apps/init/cmd.start", "/bin/sh\n-c\n# not a comment: an argument\n  x  \n");
  EXPECT_EQ(load("web").init.cmd_start,
            (std::vector<std::string>{"/bin/sh", "-c", "# not a comment: an argument", "  x  "}));
}

TEST_F(ConfigTest, Runlevels) {
  put("web/apps/init/runlevel", "2\n");
  EXPECT_EQ(load("web").init.runlevel_start, "2");
  put("web/apps/init/runlevel.start", "default\n");
  EXPECT_EQ(load("web").init.runlevel_start, "default");
  put("web/apps/init/runlevel.stop", "two words\n");
  EXPECT_LINES(problems("web"),
               "web/apps/init/runlevel.stop: \"two words\" is not a "
               "runlevel (one word)");
}

TEST_F(ConfigTest, MarkIsOneWord) {
  put("web/apps/init/mark", "a b\n");
  EXPECT_LINES(problems("web"), "web/apps/init/mark: \"a b\" is not a mark (one word)");
}

TEST_F(ConfigTest, EnvironmentLines) {
  put("web/apps/init/environment", "PATH=/bin\nEMPTY=\n=x\n1X=y\n\nLANG=C.UTF-8\n");
  EXPECT_LINES(problems("web"), "web/apps/init/environment: \"=x\" is not VAR=VALUE",
               "web/apps/init/environment: \"1X=y\" is not VAR=VALUE",
               "web/apps/init/environment: \"\" is not VAR=VALUE");
  put("web/apps/init/environment", "PATH=/bin\nEMPTY=\nA_1=with spaces = too\n");
  EXPECT_EQ(load("web").init.environment,
            (std::vector<std::string>{"PATH=/bin", "EMPTY=", "A_1=with spaces = too"}));
}

TEST_F(ConfigTest, Depends) {
  put("web/apps/init/depends", "db\nweb\nbad/name\n.hidden\n");
  EXPECT_LINES(problems("web"), "web/apps/init/depends: the guest depends on itself",
               "web/apps/init/depends: \"bad/name\" is not a guest "
               "name",
               "web/apps/init/depends: \".hidden\" is not a guest "
               "name");
}

TEST_F(ConfigTest, Killseq) {
  put("web/apps/init/killseq", "15 5 9\n");  // one line works too
  EXPECT_EQ(load("web").init.killseq, (std::vector<int>{15, 5, 9}));
  put("web/apps/init/killseq", "15\n5\n");
  EXPECT_LINES(problems("web"), contains("kill sequence has 2 fields"));
  put("web/apps/init/killseq", "15\n5\n65\n");
  EXPECT_LINES(problems("web"),
               "web/apps/init/killseq: \"65\" is not a signal number "
               "(1..64)");
  put("web/apps/init/killseq", "15\n-1\n9\n");
  EXPECT_LINES(problems("web"),
               "web/apps/init/killseq: \"-1\" is not a wait in "
               "seconds (0..86400)");
  put("web/apps/init/killseq", "TERM\n");
  EXPECT_LINES(problems("web"),
               "web/apps/init/killseq: \"TERM\" is not a signal "
               "number (1..64)");
  put("web/apps/init/killseq", "");
  EXPECT_LINES(problems("web"), contains("empty kill sequence"));
}

TEST_F(ConfigTest, SyncTimeout) {
  put("web/apps/vshelper/sync-timeout", "86401\n");
  EXPECT_LINES(problems("web"),
               "web/apps/vshelper/sync-timeout: \"86401\" is not a "
               "timeout in seconds (1..86400)");
  put("web/apps/vshelper/sync-timeout", "86400\n");
  EXPECT_EQ(load("web").init.stop_timeout, 86400);
}

// ---------------------------------------------------------------------------------------------
// network

TEST_F(ConfigTest, NetworkMode) {
  mkguest("web");
  EXPECT_EQ(load("web").network, NetworkMode::automatic);
  put("web/spaces/net", "");  // a new namespace: still the default
  EXPECT_EQ(load("web").network, NetworkMode::automatic);
  put("web/spaces/net", "0\n");
  EXPECT_EQ(load("web").network, NetworkMode::host);
  put("web/network/mode", "none\n");  // network/mode wins
  EXPECT_EQ(load("web").network, NetworkMode::none);
  for (auto m : {NetworkMode::automatic, NetworkMode::host, NetworkMode::bridge,
                 NetworkMode::ipvlan, NetworkMode::macvlan}) {
    put("web/network/mode", std::string(to_string(m)) + "\n");
    EXPECT_EQ(load("web").network, m);
  }
  put("web/network/mode", "vlan\n");
  auto p = problems("web");
  ASSERT_EQ(p.size(), 1U);
  EXPECT_NE(p[0].find("unknown network mode \"vlan\""), std::string::npos) << p[0];
  put("web/network/mode", "bridge\n");
  EXPECT_FALSE(load("web").create_bridge);
  put("web/network/create-bridge", "");
  EXPECT_TRUE(load("web").create_bridge);
}

TEST_F(ConfigTest, InterfacesInSortedOrderWithGlobalDefaults) {
  put("web/interfaces/dev", "eth0\n");
  put("web/interfaces/mask", "255.255.255.0\n");
  put("web/interfaces/bcast", "192.0.2.255\n");
  put("web/interfaces/scope", "global\n");
  put("web/interfaces/10/ip", "192.0.2.30\n");
  put("web/interfaces/02/ip", "192.0.2.20\n");
  put("web/interfaces/02/dev", "eth1\n");
  put("web/interfaces/02/prefix", "28\n");
  put("web/interfaces/01/ip", "2001:db8::1\n");
  put("web/interfaces/01/name", "v6\n");
  GuestConfig cfg = load("web");
  ASSERT_EQ(cfg.interfaces.size(), 3U);
  const Interface& v6 = cfg.interfaces[0];
  EXPECT_EQ(v6.id, "01");
  EXPECT_EQ(v6.family, AF_INET6);
  EXPECT_EQ(v6.prefix, 128);  // the IPv4 global mask does not apply
  EXPECT_EQ(v6.dev, "eth0");
  EXPECT_FALSE(v6.bcast);  // no broadcast for IPv6
  EXPECT_EQ(v6.scope, "global");
  EXPECT_EQ(v6.name, "v6");
  const Interface& a = cfg.interfaces[1];
  EXPECT_EQ(a.id, "02");
  EXPECT_EQ(a.dev, "eth1");
  EXPECT_EQ(a.prefix, 28);  // own prefix beats the global mask
  EXPECT_EQ(a.bcast, "192.0.2.255");
  const Interface& b = cfg.interfaces[2];
  EXPECT_EQ(b.id, "10");
  EXPECT_EQ(b.family, AF_INET);
  EXPECT_EQ(b.prefix, 24);
  EXPECT_EQ(b.dev, "eth0");
}

TEST_F(ConfigTest, InterfaceDefaultPrefix) {
  put("web/interfaces/a/ip", "192.0.2.1\n");
  put("web/interfaces/a/nodev", "");
  put("web/interfaces/b/ip", "fe80::1\n");
  put("web/interfaces/b/only_ip", "");
  put("web/interfaces/c/ip", "2001:db8::5\n");
  put("web/interfaces/c/prefix", "64\n");
  put("web/interfaces/c/dev", "eth0\n");
  put("web/interfaces/c/gateway", "2001:db8::ffff\n");
  put("web/interfaces/c/peer", "2001:db8::6\n");
  put("web/interfaces/c/mac", "02:00:5e:10:00:01\n");
  put("web/interfaces/c/disabled", "");
  put("web/interfaces/c/down", "");
  GuestConfig cfg = load("web");
  ASSERT_EQ(cfg.interfaces.size(), 3U);
  EXPECT_EQ(cfg.interfaces[0].prefix, 32);
  EXPECT_TRUE(cfg.interfaces[0].nodev);
  EXPECT_FALSE(cfg.interfaces[0].dev);
  EXPECT_EQ(cfg.interfaces[1].prefix, 128);
  EXPECT_TRUE(cfg.interfaces[1].nodev);
  const Interface& c = cfg.interfaces[2];
  EXPECT_EQ(c.prefix, 64);
  EXPECT_EQ(c.gateway, "2001:db8::ffff");
  EXPECT_EQ(c.peer, "2001:db8::6");
  EXPECT_EQ(c.mac, "02:00:5e:10:00:01");
  EXPECT_TRUE(c.disabled);
  EXPECT_TRUE(c.down);
  EXPECT_FALSE(c.nodev);
}

TEST_F(ConfigTest, InterfaceMasks) {
  put("web/interfaces/0/ip", "10.0.0.1\n");
  put("web/interfaces/0/dev", "eth0\n");
  put("web/interfaces/0/mask", "255.255.240.0\n");
  put("web/interfaces/1/ip", "2001:db8::1\n");
  put("web/interfaces/1/dev", "eth0\n");
  put("web/interfaces/1/mask", "ffff:ffff:ffff:ff00::\n");
  GuestConfig cfg = load("web");
  EXPECT_EQ(cfg.interfaces[0].prefix, 20);
  EXPECT_EQ(cfg.interfaces[1].prefix, 56);

  put("web/interfaces/0/mask", "255.0.255.0\n");
  put("web/interfaces/1/mask", "255.255.255.0\n");
  EXPECT_LINES(problems("web"),
               "web/interfaces/0/mask: \"255.0.255.0\" is not a contiguous IPv4 netmask",
               "web/interfaces/1/mask: \"255.255.255.0\" is not a contiguous IPv6 "
               "netmask");
}

TEST_F(ConfigTest, InterfaceProblems) {
  put("web/interfaces/0/dev", "eth0\n");  // no ip
  put("web/interfaces/1/ip", "192.0.2.1\n");
  put("web/interfaces/1/prefix", "33\n");
  put("web/interfaces/1/dev", "a/b\n");
  put("web/interfaces/2/ip", "2001:db8::1\n");
  put("web/interfaces/2/nodev", "");
  put("web/interfaces/2/prefix", "129\n");
  put("web/interfaces/2/bcast", "2001:db8::ff\n");
  put("web/interfaces/2/gateway", "192.0.2.254\n");
  put("web/interfaces/2/mac", "02:00:5e:10:00\n");
  put("web/interfaces/3/ip", "192.0.2.3\n");
  put("web/interfaces/3/dev", "eth0\n");
  put("web/interfaces/3/peer", "nowhere\n");
  put("web/interfaces/3/name", "far too long a label\n");
  EXPECT_LINES(problems("web"), "web/interfaces/0/ip: missing; every interface needs an address",
               "web/interfaces/1/dev: \"a/b\" is not a device name",
               "web/interfaces/1/prefix: \"33\" is not a prefix length (0..32)",
               "web/interfaces/2/prefix: \"129\" is not a prefix length (0..128)",
               "web/interfaces/2/bcast: IPv6 has no broadcast address",
               "web/interfaces/2/gateway: \"192.0.2.254\" is not an IPv6 address like ip",
               // NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one message split in two
               "web/interfaces/2/mac: \"02:00:5e:10:00\" is not a MAC address "
               "(xx:xx:xx:xx:xx:xx)",
               starts_with("web/interfaces/3/name: \"far too long a label\" is not "
                           "an interface label"),
               "web/interfaces/3/peer: \"nowhere\" is not an IPv4 or IPv6 address");
}

TEST_F(ConfigTest, InterfaceWithoutDevice) {
  put("web/interfaces/0/ip", "192.0.2.1\n");
  EXPECT_LINES(problems("web"), "web/interfaces/0: no device; add dev or nodev");
  put("web/interfaces/dev", "eth0\n");  // the global default is enough
  EXPECT_EQ(load("web").interfaces[0].dev, "eth0");
}

// ---------------------------------------------------------------------------------------------
// limits

TEST_F(ConfigTest, RlimitsBareAndSuffixed) {
  put("web/rlimits/nproc", "100\n");
  put("web/rlimits/nproc.hard", "200\n");  // overrides the bare file whatever the order
  put("web/rlimits/as.soft", "1M\n");
  put("web/rlimits/as.min", "0x10\n");
  put("web/rlimits/rss.hard", "inf\n");
  GuestConfig cfg = load("web");
  EXPECT_EQ(cfg.rlimits.at("nproc"), (Rlimit{100, 100, 200}));
  EXPECT_EQ(cfg.rlimits.at("as"), (Rlimit{16, 1048576, std::nullopt}));
  EXPECT_EQ(cfg.rlimits.at("rss"), (Rlimit{std::nullopt, std::nullopt, kUnlimited}));
  EXPECT_EQ(cfg.rlimits.size(), 3U);
}

TEST_F(ConfigTest, UlimitsHaveNoMinimum) {
  put("web/ulimits/nofile", "4k\n");
  GuestConfig cfg = load("web");
  EXPECT_EQ(cfg.ulimits.at("nofile"), (Rlimit{std::nullopt, 4000, 4000}));
  put("web/ulimits/nofile.min", "1\n");
  EXPECT_LINES(problems("web"),
               "web/ulimits/nofile.min: ulimits have no minimum; use "
               "nofile.soft and nofile.hard");
}

TEST_F(ConfigTest, LimitProblems) {
  put("web/rlimits/nofiles", "10\n");
  put("web/rlimits/nproc", "12X\n");
  put("web/rlimits/nofile.soft", "100\n");
  put("web/rlimits/nofile.hard", "10\n");
  put("web/ulimits/anon", "1\n");  // rlimits only
  put("web/rlimits/.hidden", "x\n");
  EXPECT_LINES(problems("web"),
               starts_with("web/rlimits/nofiles: unknown resource \"nofiles\" (cpu, "),
               starts_with("web/rlimits/nproc: \"12X\" is not a limit"),
               "web/rlimits/nofile.soft: soft limit 100 is above the hard limit 10",
               starts_with("web/ulimits/anon: unknown resource \"anon\""));
}

TEST(LimitValue, Parsing) {
  EXPECT_EQ(parse_limit("0"), 0U);
  EXPECT_EQ(parse_limit("1234"), 1234U);
  EXPECT_EQ(parse_limit("inf"), kUnlimited);
  EXPECT_EQ(parse_limit("4K"), 4096U);
  EXPECT_EQ(parse_limit("4k"), 4000U);
  EXPECT_EQ(parse_limit("3M"), 3U * 1024 * 1024);
  EXPECT_EQ(parse_limit("3m"), 3000000U);
  EXPECT_EQ(parse_limit("2G"), 2ULL * 1024 * 1024 * 1024);
  EXPECT_EQ(parse_limit("2g"), 2000000000ULL);
  EXPECT_EQ(parse_limit("0x10"), 16U);
  EXPECT_EQ(parse_limit("0XfF"), 255U);
  EXPECT_EQ(parse_limit("0x10K"), 16U * 1024);
  EXPECT_EQ(parse_limit("010"), 10U);  // decimal, not octal
  EXPECT_EQ(parse_limit("18446744073709551614"), 18446744073709551614ULL);
}

TEST(LimitValue, Malformed) {
  for (const char* bad : {"", "K", "0x", "0xK", "-1", "1.5", "12X", "1KK", "infinity", " 1",
                          "0x1g0", "18446744073709551616", "18014398509481984K", "1 K", "0xZ"}) {
    EXPECT_FALSE(parse_limit(bad)) << bad;
  }
}

TEST(LimitValue, FormatRoundTrip) {
  EXPECT_EQ(format_limit(kUnlimited), "inf");
  EXPECT_EQ(format_limit(4096), "4096");
  for (std::uint64_t v : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1} << 40, kUnlimited}) {
    EXPECT_EQ(parse_limit(format_limit(v)), v);
  }
}

TEST(SizeValue, ForPeople) {
  EXPECT_EQ(format_size(0), "0 B");
  EXPECT_EQ(format_size(1023), "1023 B");
  EXPECT_EQ(format_size(1536), "1.5 KiB");
  EXPECT_EQ(format_size(std::uint64_t{3} << 30), "3.0 GiB");
  EXPECT_EQ(format_size(std::uint64_t{5} << 50), "5120.0 TiB");
}

TEST(Netmask, ToPrefix) {
  EXPECT_EQ(mask_to_prefix("255.255.255.255", AF_INET), 32);
  EXPECT_EQ(mask_to_prefix("255.255.255.0", AF_INET), 24);
  EXPECT_EQ(mask_to_prefix("255.255.128.0", AF_INET), 17);
  EXPECT_EQ(mask_to_prefix("0.0.0.0", AF_INET), 0);
  EXPECT_EQ(mask_to_prefix("ffff:ffff:ffff:ffff::", AF_INET6), 64);
  EXPECT_EQ(mask_to_prefix("ffff:ffff:ffff:fff8::", AF_INET6), 61);
  EXPECT_EQ(mask_to_prefix("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", AF_INET6), 128);
  EXPECT_FALSE(mask_to_prefix("255.255.0.255", AF_INET));
  EXPECT_FALSE(mask_to_prefix("255.254.255.0", AF_INET));
  EXPECT_FALSE(mask_to_prefix("255.255.255.1", AF_INET));
  EXPECT_FALSE(mask_to_prefix("24", AF_INET));
  EXPECT_FALSE(mask_to_prefix("255.255.255.0", AF_INET6));
  EXPECT_FALSE(mask_to_prefix("ffff::ffff", AF_INET6));
  EXPECT_FALSE(mask_to_prefix("255.255.255.0", 0));
}

TEST(Addresses, Families) {
  EXPECT_EQ(address_family("192.0.2.1"), AF_INET);
  EXPECT_EQ(address_family("::1"), AF_INET6);
  EXPECT_EQ(address_family("2001:db8::10:1"), AF_INET6);
  EXPECT_EQ(address_family("192.0.2.1/24"), 0);
  EXPECT_EQ(address_family("192.0.2"), 0);
  EXPECT_EQ(address_family("host.example"), 0);
  EXPECT_EQ(address_family(""), 0);
  EXPECT_TRUE(valid_mac("02:00:5E:10:00:01"));
  EXPECT_FALSE(valid_mac("02-00-5e-10-00-01"));
  EXPECT_FALSE(valid_mac("02:00:5e:10:00:0g"));
}

// ---------------------------------------------------------------------------------------------
// writing

GuestConfig full_config(const Roots& roots) {
  GuestConfig cfg;
  cfg.name = "web";
  cfg.cfgdir = roots.guest_config_dir("web");
  cfg.vdir = "/srv/guests/web";
  cfg.context = 40123;
  cfg.uts.nodename = "web.example.org";
  cfg.uts.domainname = "example.org";
  cfg.uts.sysname = "Linux";
  cfg.uts.release = "6.1.0";
  cfg.uts.version = "#1 SMP PREEMPT_DYNAMIC";
  cfg.uts.machine = "x86_64";
  cfg.fstab = {{"none", "/proc", "proc", "defaults", 0, 0},
               {"/srv/shared files", "/mnt/shared", "none", "bind,ro", 0, 0}};
  cfg.cflags = {"virt_mem", "virt_uptime", "hide_netif"};
  cfg.bcapabilities =
      (default_bounding_set() | bit(CAP_NET_RAW) | bit(CAP_SYS_NICE)) & ~bit(CAP_SYS_BOOT);
  cfg.ccapabilities = {"raw_icmp", "set_utsname"};
  cfg.nice = 10;
  cfg.init.style = InitStyle::command;
  cfg.init.mark = "default";
  cfg.init.cmd_start = {"/usr/sbin/sshd", "-D", "-e"};
  cfg.init.cmd_stop = {"/bin/kill", "1"};
  cfg.init.runlevel_start = "2";
  cfg.init.runlevel_stop = "6";
  cfg.init.environment = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8"};
  cfg.init.depends = {"db", "dns"};
  cfg.init.killseq = {15, 20, 9};
  cfg.init.stop_timeout = 120;
  cfg.network = NetworkMode::host;
  Interface v4;
  v4.id = "0";
  v4.ip = "192.0.2.10";
  v4.family = AF_INET;
  v4.prefix = 24;
  v4.dev = "eth0";
  v4.name = "web";
  v4.bcast = "192.0.2.255";
  v4.scope = "global";
  v4.gateway = "192.0.2.1";
  v4.mac = "02:00:5e:10:00:01";
  v4.down = true;
  Interface v6;
  v6.id = "1";
  v6.ip = "2001:db8::10";
  v6.family = AF_INET6;
  v6.prefix = 64;
  v6.nodev = true;
  v6.peer = "2001:db8::1";
  v6.disabled = true;
  cfg.interfaces = {v4, v6};
  cfg.rlimits["nproc"] = Rlimit{500, 500, 500};
  cfg.rlimits["as"] = Rlimit{std::nullopt, 262144, kUnlimited};
  cfg.rlimits["rss"] = Rlimit{1000, std::nullopt, 5000};
  cfg.ulimits["nofile"] = Rlimit{std::nullopt, 1024, 4096};
  cfg.ulimits["core"] = Rlimit{std::nullopt, 0, 0};
  cfg.shell = "/bin/bash -login";
  return cfg;
}

TEST_F(ConfigTest, RoundTripFullConfig) {
  GuestConfig cfg = full_config(roots_);
  write_guest(cfg);
  GuestConfig back = load_guest(roots_, "web");
  EXPECT_EQ(back, cfg);
  // The layout is util-vserver's.
  EXPECT_EQ(fs::read_symlink(cfgpath("web/vdir")), fs::path("/srv/guests/web"));
  EXPECT_EQ(read_file(cfgpath("web/context")), "40123\n");
  EXPECT_EQ(read_file(cfgpath("web/bcapabilities")), "CAP_NET_RAW\n!CAP_SYS_BOOT\nCAP_SYS_NICE\n");
  EXPECT_EQ(read_file(cfgpath("web/rlimits/nproc")), "500\n");
  EXPECT_EQ(read_file(cfgpath("web/rlimits/as.hard")), "inf\n");
  EXPECT_FALSE(fs::exists(cfgpath("web/rlimits/as.min")));
  EXPECT_EQ(read_file(cfgpath("web/ulimits/core")), "0\n");
  EXPECT_TRUE(fs::exists(cfgpath("web/interfaces/1/nodev")));
  EXPECT_EQ(read_file(cfgpath("web/network/mode")), "host\n");
  // Writing again changes nothing.
  write_guest(back);
  EXPECT_EQ(load_guest(roots_, "web"), cfg);
}

TEST_F(ConfigTest, RoundTripDefaultConfig) {
  mkguest("web");
  GuestConfig cfg = load("web");
  write_guest(cfg);
  EXPECT_EQ(load_guest(roots_, "web"), cfg);
  // Only what util-vserver's build writes plus nothing that is at its default.
  EXPECT_TRUE(fs::exists(cfgpath("web/name")));
  EXPECT_TRUE(fs::exists(cfgpath("web/fstab")));
  EXPECT_TRUE(fs::is_symlink(cfgpath("web/vdir")));
  EXPECT_FALSE(fs::exists(cfgpath("web/bcapabilities")));
  EXPECT_FALSE(fs::exists(cfgpath("web/apps")));
  EXPECT_FALSE(fs::exists(cfgpath("web/network")));
}

TEST_F(ConfigTest, RoundTripOfALoadedLegacyTree) {
  put("web/hostname", "legacy\n");
  put("web/flags", "lock\n");
  put("web/ccapabilities", "ping\n");
  put("web/spaces/net", "0\n");
  put("web/apps/init/runlevel", "4\n");
  put("web/apps/init/cmd.start", "/bin/run\n");
  put("web/interfaces/dev", "eth0\n");
  put("web/interfaces/prefix", "16\n");
  put("web/interfaces/bcast", "10.1.255.255\n");
  put("web/interfaces/a/ip", "10.1.0.5\n");
  put("web/interfaces/b/ip", "10.1.0.6\n");
  put("web/interfaces/b/mask", "255.255.255.0\n");
  put("web/interfaces/b/only_ip", "");
  GuestConfig cfg = load("web");
  write_guest(cfg);
  EXPECT_EQ(load("web"), cfg);
  EXPECT_FALSE(fs::exists(cfgpath("web/hostname")));
  EXPECT_FALSE(fs::exists(cfgpath("web/flags")));
  EXPECT_FALSE(fs::exists(cfgpath("web/interfaces/dev")));
  EXPECT_FALSE(fs::exists(cfgpath("web/interfaces/b/only_ip")));
  EXPECT_TRUE(fs::exists(cfgpath("web/spaces/net")));  // not ours to remove

  // Now the guest gets its own network namespace: spaces/net stays, network/mode says none.
  cfg.network = NetworkMode::none;
  write_guest(cfg);
  EXPECT_EQ(load("web").network, NetworkMode::none);
}

// A new guest on a host whose .defaults/cgroup/base puts every guest below one parent is built
// with that base (and no cgroup/ of its own), rather than refused by write_guest.
TEST_F(ConfigTest, NewGuestGetsTheDefaultCgroupBase) {
  put(".defaults/cgroup/base", "hosting\n");
  GuestConfig cfg;
  cfg.name = "web";
  cfg.cfgdir = roots_.config / "web";
  cfg.vdir = roots_.vdir / "web";
  EXPECT_TRUE(new_guest_limits(roots_, cfg).empty());
  EXPECT_EQ(cfg.cgroup.base, "hosting");
  write_guest(cfg);
  EXPECT_FALSE(fs::exists(roots_.config / "web/cgroup"));
  EXPECT_EQ(load("web").cgroup.base, "hosting");
}

TEST_F(ConfigTest, WriteOverridesDefaultsWhenTheValueIsTheBuiltInDefault) {
  put(".defaults/apps/init/killseq", "15\n10\n9\n");
  put(".defaults/apps/vshelper/sync-timeout", "60\n");
  put(".defaults/apps/init/environment", "PATH=/bin\n");
  GuestConfig cfg = full_config(roots_);
  cfg.init.killseq = InitConfig{}.killseq;
  cfg.init.stop_timeout = InitConfig{}.stop_timeout;
  cfg.init.environment.clear();
  write_guest(cfg);
  GuestConfig back = load("web");
  EXPECT_EQ(back.init.killseq, (std::vector<int>{15, 5, 9}));
  EXPECT_EQ(back.init.stop_timeout, 30);
  EXPECT_TRUE(back.init.environment.empty());
  EXPECT_EQ(back, cfg);
}

TEST_F(ConfigTest, WriteRemovesItemsNoLongerSetAndKeepsUnknownFiles) {
  GuestConfig cfg = full_config(roots_);
  write_guest(cfg);
  put("web/ncontext", "7\n");
  put("web/interfaces/0/vlandev", "");
  put("web/interfaces/1/shared", "");
  put("web/apps/init/sync", "");

  cfg.nice.reset();
  cfg.context.reset();
  cfg.shell.reset();
  cfg.uts = Uts{};
  cfg.cflags.clear();
  cfg.ccapabilities.clear();
  cfg.bcapabilities = default_bounding_set();
  cfg.init = InitConfig{};
  cfg.network = NetworkMode::automatic;
  cfg.interfaces.erase(cfg.interfaces.begin());  // drop "0", keep "1"
  cfg.rlimits.erase("nproc");
  cfg.ulimits.clear();
  write_guest(cfg);

  EXPECT_EQ(load_guest(roots_, "web"), cfg);
  for (const char* gone :
       {"nice", "context", "shell", "uts/nodename", "cflags", "ccapabilities", "bcapabilities",
        "apps/init/style", "apps/init/cmd.start", "apps/init/environment", "apps/init/killseq",
        "apps/vshelper/sync-timeout", "network/mode", "interfaces/0", "rlimits/nproc",
        "ulimits/nofile.soft"}) {
    EXPECT_FALSE(fs::exists(cfgpath(fs::path("web") / gone))) << gone;
  }
  // A dropped interface goes with everything in its directory; other unknown files stay.
  for (const char* kept :
       {"ncontext", "interfaces/1/shared", "apps/init/sync", "interfaces/1/ip"}) {
    EXPECT_TRUE(fs::exists(cfgpath(fs::path("web") / kept))) << kept;
  }
}

TEST_F(ConfigTest, WriteRemovesDroppedInterfaceDirectories) {
  GuestConfig cfg = full_config(roots_);
  write_guest(cfg);
  cfg.interfaces.clear();
  write_guest(cfg);
  EXPECT_FALSE(fs::exists(cfgpath("web/interfaces/0")));
  EXPECT_FALSE(fs::exists(cfgpath("web/interfaces/1")));
  EXPECT_TRUE(load("web").interfaces.empty());
}

TEST_F(ConfigTest, WriteReplacesVdirLink) {
  GuestConfig cfg = full_config(roots_);
  write_guest(cfg);
  cfg.vdir = "/elsewhere/web";
  write_guest(cfg);
  EXPECT_EQ(fs::read_symlink(cfgpath("web/vdir")), fs::path("/elsewhere/web"));
  EXPECT_EQ(load("web").vdir, fs::path("/elsewhere/web"));
}

TEST_F(ConfigTest, VdirDirectoryInsideCfgdir) {
  fs::create_directories(cfgpath("web/vdir"));
  GuestConfig cfg = load("web");
  EXPECT_EQ(cfg.vdir, cfgpath("web/vdir"));
  write_guest(cfg);  // the directory stays as it is
  EXPECT_TRUE(fs::is_directory(cfgpath("web/vdir")));
  EXPECT_FALSE(fs::is_symlink(cfgpath("web/vdir")));
  EXPECT_EQ(load("web"), cfg);
  cfg.vdir = "/srv/web";
  EXPECT_THROW(write_guest(cfg), Error);  // never replaced by a link
  EXPECT_TRUE(fs::is_directory(cfgpath("web/vdir")));
}

TEST_F(ConfigTest, RoundTripKeepsANameThatDiffersFromTheDirectory) {
  GuestConfig cfg = full_config(roots_);
  cfg.name = "www";
  write_guest(cfg);
  EXPECT_EQ(read_file(cfgpath("web/name")), "www\n");
  EXPECT_EQ(load_guest(roots_, "web"), cfg);
}

TEST_F(ConfigTest, CheckGuestKeepsWhatCouldBeParsed) {
  put("web/context", "40001\n");
  put("web/nice", "loud\n");
  put("web/cflags", "virt_mem\nbogus\n");
  GuestConfig cfg;
  auto p = check_guest(roots_, "web", cfg);
  EXPECT_EQ(p.size(), 2U);
  EXPECT_EQ(cfg.context, 40001);
  EXPECT_FALSE(cfg.nice);
  EXPECT_EQ(cfg.cflags, (std::set<std::string>{"virt_mem"}));
}

TEST_F(ConfigTest, WriteRefusesWhatCannotBeReadBack) {
  GuestConfig cfg = full_config(roots_);
  cfg.vdir = "relative";
  EXPECT_THROW(write_guest(cfg), Error);
  cfg = full_config(roots_);
  cfg.name = "bad name";
  EXPECT_THROW(write_guest(cfg), Error);
  cfg = full_config(roots_);
  cfg.ulimits["nofile"].min = 1;
  EXPECT_THROW(write_guest(cfg), Error);
  cfg = full_config(roots_);
  cfg.rlimits["bogus"] = Rlimit{1, 1, 1};
  EXPECT_THROW(write_guest(cfg), Error);
  cfg = full_config(roots_);
  cfg.bcapabilities |= std::uint64_t{1} << 63;
  EXPECT_THROW(write_guest(cfg), Error);
  cfg = full_config(roots_);
  cfg.context = 1;
  EXPECT_THROW(write_guest(cfg), Error);
  cfg = full_config(roots_);
  cfg.interfaces[0].id = "../x";
  EXPECT_THROW(write_guest(cfg), Error);
}

TEST_F(ConfigTest, WriteSysvWithCmdStartKeepsTheStyle) {
  GuestConfig cfg = full_config(roots_);
  cfg.init.style = InitStyle::sysv;
  write_guest(cfg);
  EXPECT_EQ(read_file(cfgpath("web/apps/init/style")), "sysv\n");
  EXPECT_EQ(load("web").init.style, InitStyle::sysv);
}

// ---------------------------------------------------------------------------------------------
// list_guests, resolve_guest

TEST_F(ConfigTest, ListGuests) {
  mkguest("web");
  mkguest("db");
  mkguest("a.b-c_d");
  mkguest(".defaults");
  mkguest(".hidden");
  mkguest("-dash");
  put("notaguest", "file\n");
  fs::create_directories(tmp_ / "linked");
  fs::create_directory_symlink(tmp_ / "linked", roots_.config / "mail");
  EXPECT_EQ(list_guests(roots_), (std::vector<std::string>{"a.b-c_d", "db", "mail", "web"}));
}

TEST_F(ConfigTest, ListGuestsWithoutRoot) {
  roots_.config = tmp_ / "missing";
  EXPECT_TRUE(list_guests(roots_).empty());
}

TEST_F(ConfigTest, ResolveByNameAndPath) {
  mkguest("web");
  EXPECT_EQ(resolve_guest(roots_, "web"), "web");
  EXPECT_EQ(resolve_guest(roots_, "not-yet-built"), "not-yet-built");
  EXPECT_EQ(resolve_guest(roots_, (roots_.config / "web").string()), "web");
  EXPECT_EQ(resolve_guest(roots_, (roots_.config / "web").string() + "/"), "web");
  EXPECT_EQ(resolve_guest(roots_, (roots_.config / ".." / "etc" / "web").string()), "web");
  EXPECT_THROW(resolve_guest(roots_, (roots_.config / "nope").string()), Error);
  fs::create_directories(tmp_ / "other" / "web");
  EXPECT_THROW(resolve_guest(roots_, (tmp_ / "other" / "web").string()), Error);
  EXPECT_THROW(resolve_guest(roots_, ""), Error);
  EXPECT_THROW(resolve_guest(roots_, "bad name"), Error);
  EXPECT_THROW(resolve_guest(roots_, ".defaults"), Error);
}

TEST_F(ConfigTest, ResolveRelativePath) {
  mkguest("web");
  std::string cwd = fs::current_path();
  fs::current_path(roots_.config);
  std::string a, b;
  EXPECT_NO_THROW(a = resolve_guest(roots_, "./web"));
  fs::current_path(roots_.config / "web");
  EXPECT_NO_THROW(b = resolve_guest(roots_, "../web"));
  fs::current_path(cwd);
  EXPECT_EQ(a, "web");
  EXPECT_EQ(b, "web");
}

TEST_F(ConfigTest, ResolveByContext) {
  put("web/context", "40001\n");
  put("db/context", "40002\n");
  mkguest("nocontext");
  put("broken/context", "abc\n");
  EXPECT_EQ(resolve_guest(roots_, "40001"), "web");
  EXPECT_EQ(resolve_guest(roots_, "40002"), "db");
  try {
    resolve_guest(roots_, "40003");
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "no guest has context 40003");
  }
  // A guest whose name is all digits is found by name first.
  put("40002/context", "40005\n");
  EXPECT_EQ(resolve_guest(roots_, "40002"), "40002");
  EXPECT_EQ(resolve_guest(roots_, "40005"), "40002");
  // Two guests claiming one context cannot be told apart.
  put("dup/context", "40001\n");
  EXPECT_THROW(resolve_guest(roots_, "40001"), Error);
}

// ---------------------------------------------------------------------------------------------
// sched/, schedule, cpuset/, cgroup/, limits/ (docs/limits.md)

TEST_F(ConfigTest, SchedFiles) {
  put("web/sched/fill-rate", "1\n");
  put("web/sched/interval", "4\n");
  put("web/sched/tokens", "62\n");
  put("web/sched/tokens-min", "15\n");
  put("web/sched/tokens-max", "125\n");
  put("web/sched/prio-bias", "-3\n");  // vsched's alias of priority-bias
  put("web/sched/fill-rate2", "1\n");
  put("web/sched/interval2", "8\n");
  put("web/sched/idle-time", "");
  put("web/sched/cpu_mask", "0xff\n");  // deprecated and ignored
  put("web/sched/1/cpu-id", "1\n");
  put("web/sched/1/fill-rate", "2\n");
  put("web/sched/0/cpu-id", "0\n");
  put("web/sched/0/bucket-id", "0\n");
  Sched want{.fill_rate = 1,
             .interval = 4,
             .tokens = 62,
             .tokens_min = 15,
             .tokens_max = 125,
             .prio_bias = -3,
             .fill_rate2 = 1,
             .interval2 = 8,
             .idle_time = true,
             .per_cpu = {"0", "1"}};
  EXPECT_EQ(load("web").sched, want);
  mkguest("none");
  EXPECT_TRUE(load("none").sched.empty());
}

TEST_F(ConfigTest, SchedProblems) {
  put("web/sched/interval", "0\n");
  put("web/sched/fill-rate", "-1\n");
  put("web/sched/priority-bias", "21\n");
  put("web/sched/prio-bias", "1\n");
  put("web/sched/tokens", "lots\n");
  put("web/sched/fillrate", "1\n");
  put("web/sched/cpu-id", "0\n");
  put("web/sched/2/fill-rate", "1\n");
  put("web/sched/3/cpu-id", "x\n");
  put("web/sched/3/speed", "1\n");
  EXPECT_LINES(problems("web"),
               "web/sched/cpu-id: belongs in a per-CPU directory sched/DIR/, not in sched/",
               // NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one message split in two
               "web/sched/fill-rate: \"-1\" is not a fill rate in tokens per interval "
               "(0..2147483647)",
               starts_with("web/sched/fillrate: unknown file (fill-rate, interval, tokens, "),
               "web/sched/interval: \"0\" is not an interval in jiffies (1..2147483647)",
               "web/sched/prio-bias: sched/priority-bias sets the same value; keep one of them",
               "web/sched/priority-bias: \"21\" is not a priority bias (-20..20)",
               "web/sched/tokens: \"lots\" is not a number of tokens (0..2147483647)",
               "web/sched/2: per-CPU bucket without cpu-id",
               "web/sched/3/cpu-id: \"x\" is not a CPU or bucket number (0..2147483647)",
               starts_with("web/sched/3/speed: unknown file ("));
}

TEST_F(ConfigTest, LegacyScheduleFile) {
  put("web/schedule", "1\n4\n62\n15\n125\n-2\n");
  EXPECT_EQ(load("web").sched, (Sched{.fill_rate = 1,
                                      .interval = 4,
                                      .tokens = 62,
                                      .tokens_min = 15,
                                      .tokens_max = 125,
                                      .prio_bias = -2}));
  put("short/schedule", "1\n4\n62\n15\n");
  EXPECT_LINES(problems("short"),
               "short/schedule: bad content: 6 lines expected (fill-rate, interval, tokens, "
               "tokens-min, tokens-max, priority-bias), found 4");
  put("empty6/schedule", "1\n4\n62\n15\n125\n\n");
  EXPECT_LINES(problems("empty6"), contains("6 lines expected"));
  put("bad/schedule", "1\n0\n62\n15\n125\n0\n");
  EXPECT_LINES(problems("bad"),
               "bad/schedule: line 2 (interval): \"0\" is not an interval in jiffies "
               "(1..2147483647)");
  // sched/ wins over schedule, as in util-vserver, even over a broken one; the schedule file is
  // recorded so that a note can say it is not read.
  put("both/schedule", "x\n");
  put("both/sched/fill-rate", "3\n");
  EXPECT_EQ(load("both").sched, (Sched{.fill_rate = 3, .schedule_ignored = true}));
}

TEST_F(ConfigTest, CpusetFiles) {
  put("web/cpuset/name", "webset\n");
  put("web/cpuset/cpus", "0-3,5\n");
  put("web/cpuset/mems", "0\n");
  put("web/cpuset/cpu_exclusive", "1\n");
  put("web/cpuset/mem_exclusive", "0\n");
  put("web/cpuset/virtualized", "");  // empty: yes
  put("web/cpuset/nocreate", "");
  EXPECT_EQ(load("web").cpuset, (Cpuset{"webset", "0-3,5", "0", true, false, true, true}));

  // vserver-build --cpusetcpus 0-1:1 writes cpus_exclusive; cpu_exclusive wins over it.
  put("built/cpuset/cpus", "0-1\n");
  put("built/cpuset/cpus_exclusive", "1\n");
  EXPECT_TRUE(load("built").cpuset.cpu_exclusive);
  put("built/cpuset/cpu_exclusive", "0\n");
  EXPECT_FALSE(load("built").cpuset.cpu_exclusive);

  for (const char* good : {"0", "0-3,5", "1,2,3", "0-0", "12-15,32-47"}) {
    put("g/cpuset/cpus", std::string(good) + "\n");
    EXPECT_EQ(load("g").cpuset.cpus, good);
  }
  for (const char* bad : {",", "1,,2", "a", "-1", "0-", "3-1", "1 2", "0-3:2"}) {
    put("g/cpuset/cpus", std::string(bad) + "\n");
    EXPECT_LINES(problems("g"), "g/cpuset/cpus: " + std::string("\"") + bad +
                                    "\" is not a list of CPUs (like 0-3,5)");
  }
}

TEST_F(ConfigTest, CpusetProblems) {
  put("web/cpuset/name", "two words\n");
  put("web/cpuset/mems", "3-1\n");
  put("web/cpuset/cpu_exclusive", "yes\n");
  put("web/cpuset/tasks", "1\n");
  EXPECT_LINES(problems("web"),
               "web/cpuset/tasks: unknown file (name, cpus, mems, cpu_exclusive, mem_exclusive, "
               "virtualized, nocreate)",
               "web/cpuset/name: \"two words\" is not a cpuset name (one word)",
               "web/cpuset/mems: \"3-1\" is not a list of memory nodes (like 0-3,5)",
               "web/cpuset/cpu_exclusive: \"yes\" is not 0 or 1");
}

TEST_F(ConfigTest, CgroupFiles) {
  put("web/cgroup/cpu.shares", "512\n");
  put("web/cgroup/memory.high", "100M");  // no final newline
  put("web/cgroup/io.max", "8:0 rbps=1048576\n8:16 wbps=1048576\n\n");
  put("web/cgroup/name", "web-guest\n");
  put("web/cgroup/base", "hosting/vservers/\n");  // util-vserver writes a final '/'
  put("web/cgroup/mnt", "/dev/cgroup\n");
  put("web/cgroup/per-ss", "");
  CgroupConfig c = load("web").cgroup;
  EXPECT_EQ(c.files,
            (std::map<std::string, std::string>{{"cpu.shares", "512"},
                                                {"io.max", "8:0 rbps=1048576\n8:16 wbps=1048576\n"},
                                                {"memory.high", "100M"}}));
  EXPECT_EQ(c.name, "web-guest");
  EXPECT_EQ(c.base, "hosting/vservers");
  EXPECT_EQ(c.ignored, (std::vector<std::string>{"mnt", "per-ss"}));
  EXPECT_FALSE(c.disabled);
}

TEST_F(ConfigTest, CgroupDefaults) {
  put(".defaults/cgroup/cpu.shares", "256\n");
  put(".defaults/cgroup/base", "vs/\n");
  put(".defaults/cgroup/subsys", "cpu\n");
  mkguest("plain");
  put("own/cgroup/memory.max", "1G\n");
  put("off/nocgroup", "");
  put("offown/nocgroup", "");
  put("offown/cgroup/cpu.weight", "50\n");
  put("ownbase/cgroup/base", "mine\n");

  using Files = std::map<std::string, std::string>;
  using Names = std::vector<std::string>;
  CgroupConfig plain = load("plain").cgroup;  // the whole of .defaults/cgroup/
  EXPECT_EQ(plain.files, (Files{{"cpu.shares", "256"}}));
  EXPECT_EQ(plain.base, "vs");
  EXPECT_EQ(plain.ignored, (Names{"subsys"}));
  CgroupConfig own = load("own").cgroup;  // its own files; the .defaults base and control files
  EXPECT_EQ(own.files, (Files{{"memory.max", "1G"}}));
  EXPECT_EQ(own.base, "vs");
  EXPECT_EQ(own.ignored, (Names{"subsys"}));
  CgroupConfig off = load("off").cgroup;  // nocgroup: no .defaults files
  EXPECT_TRUE(off.disabled);
  EXPECT_TRUE(off.files.empty());
  EXPECT_EQ(off.base, "vs");
  CgroupConfig offown = load("offown").cgroup;  // a cgroup/ of its own still counts
  EXPECT_TRUE(offown.disabled);
  EXPECT_EQ(offown.files, (Files{{"cpu.weight", "50"}}));
  EXPECT_EQ(load("ownbase").cgroup.base, "mine");
}

TEST_F(ConfigTest, CgroupProblems) {
  put("web/cgroup/cgroup.procs", "1\n");
  put("web/cgroup/tasks", "1\n");
  put("web/cgroup/notify_on_release", "1\n");
  put("web/cgroup/.cpu.shares.swp", "x");
  put("web/cgroup/base", "../escape\n");
  put("web/cgroup/name", "a//b\n");
  fs::create_directories(cfgpath("web/cgroup/cpu.sub"));
  const std::string path_msg = " is not a relative cgroup path (no empty, \".\" or \"..\" parts)";
  EXPECT_LINES(
      problems("web"),
      "web/cgroup/.cpu.shares.swp: a hidden file is not a cgroup file; rename or remove it",
      "web/cgroup/base: \"../escape\"" + path_msg,
      "web/cgroup/cgroup.procs: managed by vserver itself; it cannot be set in cgroup/",
      "web/cgroup/cpu.sub: not a regular file", "web/cgroup/name: \"a//b\"" + path_msg,
      // NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one message split in two
      "web/cgroup/notify_on_release: not a controller file (CONTROLLER.NAME, like "
      "cpu.weight)",
      "web/cgroup/tasks: managed by vserver itself; it cannot be set in cgroup/");
  for (const char* bad : {"/abs", "a/./b", "a/", "..", ""}) {
    put("n/cgroup/name", std::string(bad) + "\n");
    EXPECT_LINES(problems("n"), starts_with("n/cgroup/name: \"" + std::string(bad) + "\" is not"));
  }
  // A name in .defaults would put every guest into one cgroup.
  put(".defaults/cgroup/name", "shared\n");
  mkguest("other");
  EXPECT_LINES(problems("other"),
               ".defaults/cgroup/name: every guest would share one cgroup; set cgroup/name per "
               "guest");
}

TEST_F(ConfigTest, ByteLimits) {
  put("web/limits/memory", "512M\n");
  put("web/limits/swap", "0\n");
  put("web/limits/address-space", "1.5G\n");
  put("web/limits/processes", "max\n");
  put("web/limits/cpu", "25%\n");
  EXPECT_EQ(load("web").limits, (ByteLimits{512ULL << 20, 0, 3ULL << 29, kUnlimited, 0.25}));
  put("db/limits/processes", "200\n");
  put("db/limits/memory", "inf\n");
  put("db/limits/cpu", "1.5\n");
  EXPECT_EQ(load("db").limits, (ByteLimits{kUnlimited, {}, {}, 200, 1.5}));
}

TEST_F(ConfigTest, ByteLimitProblems) {
  put("web/limits/memory", "0\n");
  put("web/limits/swap", "lots\n");
  put("web/limits/address-space", "1.5\n");
  put("web/limits/processes", "0\n");
  put("web/limits/cpu", "0\n");
  put("web/limits/ram", "1G\n");
  EXPECT_LINES(
      problems("web"), "web/limits/ram: unknown file (memory, swap, address-space, processes, cpu)",
      "web/limits/memory: 0 bytes would leave the guest nothing; remove the file for no limit",
      starts_with("web/limits/swap: \"lots\" is not a size (a number of bytes"),
      starts_with("web/limits/address-space: \"1.5\" is not a size"),
      "web/limits/processes: \"0\" is not a number of processes (1 or more, or max)",
      "web/limits/cpu: \"0\" is not a number of CPUs (like 0.5, 2 or 50%)");
}

TEST_F(ConfigTest, LimitConflictsNameBothFiles) {
  put("web/limits/memory", "1G\n");
  put("web/rlimits/rss.soft", "1000\n");
  put("web/limits/swap", "1G\n");
  put("web/rlimits/rss.hard", "900000\n");
  put("web/limits/address-space", "4G\n");
  put("web/rlimits/as.hard", "100\n");
  put("web/limits/processes", "100\n");
  put("web/rlimits/nproc", "100\n");
  put("web/limits/cpu", "1\n");
  put("web/sched/fill-rate", "1\n");
  put("web/cflags", "sched_hard\n");
  EXPECT_LINES(problems("web"),
               // NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one message split in two
               "web/limits/memory: conflicts with rlimits/rss.soft: both set the guest's RAM; "
               "keep one of them",
               "web/limits/swap: conflicts with rlimits/rss.hard: both set the guest's swap; keep "
               "one of them",
               "web/limits/address-space: conflicts with rlimits/as.hard: both set the address "
               "space of the guest's processes; keep one of them",
               "web/limits/processes: conflicts with rlimits/nproc: both set the guest's number "
               "of processes; keep one of them",
               "web/limits/cpu: conflicts with sched/fill-rate and cflags sched_hard: both cap the "
               "guest's CPU; keep one of them");

  // A bare rss sets RAM and swap; the legacy schedule file caps too.
  put("old/rlimits/rss", "1000\n");
  put("old/limits/memory", "1G\n");
  put("old/limits/cpu", "1\n");
  put("old/schedule", "1\n4\n62\n15\n125\n0\n");
  put("old/cflags", "sched_hard\n");
  EXPECT_LINES(problems("old"), contains("limits/memory: conflicts with rlimits/rss: "),
               contains("limits/cpu: conflicts with schedule and cflags sched_hard"));

  // Without sched_hard, sched/ only weighs and limits/cpu caps: no conflict. RAM with a total
  // (rss.hard) above it is fine too.
  put("fine/sched/fill-rate", "1\n");
  put("fine/limits/cpu", "1\n");
  put("fine/limits/memory", "1M\n");
  put("fine/rlimits/rss.hard", "1000\n");
  EXPECT_LINES(problems("fine"));
  // ... but not below it.
  put("low/limits/memory", "1G\n");
  put("low/rlimits/rss.hard", "1000\n");
  EXPECT_LINES(problems("low"),
               starts_with("low/limits/memory: 1 GiB is above rlimits/rss.hard (RAM plus swap, "));
}

GuestConfig limits_config(const Roots& roots) {
  GuestConfig cfg = full_config(roots);
  cfg.rlimits.erase("rss");  // limits/ says it
  cfg.rlimits.erase("as");
  cfg.limits = ByteLimits{512ULL << 20, 128ULL << 20, (3ULL << 30) + 1, {}, 0.3};
  cfg.sched = Sched{.fill_rate = 1,
                    .interval = 4,
                    .tokens = 62,
                    .tokens_min = 15,
                    .tokens_max = 125,
                    .prio_bias = -2,
                    .fill_rate2 = 1,
                    .interval2 = 8,
                    .idle_time = true,
                    .per_cpu = {"0"}};
  cfg.cpuset = Cpuset{"webset", "0-1", "0", true, true, false, true};
  cfg.cgroup.files = {
      {"cpu.shares", "512"}, {"io.max", "8:0 rbps=1\n8:16 wbps=2"}, {"memory.high", ""}};
  cfg.cgroup.name = "web1";
  cfg.cgroup.base = "hosting";
  return cfg;
}

TEST_F(ConfigTest, RoundTripLimits) {
  put("web/sched/0/cpu-id", "0\n");  // per-CPU buckets are kept, not created
  GuestConfig cfg = limits_config(roots_);
  write_guest(cfg);
  EXPECT_EQ(load("web"), cfg);
  EXPECT_EQ(read_file(cfgpath("web/sched/priority-bias")), "-2\n");
  EXPECT_TRUE(fs::exists(cfgpath("web/sched/idle-time")));
  EXPECT_EQ(read_file(cfgpath("web/limits/memory")), "512M\n");
  EXPECT_EQ(read_file(cfgpath("web/limits/address-space")), "3221225473\n");
  EXPECT_EQ(read_file(cfgpath("web/limits/cpu")), "0.3\n");
  EXPECT_EQ(read_file(cfgpath("web/cpuset/cpu_exclusive")), "1\n");
  EXPECT_FALSE(fs::exists(cfgpath("web/cpuset/virtualized")));
  EXPECT_EQ(read_file(cfgpath("web/cgroup/cpu.shares")), "512\n");
  EXPECT_EQ(read_file(cfgpath("web/cgroup/base")), "hosting\n");
  write_guest(load("web"));
  EXPECT_EQ(load("web"), cfg);

  // Unset is removed; what is not ours stays.
  put("web/cgroup/mnt", "/dev/cgroup\n");
  put("web/sched/cpu_mask", "1\n");
  cfg.sched = Sched{};
  cfg.cpuset = Cpuset{};
  cfg.cgroup = CgroupConfig{};
  cfg.limits = ByteLimits{};
  write_guest(cfg);
  cfg.cgroup.ignored = {"mnt"};
  EXPECT_EQ(load("web"), cfg);
  for (const char* gone :
       {"sched/fill-rate", "sched/priority-bias", "sched/idle-time", "sched/0", "cpuset/name",
        "cpuset/cpu_exclusive", "cpuset/nocreate", "cgroup/cpu.shares", "cgroup/name",
        "cgroup/base", "limits/memory", "limits/cpu"}) {
    EXPECT_FALSE(fs::exists(cfgpath(fs::path("web") / gone))) << gone;
  }
  EXPECT_TRUE(fs::exists(cfgpath("web/cgroup/mnt")));
  EXPECT_TRUE(fs::exists(cfgpath("web/sched/cpu_mask")));
}

TEST_F(ConfigTest, WriteConvertsLegacySchedAndCpusetNames) {
  put("web/schedule", "1\n4\n62\n15\n125\n3\n");
  put("web/cpuset/cpus_exclusive", "1\n");
  GuestConfig cfg = load("web");
  write_guest(cfg);
  EXPECT_EQ(load("web"), cfg);
  EXPECT_FALSE(fs::exists(cfgpath("web/schedule")));
  EXPECT_EQ(read_file(cfgpath("web/sched/priority-bias")), "3\n");
  EXPECT_EQ(read_file(cfgpath("web/cpuset/cpu_exclusive")), "1\n");
  EXPECT_FALSE(fs::exists(cfgpath("web/cpuset/cpus_exclusive")));

  put("db/sched/prio-bias", "-1\n");
  GuestConfig db = load("db");
  write_guest(db);
  EXPECT_EQ(load("db"), db);
  EXPECT_FALSE(fs::exists(cfgpath("db/sched/prio-bias")));
  EXPECT_EQ(read_file(cfgpath("db/sched/priority-bias")), "-1\n");
}

TEST_F(ConfigTest, WriteKeepsInheritingCgroupDefaults) {
  put(".defaults/cgroup/cpu.shares", "256\n");
  put(".defaults/cgroup/base", "vs\n");
  mkguest("web");
  GuestConfig cfg = load("web");
  write_guest(cfg);
  EXPECT_FALSE(fs::exists(cfgpath("web/cgroup")));
  EXPECT_EQ(load("web"), cfg);

  // A change gives the guest a cgroup/ of its own; the inherited base is not copied.
  cfg.cgroup.files["cpu.weight"] = "50";
  write_guest(cfg);
  EXPECT_EQ(read_file(cfgpath("web/cgroup/cpu.shares")), "256\n");
  EXPECT_FALSE(fs::exists(cfgpath("web/cgroup/base")));
  EXPECT_EQ(load("web"), cfg);

  // No files while .defaults has some: an empty cgroup/ of its own.
  mkguest("db");
  GuestConfig db = load("db");
  db.cgroup.files.clear();
  write_guest(db);
  EXPECT_TRUE(fs::is_directory(cfgpath("db/cgroup")));
  EXPECT_EQ(load("db"), db);
  // A base of its own.
  db.cgroup.base = "elsewhere";
  write_guest(db);
  EXPECT_EQ(load("db").cgroup.base, "elsewhere");
  // No base at all while .defaults sets one cannot be said.
  db.cgroup.base.reset();
  EXPECT_THROW(write_guest(db), Error);

  // nocgroup without a cgroup/ of its own.
  mkguest("off");
  GuestConfig off = load("off");
  off.cgroup.disabled = true;
  off.cgroup.files.clear();
  write_guest(off);
  EXPECT_TRUE(fs::exists(cfgpath("off/nocgroup")));
  EXPECT_FALSE(fs::exists(cfgpath("off/cgroup")));
  EXPECT_EQ(load("off"), off);
}

TEST_F(ConfigTest, WriteRefusesLimitsItCannotReadBack) {
  GuestConfig cfg = full_config(roots_);
  cfg.sched.per_cpu = {"0"};  // no such directory
  EXPECT_THROW(write_guest(cfg), Error);
  EXPECT_FALSE(fs::exists(cfgpath("web")));  // refused before writing anything
  for (const char* name : {"../x", "a/b", "cgroup.procs", "tasks", "base", "mnt", ".hidden"}) {
    cfg = full_config(roots_);
    cfg.cgroup.files.insert_or_assign(name, "1");
    EXPECT_THROW(write_guest(cfg), Error) << name;
  }
  cfg = full_config(roots_);
  cfg.cgroup.base = "/abs";
  EXPECT_THROW(write_guest(cfg), Error);
  cfg = full_config(roots_);
  cfg.cgroup.name = "a/../b";
  EXPECT_THROW(write_guest(cfg), Error);
  cfg = full_config(roots_);
  cfg.limits.cpus = -1;
  EXPECT_THROW(write_guest(cfg), Error);
  EXPECT_FALSE(fs::exists(cfgpath("web")));
}

TEST_F(ConfigTest, VlandevFollowsUtilVserversOrder) {
  put("web/interfaces/0/ip", "10.0.0.1\n");
  put("web/interfaces/0/dev", "eth0.7\n");
  put("web/interfaces/1/ip", "10.0.1.1\n");
  put("web/interfaces/1/dev", "eth1\n");
  put("web/interfaces/2/ip", "10.0.2.1\n");
  put("web/interfaces/2/dev", "eth0.8\n");
  put("web/interfaces/2/novlandev", "");
  GuestConfig cfg = load("web");
  EXPECT_FALSE(cfg.interfaces[0].vlandev);  // off by default
  put("web/interfaces/vlandev", "");
  cfg = load("web");
  EXPECT_TRUE(cfg.interfaces[0].vlandev);
  EXPECT_FALSE(cfg.interfaces[1].vlandev);  // the global switch: DEV.ID names only
  EXPECT_FALSE(cfg.interfaces[2].vlandev);  // novlandev wins
  put("web/interfaces/novlandev", "");
  put("web/interfaces/2/vlandev", "");
  fs::remove(cfgpath("web/interfaces/2/novlandev"));
  cfg = load("web");
  EXPECT_FALSE(cfg.interfaces[0].vlandev);
  EXPECT_TRUE(cfg.interfaces[2].vlandev);  // its own vlandev wins over the global novlandev
  // Round trip: the global switches are resolved into each interface.
  write_guest(cfg);
  EXPECT_FALSE(fs::exists(cfgpath("web/interfaces/vlandev")));
  EXPECT_TRUE(fs::exists(cfgpath("web/interfaces/2/vlandev")));
  EXPECT_EQ(load_guest(roots_, "web"), cfg);
  // .defaults/interfaces/vlandev is the host-wide switch.
  fs::remove(cfgpath("web/interfaces/2/vlandev"));
  put(".defaults/interfaces/vlandev", "");
  cfg = load("web");
  EXPECT_TRUE(cfg.interfaces[0].vlandev);
  EXPECT_TRUE(cfg.interfaces[2].vlandev);
  cfg.interfaces[2].vlandev = false;
  write_guest(cfg);
  EXPECT_TRUE(fs::exists(cfgpath("web/interfaces/2/novlandev")));
  EXPECT_EQ(load_guest(roots_, "web"), cfg);
}

TEST_F(ConfigTest, VlandevProblems) {
  put("web/interfaces/0/ip", "10.0.0.1\n");
  put("web/interfaces/0/dev", "eth0\n");
  put("web/interfaces/0/vlandev", "");
  put("web/interfaces/1/ip", "10.0.1.1\n");
  put("web/interfaces/1/dev", "eth0.0\n");
  put("web/interfaces/1/vlandev", "");
  put("web/interfaces/2/ip", "10.0.2.1\n");
  put("web/interfaces/2/dev", "eth0.4095\n");
  put("web/interfaces/2/vlandev", "");
  put("web/interfaces/3/ip", "10.0.3.1\n");
  put("web/interfaces/3/dev", "eth0.3\n");
  put("web/interfaces/3/vlandev", "");
  put("web/interfaces/3/novlandev", "");
  EXPECT_LINES(problems("web"),
               "web/interfaces/0/dev: \"eth0\" is not a VLAN device for vlandev (DEV.ID, with ID "
               "in 1..4094)",
               "web/interfaces/1/dev: \"eth0.0\" is not a VLAN device for vlandev (DEV.ID, with "
               "ID in 1..4094)",
               "web/interfaces/2/dev: \"eth0.4095\" is not a VLAN device for vlandev (DEV.ID, "
               "with ID in 1..4094)",
               "web/interfaces/3: both vlandev and novlandev; remove one");
}

TEST_F(ConfigTest, TunAndTap) {
  put("web/interfaces/0/ip", "10.0.0.1\n");
  put("web/interfaces/0/dev", "tun0\n");
  put("web/interfaces/0/tun", "");
  put("web/interfaces/0/uid", "1000\n");
  put("web/interfaces/0/gid", "100\n");
  put("web/interfaces/0/nocsum", "");
  put("web/interfaces/1/ip", "10.0.1.1\n");
  put("web/interfaces/1/dev", "tap0\n");
  put("web/interfaces/1/tap", "");
  put("web/interfaces/1/linktype", "1\n");
  GuestConfig cfg = load("web");
  EXPECT_EQ(cfg.interfaces[0].tun, vs::config::TunKind::tun);
  EXPECT_EQ(cfg.interfaces[0].tun_uid, 1000U);
  EXPECT_EQ(cfg.interfaces[0].tun_gid, 100U);
  EXPECT_TRUE(cfg.interfaces[0].nocsum);
  EXPECT_EQ(cfg.interfaces[1].tun, vs::config::TunKind::tap);
  EXPECT_EQ(cfg.interfaces[1].linktype, 1);
  write_guest(cfg);
  EXPECT_EQ(read_file(cfgpath("web/interfaces/0/uid")), "1000\n");
  EXPECT_EQ(load_guest(roots_, "web"), cfg);

  put("web/interfaces/0/tap", "");
  put("web/interfaces/1/uid", "-1\n");
  put("web/interfaces/1/linktype", "65535\n");
  put("web/interfaces/2/ip", "10.0.2.1\n");
  put("web/interfaces/2/dev", "eth0\n");
  put("web/interfaces/2/gid", "5\n");
  put("web/interfaces/2/nocsum", "");
  EXPECT_LINES(problems("web"), "web/interfaces/0: both tun and tap; remove one",
               "web/interfaces/1/uid: \"-1\" is not a numeric id",
               "web/interfaces/1/linktype: \"65535\" is not a link type (an ARPHRD_* number, "
               "0..65534)",
               "web/interfaces/2/gid: only for a tun or tap interface (add tun or tap)",
               "web/interfaces/2/nocsum: only for a tun or tap interface (add tun or tap)");
}

TEST(SplitVlanDevice, TakesTheLastDot) {
  using vs::config::split_vlan_device;
  EXPECT_EQ(split_vlan_device("eth0.7"), std::make_pair(std::string("eth0"), 7));
  EXPECT_EQ(split_vlan_device("eth0.7.4094"), std::make_pair(std::string("eth0.7"), 4094));
  EXPECT_FALSE(split_vlan_device("eth0"));
  EXPECT_FALSE(split_vlan_device("eth0."));
  EXPECT_FALSE(split_vlan_device(".7"));
  EXPECT_FALSE(split_vlan_device("eth0.0"));
  EXPECT_FALSE(split_vlan_device("eth0.4095"));
  EXPECT_FALSE(split_vlan_device("eth0.07a"));
  EXPECT_FALSE(split_vlan_device("eth0.00007"));
}

}  // namespace
}  // namespace vs::config
