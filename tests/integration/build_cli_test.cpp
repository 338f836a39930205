// vserver NAME build through the command line: a guest from a tarball starts; a hostile tarball
// leaves nothing behind.
#include <sys/stat.h>
#include <sys/xattr.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "harness.hpp"
#include "sys/file.hpp"

namespace {

using it::Env;
using it::Result;
namespace fs = std::filesystem;

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

// A server's root in a plain directory, moved into a guest by rsync: owners, hard links and
// extended attributes kept, the contents of /proc, /tmp (and what --exclude names) left out, the
// init style found, and the guest starts.
TEST(BuildCli, RsyncMovesAServerIntoAGuest) {
  REQUIRE_ROOT();
  Env env;
  std::string src = env.busybox_guest();
  std::string server = env.vdir_root().string() + "/../server";
  ASSERT_EQ(sh("cp -a " + env.vdir(src).string() + " " + server), 0);
  ASSERT_EQ(sh("mkdir -p " + server + "/proc/1 " + server + "/srv/cache " + server + "/srv/data"),
            0);
  ASSERT_EQ(
      sh("echo x > " + server + "/proc/1/status; echo t > " + server + "/tmp/junk; echo c > " +
         server + "/srv/cache/big; echo d > " + server + "/srv/data/a; ln " + server +
         "/srv/data/a " + server + "/srv/data/b; chown 1234:5678 " + server + "/srv/data/a"),
      0);
  std::string xattr = it::set_test_xattr(server + "/srv/data/a", "mark", "moved");
  std::string g = env.unique_name("r");
  Result r =
      env.run({g, "build", "-m", "rsync", "--", "--source", server, "--exclude", "/srv/cache/*"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("Init style plain, for what the root has"), std::string::npos) << r;
  fs::path root = env.vdir(g);
  EXPECT_TRUE(fs::is_directory(root / "proc"));
  EXPECT_FALSE(fs::exists(root / "proc/1"));
  EXPECT_TRUE(fs::is_directory(root / "tmp"));
  EXPECT_FALSE(fs::exists(root / "tmp/junk"));
  EXPECT_TRUE(fs::is_directory(root / "srv/cache"));
  EXPECT_FALSE(fs::exists(root / "srv/cache/big"));
  struct stat a {
  }, b{};
  ASSERT_EQ(::stat((root / "srv/data/a").c_str(), &a), 0);
  ASSERT_EQ(::stat((root / "srv/data/b").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_uid, 1234U);
  EXPECT_EQ(a.st_gid, 5678U);
  std::array<char, 16> mark{};
  ASSERT_EQ(::getxattr((root / "srv/data/a").c_str(), xattr.c_str(), mark.data(), mark.size()), 5);
  EXPECT_EQ(std::string(mark.data(), 5), "moved");
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  EXPECT_EQ(env.run({g, "exec", "cat", "/srv/data/b"}).out, "d\n");
  EXPECT_EQ(env.run({g, "stop"}).rc, 0);
}

void expect_no_trace(const Env& env, const std::string& g) {
  EXPECT_FALSE(fs::exists(env.cfgdir(g)));
  EXPECT_FALSE(fs::exists(env.vdir(g)));
  for (const auto& root : {env.vdir_root(), env.config_root()}) {
    for (const auto& e : fs::directory_iterator(root)) {
      EXPECT_EQ(e.path().filename().string().find(g), std::string::npos) << e.path();
    }
  }
}

TEST(BuildCli, RsyncFailuresSayWhyAndLeaveNothing) {
  REQUIRE_ROOT();
  Env env;
  std::string server = env.vdir_root().string() + "/../server";
  std::string g = env.unique_name("r");
  // No such source.
  Result r = env.run({g, "build", "-m", "rsync", "--", "--source", server});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("rsync source " + fs::absolute(server).lexically_normal().string() +
                       ": No such file or directory"),
            std::string::npos)
      << r;
  expect_no_trace(env, g);
  // rsync fails: its status and its own words.
  fs::create_directories(server + "/etc");
  r = env.run({g, "build", "-m", "rsync", "--", "--source", server, "-o", "--no-such-option"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("exited with status 1"), std::string::npos) << r;
  EXPECT_NE(r.err.find("no-such-option"), std::string::npos) << r;
  expect_no_trace(env, g);
  // No rsync at all.
  fs::path empty = env.vdir_root().string() + "/../empty-path";
  fs::create_directories(empty);
  env.add_env("PATH=" + empty.string());
  r = env.run({g, "build", "-m", "rsync", "--", "--source", server});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("method rsync needs rsync (Debian package rsync)"), std::string::npos) << r;
  expect_no_trace(env, g);
}

}  // namespace

namespace {

std::size_t entries_in(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

// A prepared empty directory at VDIR_ROOT/NAME is built into in place; a failed build empties it
// again and keeps it; a directory with something in it is still refused.
TEST(BuildCli, BuildsIntoAnExistingEmptyDirectory) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.unique_name("e");
  fs::path vdir = env.vdir(g);
  fs::create_directories(vdir);
  ASSERT_EQ(::chmod(vdir.c_str(), 0711), 0);
  struct stat before {};
  ASSERT_EQ(::stat(vdir.c_str(), &before), 0);
  // A failing build: the directory stays, empty, with its mode.
  Result r = env.run({g, "build", "-m", "skeleton", "--", "--", "sh", "-c", "touch etc/x; false"});
  EXPECT_NE(r.rc, 0) << r;
  ASSERT_TRUE(fs::is_directory(vdir));
  EXPECT_EQ(entries_in(vdir), 0U);
  struct stat after {};
  ASSERT_EQ(::stat(vdir.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_mode & 07777, 0711U);
  EXPECT_FALSE(fs::exists(env.cfgdir(g)));
  // A good one fills it.
  r = env.run({g, "build", "-m", "busybox"});
  ASSERT_EQ(r.rc, 0) << r;
  ASSERT_EQ(::stat(vdir.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_TRUE(fs::exists(vdir / "bin/busybox"));
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  EXPECT_EQ(env.run({g, "stop"}).rc, 0);
  // Not empty: refused as before.
  std::string h = env.unique_name("n");
  fs::create_directories(env.vdir(h));
  std::ofstream(env.vdir(h) / "keep") << "mine";
  r = env.run({h, "build", "-m", "busybox"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r;
  EXPECT_EQ(entries_in(env.vdir(h)), 1U);
  fs::remove_all(env.vdir(h));
}

// A filesystem mounted at VDIR_ROOT/NAME (a volume prepared for the guest) is built onto; a failed
// build leaves it mounted and empty.
TEST(BuildCli, BuildsOntoAMountPoint) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.unique_name("m");
  fs::path vdir = env.vdir(g);
  fs::create_directories(vdir);
  ASSERT_EQ(sh("mount -t tmpfs -o size=64m vs-it-volume " + vdir.string()), 0);
  Result r = env.run({g, "build", "-m", "skeleton", "--", "--", "sh", "-c", "touch etc/x; false"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_EQ(entries_in(vdir), 0U);
  EXPECT_FALSE(fs::exists(env.cfgdir(g)));
  r = env.run({g, "build", "-m", "busybox"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_TRUE(fs::exists(vdir / "bin/busybox"));
  EXPECT_EQ(sh("mountpoint -q " + vdir.string()), 0);
  if (r.rc == 0) {
    EXPECT_EQ(env.run({g, "start"}).rc, 0);
    EXPECT_EQ(env.run({g, "exec", "test", "-x", "/bin/busybox"}).rc, 0);
    EXPECT_EQ(env.run({g, "stop"}).rc, 0);
  }
  EXPECT_EQ(sh("umount " + vdir.string()), 0);
}

}  // namespace
