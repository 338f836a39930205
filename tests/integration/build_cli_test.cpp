// vserver NAME build through the command line: a guest from a tarball starts; a hostile tarball
// leaves nothing behind.
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "harness.hpp"
#include "sys/file.hpp"

namespace {

using it::Env;
using it::Result;

int sh(const std::string& cmd) {
  return std::system(cmd.c_str());
}

TEST(BuildCli, TemplateGuestFromTarballStarts) {
  REQUIRE_ROOT();
  Env env;
  std::string src = env.busybox_guest();
  std::string tarball = env.vdir_root().string() + "/../tpl.tar.zst";
  ASSERT_EQ(sh("tar --zstd -C " + env.vdir(src).string() + " -cf " + tarball + " ."), 0);
  std::string g = env.unique_name("t");
  Result r = env.run({g, "build", "-m", "template", "--hostname", "fromtar", "--initstyle", "plain",
                      "--", "-t", tarball});
  ASSERT_EQ(r.rc, 0) << r;
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  EXPECT_EQ(env.run({g, "exec", "hostname"}).out, "fromtar\n");
  // Contexts are allocated and do not collide.
  std::string c1 = vs::read_file(env.cfgdir(src) / "context");
  std::string c2 = vs::read_file(env.cfgdir(g) / "context");
  EXPECT_NE(c1, c2);
}

// A template with /sbin/init but no sysv rc script (busybox): without --initstyle the guest gets
// the style that starts it, and says so; an explicit style that cannot is refused at build time,
// leaving nothing.
TEST(BuildCli, TemplateGetsTheInitStyleItsRootCanRun) {
  REQUIRE_ROOT();
  Env env;
  std::string src = env.busybox_guest();
  std::string tarball = env.vdir_root().string() + "/../tpl.tar";
  ASSERT_EQ(sh("tar -C " + env.vdir(src).string() + " -cf " + tarball + " ."), 0);
  std::string g = env.unique_name("t");
  Result r = env.run({g, "build", "-m", "template", "--initstyle", "sysv", "--", "-t", tarball});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("init style sysv needs /etc/init.d/rc or /etc/rc.d/rc"), std::string::npos)
      << r;
  EXPECT_FALSE(std::filesystem::exists(env.cfgdir(g)));
  EXPECT_FALSE(std::filesystem::exists(env.vdir(g)));
  r = env.run({g, "build", "-m", "template", "--", "-t", tarball});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE((r.out + r.err).find("Init style plain, for what the root has"), std::string::npos)
      << r;
  EXPECT_EQ(vs::read_file(env.cfgdir(g) / "apps/init/style"), "plain\n");
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  EXPECT_EQ(env.run({g, "exec", "cat", "/proc/1/comm"}).out, "init\n");
  ASSERT_EQ(env.run({g, "stop"}).rc, 0);
}

TEST(BuildCli, HostileTarballLeavesNoGuest) {
  REQUIRE_ROOT();
  Env env;
  std::string work = env.vdir_root().string() + "/../hostile";
  std::filesystem::create_directories(work);
  std::ofstream(work + "/evil") << "x";
  std::string tarball = work + "/evil.tar";
  ASSERT_EQ(sh("tar -C " + work + " -P --transform 's,^,../,' -cf " + tarball + " evil"), 0);
  std::string g = env.unique_name("h");
  Result r = env.run({g, "build", "-m", "template", "--", "-t", tarball});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("../evil"), std::string::npos) << r;
  EXPECT_FALSE(std::filesystem::exists(env.cfgdir(g)));
  EXPECT_FALSE(std::filesystem::exists(env.vdir(g)));
  EXPECT_FALSE(std::filesystem::exists(env.vdir_root() / "../evil"));
  // Nothing half-built either.
  for (const auto& e : std::filesystem::directory_iterator(env.vdir_root())) {
    EXPECT_EQ(e.path().filename().string().find(g), std::string::npos) << e.path();
  }
  for (const auto& e : std::filesystem::directory_iterator(env.config_root())) {
    EXPECT_EQ(e.path().filename().string().find(g), std::string::npos) << e.path();
  }
}

TEST(BuildCli, ExistingGuestIsNotOverwritten) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  Result r = env.run({g, "build", "-m", "skeleton"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_TRUE(std::filesystem::exists(env.vdir(g) / "bin" / "busybox"));
}

TEST(BuildCli, CloneGetsItsOwnIdentity) {
  REQUIRE_ROOT();
  Env env;
  std::string src = env.busybox_guest({"--hostname", "orig"});
  std::string g = env.unique_name("c");
  Result r = env.run({g, "build", "-m", "clone", "--hostname", "copy", "--", "--source", src});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(vs::read_file(env.cfgdir(src) / "context"), vs::read_file(env.cfgdir(g) / "context"));
  ASSERT_EQ(env.run({src, "start"}).rc, 0);
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  EXPECT_EQ(env.run({g, "exec", "hostname"}).out, "copy\n");
  EXPECT_EQ(env.run({src, "exec", "hostname"}).out, "orig\n");
  // A file written in one is not in the other.
  EXPECT_EQ(env.run({g, "exec", "touch", "/root/only-in-clone"}).rc, 0);
  EXPECT_NE(env.run({src, "exec", "test", "-e", "/root/only-in-clone"}).rc, 0);
}

}  // namespace

namespace {

// A build that runs out of space fails with the reason and leaves nothing behind.
TEST(BuildCli, FullDiskLeavesNoGuest) {
  REQUIRE_ROOT();
  Env env;
  std::string small = env.vdir_root().string() + "-small";
  std::filesystem::create_directories(small);
  ASSERT_EQ(std::system(("mount -t tmpfs -o size=512k vs-it-full " + small).c_str()), 0);
  std::string g = env.unique_name("f");
  Result r = env.run({"--vdir-root", small, g, "build", "-m", "busybox"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r;
  EXPECT_FALSE(std::filesystem::exists(env.cfgdir(g)));
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(small)) ++entries;
  EXPECT_EQ(entries, 0U) << "half-built root left in " << small;
  for (const auto& e : std::filesystem::directory_iterator(env.config_root())) {
    EXPECT_EQ(e.path().filename().string().find(g), std::string::npos) << e.path();
  }
  EXPECT_EQ(std::system(("umount " + small).c_str()), 0);
}

}  // namespace

namespace {

// A freshly built guest has no warning; util-vserver's files without effect and a typo get one
// each, which leaves check's status 0 unless --strict asks for problems.
TEST(BuildCli, CheckWarnsForFilesWithoutEffectAndStrictRefuses) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  Result r = env.run({g, "check"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.out.find("warning:"), std::string::npos) << r;
  r = env.run({g, "check", "--strict"});
  EXPECT_EQ(r.rc, 0) << r;

  env.write_config(g, "uts/release", "2.6.32\n");
  env.write_config(g, "interfaces/0/ip", "10.0.0.2\n");
  env.write_config(g, "interfaces/0/nodev", "");
  env.write_config(g, "interfaces/0/ipp", "10.0.0.3\n");
  r = env.run({g, "check"});
  EXPECT_EQ(r.rc, 0) << r;
  std::string dir = env.cfgdir(g).string();
  EXPECT_NE(r.out.find("warning: " + dir +
                       "/uts/release: ignored: mainline Linux cannot show a guest another kernel "
                       "release"),
            std::string::npos)
      << r;
  EXPECT_NE(r.out.find("warning: " + dir +
                       "/interfaces/0/ipp: unknown file, not read (did you mean "
                       "interfaces/0/ip?)"),
            std::string::npos)
      << r;
  r = env.run({g, "check", "--strict"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.out.find(dir + "/uts/release: ignored:"), std::string::npos) << r;
  EXPECT_EQ(r.out.find("configuration is valid"), std::string::npos) << r;
  EXPECT_NE(r.err.find("2 problems found"), std::string::npos) << r;
}

}  // namespace
