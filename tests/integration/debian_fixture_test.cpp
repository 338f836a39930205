// The Debian root fixture: a guest made from it with the template method is the host's Debian
// suite, and the cached tarball is reused.
#include <fstream>

#include "debian.hpp"
#include "harness.hpp"
#include "sys/file.hpp"

namespace {

using it::Env;
using it::Result;

TEST(DebianFixture, TemplateGuestIsTheHostsSuite) {
  REQUIRE_ROOT();
  REQUIRE_DEBIAN();
  std::filesystem::path tar = it::debian_tarball();
  ASSERT_TRUE(std::filesystem::exists(tar));
  // A second call uses the cache.
  auto mtime = std::filesystem::last_write_time(tar);
  EXPECT_EQ(it::debian_tarball(), tar);
  EXPECT_EQ(std::filesystem::last_write_time(tar), mtime);

  Env env;
  std::string g = env.unique_name("deb");
  Result r = env.run({g, "build", "-m", "template", "--", "-t", tar.string()});
  ASSERT_EQ(r.rc, 0) << r;
  std::string os = vs::read_file(env.vdir(g) / "etc/os-release");
  EXPECT_NE(os.find("VERSION_CODENAME=" + it::host_debian_source().suite + "\n"), std::string::npos)
      << os;
  // The default packages are there: an rc script for the sysv style, and cron.
  EXPECT_TRUE(
      std::filesystem::exists(std::filesystem::symlink_status(env.vdir(g) / "etc/init.d/rc")));
  EXPECT_TRUE(std::filesystem::exists(env.vdir(g) / "usr/sbin/cron"));
  // Owners stay numeric: root's files belong to 0, and apt's sandbox user exists.
  EXPECT_NE(vs::read_file(env.vdir(g) / "etc/passwd").find("_apt:"), std::string::npos);
}

TEST(DebianFixture, HostSourceNamesSuiteAndMirror) {
  auto src = it::host_debian_source();
  if (src.suite.empty()) GTEST_SKIP() << "not a Debian host";
  if (src.mirror.empty()) GTEST_SKIP() << "no apt source for " << src.suite;
  EXPECT_TRUE(src.mirror.find("://") != std::string::npos || src.mirror.rfind("file:", 0) == 0)
      << src.mirror;
}

}  // namespace
