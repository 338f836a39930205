// Hostile input from the command line, the configuration tree and the guest's own files: each is
// refused with a message that names what is wrong, promptly (a FIFO or an endless file must not
// hang a command), and nothing changes on disk.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>

#include "harness.hpp"
#include "sys/file.hpp"

namespace {

using it::Env;
using it::Result;
namespace fs = std::filesystem;

// Every entry below the roots: type, size, mode and modification time, without following links.
std::map<std::string, std::string> snapshot(const Env& env) {
  std::map<std::string, std::string> out;
  for (const auto& root : {env.config_root(), env.vdir_root()}) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      struct stat st {};
      if (::lstat(it->path().c_str(), &st) != 0) continue;
      // Locks and the context counter's lock are touched by any command.
      if (it->path().filename() == ".context.lock") continue;
      out[it->path().string()] = std::to_string(st.st_mode) + " " + std::to_string(st.st_size) +
                                 " " + std::to_string(st.st_mtim.tv_sec) + "." +
                                 std::to_string(st.st_mtim.tv_nsec);
    }
  }
  return out;
}

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override { REQUIRE_ROOT(); }
  Env env_;
};

TEST_F(BadInput, HostileNames) {
  std::string existing = env_.busybox_guest();
  auto before = snapshot(env_);
  const std::vector<std::string> names = {
      "../x",        "..",        ".",         "a/b",     "/etc", std::string(65, 'a'),
      "g\xc3\xa4st", "\xff\xfe",  "-rf",       "--force", "a b",  "a\nb",
      "x;rm -rf /",  "$(reboot)", ".defaults", "",        "~x",   "x\x01"};
  for (const auto& n : names) {
    for (const auto& cmd : std::vector<std::vector<std::string>>{
             {n, "build", "-m", "busybox"},
             {n, "start"},
             {n, "exec", "true"},
             {n, "delete"},
             {existing, "build", "-m", "clone", "--force", "--source", n}}) {
      Result r = env_.run(cmd, "", 20);
      EXPECT_NE(r.rc, 0) << "name \"" << n << "\": " << r;
      EXPECT_FALSE(vs::trim(r.err).empty()) << "no message for \"" << n << "\": " << r;
      EXPECT_EQ(r.err.find("harness: timed out"), std::string::npos) << r;
    }
  }
  EXPECT_EQ(snapshot(env_), before);
}

TEST_F(BadInput, HostileInterfaceValues) {
  auto before = snapshot(env_);
  const std::vector<std::string> values = {"",
                                           "eth0",
                                           "1.2.3.4/33",
                                           "1.2.3.4/-1",
                                           "1.2.3.4/99999999999999999999",
                                           "1.2.3.4/255.0.255.0",
                                           "999.1.1.1",
                                           "eth0:",
                                           ":1.2.3.4",
                                           "=1.2.3.4",
                                           "../../etc:1.2.3.4",
                                           "a b:1.2.3.4",
                                           "verylonginterfacename:1.2.3.4",
                                           "x/y=eth0:1.2.3.4",
                                           "eth0:[::1",
                                           "eth0:[::1]]/64",
                                           "2001:db8::1/129",
                                           "eth0:1.2.3.4\n/24",
                                           std::string("eth0:1.2.3.4") + '\xff',
                                           std::string(5000, 'A') + ":1.2.3.4",
                                           "-rf"};
  for (const auto& v : values) {
    std::string name = env_.unique_name("i");
    Result r = env_.run({name, "build", "-m", "skeleton", "--interface", v}, "", 20);
    EXPECT_NE(r.rc, 0) << "--interface \"" << v << "\": " << r;
    EXPECT_NE(r.err.find("nterface"), std::string::npos) << "--interface \"" << v << "\": " << r;
  }
  EXPECT_EQ(snapshot(env_), before);
}

// A start refused because of one bad file: promptly, with the file's name, nothing left.
class BadConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_ROOT();
    g_ = env_.busybox_guest();
  }
  void expect_refused(const std::string& file, const std::string& why) {
    auto before = snapshot(env_);
    Result r = env_.run({g_, "start"}, "", 20);
    EXPECT_NE(r.rc, 0) << r;
    EXPECT_NE(r.err.find((env_.cfgdir(g_) / file).string()), std::string::npos) << r;
    EXPECT_NE(r.err.find(why), std::string::npos) << r;
    EXPECT_EQ(r.err.find("harness: timed out"), std::string::npos) << r;
    EXPECT_EQ(env_.run({g_, "running"}).rc, 1);
    it::expect_nothing_left(env_, g_);
    EXPECT_EQ(snapshot(env_), before);
  }
  Env env_;
  std::string g_;
};

TEST_F(BadConfig, HugeFile) {
  // 2 MiB of a valid-looking value: read up to the cap, then refused.
  std::ofstream(env_.cfgdir(g_) / "nice") << std::string(std::size_t{2} << 20, '1');
  expect_refused("nice", "configuration files are read up to that size");
}

TEST_F(BadConfig, EndlessFile) {
  fs::create_symlink("/dev/zero", env_.cfgdir(g_) / "context.tmp");
  fs::rename(env_.cfgdir(g_) / "context.tmp", env_.cfgdir(g_) / "context");
  expect_refused("context", "not a regular file");
}

TEST_F(BadConfig, Fifo) {
  fs::remove(env_.cfgdir(g_) / "fstab");
  ASSERT_EQ(::mkfifo((env_.cfgdir(g_) / "fstab").c_str(), 0600), 0);
  expect_refused("fstab", "not a regular file");
}

TEST_F(BadConfig, BinaryContentWithNul) {
  fs::create_directories(env_.cfgdir(g_) / "uts");
  std::ofstream(env_.cfgdir(g_) / "uts" / "nodename") << std::string("web\0\x01\x02\xff", 7);
  expect_refused("uts/nodename", "NUL byte");
}

TEST_F(BadConfig, BinaryContentWithoutNul) {
  std::ofstream(env_.cfgdir(g_) / "bcapabilities") << "\x7f"
                                                      "ELF\x02\x01\x01\xff\xfe\n";
  auto before = snapshot(env_);
  Result r = env_.run({g_, "start"}, "", 20);
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find((env_.cfgdir(g_) / "bcapabilities").string()), std::string::npos) << r;
  it::expect_nothing_left(env_, g_);
  EXPECT_EQ(snapshot(env_), before);
}

TEST_F(BadConfig, SymlinkOutOfTheTree) {
  // A value file that resolves into the guest's own root: the guest's root could write its own
  // configuration.
  std::ofstream(env_.vdir(g_) / "etc" / "caps") << "CAP_SYS_ADMIN\n";
  fs::create_symlink(env_.vdir(g_) / "etc" / "caps", env_.cfgdir(g_) / "bcapabilities");
  expect_refused("bcapabilities", "a symbolic link out of the configuration tree");
}

// The guest's /etc/passwd and /etc/group are read by vserver exec as root on the host side, before
// the command is confined: whatever the guest puts there must not hang it, feed it the caller's
// input, or make it read without end.
class HostileGuestFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_ROOT();
    g_ = env_.busybox_guest();
    ASSERT_EQ(env_.run({g_, "start"}).rc, 0);
  }
  void replace(const std::string& file, const std::string& script) {
    Result r = env_.run({g_, "exec", "sh", "-c", "rm -f " + file + " && " + script});
    ASSERT_EQ(r.rc, 0) << r;
  }
  Env env_;
  std::string g_;
};

TEST_F(HostileGuestFiles, PasswdIsAFifo) {
  replace("/etc/passwd", "mkfifo /etc/passwd");
  Result r = env_.run({g_, "exec", "echo", "works"}, "", 20);
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.out, "works\n") << r;
}

TEST_F(HostileGuestFiles, PasswdIsTheCallersInput) {
  replace("/etc/passwd", "ln -s /proc/self/fd/0 /etc/passwd");
  replace("/etc/group", "ln -s /proc/self/fd/0 /etc/group");
  Result r = env_.run({g_, "exec", "cat"}, "for the command only\n", 20);
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.out, "for the command only\n") << r;
}

}  // namespace
