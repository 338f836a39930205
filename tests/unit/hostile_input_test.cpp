// Hostile files in the configuration tree, and the resolution of paths inside a guest's root by
// openat2 and by the walk that replaces it on kernels without (open_in_root).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.hpp"
#include "runtime/rootfs.hpp"
#include "sys/error.hpp"

namespace {

namespace fs = std::filesystem;

class TempTree : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = "/tmp/vs-hostile-test-XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    tmp_ = templ;
  }
  void TearDown() override { fs::remove_all(tmp_); }
  fs::path tmp_;
};

class HostileConfig : public TempTree {
 protected:
  void SetUp() override {
    TempTree::SetUp();
    roots_.config = tmp_ / "etc";
    roots_.vdir = tmp_ / "vdirs";
    roots_.run = tmp_ / "run";
    roots_.log = tmp_ / "log";
    fs::create_directories(roots_.config / "web");
  }
  // The one problem of the guest's tree, as "FILE: message" relative to the configuration root.
  std::string problem() {
    vs::config::GuestConfig cfg;
    auto problems = vs::config::check_guest(roots_, "web", cfg);
    if (problems.size() != 1) return "problems: " + std::to_string(problems.size());
    return problems[0].file.lexically_relative(roots_.config).string() + ": " + problems[0].message;
  }
  vs::config::Roots roots_;
};

TEST_F(HostileConfig, LargerThanTheCapIsRefused) {
  std::ofstream(roots_.config / "web/context") << std::string(vs::config::kMaxConfigFile + 1, '4');
  EXPECT_EQ(problem(),
            "web/context: larger than 1048576 bytes; configuration files are read up "
            "to that size");
}

TEST_F(HostileConfig, UpToTheCapIsRead) {
  // A long fstab of comments is fine.
  std::string text;
  while (text.size() + 40 < vs::config::kMaxConfigFile) text += "# a comment line of the fstab\n";
  std::ofstream(roots_.config / "web/fstab") << text;
  EXPECT_EQ(problem(), "problems: 0");
}

TEST_F(HostileConfig, EndlessDeviceIsRefused) {
  fs::create_symlink("/dev/zero", roots_.config / "web/nice");
  EXPECT_EQ(problem(),
            "web/nice: not a regular file; configuration values are read from regular files only");
}

TEST_F(HostileConfig, FifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo((roots_.config / "web/fstab").c_str(), 0600), 0);
  EXPECT_EQ(problem(),
            "web/fstab: not a regular file; configuration values are read from regular files only");
}

TEST_F(HostileConfig, NulByteIsRefused) {
  std::ofstream(roots_.config / "web/context") << std::string("40001\0\xff", 7);
  EXPECT_EQ(problem(), "web/context: contains a NUL byte; configuration files are text");
}

TEST_F(HostileConfig, SymlinkOutOfTheTreeIsRefused) {
  fs::create_directories(tmp_ / "vdirs/web/etc");
  std::ofstream(tmp_ / "vdirs/web/etc/caps") << "CAP_SYS_ADMIN\n";
  fs::create_symlink(tmp_ / "vdirs/web/etc/caps", roots_.config / "web/bcapabilities");
  EXPECT_EQ(problem(), "web/bcapabilities: a symbolic link out of the configuration tree (to " +
                           (tmp_ / "vdirs/web/etc/caps").string() +
                           "); configuration files are read from inside " + roots_.config.string() +
                           " only");
}

TEST_F(HostileConfig, SymlinksInsideTheTreeAreFollowed) {
  std::ofstream(roots_.config / "shared-caps") << "CAP_NET_RAW\n";
  fs::create_symlink("../shared-caps", roots_.config / "web/bcapabilities");
  fs::create_directories(roots_.config / ".defaults/apps/init");
  std::ofstream(roots_.config / ".defaults/apps/init/killseq") << "15 2 9\n";
  EXPECT_EQ(problem(), "problems: 0");
}

// The same hostile root resolved both ways gives the same answers.
class Resolve : public TempTree, public ::testing::WithParamInterface<vs::Resolver> {
 protected:
  void SetUp() override {
    TempTree::SetUp();
    root_ = tmp_ / "root";
    fs::create_directories(root_ / "a/b");
    fs::create_directories(root_ / "srv/www");
    std::ofstream(root_ / "file") << "x";
    fs::create_symlink("/a", root_ / "abs");
    fs::create_symlink("../../../../../../a", root_ / "up");
    fs::create_symlink("/../../../../srv//./www", root_ / "web");
    fs::create_symlink("loop", root_ / "loop");
    fs::create_symlink("abs/b", root_ / "chain");
    fs::create_symlink("/file/x", root_ / "through_file");
    fs::create_symlink(tmp_, root_ / "host");  // the host's directory, by its host path
    rootfd_ = ::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(rootfd_, 0);
  }
  void TearDown() override {
    ::close(rootfd_);
    TempTree::TearDown();
  }
  // The inode that path resolves to, or the errno of the failure as a negative number.
  long long resolve(const std::string& path, bool mkdir = false) {
    try {
      vs::UniqueFd fd = vs::open_in_root(rootfd_, path, mkdir, root_.string(), GetParam());
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0) return -1;
      return static_cast<long long>(st.st_ino);
    } catch (const vs::Error& e) {
      return -e.code();
    }
  }
  static long long ino(const fs::path& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? static_cast<long long>(st.st_ino) : -1;
  }
  fs::path root_;
  int rootfd_ = -1;
};

TEST_P(Resolve, LinksStayInsideTheRoot) {
  EXPECT_EQ(resolve("/abs/b"), ino(root_ / "a/b"));
  EXPECT_EQ(resolve("/up/b"), ino(root_ / "a/b"));
  EXPECT_EQ(resolve("/web"), ino(root_ / "srv/www"));
  EXPECT_EQ(resolve("/chain"), ino(root_ / "a/b"));
  EXPECT_EQ(resolve("/../../.."), ino(root_));
  EXPECT_EQ(resolve("/a/../../../a/./b/"), ino(root_ / "a/b"));
  EXPECT_EQ(resolve("/"), ino(root_));
  // An absolute link to the host's path of a directory is that path inside the root.
  EXPECT_EQ(resolve("/host"), -ENOENT);
}

TEST_P(Resolve, BadLinksFail) {
  EXPECT_EQ(resolve("/loop"), -ELOOP);
  EXPECT_EQ(resolve("/through_file"), -ENOTDIR);
  EXPECT_EQ(resolve("/missing/x"), -ENOENT);
}

TEST_P(Resolve, DirectoriesAreMadeInsideTheRoot) {
  // Not through a dangling link; and the host's directory of the same path is not touched.
  EXPECT_EQ(resolve("/host/made", true), -ENOENT);
  EXPECT_FALSE(fs::exists(tmp_ / "made"));
  long long made = resolve("/up/new/deeper", true);
  EXPECT_EQ(made, ino(root_ / "a/new/deeper"));
}

TEST_P(Resolve, OpenFileInRoot) {
  vs::UniqueFd f = vs::open_file_in_root(rootfd_, "/abs/../file", O_RDONLY, GetParam());
  ASSERT_TRUE(f);
  char c = 0;
  EXPECT_EQ(::read(f.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
  vs::UniqueFd d = vs::open_file_in_root(rootfd_, "/web", O_RDONLY | O_DIRECTORY, GetParam());
  ASSERT_TRUE(d);
  struct stat st {};
  ASSERT_EQ(::fstat(d.get(), &st), 0);
  EXPECT_EQ(static_cast<long long>(st.st_ino), ino(root_ / "srv/www"));
}

INSTANTIATE_TEST_SUITE_P(Both, Resolve,
                         ::testing::Values(vs::Resolver::automatic, vs::Resolver::walk),
                         [](const ::testing::TestParamInfo<vs::Resolver>& i) {
                           return i.param == vs::Resolver::walk ? std::string("Walk")
                                                                : std::string("Openat2");
                         });

}  // namespace
