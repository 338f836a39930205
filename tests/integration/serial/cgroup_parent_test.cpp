// The shared parent of the guests' cgroups ("vservers") goes with the last guest, in every
// hierarchy: on a hybrid host it lies below the caller's own cgroup, which differs from caller to
// caller, and kept parents would pile up. Alone (RUN_SERIAL): another test's running guest would
// keep the parent.
#include <filesystem>

#include "harness.hpp"

namespace {

namespace fs = std::filesystem;
using it::Env;
using it::Result;

// The parent directories of a guest's cgroups, in the v2 hierarchy and each v1 one.
std::vector<fs::path> parents() {
  std::vector<fs::path> out{it::guest_cgroup("x").parent_path()};
  for (const auto& d : it::guest_v1_cgroups("x")) out.push_back(d.parent_path());
  return out;
}

TEST(CgroupParent, GoesWithTheLastGuest) {
  REQUIRE_ROOT();
  for (const auto& p : parents()) {
    if (fs::exists(p)) GTEST_SKIP() << "guests not started by the tests are running: " << p;
  }
  Env env;
  std::string a = env.busybox_guest();
  std::string b = env.busybox_guest();
  ASSERT_EQ(env.run({a, "start"}).rc, 0);
  ASSERT_EQ(env.run({b, "start"}).rc, 0);
  for (const auto& p : parents()) EXPECT_TRUE(fs::exists(p)) << p;
  Result r = env.run({a, "stop", "--timeout", "10"});
  EXPECT_EQ(r.rc, 0) << r;
  // b is still in it.
  for (const auto& p : parents()) EXPECT_TRUE(fs::exists(p)) << p;
  r = env.run({b, "stop", "--timeout", "10"});
  EXPECT_EQ(r.rc, 0) << r;
  for (const auto& p : parents()) EXPECT_FALSE(fs::exists(p)) << "left behind: " << p;

  // A one-shot guest, and a start that fails in the guest's first process, leave none either.
  env.write_config(a, "apps/init/style", "command\n");
  env.write_config(a, "apps/init/cmd.start", "/bin/true\n");
  r = env.run({a, "start", "--foreground"});
  EXPECT_EQ(r.rc, 0) << r;
  for (const auto& p : parents()) EXPECT_FALSE(fs::exists(p)) << "left behind: " << p;
  env.write_config(a, "apps/init/cmd.start", "/no/such/init\n");
  r = env.run({a, "start"});
  EXPECT_NE(r.rc, 0) << r;
  for (const auto& p : parents()) EXPECT_FALSE(fs::exists(p)) << "left behind: " << p;
}

}  // namespace
