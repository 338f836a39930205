// Disk limits (dlimits/), usage (du) and the fstab rules, on filesystems the tests make: a plain
// ext4 (no project quota: the image method), and ext4 and XFS with project quotas where the
// kernel has them. Every filesystem is a sparse file in a temporary directory, loop-mounted on
// the environment's vdir root and removed at the end.
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "harness.hpp"
#include "storage/image.hpp"
#include "storage/layout.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace {

namespace fs = std::filesystem;
using it::Env;
using it::Result;

constexpr std::uint64_t kMiB = 1024;  // in KiB

// A filesystem in a sparse file, mounted on the environment's vdir root.
class Storage : public ::testing::Test {
 protected:
  void SetUp() override { REQUIRE_ROOT(); }
  // mkfs: the command that formats the file (its path is appended); options: the mount's.
  // Returns false (with the reason in why_) when the filesystem cannot be had on this host.
  bool make_fs(const std::vector<std::string>& mkfs, const std::string& options,
               std::uint64_t size_mib = 1024) {
    env_ = std::make_unique<Env>();
    std::string templ = "/var/tmp/vs-storage-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp");
    tmp_ = templ;
    fs::path img = tmp_ / "fs.img";
    { std::ofstream f(img); }
    fs::resize_file(img, size_mib << 20);
    std::vector<std::string> args(mkfs.begin() + 1, mkfs.end());
    args.push_back(img.string());
    Result r = env_->run_program(mkfs[0], args);
    if (r.rc != 0) {
      why_ = mkfs[0] + " failed: " + r.err;
      return false;
    }
    r = env_->run_program("/usr/bin/mount",
                          {"-o", "loop," + options, img.string(), env_->vdir_root().string()});
    if (r.rc != 0) {
      why_ = "mount -o " + options + " failed: " + r.err;
      return false;
    }
    mounted_ = true;
    vdir_root_ = env_->vdir_root();
    return true;
  }
  void TearDown() override {
    if (mounted_) {
      // Stopped first: then the filesystem must unmount (nothing of a guest holds it), and the
      // environment removes its roots after.
      for (const auto& g : guests_) env_->run({g, "stop", "--timeout", "2"});
      if (::umount2(vdir_root_.c_str(), 0) != 0) {
        ADD_FAILURE() << "unmount " << vdir_root_ << ": " << std::strerror(errno);
        ::umount2(vdir_root_.c_str(), MNT_DETACH);
      }
    }
    env_.reset();
    if (!tmp_.empty()) fs::remove_all(tmp_);
  }
  std::string guest(const std::string& context) {
    std::string g = env_->busybox_guest();
    env_->write_config(g, "context", context + "\n");
    guests_.push_back(g);
    return g;
  }
  void limit(const std::string& g, std::uint64_t space_kib, std::uint64_t inodes = 0) {
    env_->write_config(g, "dlimits/0/directory", env_->vdir(g).string() + "\n");
    env_->write_config(g, "dlimits/0/space_total", std::to_string(space_kib) + "\n");
    env_->write_config(g, "dlimits/0/inodes_total",
                       inodes == 0 ? std::string("-1\n") : std::to_string(inodes) + "\n");
    env_->write_config(g, "dlimits/0/reserved", "0\n");
  }
  Result in_guest(const std::string& g, const std::string& script) {
    return env_->run({g, "exec", "sh", "-c", script});
  }
  // The 1K-blocks column of df -kP PATH inside the guest (-P: one line, however long the name).
  std::uint64_t df_kib(const std::string& g, const std::string& path) {
    Result r = in_guest(g, "df -kP " + path + " | tail -n 1");
    EXPECT_EQ(r.rc, 0) << r;
    std::istringstream in(r.out);
    std::string source;
    std::uint64_t blocks = 0;
    in >> source >> blocks;
    return blocks;
  }
  nlohmann::json du(const std::string& g, bool walk) {
    std::vector<std::string> a{g, "du", "--json"};
    if (walk) a.emplace_back("--walk");
    Result r = env_->run(a);
    EXPECT_EQ(r.rc, 0) << r;
    return nlohmann::json::parse(r.out);
  }
  std::uint64_t host_du_kib(const fs::path& dir) {
    Result r = env_->run_program("/usr/bin/du", {"-skx", dir.string()});
    EXPECT_EQ(r.rc, 0) << r;
    return std::stoull(r.out);
  }
  // The guest's image has no loop device and no mount left (autoclear may take a moment).
  void expect_image_released(const std::string& g) {
    fs::path image = vs::storage::guest_image(roots(), g);
    it::wait_until([&] { return vs::storage::image_loop_devices(image).empty(); },
                   std::chrono::seconds(5));
    EXPECT_TRUE(vs::storage::image_mounts(image).empty()) << "mount of " << image << " left";
    EXPECT_TRUE(vs::storage::image_loop_devices(image).empty())
        << "loop device of " << image << " left";
  }
  vs::config::Roots roots() const {
    vs::config::Roots r;
    r.config = env_->config_root();
    r.vdir = env_->vdir_root();
    r.run = env_->run_root();
    r.log = env_->log_root();
    return r;
  }

  // A guest limited to 200 MiB cannot write 300 MiB; the host and a guest without a limit can;
  // df inside shows about 200 MiB. Then it stops and nothing of it is left.
  void space_limit_holds(const std::string& expect_method) {
    std::string g = guest("40901");
    limit(g, 200 * kMiB);
    std::string other = guest("40902");
    Result r = env_->run({g, "start"});
    ASSERT_EQ(r.rc, 0) << r;
    EXPECT_NE(r.err.find("disk limit by " + expect_method), std::string::npos) << r;
    ASSERT_EQ(env_->run({other, "start"}).rc, 0);

    r = in_guest(g, "dd if=/dev/zero of=/big bs=1M count=300 2>&1; echo rc=$?");
    EXPECT_TRUE(r.out.find("No space left on device") != std::string::npos ||
                r.out.find("Disk quota exceeded") != std::string::npos)
        << r;
    EXPECT_EQ(r.out.find("rc=0"), std::string::npos) << r;
    std::uint64_t size = df_kib(g, "/");
    if (expect_method == "image") {
      // The image's usable size is space_total: ext4's metadata comes on top.
      EXPECT_GE(size, 200 * kMiB) << "df / inside";
      EXPECT_LE(size, 204 * kMiB) << "df / inside";
    } else {
      EXPECT_LE(size, 200 * kMiB) << "df / inside";
      EXPECT_GE(size, 180 * kMiB) << "df / inside";
    }
    auto j = du(g, false);
    // Full: what du counts is what df offers, less what the filesystem keeps for itself.
    EXPECT_GE(j["space_kib"].get<std::uint64_t>(), size * 95 / 100) << j << " df " << size;
    EXPECT_EQ(j["space_total_kib"], 200 * kMiB);
    EXPECT_EQ(in_guest(g, "rm /big").rc, 0);

    r = in_guest(other, "dd if=/dev/zero of=/big bs=1M count=250 2>&1 && rm /big");
    EXPECT_EQ(r.rc, 0) << "a guest without a limit: " << r;
    r = env_->run_program(
        "/bin/sh",
        {"-c", "dd if=/dev/zero of=" + (env_->vdir_root() / "host-file").string() +
                   " bs=1M count=250 2>&1 && rm " + (env_->vdir_root() / "host-file").string()});
    EXPECT_EQ(r.rc, 0) << "the host: " << r;

    ASSERT_EQ(env_->run({g, "stop"}).rc, 0);
    it::expect_nothing_left(*env_, g);
    if (expect_method == "image") expect_image_released(g);
  }

  std::unique_ptr<Env> env_;
  fs::path tmp_;
  fs::path vdir_root_;
  std::vector<std::string> guests_;
  bool mounted_ = false;
  std::string why_;
};

const std::vector<std::string> kPlainExt4 = {"/usr/sbin/mkfs.ext4", "-q", "-F"};

TEST_F(Storage, ImageLimitsSpaceWhereThereIsNoProjectQuota) {
  ASSERT_TRUE(make_fs(kPlainExt4, "")) << why_;
  space_limit_holds("image");
}

TEST_F(Storage, ImageLimitsInodesAndKeepsTheGuestsFiles) {
  ASSERT_TRUE(make_fs(kPlainExt4, "", 512)) << why_;
  std::string g = guest("40903");
  env_->write_config(g, "dlimits/method", "image\n");
  limit(g, 64 * kMiB, 2000);
  Result r = env_->run({g, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.err.find("created " + vs::storage::guest_image(roots(), g).string() +
                       " with the guest's files"),
            std::string::npos)
      << r;
  // The guest's own files moved into the image: its shell runs from there.
  r = in_guest(g,
               "mkdir /many && i=0; while touch /many/f$i 2>/dev/null; do i=$((i+1)); done; "
               "echo $i");
  ASSERT_EQ(r.rc, 0) << r;
  int created = std::stoi(r.out);
  EXPECT_LT(created, 2000) << r;
  EXPECT_GT(created, 1000) << r;
  auto j = du(g, false);
  EXPECT_LE(j["inodes"].get<std::uint64_t>(), 2048U) << j;
  EXPECT_GE(j["inodes"].get<std::uint64_t>(), static_cast<std::uint64_t>(created)) << j;
  ASSERT_EQ(env_->run({g, "stop"}).rc, 0);
  expect_image_released(g);
  // Stopped: the data is in the image, and du still reads it (read-only, in a private mount
  // namespace of its own).
  EXPECT_TRUE(fs::is_empty(env_->vdir(g)));
  auto k = du(g, false);
  EXPECT_EQ(k["inodes"], j["inodes"]) << k;
  expect_image_released(g);
  // And it comes back at the next start.
  ASSERT_EQ(env_->run({g, "start"}).rc, 0);
  r = in_guest(g, "ls /many | wc -l");
  EXPECT_EQ(std::stoi(r.out), created) << r;
  ASSERT_EQ(env_->run({g, "stop"}).rc, 0);
  // delete removes the image too.
  ASSERT_EQ(env_->run({g, "delete", "--yes"}).rc, 0);
  EXPECT_FALSE(fs::exists(vs::storage::guest_image(roots(), g)));
}

TEST_F(Storage, FailedStartLeavesNoImageMountOrLoopDevice) {
  ASSERT_TRUE(make_fs(kPlainExt4, "", 512)) << why_;
  std::string g = guest("40904");
  limit(g, 32 * kMiB);
  env_->write_config(g, "apps/init/style", "command\n");
  env_->write_config(g, "apps/init/cmd.start", "/no/such/init\n");
  Result r = env_->run({g, "start"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("/no/such/init"), std::string::npos) << r;
  it::expect_nothing_left(*env_, g);
  expect_image_released(g);
}

// df inside an image guest shows space_total as its size, whatever ext4 keeps for itself, and
// dlimits/N/reserved is the root reserve (not ext4's default 5%).
TEST_F(Storage, ImageSizeIsSpaceTotalAndReservedIsTheRootReserve) {
  ASSERT_TRUE(make_fs(kPlainExt4, "", 1024)) << why_;
  for (std::uint64_t space : {16 * kMiB, 300 * kMiB, 600 * kMiB}) {
    std::string g = guest(std::to_string(40910 + space / kMiB));
    env_->write_config(g, "dlimits/method", "image\n");
    limit(g, space);
    env_->write_config(g, "dlimits/0/reserved", "10\n");
    Result r = env_->run({g, "start"});
    ASSERT_EQ(r.rc, 0) << r;
    EXPECT_EQ(r.err.find("is not resized"), std::string::npos) << r;
    std::uint64_t size = df_kib(g, "/");
    EXPECT_GE(size, space) << "df / inside, space_total " << space;
    EXPECT_LE(size, space + space / 50 + kMiB) << "df / inside, space_total " << space;
    // Blocks free, and free to others than root: 10% of the blocks are root's.
    r = in_guest(g, "stat -f -c '%b %f %a' /");
    ASSERT_EQ(r.rc, 0) << r;
    std::istringstream in(r.out);
    std::uint64_t blocks = 0;
    std::uint64_t bfree = 0;
    std::uint64_t avail = 0;
    in >> blocks >> bfree >> avail;
    EXPECT_GE(bfree - avail, blocks / 10) << r.out;
    EXPECT_LE(bfree - avail, blocks / 10 + blocks / 25 + 4096) << r.out;
    ASSERT_EQ(env_->run({g, "stop"}).rc, 0);
    expect_image_released(g);
  }
}

// A limit below what the guest already uses is refused before anything is made, naming both
// numbers: by check, by limit set, and by start.
TEST_F(Storage, LimitBelowTheGuestsUsageIsRefusedEarly) {
  ASSERT_TRUE(make_fs(kPlainExt4, "", 512)) << why_;
  std::string h = guest("40905");
  env_->write_config(h, "dlimits/method", "image\n");
  limit(h, 256);  // 256 KiB, below the busybox guest's files
  std::uint64_t used = host_du_kib(env_->vdir(h));
  ASSERT_GT(used, 256U);
  const std::string asked =
      env_->cfgdir(h).string() + "/dlimits/0/space_total: 256 KiB (256 KiB) is less than the ";
  Result r = env_->run({h, "check"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.out.find(asked), std::string::npos) << r;
  EXPECT_NE(r.out.find("the guest's data already uses in " + env_->vdir(h).string()),
            std::string::npos)
      << r;
  r = env_->run({h, "start"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find(asked), std::string::npos) << r;
  EXPECT_EQ(r.err.find("format disk image"), std::string::npos) << "refused before mke2fs: " << r;
  EXPECT_FALSE(fs::exists(vs::storage::guest_image(roots(), h)));
  EXPECT_FALSE(fs::exists(env_->vdir_root() / ".images")) << "nothing made";
  EXPECT_TRUE(fs::exists(env_->vdir(h) / "bin/busybox")) << "the guest's files are kept";
  it::expect_nothing_left(*env_, h);
  // Inodes too.
  limit(h, 64 * kMiB, 5);
  r = env_->run({h, "start"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("/dlimits/0/inodes_total: 5 inodes is less than the "), std::string::npos)
      << r;
  it::expect_nothing_left(*env_, h);
  // limit set refuses to save such a value, and keeps the old one.
  limit(h, 64 * kMiB);
  EXPECT_EQ(env_->run({h, "check"}).rc, 0);
  r = env_->run({h, "limit", "set", "dlimits/0/space_total", "100", "--save"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("/dlimits/0/space_total: 100 KiB (100 KiB) is less than the "),
            std::string::npos)
      << r;
  EXPECT_EQ(vs::read_file(env_->cfgdir(h) / "dlimits/0/space_total"),
            std::to_string(64 * kMiB) + "\n");
}

TEST_F(Storage, DuMatchesTheHostsDu) {
  ASSERT_TRUE(make_fs(kPlainExt4, "", 512)) << why_;
  std::string g = guest("40906");
  // Some hard links, which count once.
  ASSERT_EQ(env_->run_program("/bin/sh", {"-c", "cd " + env_->vdir(g).string() +
                                                    " && dd if=/dev/zero of=data bs=1k count=3000 "
                                                    "2>/dev/null && ln data l1 && ln data l2"})
                .rc,
            0);
  auto j = du(g, false);
  EXPECT_EQ(j["source"], "walk");
  std::uint64_t host = host_du_kib(env_->vdir(g));
  std::uint64_t ours = j["space_kib"];
  EXPECT_LE(ours > host ? ours - host : host - ours, 16U) << "ours " << ours << ", du " << host;
  // The image method: du of the mounted image matches du of its mount point. Before the start
  // that makes the image, the files are still in the directory, and du walks it.
  limit(g, 64 * kMiB);
  auto before = du(g, false);
  EXPECT_EQ(before["source"], "walk") << before;
  ASSERT_EQ(env_->run({g, "start"}).rc, 0);
  auto w = du(g, true);
  host = host_du_kib(env_->vdir(g));
  ours = w["space_kib"];
  EXPECT_LE(ours > host ? ours - host : host - ours, 16U) << "ours " << ours << ", du " << host;
  auto s = du(g, false);  // the filesystem's own count: the same files plus its metadata
  EXPECT_GE(s["space_kib"].get<std::uint64_t>() + 16, ours) << s;
  Result r = env_->run({g, "limit", "show"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("DISK"), std::string::npos) << r;
  EXPECT_NE(r.out.find(std::to_string(64 * kMiB)), std::string::npos) << r;
}

TEST_F(Storage, BadDlimitsAreRefusedNamingFileAndValue) {
  env_ = std::make_unique<Env>();
  std::string g = env_->busybox_guest();
  env_->write_config(g, "context", "40907\n");
  env_->write_config(g, "dlimits/0/space_total", "200M\n");
  env_->write_config(g, "dlimits/0/reserved", "101\n");
  Result r = env_->run({g, "start"});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find(env_->cfgdir(g).string() +
                       "/dlimits/0/space_total: \"200M\" is not a space in KiB"),
            std::string::npos)
      << r;
  EXPECT_NE(r.err.find("dlimits/0/reserved: \"101\" is not a percentage (0..100)"),
            std::string::npos)
      << r;
  it::expect_nothing_left(*env_, g);
  // dlimits/method quota where the filesystem has no enforced project quota: a clear refusal.
  env_->write_config(g, "dlimits/0/space_total", "1000\n");
  env_->write_config(g, "dlimits/0/reserved", "0\n");
  env_->write_config(g, "dlimits/method", "quota\n");
  r = env_->run({g, "start"});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("by project quota: "), std::string::npos) << r;
  EXPECT_NE(r.err.find("prjquota"), std::string::npos) << r;
  it::expect_nothing_left(*env_, g);
}

TEST_F(Storage, FstabRefusesHostRootsAndHonoursReadOnlyBindsAndTmpfsSizes) {
  env_ = std::make_unique<Env>();
  std::string g = env_->busybox_guest();
  for (const std::string& line :
       {std::string("/ /host none bind 0 0"), std::string("/proc /hp none rbind 0 0"),
        env_->vdir_root().string() + " /all none bind,ro 0 0"}) {
    env_->write_config(g, "fstab", line + "\n");
    Result r = env_->run({g, "start"});
    EXPECT_NE(r.rc, 0) << line;
    EXPECT_NE(r.err.find("fstab: \"" + line + "\": a bind mount of"), std::string::npos) << r;
    it::expect_nothing_left(*env_, g);
  }
  // The course's /tmp 16m -> 32m, and a host directory bound read-only.
  std::string src = (env_->vdir_root().parent_path() / "shared").string();
  fs::create_directories(src);
  vs::write_file(fs::path(src) / "hello", "from the host\n");
  env_->write_config(g, "fstab",
                     "none /proc proc defaults 0 0\n"
                     "none /tmp tmpfs size=32m,mode=1777 0 0\n"
                     "none /dev/pts devpts gid=5,mode=620 0 0\n" +
                         src + " /data none bind,ro 0 0\n");
  ASSERT_EQ(env_->run({g, "start"}).rc, 0);
  EXPECT_EQ(df_kib(g, "/tmp"), 32 * kMiB);
  Result r = in_guest(g, "cat /data/hello");
  EXPECT_EQ(r.out, "from the host\n") << r;
  r = in_guest(g, "echo x > /data/new");
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("Read-only file system"), std::string::npos) << r;
  EXPECT_FALSE(fs::exists(fs::path(src) / "new"));
  // The guest's root cannot move its files out of its project (the disk limit's key).
  r = env_->run({g, "exec", "/bin/probe", "fssetxattr"});
  EXPECT_EQ(r.out, "EPERM\n") << r;
}

// Project quotas need a kernel with CONFIG_QUOTA (and XFS quota support): skipped, saying so,
// where it has none.
TEST_F(Storage, Ext4ProjectQuotaLimitsSpace) {
  if (!make_fs({"/usr/sbin/mkfs.ext4", "-q", "-F", "-O", "quota,project"}, "prjquota")) {
    GTEST_SKIP() << "no ext4 project quota on this host: " << why_;
  }
  space_limit_holds("project quota");
}

TEST_F(Storage, XfsProjectQuotaLimitsSpace) {
  if (::access("/usr/sbin/mkfs.xfs", X_OK) != 0 && ::access("/sbin/mkfs.xfs", X_OK) != 0) {
    GTEST_SKIP() << "mkfs.xfs missing (xfsprogs)";
  }
  if (!make_fs({"/usr/sbin/mkfs.xfs", "-q", "-f"}, "prjquota")) {
    GTEST_SKIP() << "no XFS project quota on this host: " << why_;
  }
  space_limit_holds("project quota");
}

TEST_F(Storage, Ext4ProjectQuotaLimitsInodesAndCountsUsage) {
  if (!make_fs({"/usr/sbin/mkfs.ext4", "-q", "-F", "-O", "quota,project"}, "prjquota", 512)) {
    GTEST_SKIP() << "no ext4 project quota on this host: " << why_;
  }
  std::string g = guest("40908");
  limit(g, 64 * kMiB, 1500);
  Result r = env_->run({g, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.err.find("given project id 40908"), std::string::npos) << r;
  r = in_guest(g,
               "mkdir /many && i=0; while touch /many/f$i 2>/dev/null; do i=$((i+1)); done; "
               "echo $i");
  ASSERT_EQ(r.rc, 0) << r;
  auto j = du(g, false);
  EXPECT_EQ(j["source"], "project quota 40908");
  EXPECT_EQ(j["inodes"], 1500U) << j;
  ASSERT_EQ(in_guest(g, "rm -r /many").rc, 0);
  // The quota's count against a walk of the tree and the host's du.
  j = du(g, false);
  std::uint64_t host = host_du_kib(env_->vdir(g));
  std::uint64_t ours = j["space_kib"];
  EXPECT_LE(ours > host ? ours - host : host - ours, 64U) << "quota " << ours << ", du " << host;
  // Changed live.
  r = env_->run({g, "limit", "set", "dlimits/0/space_total", "32768"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_LE(df_kib(g, "/"), 32 * kMiB);
}

}  // namespace

namespace {

// The way back from an image to a plain directory: refused while the guest runs and while
// dlimits/ would make a new image; then the files come out and the image goes.
TEST_F(Storage, RemoveImageMovesTheFilesBackIntoTheDirectory) {
  ASSERT_TRUE(make_fs(kPlainExt4, "", 512)) << why_;
  std::string g = guest("40908");
  env_->write_config(g, "dlimits/method", "image\n");
  limit(g, 64 * kMiB);
  fs::path image = vs::storage::guest_image(roots(), g);
  Result r = env_->run({g, "remove-image"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("has no disk image (" + image.string() + ")"), std::string::npos) << r;
  ASSERT_EQ(env_->run({g, "start"}).rc, 0);
  ASSERT_EQ(in_guest(g, "echo kept > /root/file && ln -s /root/file /link").rc, 0);
  r = env_->run({g, "remove-image"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("is running; stop it before removing its disk image"), std::string::npos)
      << r;
  ASSERT_EQ(env_->run({g, "stop"}).rc, 0);
  // dlimits/method image would make a new image at the next start.
  r = env_->run({g, "remove-image"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("the next start would make a new image"), std::string::npos) << r;
  EXPECT_TRUE(fs::exists(image));
  EXPECT_TRUE(fs::is_empty(env_->vdir(g)));
  // dlimits/ gone: start says what to do rather than keep the image silently.
  fs::remove_all(env_->cfgdir(g) / "dlimits");
  r = env_->run({g, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.err.find("dlimits is gone, but the guest's data is in " + image.string()),
            std::string::npos)
      << r;
  EXPECT_NE(r.err.find("vserver " + g + " remove-image"), std::string::npos) << r;
  ASSERT_EQ(env_->run({g, "stop"}).rc, 0);
  // Files written into the directory beside the image: refused, nothing changed.
  vs::write_file(env_->vdir(g) / "stray", "x\n");
  r = env_->run({g, "remove-image"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("holds files besides the image's"), std::string::npos) << r;
  fs::remove(env_->vdir(g) / "stray");
  r = env_->run({g, "remove-image"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("into " + env_->vdir(g).string() + " and removed the image"),
            std::string::npos)
      << r;
  EXPECT_FALSE(fs::exists(image));
  EXPECT_FALSE(fs::exists(fs::path(image.string() + ".extract")));
  EXPECT_FALSE(fs::exists(env_->vdir(g) / "lost+found"));
  EXPECT_EQ(vs::read_file(env_->vdir(g) / "root/file"), "kept\n");
  EXPECT_EQ(fs::read_symlink(env_->vdir(g) / "link"), "/root/file");
  expect_image_released(g);
  // And the guest runs from its directory, with no image.
  r = env_->run({g, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.err.find("disk limit"), std::string::npos) << r;
  EXPECT_EQ(in_guest(g, "cat /root/file").out, "kept\n");
  EXPECT_FALSE(fs::exists(image));
}

}  // namespace

namespace {

// A guest whose root is an empty mount point (its volume not mounted), or lacks its init: the
// start is refused before anything is made in it, and the directory is left as it was.
TEST_F(Storage, StartIntoAnEmptyRootLeavesItAsItWas) {
  env_ = std::make_unique<Env>();
  std::string g = env_->busybox_guest();
  fs::path vdir = env_->vdir(g);
  fs::path away = env_->vdir_root() / "away";
  fs::rename(vdir, away);
  fs::create_directory(vdir);
  Result r = env_->run({g, "start"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("its root " + vdir.string() + " is empty"), std::string::npos) << r;
  EXPECT_TRUE(fs::is_empty(vdir)) << "nothing made in the root";
  it::expect_nothing_left(*env_, g);
  // A root without what the init style runs first.
  vs::write_file(vdir / "file", "x\n");
  env_->write_config(g, "apps/init/style", "plain\n");
  r = env_->run({g, "start"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("has no /sbin/init (init style plain)"), std::string::npos) << r;
  EXPECT_EQ(std::distance(fs::directory_iterator(vdir), fs::directory_iterator()), 1);
  it::expect_nothing_left(*env_, g);
  fs::remove_all(vdir);
  fs::rename(away, vdir);
}

}  // namespace
