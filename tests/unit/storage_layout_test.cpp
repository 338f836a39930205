// Where a guest's files live: full and unified guests, and unify/base in the configuration.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "config/config.hpp"
#include "storage/base.hpp"
#include "storage/layout.hpp"

namespace {

namespace fs = std::filesystem;
using vs::config::GuestConfig;
using vs::config::Roots;

Roots test_roots() {
  Roots r;
  r.config = "/etc/vs-test";
  r.vdir = "/srv/vdir";
  r.run = "/run/vs-test";
  return r;
}

TEST(StorageLayout, DataDirOfAFullGuestIsItsVdir) {
  Roots r = test_roots();
  GuestConfig cfg;
  cfg.name = "web";
  cfg.cfgdir = "/etc/vs-test/web";
  cfg.vdir = "/data/web-root";
  EXPECT_EQ(vs::storage::guest_data_dir(r, cfg), fs::path("/data/web-root"));
  cfg.vdir.clear();
  EXPECT_EQ(vs::storage::guest_data_dir(r, cfg), fs::path("/srv/vdir/web"));
  EXPECT_FALSE(vs::storage::guest_overlay(r, cfg).has_value());
}

TEST(StorageLayout, DataDirOfAUnifiedGuestIsItsLayers) {
  Roots r = test_roots();
  GuestConfig cfg;
  cfg.name = "display name";
  cfg.cfgdir = "/etc/vs-test/web";
  cfg.vdir = "/srv/vdir/web";
  cfg.base = "bookworm";
  EXPECT_EQ(vs::storage::guest_data_dir(r, cfg), fs::path("/srv/vdir/.layers/web"));
  auto o = vs::storage::guest_overlay(r, cfg);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->lower, fs::path("/srv/vdir/.bases/bookworm"));
  EXPECT_EQ(o->upper, fs::path("/srv/vdir/.layers/web/upper"));
  EXPECT_EQ(o->work, fs::path("/srv/vdir/.layers/web/work"));
}

TEST(StorageLayout, BaseNames) {
  EXPECT_TRUE(vs::storage::valid_base_name("bookworm-2024.1_a"));
  for (const char* bad : {"", ".hidden", "-x", "a/b", "..", "a b"}) {
    EXPECT_FALSE(vs::storage::valid_base_name(bad)) << bad;
  }
}

class StorageConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = "/tmp/vs-storage-unit-XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    roots_.config = dir_ / "etc";
    roots_.vdir = dir_ / "vdir";
    fs::create_directories(roots_.config / "g");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  Roots roots_;
};

TEST_F(StorageConfigTest, BaseRoundTrips) {
  GuestConfig cfg = vs::config::load_guest(roots_, "g");
  EXPECT_FALSE(cfg.base.has_value());
  cfg.base = "bb";
  vs::config::write_guest(cfg);
  std::ifstream f(roots_.config / "g/unify/base");
  std::string line;
  std::getline(f, line);
  EXPECT_EQ(line, "bb");
  EXPECT_EQ(vs::config::load_guest(roots_, "g"), cfg);
  cfg.base.reset();
  vs::config::write_guest(cfg);
  EXPECT_FALSE(fs::exists(roots_.config / "g/unify/base"));
}

TEST_F(StorageConfigTest, BadBaseNamesTheFile) {
  fs::create_directories(roots_.config / "g/unify");
  std::ofstream(roots_.config / "g/unify/base") << "../etc\n";
  GuestConfig cfg;
  auto problems = vs::config::check_guest(roots_, "g", cfg);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].file, roots_.config / "g/unify/base");
  EXPECT_NE(problems[0].message.find("not a valid base name"), std::string::npos);
}

TEST_F(StorageConfigTest, DiskUsageCountsEachInodeOnce) {
  fs::path d = dir_ / "du";
  fs::create_directories(d / "sub");
  std::ofstream(d / "sub/a") << std::string(100000, 'x');
  std::uint64_t one = vs::storage::disk_usage(d);
  fs::create_hard_link(d / "sub/a", d / "b");
  EXPECT_EQ(vs::storage::disk_usage(d), one);
  std::ofstream(d / "c") << std::string(100000, 'y');
  EXPECT_GE(vs::storage::disk_usage(d), one + 100000);
  EXPECT_EQ(vs::storage::disk_usage(dir_ / "missing"), 0U);
}

TEST_F(StorageConfigTest, GuestsOnABase) {
  fs::create_directories(roots_.config / "h/unify");
  std::ofstream(roots_.config / "h/unify/base") << "bb\n";
  fs::create_directories(roots_.config / "i/unify");
  std::ofstream(roots_.config / "i/unify/base") << "other\n";
  EXPECT_EQ(vs::storage::guests_on_base(roots_, "bb"), std::vector<std::string>{"h"});
  EXPECT_TRUE(vs::storage::guests_on_base(roots_, "none").empty());
}

}  // namespace
