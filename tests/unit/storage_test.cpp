// dlimits/ and fstab checks of the configuration, and the arithmetic of the disk limit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.hpp"
#include "config/parse.hpp"
#include "storage/layout.hpp"
#include "storage/quota.hpp"
#include "storage/storage.hpp"

namespace vs {
namespace {

namespace fs = std::filesystem;
using config::DiskLimit;
using config::DiskLimitMethod;
using config::kUnlimited;

TEST(DiskLimitValue, CountsUnlimitedAndErrors) {
  using config::parse_disk_limit;
  EXPECT_EQ(parse_disk_limit("204800", config::kMaxDiskSpaceKiB), 204800U);
  EXPECT_EQ(parse_disk_limit("1", 10), 1U);
  EXPECT_EQ(parse_disk_limit("10", 10), 10U);
  EXPECT_EQ(parse_disk_limit("-1", 10), kUnlimited);  // vdlimit's infinity
  EXPECT_EQ(parse_disk_limit("inf", 10), kUnlimited);
  EXPECT_EQ(parse_disk_limit("INF", 10), kUnlimited);
  for (const char* bad :
       {"", "0", "11", "-2", "12k", "1.5", " 3", "0x10", "abc", "99999999999999999999999"}) {
    EXPECT_EQ(parse_disk_limit(bad, 10), std::nullopt) << bad;
  }
}

TEST(QuotaLimits, KiBMapDirectlyAndReservedLowersTheSoftLimit) {
  DiskLimit l;
  l.space_total = 204800;  // 200 MiB in KiB
  l.inodes_total = 5000;
  auto q = storage::quota_limits(l);
  EXPECT_EQ(q, (storage::QuotaLimits{204800, 0, 5000, 0}));
  l.reserved = 5;
  EXPECT_EQ(storage::quota_limits(l).block_soft_kib, 194560U);  // 95 %
  l.reserved = 100;
  EXPECT_EQ(storage::quota_limits(l).block_soft_kib, 1U);  // never 0, which means no limit
  l.space_total = 1ULL << 53;                              // the largest value: no overflow
  l.reserved = 1;
  EXPECT_EQ(storage::quota_limits(l).block_soft_kib,
            (1ULL << 53) / 100 * 99 + (1ULL << 53) % 100 * 99 / 100);
  DiskLimit none;
  none.inodes_total = 7;
  EXPECT_EQ(storage::quota_limits(none), (storage::QuotaLimits{0, 0, 7, 0}));
  EXPECT_EQ(storage::kib_to_basic_blocks(204800), 409600U);  // XFS's 512-byte blocks
}

TEST(TmpfsSize, Forms) {
  for (const char* ok : {"16m", "32M", "1024", "1g", "50%", "4k"})
    EXPECT_TRUE(config::valid_tmpfs_size(ok)) << ok;
  for (const char* bad : {"", "m", "16mb", "-1", "1.5g", "%", "16 m"})
    EXPECT_FALSE(config::valid_tmpfs_size(bad)) << bad;
}

TEST(IsWithin, ComponentWise) {
  EXPECT_TRUE(config::is_within("/a/b", "/a"));
  EXPECT_TRUE(config::is_within("/a", "/a"));
  EXPECT_TRUE(config::is_within("/a", "/"));
  EXPECT_TRUE(config::is_within("/a/b", "/a/"));
  EXPECT_FALSE(config::is_within("/ab", "/a"));
  EXPECT_FALSE(config::is_within("/a", "/a/b"));
}

class DlimitsConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = "/tmp/vs-storage-test-XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    tmp_ = templ;
    roots_.config = tmp_ / "etc";
    roots_.vdir = tmp_ / "vdirs";
    roots_.run = tmp_ / "run";
    roots_.log = tmp_ / "log";
    fs::create_directories(roots_.config / "web");
    put("web/context", "40123\n");
  }
  void TearDown() override { fs::remove_all(tmp_); }
  void put(const fs::path& rel, const std::string& content) {
    fs::path p = roots_.config / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }
  std::vector<std::string> problems() {
    config::GuestConfig cfg;
    std::vector<std::string> out;
    for (const auto& p : config::check_guest(roots_, "web", cfg)) {
      out.push_back(p.file.lexically_relative(roots_.config).string() + ": " + p.message);
    }
    return out;
  }
  config::GuestConfig load() { return config::load_guest(roots_, "web"); }
  fs::path tmp_;
  config::Roots roots_;
};

TEST_F(DlimitsConfig, UtilVserverEntry) {
  put("web/dlimits/0/directory", "/var/lib/vservers/web\n");
  put("web/dlimits/0/space_total", "204800\n");
  put("web/dlimits/0/inodes_total", "10000\n");
  put("web/dlimits/0/reserved", "5\n");
  auto cfg = load();
  ASSERT_TRUE(cfg.dlimits.limit);
  EXPECT_EQ(cfg.dlimits.method, DiskLimitMethod::automatic);
  EXPECT_EQ(cfg.dlimits.limit->id, "0");
  EXPECT_EQ(cfg.dlimits.limit->directory, fs::path("/var/lib/vservers/web"));
  EXPECT_EQ(cfg.dlimits.limit->space_total, 204800U);
  EXPECT_EQ(cfg.dlimits.limit->inodes_total, 10000U);
  EXPECT_EQ(cfg.dlimits.limit->reserved, 5);
}

TEST_F(DlimitsConfig, MissingValuesMeanNoLimitOfThatKind) {
  put("web/dlimits/x/space_total", "1000\n");
  auto cfg = load();
  ASSERT_TRUE(cfg.dlimits.limit);
  EXPECT_EQ(cfg.dlimits.limit->inodes_total, kUnlimited);
  EXPECT_EQ(cfg.dlimits.limit->reserved, 0);
  EXPECT_FALSE(cfg.dlimits.limit->directory);
}

TEST_F(DlimitsConfig, DisabledEntryIsSkipped) {
  put("web/dlimits/0/space_total", "1000\n");
  put("web/dlimits/0/disabled", "");
  auto cfg = load();
  EXPECT_FALSE(cfg.dlimits.limit);
  EXPECT_EQ(cfg.dlimits.disabled, std::vector<std::string>{"0"});
}

TEST_F(DlimitsConfig, BadValuesNameTheFileAndValue) {
  put("web/dlimits/method", "lvm\n");
  put("web/dlimits/0/space_total", "200M\n");
  put("web/dlimits/0/inodes_total", "0\n");
  put("web/dlimits/0/reserved", "120\n");
  put("web/dlimits/0/directory", "relative/dir\n");
  auto p = problems();
  ASSERT_EQ(p.size(), 5U) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0], "web/dlimits/method: unknown disk limit method \"lvm\" (auto, quota, image)");
  EXPECT_EQ(p[1], "web/dlimits/0/directory: \"relative/dir\" is not an absolute path");
  EXPECT_EQ(p[2],
            "web/dlimits/0/space_total: \"200M\" is not a space in KiB (a number from 1 to "
            "9007199254740992, or -1 or inf for no limit)");
  EXPECT_EQ(p[3],
            "web/dlimits/0/inodes_total: \"0\" is not a number of inodes (a number from 1 to "
            "9007199254740992, or -1 or inf for no limit)");
  EXPECT_EQ(p[4], "web/dlimits/0/reserved: \"120\" is not a percentage (0..100)");
}

TEST_F(DlimitsConfig, NothingToLimitAndSecondEntry) {
  put("web/dlimits/0/space_total", "-1\n");
  put("web/dlimits/1/space_total", "1000\n");
  put("web/dlimits/2/inodes_total", "1000\n");
  auto p = problems();
  ASSERT_EQ(p.size(), 2U) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0], "web/dlimits/0: neither space_total nor inodes_total sets a limit");
  EXPECT_EQ(p[1],
            "web/dlimits/2: a second disk limit; a guest has one, on the filesystem of its data "
            "(dlimits/1 is that one)");
}

TEST_F(DlimitsConfig, QuotaNeedsAStaticContextTheImageASize) {
  fs::remove(roots_.config / "web/context");
  put("web/dlimits/0/space_total", "1000\n");
  auto p = problems();
  ASSERT_EQ(p.size(), 1U);
  EXPECT_NE(p[0].find("web/dlimits/0: a disk limit needs a static context"), std::string::npos)
      << p[0];
  put("web/dlimits/method", "image\n");
  EXPECT_TRUE(problems().empty());
  fs::remove(roots_.config / "web/dlimits/0/space_total");
  put("web/dlimits/0/inodes_total", "1000\n");
  EXPECT_EQ(problems(), std::vector<std::string>{
                            "web/dlimits/0: the image method needs space_total (the size of the "
                            "image)"});
}

TEST_F(DlimitsConfig, WriteGuestRoundTrips) {
  put("web/dlimits/method", "quota\n");
  put("web/dlimits/7/space_total", "4096\n");
  put("web/dlimits/7/reserved", "3\n");
  put("web/dlimits/old/space_total", "1\n");
  put("web/dlimits/old/disabled", "");
  auto cfg = load();
  cfg.dlimits.limit->inodes_total = 99;
  config::write_guest(cfg);
  EXPECT_EQ(load(), cfg);
  EXPECT_TRUE(fs::exists(roots_.config / "web/dlimits/old/disabled"));
  cfg.dlimits.limit.reset();
  cfg.dlimits.method = DiskLimitMethod::automatic;
  config::write_guest(cfg);
  EXPECT_EQ(load(), cfg);
  EXPECT_FALSE(fs::exists(roots_.config / "web/dlimits/7"));
  EXPECT_FALSE(fs::exists(roots_.config / "web/dlimits/method"));
}

TEST_F(DlimitsConfig, FstabBindOfHostRootsIsRefused) {
  put("web/fstab",
      "none /proc proc defaults 0 0\n"
      "/ /host none bind 0 0\n"
      "/proc/sys /x none rbind,ro 0 0\n"
      "/srv/data /data none bind,ro 0 0\n"
      "/var /v none bind 0 0\n" +
          roots_.vdir.string() + "/other /o none bind 0 0\n" + roots_.config.string() +
          " /c none bind 0 0\n"
          "srv /rel none bind 0 0\n"
          "/dev/sda1 / ext4 defaults 0 0\n"
          "none /tmp2 tmpfs size=32m,mode=1777 0 0\n");
  auto p = problems();
  ASSERT_EQ(p.size(), 7U) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0],
            "web/fstab: \"/ /host none bind 0 0\": a bind mount of the host's root is refused");
  EXPECT_EQ(p[1],
            "web/fstab: \"/proc/sys /x none rbind,ro 0 0\": a bind mount of the host's /proc (the "
            "guest has its own) is refused");
  EXPECT_EQ(p[2],
            "web/fstab: \"/var /v none bind 0 0\": a bind mount of a directory that holds "
            "/var/lib/vservers, the guests' root filesystems is refused");
  EXPECT_NE(p[3].find("/other /o none bind 0 0\": a bind mount of " + roots_.vdir.string() +
                      ", the guests' root filesystems is refused"),
            std::string::npos)
      << p[3];
  EXPECT_NE(p[4].find("the guests' configuration is refused"), std::string::npos) << p[4];
  EXPECT_EQ(p[5],
            "web/fstab: \"srv /rel none bind 0 0\": the source of a bind mount must be an "
            "absolute host path");
  EXPECT_EQ(p[6],
            "web/fstab: \"/dev/sda1 / ext4 defaults 0 0\": mounting over the guest's root "
            "is not supported; point the vdir link at it instead");
}

TEST_F(DlimitsConfig, FstabTmpfsSizeIsChecked) {
  put("web/fstab", "none /tmp tmpfs size=lots,mode=1777 0 0\nnone /t2 tmpfs size=32m 0 0\n");
  EXPECT_EQ(problems(), std::vector<std::string>{
                            "web/fstab: \"none /tmp tmpfs size=lots,mode=1777 0 0\": \"size=lots\" "
                            "is not a tmpfs size (bytes with k, m or g, or a percentage of RAM)"});
}

TEST_F(DlimitsConfig, FstabBindThroughASymlinkIsRefused) {
  fs::create_directories(tmp_ / "links");
  fs::create_symlink("/proc", tmp_ / "links/p");
  put("web/fstab", (tmp_ / "links/p").string() + " /p none bind 0 0\n");
  auto p = problems();
  ASSERT_EQ(p.size(), 1U);
  EXPECT_NE(p[0].find("the host's /proc (the guest has its own) (through /proc) is refused"),
            std::string::npos)
      << p[0];
}

TEST(StorageLayout, DataDirAndImage) {
  config::Roots roots;
  roots.vdir = "/srv/vs";
  config::GuestConfig cfg;
  cfg.cfgdir = "/etc/vservers/web";
  cfg.vdir = "/srv/vs/web";
  EXPECT_EQ(storage::guest_data_dir(roots, cfg), fs::path("/srv/vs/web"));
  EXPECT_EQ(storage::guest_image(roots, "web"), fs::path("/srv/vs/.images/web.ext4"));
}

TEST(StorageUsage, WalkCountsHardLinksOnce) {
  std::string templ = "/tmp/vs-du-test-XXXXXX";
  ASSERT_NE(::mkdtemp(templ.data()), nullptr);
  fs::path d = templ;
  fs::create_directories(d / "sub");
  {
    std::ofstream f(d / "sub/file");
    f << std::string(100000, 'x');
  }
  auto one = storage::walk_usage(d);
  fs::create_hard_link(d / "sub/file", d / "link");
  fs::create_symlink("sub/file", d / "sym");
  auto two = storage::walk_usage(d);
  EXPECT_EQ(one.inodes, 3U);  // d, sub, file
  EXPECT_EQ(two.inodes, 4U);  // + the symlink; the hard link is the same inode
  EXPECT_GE(one.space_kib, 98U);
  EXPECT_LE(two.space_kib - one.space_kib, 4U);  // a symlink costs at most a block
  fs::remove_all(d);
}

}  // namespace
}  // namespace vs
