// The shared parent of the guests' cgroups ("vservers", or .defaults/cgroup/base) goes with the
// last guest, in every hierarchy: on a hybrid host it lies below the caller's own cgroup, which
// differs from caller to caller, and kept parents would pile up. The test's guests get a parent of
// their own (.defaults/cgroup/base), so that guests running on the host (the demo guest, say) do
// not keep it.
#include <unistd.h>

#include <filesystem>
#include <string>

#include "cgroup/cgroup.hpp"
#include "harness.hpp"

namespace {

namespace fs = std::filesystem;
using it::Env;
using it::Result;

// The parent directories of a guest's cgroups with this base, in the v2 hierarchy and each v1 one.
std::vector<fs::path> parents(const std::string& base) {
  auto h = vs::cgroup::Hierarchy::detect();
  std::vector<fs::path> out{vs::cgroup::guest_cgroup_path(h, base, "x").parent_path()};
  for (const auto& [ctrl, d] : vs::cgroup::guest_v1_paths(h, base, "x")) {
    out.push_back(d.parent_path());
  }
  return out;
}

TEST(CgroupParent, GoesWithTheLastGuest) {
  REQUIRE_ROOT();
  Env env;
  const std::string base = "vservers-parent-test-" + std::to_string(::getpid());
  std::string a = env.busybox_guest();
  std::string b = env.busybox_guest();
  // After the builds: a build refuses to write a guest without a base while .defaults sets one.
  env.write_config(".defaults", "cgroup/base", base + "\n");
  for (const auto& p : parents(base)) ASSERT_FALSE(fs::exists(p)) << p;
  ASSERT_EQ(env.run({a, "start"}).rc, 0);
  ASSERT_EQ(env.run({b, "start"}).rc, 0);
  for (const auto& p : parents(base)) EXPECT_TRUE(fs::exists(p)) << p;
  Result r = env.run({a, "stop", "--timeout", "10"});
  EXPECT_EQ(r.rc, 0) << r;
  // b is still in it.
  for (const auto& p : parents(base)) EXPECT_TRUE(fs::exists(p)) << p;
  r = env.run({b, "stop", "--timeout", "10"});
  EXPECT_EQ(r.rc, 0) << r;
  for (const auto& p : parents(base)) EXPECT_FALSE(fs::exists(p)) << "left behind: " << p;

  // A one-shot guest, and a start that fails in the guest's first process, leave none either.
  env.write_config(a, "apps/init/style", "command\n");
  env.write_config(a, "apps/init/cmd.start", "/bin/true\n");
  r = env.run({a, "start", "--foreground"});
  EXPECT_EQ(r.rc, 0) << r;
  for (const auto& p : parents(base)) EXPECT_FALSE(fs::exists(p)) << "left behind: " << p;
  env.write_config(a, "apps/init/cmd.start", "/no/such/init\n");
  r = env.run({a, "start"});
  EXPECT_NE(r.rc, 0) << r;
  for (const auto& p : parents(base)) EXPECT_FALSE(fs::exists(p)) << "left behind: " << p;
}

}  // namespace
