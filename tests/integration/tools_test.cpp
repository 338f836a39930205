// vserver-stat, vps, vkill and vserver list against running guests.
#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>

#include "harness.hpp"
#include "sys/file.hpp"

namespace {

using it::Env;
using it::Result;

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(Tools, VserverStatShowsHostAndGuest) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest({"--context", "41077"});
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  Result r = env.run_as("vserver-stat", {});
  ASSERT_EQ(r.rc, 0) << r;
  auto l = lines(r.out);
  ASSERT_GE(l.size(), 3U) << r;
  EXPECT_EQ(l[0], "CTX   PROC    VSZ    RSS  userTIME   sysTIME    UPTIME NAME");
  EXPECT_EQ(l[1].substr(0, 2), "0 ");
  EXPECT_EQ(l[1].substr(55), "root server") << r;
  bool found = false;
  for (const auto& row : l) {
    if (row.rfind("41077", 0) == 0) {
      found = true;
      EXPECT_EQ(row.substr(55), g) << row;
      // Its processes: busybox init and syslogd.
      int procs = std::stoi(row.substr(5, 5));
      EXPECT_GE(procs, 1) << row;
      EXPECT_LE(procs, 3) << row;
    }
  }
  EXPECT_TRUE(found) << r;
}

TEST(Tools, VpsNamesTheGuestOfEachProcess) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest({"--context", "41078"});
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  Result r = env.run_as("vps", {"-e", "-o", "pid,comm"});
  ASSERT_EQ(r.rc, 0) << r;
  auto l = lines(r.out);
  ASSERT_FALSE(l.empty());
  EXPECT_NE(l[0].find("CONTEXT               GPID"), std::string::npos) << l[0];
  bool guest_init = false;
  bool host = false;
  for (const auto& row : l) {
    // The guest's init is pid 1 inside it.
    if (row.find("41078 " + g) != std::string::npos && row.find("init") != std::string::npos &&
        row.find("      1 init") != std::string::npos) {
      guest_init = true;
    }
    if (row.find("    0 MAIN               - ") != std::string::npos) host = true;
  }
  EXPECT_TRUE(guest_init) << r;
  EXPECT_TRUE(host) << r;
}

TEST(Tools, VkillSignalsGuestPids) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  env.write_config(g, "apps/init/style", "command\n");
  env.write_config(
      g, "apps/init/cmd.start",
      "/bin/sh\n-c\ntrap 'echo got-usr1 > /tmp/usr1' USR1; while :; do sleep 1; done\n");
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  Result r = env.run_as("vkill", {"-c", g, "-s", "USR1", "1"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_TRUE(it::wait_until(
      [&] {
        return env.run({g, "exec", "cat", "/tmp/usr1"}).out == "got-usr1\n";
      },
      std::chrono::seconds(5)));
  // The host's pid of the guest's init (what ps on the host shows) is taken too, and said so.
  std::string state = vs::read_file(env.run_root() / g / "state");
  auto pos = state.find("\"init_pid\":");
  ASSERT_NE(pos, std::string::npos) << state;
  std::string host_pid = std::to_string(std::stoi(state.substr(pos + 11)));
  env.run({g, "exec", "rm", "/tmp/usr1"});
  r = env.run_as("vkill", {"-c", g, "-s", "USR1", host_pid});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.err.find(host_pid + " is the host's pid of process 1 of guest " + g),
            std::string::npos)
      << r;
  EXPECT_TRUE(it::wait_until(
      [&] {
        return env.run({g, "exec", "cat", "/tmp/usr1"}).out == "got-usr1\n";
      },
      std::chrono::seconds(5)));
  r = env.run_as("vkill", {"-c", g, "-s", "TERM", "4242"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("neither its pid in the guest nor on the host"), std::string::npos) << r;
  r = env.run_as("vkill", {"-c", "nosuchguest", "1"});
  EXPECT_NE(r.rc, 0) << r;
}

TEST(Tools, ListJsonDescribesEveryGuest) {
  REQUIRE_ROOT();
  Env env;
  std::string a = env.busybox_guest({"--context", "41081"});
  std::string b = env.busybox_guest({"--context", "41082"});
  ASSERT_EQ(env.run({a, "start"}).rc, 0);
  Result r = env.run({"list", "--json"});
  ASSERT_EQ(r.rc, 0) << r;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2U) << r;
  for (const auto& e : j) {
    if (e["name"] == a) {
      EXPECT_TRUE(e["running"].get<bool>());
      EXPECT_EQ(e["context"], 41081);
      EXPECT_GE(e["processes"].get<int>(), 1);
    } else {
      EXPECT_EQ(e["name"], b);
      EXPECT_FALSE(e["running"].get<bool>());
    }
  }
  r = env.run({"list"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find(a), std::string::npos);
  EXPECT_NE(r.out.find(b), std::string::npos);
}

}  // namespace
