// The configuration table (config/items.hpp) against the readers, write_guest, check's warnings
// and docs/configuration.md.
#include "config/items.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "config/config.hpp"

namespace vs::config {
namespace {

class Items : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = "/tmp/vs-items-test-XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    tmp_ = templ;
    roots_.config = tmp_ / "etc";
    roots_.vdir = tmp_ / "vdirs";
    roots_.run = tmp_ / "run";
    roots_.log = tmp_ / "log";
    fs::create_directories(roots_.config);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  void put(const std::string& guest, const std::string& rel, const std::string& content) {
    fs::path p = roots_.config / guest / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content << (content.empty() ? "" : "\n");
  }
  // What a row's sample needs beside it to be valid.
  void put_sample(const std::string& guest, const Item& item) {
    std::string path(item.sample_path);
    fs::create_directories(roots_.config / guest);
    if (path.starts_with("interfaces/0/")) {
      put(guest, "interfaces/0/ip", "10.0.0.2");
      put(guest, "interfaces/0/dev", "br0");
    }
    if (path.starts_with("interfaces/") && !path.starts_with("interfaces/0/")) {
      put(guest, "interfaces/0/ip", "10.0.0.2");
      put(guest, "interfaces/0/dev", "br0");
    }
    if (path == "apps/init/cmd.stop" || path == "apps/init/style") {
      put(guest, "apps/init/cmd.start", "/bin/true");
    }
    if (path.starts_with("apps/init/runlevel")) put(guest, "apps/init/style", "sysv");
    for (const char* tun_option : {"/uid", "/gid", "/linktype", "/nocsum"}) {
      if (path.ends_with(tun_option)) put(guest, "interfaces/0/tun", "");
    }
    if (path == "interfaces/0/ip" || path == "interfaces/0/dev") return;
    put(guest, path, std::string(item.sample));
  }
  // The warnings of check as "relative/path: message".
  std::vector<std::string> warnings(const std::string& guest) {
    GuestConfig cfg;
    auto problems = check_guest(roots_, guest, cfg);
    EXPECT_TRUE(problems.empty()) << problems.front().to_string();
    std::vector<std::string> out;
    for (const auto& w : effect_warnings(cfg)) {
      out.push_back(w.file.lexically_relative(roots_.config / guest).string() + ": " + w.message);
    }
    return out;
  }

  fs::path tmp_;
  Roots roots_;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ItemsTable, EverySampleBelongsToItsRow) {
  for (const auto& item : items()) {
    if (item.sample_path.empty()) continue;
    EXPECT_EQ(find_item(item.sample_path), &item) << item.sample_path;
  }
}

TEST(ItemsTable, MostSpecificRowWins) {
  ASSERT_NE(find_item("cgroup/base"), nullptr);
  EXPECT_EQ(find_item("cgroup/base")->effect, Effect::applied);
  EXPECT_EQ(find_item("cgroup/cpu.shares")->path, "cgroup/*");
  EXPECT_EQ(find_item("interfaces/0/ipp"), nullptr);
  EXPECT_EQ(find_item("netns/interfaces/0/host")->effect, Effect::ignored);
  EXPECT_TRUE(known_directory("interfaces/00"));
  EXPECT_TRUE(known_directory("scripts/pre-start.d"));
  EXPECT_FALSE(known_directory("scripts/pre-strat.d"));
  EXPECT_FALSE(known_directory("nosuchdir"));
}

// Each applied row: its sample is read (the reader looks at the path), is valid, and comes back
// from write_guest as it was written; what write_guest writes reads back to the same
// configuration. Every path the readers look at has a row.
TEST_F(Items, EveryRowRoundTrips) {
  std::set<std::string> consulted_all;
  int n = 0;
  for (const auto& item : items()) {
    if (item.sample_path.empty() || item.effect == Effect::ignored) continue;
    std::string g = "g" + std::to_string(n++);
    put_sample(g, item);
    GuestConfig cfg;
    std::set<std::string> consulted;
    auto problems = check_guest(roots_, g, cfg, &consulted);
    ASSERT_TRUE(problems.empty()) << item.path << ": " << problems.front().to_string();
    EXPECT_TRUE(consulted.count(std::string(item.sample_path)) != 0)
        << item.sample_path << " is in the table as applied, but the readers never look at it";
    consulted_all.insert(consulted.begin(), consulted.end());

    std::string copy = g + "-copy";
    GuestConfig out = cfg;
    out.cfgdir = roots_.config / copy;
    write_guest(out);
    if (item.written) {
      std::string want(item.sample);
      std::string got = slurp(roots_.config / copy / item.sample_path);
      while (!got.empty() && got.back() == '\n') got.pop_back();
      EXPECT_EQ(got, want) << item.sample_path << " does not come back from write_guest";
    }
    GuestConfig back;
    problems = check_guest(roots_, copy, back);
    ASSERT_TRUE(problems.empty()) << problems.front().to_string();
    back.cfgdir = cfg.cfgdir;
    back.name = cfg.name;
    EXPECT_TRUE(back == cfg) << item.sample_path << " does not read back the same";
  }
  for (const auto& rel : consulted_all) {
    EXPECT_TRUE(find_item(rel) != nullptr || known_directory(rel))
        << rel << " is read but has no row in the configuration table";
  }
}

// A tree with every file of util-vserver that has no effect: check warns for exactly those.
TEST_F(Items, CheckWarnsForExactlyTheFilesWithoutEffect) {
  std::set<std::string> expected;
  for (const auto& item : items()) {
    if (item.sample_path.empty()) continue;
    if (item.effect == Effect::ignored) {
      put_sample("all", item);
      expected.insert(std::string(item.sample_path) + ": ignored: " + std::string(item.meaning));
    }
  }
  put("all", "name", "all");
  put("all", "uts/nodename", "www");
  auto got = warnings("all");
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), expected);
  EXPECT_EQ(got.size(), expected.size());
}

TEST_F(Items, ABuiltGuestHasNoWarnings) {
  fs::create_directories(roots_.config / "web");
  GuestConfig cfg;
  ASSERT_TRUE(check_guest(roots_, "web", cfg).empty());
  cfg.context = 40001;
  cfg.uts.nodename = "www";
  cfg.limits.processes = 1024;
  write_guest(cfg);
  EXPECT_EQ(warnings("web"), std::vector<std::string>{});
}

TEST_F(Items, UnknownFilesAreNamedWithTheClosestKnownName) {
  put("web", "interfaces/0/ip", "10.0.0.2");
  put("web", "interfaces/0/dev", "br0");
  put("web", "interfaces/0/ipp", "10.0.0.3");
  put("web", "contxt", "40001");
  put("web", "frobnicate/x", "1");
  put("web", ".git/config", "");  // not configuration: not reported
  EXPECT_EQ(warnings("web"),
            (std::vector<std::string>{
                "contxt: unknown file, not read (did you mean context?)",
                "frobnicate: unknown directory, not read",
                "interfaces/0/ipp: unknown file, not read (did you mean interfaces/0/ip?)",
            }));
}

TEST_F(Items, SettingsWithoutEffectInsideFiles) {
  put("web", "cflags", "virt_mem\nhide_netif\n~sched_hard");
  put("web", "ccapabilities", "set_utsname\ntiocsti");
  put("web", "apps/init/style", "plain");
  put("web", "apps/init/runlevel", "2");
  put("web", "hostname", "old");
  put("web", "uts/nodename", "new");
  EXPECT_EQ(
      warnings("web"),
      (std::vector<std::string>{
          "cflags: context flag hide_netif: ignored: the guest sees only its own network "
          "interfaces anyway",
          "cflags: context flag ~sched_hard: ignored: it is not on by default, there is nothing "
          "to clear",
          "ccapabilities: context capability set_utsname: ignored: no effect on mainline Linux "
          "(only raw_icmp and tiocsti are applied)",
          "apps/init/runlevel: ignored: runlevels are used by init style sysv only, this guest's "
          "style is plain",
          "hostname: ignored: uts/nodename wins over it",
      }));
}

// docs/configuration.md holds the table between two markers; VSERVER_UPDATE_DOCS=1 rewrites it.
TEST(ItemsTable, DocsShowTheTable) {
  fs::path doc = fs::path(VSERVER_SOURCE_DIR) / "docs/configuration.md";
  std::string text = slurp(doc);
  const std::string begin =
      "<!-- BEGIN: the configuration table (tests/unit/config_items_test.cpp) -->\n";
  const std::string end = "<!-- END: the configuration table -->\n";
  auto b = text.find(begin);
  auto e = text.find(end);
  ASSERT_NE(b, std::string::npos) << doc << " has no " << begin;
  ASSERT_NE(e, std::string::npos) << doc << " has no " << end;
  std::string shown = text.substr(b + begin.size(), e - b - begin.size());
  std::string want = items_markdown();
  const char* update = std::getenv("VSERVER_UPDATE_DOCS");
  if (shown != want && update != nullptr && std::string(update) == "1") {
    text.replace(b + begin.size(), e - b - begin.size(), want);
    std::ofstream(doc) << text;
    shown = want;
  }
  EXPECT_EQ(shown, want) << "docs/configuration.md's table differs from the configuration "
                            "table; run VSERVER_UPDATE_DOCS=1 unit_tests "
                            "--gtest_filter=ItemsTable.DocsShowTheTable";
}

}  // namespace
}  // namespace vs::config
