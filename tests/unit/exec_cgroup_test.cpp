// Which cgroup v2 directory a command joins in a guest whose init lives below the guest's own
// cgroup (a systemd guest's init.scope).
#include <gtest/gtest.h>

#include "runtime/internal.hpp"

namespace {

using vs::runtime::detail::init_cgroup_dir;

TEST(InitCgroupDir, BelowTheGuestsCgroup) {
  auto d = init_cgroup_dir("/sys/fs/cgroup/vservers/web", "0::/vservers/web/init.scope\n");
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, "/sys/fs/cgroup/vservers/web/init.scope");
}

TEST(InitCgroupDir, TheGuestsCgroupItself) {
  auto d = init_cgroup_dir("/sys/fs/cgroup/vservers/web", "0::/vservers/web\n");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->lexically_normal(), "/sys/fs/cgroup/vservers/web/");
}

TEST(InitCgroupDir, HybridHostAndDelegatedBase) {
  auto d = init_cgroup_dir("/sys/fs/cgroup/unified/user.slice/app.service/vservers/db",
                           "12:pids:/user.slice\n1:name=systemd:/x\n0::/user.slice/app.service/"
                           "vservers/db/system.slice/a\n");
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, "/sys/fs/cgroup/unified/user.slice/app.service/vservers/db/system.slice/a");
}

TEST(InitCgroupDir, NotInTheGuestsCgroup) {
  EXPECT_FALSE(init_cgroup_dir("/sys/fs/cgroup/vservers/web", "0::/vservers/webx/init.scope\n"));
  EXPECT_FALSE(init_cgroup_dir("/sys/fs/cgroup/vservers/web", "0::/\n"));
  EXPECT_FALSE(init_cgroup_dir("/sys/fs/cgroup/vservers/web", "1:name=systemd:/vservers/web\n"));
}

}  // namespace
