// Building and deleting guests in temporary roots: every method, hostile archives, context
// allocation, --force, interruption, and deletion's refusals.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/capabilities.hpp"
#include "config/config.hpp"
#include "config/interface_arg.hpp"
#include "provision/build.hpp"
#include "provision/internal.hpp"
#include "state/state.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace fs = std::filesystem;
using vs::provision::BuildOptions;
using vs::provision::Method;

namespace {

bool is_root() {
  return ::geteuid() == 0;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct stat lstat_of(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) ADD_FAILURE() << "lstat " << p << ": " << std::strerror(errno);
  return st;
}

bool lexists(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

// ---- archives written with libarchive ----------------------------------------------------------

enum class Compression { none, gzip, xz, zstd, bzip2 };

struct TarEntry {
  std::string path;
  mode_t type = AE_IFREG;
  mode_t perm = 0644;
  std::string data;
  std::string symlink;
  std::string hardlink;
  unsigned rmajor = 0;
  unsigned rminor = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

TarEntry file(std::string path, std::string data, mode_t perm = 0644) {
  TarEntry e;
  e.path = std::move(path);
  e.data = std::move(data);
  e.perm = perm;
  return e;
}
TarEntry dir(std::string path, mode_t perm = 0755) {
  TarEntry e;
  e.path = std::move(path);
  e.type = AE_IFDIR;
  e.perm = perm;
  return e;
}
TarEntry symlink(std::string path, std::string target) {
  TarEntry e;
  e.path = std::move(path);
  e.type = AE_IFLNK;
  e.perm = 0777;
  e.symlink = std::move(target);
  return e;
}
TarEntry hardlink(std::string path, std::string target) {
  TarEntry e;
  e.path = std::move(path);
  e.hardlink = std::move(target);
  return e;
}
TarEntry device(std::string path, mode_t type, unsigned major, unsigned minor) {
  TarEntry e;
  e.path = std::move(path);
  e.type = type;
  e.perm = 0666;
  e.rmajor = major;
  e.rminor = minor;
  return e;
}

void write_tar(const fs::path& out, const std::vector<TarEntry>& entries,
               Compression c = Compression::none) {
  struct archive* a = archive_write_new();
  ASSERT_NE(a, nullptr);
  archive_write_set_format_pax_restricted(a);
  switch (c) {
    case Compression::none:
      break;
    case Compression::gzip:
      archive_write_add_filter_gzip(a);
      break;
    case Compression::xz:
      archive_write_add_filter_xz(a);
      break;
    case Compression::zstd:
      archive_write_add_filter_zstd(a);
      break;
    case Compression::bzip2:
      archive_write_add_filter_bzip2(a);
      break;
  }
  ASSERT_EQ(archive_write_open_filename(a, out.c_str()), ARCHIVE_OK) << archive_error_string(a);
  for (const auto& t : entries) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.path.c_str());
    archive_entry_set_uid(e, t.uid);
    archive_entry_set_gid(e, t.gid);
    archive_entry_set_mtime(e, 1600000000, 0);
    if (!t.hardlink.empty()) {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_perm(e, t.perm);
      archive_entry_set_hardlink(e, t.hardlink.c_str());
      archive_entry_set_size(e, 0);
    } else {
      archive_entry_set_filetype(e, t.type);
      archive_entry_set_perm(e, t.perm);
      if (t.type == AE_IFLNK) archive_entry_set_symlink(e, t.symlink.c_str());
      if (t.type == AE_IFCHR || t.type == AE_IFBLK) {
        archive_entry_set_rdevmajor(e, t.rmajor);
        archive_entry_set_rdevminor(e, t.rminor);
      }
      archive_entry_set_size(e, t.type == AE_IFREG ? static_cast<la_int64_t>(t.data.size()) : 0);
    }
    for (const auto& [k, v] : t.xattrs)
      archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK) << archive_error_string(a);
    if (t.type == AE_IFREG && t.hardlink.empty() && !t.data.empty()) {
      ASSERT_EQ(archive_write_data(a, t.data.data(), t.data.size()),
                static_cast<la_ssize_t>(t.data.size()));
    }
    archive_entry_free(e);
  }
  ASSERT_EQ(archive_write_close(a), ARCHIVE_OK) << archive_error_string(a);
  archive_write_free(a);
}

// ---- fixture -----------------------------------------------------------------------------------

class BuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vs-build-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    base_ = tmpl;
    roots_.config = base_ / "etc";
    roots_.vdir = base_ / "vdirs";
    roots_.run = base_ / "run";
    roots_.log = base_ / "log";
  }
  void TearDown() override {
    try {
      vs::remove_tree(base_);  // copes with trees deeper than PATH_MAX
    } catch (const vs::Error&) {
      std::error_code ec;
      fs::remove_all(base_, ec);
    }
  }

  BuildOptions options(const std::string& name, Method m = Method::skeleton) {
    BuildOptions o;
    o.name = name;
    o.method = m;
    o.progress = [this](const std::string& s) { progress_.push_back(s); };
    o.warning = [this](const std::string& s) { warnings_.push_back(s); };
    return o;
  }

  // What is in the roots besides finished guests: .defaults is expected in the config root.
  std::vector<std::string> temp_leftovers() const {
    std::vector<std::string> out;
    for (const auto& root : {roots_.config, roots_.vdir}) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(root, ec)) {
        std::string n = e.path().filename().string();
        if (n.find(".build-") != std::string::npos) out.push_back(e.path().string());
      }
    }
    return out;
  }
  std::vector<std::string> entries(const fs::path& dir) const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // Nothing of guest name, and no temporary directory, exists.
  void expect_nothing_left(const std::string& name) const {
    EXPECT_FALSE(lexists(roots_.guest_config_dir(name)));
    EXPECT_FALSE(lexists(roots_.default_vdir(name)));
    EXPECT_TRUE(temp_leftovers().empty()) << temp_leftovers().front();
  }

  // Marks a guest as running: a state record whose init is this very process.
  void mark_running(const std::string& name) {
    vs::state::GuestState st;
    st.name = name;
    st.context = 40000;
    st.supervisor_pid = ::getpid();
    st.init_pid = ::getpid();
    st.init_start_ticks = vs::state::process_start_ticks(::getpid()).value();
    st.cgroup = "/sys/fs/cgroup/none";
    vs::state::write_state(roots_, st);
  }

  fs::path base_;
  vs::config::Roots roots_;
  std::vector<std::string> progress_;
  std::vector<std::string> warnings_;
};

// ---- skeleton ------------------------------------------------------------------------------

TEST_F(BuildTest, SkeletonWritesConfigurationAndStandardRoot) {
  auto o = options("web");
  o.hostname = "web.example.org";
  o.interfaces.push_back(vs::config::parse_interface("eth0:192.0.2.10/24", "0").iface);
  o.cflags = std::set<std::string>{"virt_mem"};
  vs::provision::build_guest(roots_, o);

  auto cfg = vs::config::load_guest(roots_, "web");
  EXPECT_EQ(cfg.name, "web");
  EXPECT_EQ(cfg.context, 40000);
  EXPECT_EQ(cfg.uts.nodename, "web.example.org");
  EXPECT_EQ(cfg.vdir, fs::absolute(roots_.vdir / "web"));
  EXPECT_EQ(cfg.fstab, vs::config::default_fstab());
  EXPECT_EQ(cfg.init.style, vs::config::InitStyle::sysv);
  EXPECT_EQ(cfg.cflags, std::set<std::string>{"virt_mem"});
  EXPECT_EQ(cfg.bcapabilities, vs::config::default_bounding_set());
  ASSERT_EQ(cfg.interfaces.size(), 1U);
  EXPECT_EQ(cfg.interfaces[0].ip, "192.0.2.10");
  EXPECT_EQ(cfg.interfaces[0].dev, "eth0");
  EXPECT_EQ(cfg.interfaces[0].prefix, 24);
  EXPECT_EQ(fs::read_symlink(roots_.config / "web" / "vdir"), fs::absolute(roots_.vdir / "web"));
  EXPECT_EQ(slurp(roots_.config / ".defaults" / "context.next"), "40001\n");

  fs::path v = roots_.vdir / "web";
  EXPECT_EQ(lstat_of(v).st_mode & 07777, 0755U);
  for (const auto& d : vs::provision::detail::standard_dirs()) {
    struct stat st = lstat_of(v / d.path);
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << d.path;
    EXPECT_EQ(st.st_mode & 07777, d.mode) << d.path;
  }
  EXPECT_EQ(lstat_of(v / "tmp").st_mode & 07777, 01777U);
  EXPECT_EQ(lstat_of(v / "var/tmp").st_mode & 07777, 01777U);
  EXPECT_EQ(lstat_of(v / "root").st_mode & 07777, 0700U);
  EXPECT_EQ(slurp(v / "etc/hostname"), "web.example.org\n");
  EXPECT_NE(slurp(v / "etc/hosts").find("127.0.1.1\tweb.example.org web\n"), std::string::npos);
  EXPECT_TRUE(temp_leftovers().empty());
  ASSERT_FALSE(progress_.empty());
  EXPECT_NE(progress_.back().find("context 40000"), std::string::npos);
}

TEST_F(BuildTest, SkeletonRunsCommandInTheNewRoot) {
  auto o = options("cmd");
  o.command = {"sh", "-c", "echo \"$VSERVER_VDIR\" > marker; pwd -P > cwd; echo $VSERVER_NAME > n"};
  vs::provision::build_guest(roots_, o);
  fs::path v = roots_.vdir / "cmd";
  std::string vdir_env = slurp(v / "marker");
  EXPECT_NE(vdir_env.find("/.cmd.build-"), std::string::npos) << vdir_env;
  EXPECT_EQ(slurp(v / "cwd"), fs::canonical(roots_.vdir).string() + "/" +
                                  fs::path(vs::trim(vdir_env)).filename().string() + "\n");
  EXPECT_EQ(slurp(v / "n"), "cmd\n");
}

TEST_F(BuildTest, DefaultFilesAndFstabAreCopiedIntoNewGuests) {
  fs::create_directories(roots_.config / ".defaults" / "files");
  std::ofstream(roots_.config / ".defaults" / "files" / "resolv.conf") << "nameserver 192.0.2.53\n";
  std::ofstream(roots_.config / ".defaults" / "fstab")
      << "none /proc proc defaults 0 0\nnone /run tmpfs size=8m 0 0\n";
  vs::provision::build_guest(roots_, options("d"));
  EXPECT_EQ(slurp(roots_.vdir / "d" / "etc/resolv.conf"), "nameserver 192.0.2.53\n");
  auto cfg = vs::config::load_guest(roots_, "d");
  ASSERT_EQ(cfg.fstab.size(), 2U);
  EXPECT_EQ(cfg.fstab[1].target, "/run");
  EXPECT_EQ(cfg.fstab[1].options, "size=8m");
}

// ---- limits of new guests ---------------------------------------------------------------------

TEST_F(BuildTest, NewGuestsGetTheDefaultLimits) {
  vs::provision::build_guest(roots_, options("d"));
  fs::path c = roots_.config / "d";
  EXPECT_EQ(slurp(c / "limits/processes"), "1024\n");
  EXPECT_EQ(slurp(c / "sched/fill-rate"), "1\n");
  EXPECT_EQ(slurp(c / "sched/interval"), "4\n");
  EXPECT_EQ(entries(c / "limits"), std::vector<std::string>{"processes"});
  EXPECT_EQ(entries(c / "sched"), (std::vector<std::string>{"fill-rate", "interval"}));
  auto cfg = vs::config::load_guest(roots_, "d");
  EXPECT_EQ(cfg.limits.processes, vs::config::kNewGuestProcesses);
  EXPECT_EQ(cfg.sched.fill_rate, 1);
  EXPECT_EQ(cfg.sched.interval, 4);
  EXPECT_TRUE(cfg.rlimits.empty());
}

// .defaults/limits/ and .defaults/sched/ are what new guests start with; a file there replaces the
// built-in default of the same name, an empty one removes it, max says "no limit" explicitly.
TEST_F(BuildTest, DefaultsDirectoryGivesNewGuestsTheirLimits) {
  fs::path d = roots_.config / ".defaults";
  fs::create_directories(d / "limits");
  fs::create_directories(d / "sched");
  std::ofstream(d / "limits/processes") << "2048\n";
  std::ofstream(d / "limits/memory") << "1G\n";
  std::ofstream(d / "sched/fill-rate") << "2\n";
  vs::provision::build_guest(roots_, options("a"));
  auto a = vs::config::load_guest(roots_, "a");
  EXPECT_EQ(a.limits.processes, 2048U);
  EXPECT_EQ(a.limits.memory, std::uint64_t{1} << 30);
  EXPECT_EQ(a.sched.fill_rate, 2);
  EXPECT_EQ(a.sched.interval, 4);  // the built-in one: .defaults has no interval
  EXPECT_EQ(slurp(roots_.config / "a" / "limits/memory"), "1G\n");

  // Empty: no default. The CPU weight files are independent of each other.
  std::ofstream(d / "limits/processes") << "";
  std::ofstream(d / "sched/fill-rate") << " \n";
  std::ofstream(d / "sched/interval") << "\n";
  vs::provision::build_guest(roots_, options("b"));
  auto b = vs::config::load_guest(roots_, "b");
  EXPECT_FALSE(b.limits.processes);
  EXPECT_FALSE(lexists(roots_.config / "b" / "limits/processes"));
  EXPECT_TRUE(b.sched.empty());
  EXPECT_FALSE(lexists(roots_.config / "b" / "sched"));

  // max: written as it is, so that the guest says it has no limit.
  std::ofstream(d / "limits/processes") << "max\n";
  vs::provision::build_guest(roots_, options("c"));
  EXPECT_EQ(slurp(roots_.config / "c" / "limits/processes"), "max\n");
  EXPECT_EQ(vs::config::load_guest(roots_, "c").limits.processes, vs::config::kUnlimited);
}

TEST_F(BuildTest, BadDefaultsFailTheBuildNamingTheFile) {
  fs::path d = roots_.config / ".defaults";
  fs::create_directories(d / "limits");
  std::ofstream(d / "limits/processes") << "lots\n";
  try {
    vs::provision::build_guest(roots_, options("x"));
    FAIL() << "built with a bad .defaults/limits/processes";
  } catch (const vs::Error& e) {
    EXPECT_NE(std::string(e.what()).find((d / "limits/processes").string() + ": \"lots\""),
              std::string::npos)
        << e.what();
  }
  expect_nothing_left("x");

  fs::remove(d / "limits/processes");
  std::ofstream(d / "limits/nproc") << "10\n";
  EXPECT_THROW(vs::provision::build_guest(roots_, options("x")), vs::Error);  // unknown file
  expect_nothing_left("x");
  fs::remove(d / "limits/nproc");

  // A per-CPU bucket is not copied.
  fs::create_directories(d / "sched/cpu0");
  std::ofstream(d / "sched/cpu0/cpu-id") << "0\n";
  EXPECT_THROW(vs::provision::build_guest(roots_, options("x")), vs::Error);
  expect_nothing_left("x");
  fs::remove_all(d / "sched");

  // limits/cpu with --flags sched_hard and the default rate would both cap the CPU.
  std::ofstream(d / "limits/cpu") << "0.5\n";
  auto o = options("x");
  o.cflags = std::set<std::string>{"sched_hard"};
  EXPECT_THROW(vs::provision::build_guest(roots_, o), vs::Error);
  expect_nothing_left("x");
}

// A clone of a guest keeps its source's limits, also when it has none (a util-vserver tree); a
// clone of a directory is a new configuration and gets the defaults.
TEST_F(BuildTest, CloneKeepsTheSourcesLimits) {
  vs::provision::build_guest(roots_, options("old"));
  fs::remove_all(roots_.config / "old" / "limits");
  fs::remove_all(roots_.config / "old" / "sched");
  auto c = options("copy", Method::clone);
  c.source = "old";
  vs::provision::build_guest(roots_, c);
  EXPECT_FALSE(lexists(roots_.config / "copy" / "limits"));
  EXPECT_FALSE(lexists(roots_.config / "copy" / "sched"));

  auto dir = options("fromdir", Method::clone);
  dir.source = (roots_.vdir / "old").string();
  vs::provision::build_guest(roots_, dir);
  EXPECT_EQ(slurp(roots_.config / "fromdir" / "limits/processes"), "1024\n");
}

TEST_F(BuildTest, FailingCommandLeavesNothing) {
  auto o = options("bad");
  o.command = {"sh", "-c", "touch half-done; exit 3"};
  try {
    vs::provision::build_guest(roots_, o);
    FAIL() << "a failing command must fail the build";
  } catch (const vs::Error& e) {
    EXPECT_NE(std::string(e.what()).find("exited with status 3"), std::string::npos) << e.what();
  }
  expect_nothing_left("bad");

  o.command = {"/nonexistent/program"};
  EXPECT_THROW(vs::provision::build_guest(roots_, o), vs::Error);
  expect_nothing_left("bad");
}

TEST_F(BuildTest, SignalDuringBuildAbortsAndLeavesNothing) {
  for (const char* sig : {"INT", "TERM", "HUP"}) {
    auto o = options("sig");
    // The command signals the building process (its parent), then would take long.
    o.command = {"sh", "-c", std::string("kill -") + sig + " $PPID; sleep 30"};
    std::time_t start = std::time(nullptr);
    try {
      vs::provision::build_guest(roots_, o);
      ADD_FAILURE() << "an interrupted build must fail";
    } catch (const vs::Error& e) {
      EXPECT_STREQ(e.what(), "build interrupted");
    }
    EXPECT_LT(std::time(nullptr) - start, 20) << "the command was not stopped";
    expect_nothing_left("sig");
  }
  // The handlers are gone again: the default action of SIGHUP is restored.
  struct sigaction sa {};
  ASSERT_EQ(::sigaction(SIGHUP, nullptr, &sa), 0);
  EXPECT_EQ(sa.sa_handler, SIG_DFL);
}

TEST_F(BuildTest, RejectsBadOptions) {
  auto o = options("-bad");
  EXPECT_THROW(vs::provision::build_guest(roots_, o), vs::Error);
  o = options("x/y");
  EXPECT_THROW(vs::provision::build_guest(roots_, o), vs::Error);
  o = options("ok");
  o.context = 1;
  EXPECT_THROW(vs::provision::build_guest(roots_, o), vs::Error);
  o.context = 49152;
  EXPECT_THROW(vs::provision::build_guest(roots_, o), vs::Error);
  o = options("ok");
  o.hostname = "bad host";
  EXPECT_THROW(vs::provision::build_guest(roots_, o), vs::Error);
  o = options("ok");
  o.cflags = std::set<std::string>{"no_such_flag"};
  EXPECT_THROW(vs::provision::build_guest(roots_, o), vs::Error);
  o = options("ok", Method::archive);
  EXPECT_THROW(vs::provision::build_guest(roots_, o), vs::Error);  // no archive
  o = options("ok", Method::clone);
  EXPECT_THROW(vs::provision::build_guest(roots_, o), vs::Error);  // no source
  expect_nothing_left("ok");
}

// ---- existing guests, --force ----------------------------------------------------------------

TEST_F(BuildTest, ExistingGuestIsRefusedWithoutForce) {
  vs::provision::build_guest(roots_, options("web"));
  try {
    vs::provision::build_guest(roots_, options("web"));
    FAIL();
  } catch (const vs::Error& e) {
    EXPECT_NE(std::string(e.what()).find("already exists"), std::string::npos) << e.what();
  }
  // Only a root directory is enough to refuse, when it is not empty (an empty one is built into).
  fs::create_directories(roots_.vdir / "orphan");
  std::ofstream(roots_.vdir / "orphan" / "file") << "x";
  EXPECT_THROW(vs::provision::build_guest(roots_, options("orphan")), vs::Error);
  EXPECT_FALSE(lexists(roots_.config / "orphan"));
}

TEST_F(BuildTest, ForceKeepsThePreviousGuestUnderABackupName) {
  auto o = options("web");
  o.context = 40100;
  vs::provision::build_guest(roots_, o);
  std::ofstream(roots_.vdir / "web" / "old-file") << "old";

  o.force = true;  // the same context is free again: it is the guest being replaced
  o.hostname = "new";
  vs::provision::build_guest(roots_, o);
  EXPECT_FALSE(lexists(roots_.vdir / "web" / "old-file"));
  EXPECT_EQ(vs::config::load_guest(roots_, "web").uts.nodename, "new");

  std::vector<std::string> backups;
  for (const auto& n : entries(roots_.config)) {
    if (n.rfind("web~", 0) == 0) backups.push_back(n);
  }
  ASSERT_EQ(backups.size(), 1U);
  const std::string& b = backups[0];
  EXPECT_EQ(b.back(), '~');
  EXPECT_EQ(slurp(roots_.vdir / b / "old-file"), "old");
  EXPECT_EQ(fs::read_symlink(roots_.config / b / "vdir"), fs::absolute(roots_.vdir / b));
  EXPECT_EQ(vs::config::list_guests(roots_), std::vector<std::string>{"web"});
}

TEST_F(BuildTest, ForceIsRefusedForARunningGuest) {
  vs::provision::build_guest(roots_, options("run"));
  mark_running("run");
  auto o = options("run");
  o.force = true;
  try {
    vs::provision::build_guest(roots_, o);
    FAIL();
  } catch (const vs::Error& e) {
    EXPECT_NE(std::string(e.what()).find("is running"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(lexists(roots_.config / "run" / "context"));
}

TEST_F(BuildTest, StaleBuildDirectoriesOfDeadBuildsAreRemoved) {
  pid_t dead = ::fork();
  ASSERT_GE(dead, 0);
  if (dead == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);
  std::string stale = ".web.build-" + std::to_string(dead);
  std::string other = ".other.build-" + std::to_string(dead);
  fs::create_directories(roots_.config / stale / "uts");
  fs::create_directories(roots_.vdir / stale / "etc");
  fs::create_directories(roots_.vdir / other);
  vs::provision::build_guest(roots_, options("web"));
  EXPECT_FALSE(lexists(roots_.config / stale));
  EXPECT_FALSE(lexists(roots_.vdir / stale));
  EXPECT_TRUE(lexists(roots_.vdir / other));  // another guest's build is not ours to judge
}

// ---- contexts --------------------------------------------------------------------------------

TEST_F(BuildTest, AllocationSkipsUsedContextsAndHonoursContextNext) {
  auto o = options("a");
  o.context = 40000;
  vs::provision::build_guest(roots_, o);
  o = options("b");
  o.context = 40002;
  vs::provision::build_guest(roots_, o);

  EXPECT_EQ(vs::provision::allocate_context(roots_), 40001);
  EXPECT_EQ(vs::provision::allocate_context(roots_), 40003);  // 40002 is used
  EXPECT_EQ(slurp(roots_.config / ".defaults" / "context.next"), "40004\n");

  vs::write_file(roots_.config / ".defaults" / "context.next", "45000\n");
  vs::provision::build_guest(roots_, options("c"));
  EXPECT_EQ(vs::config::load_guest(roots_, "c").context, 45000);

  // At the end of the range allocation wraps to 40000 and keeps skipping.
  o = options("d");
  o.context = 49151;
  vs::provision::build_guest(roots_, o);
  vs::write_file(roots_.config / ".defaults" / "context.next", "49151\n");
  EXPECT_EQ(vs::provision::allocate_context(roots_), 40001);

  vs::write_file(roots_.config / ".defaults" / "context.next", "abc\n");
  try {
    vs::provision::allocate_context(roots_);
    FAIL();
  } catch (const vs::Error& e) {
    EXPECT_NE(std::string(e.what()).find("context.next"), std::string::npos) << e.what();
  }
}

TEST_F(BuildTest, ExplicitContextCollisionIsRefused) {
  auto o = options("a");
  o.context = 40010;
  vs::provision::build_guest(roots_, o);
  o = options("b");
  o.context = 40010;
  try {
    vs::provision::build_guest(roots_, o);
    FAIL();
  } catch (const vs::Error& e) {
    EXPECT_NE(std::string(e.what()).find("context 40010 is already used by vserver 'a'"),
              std::string::npos)
        << e.what();
  }
  expect_nothing_left("b");
}

TEST_F(BuildTest, ConcurrentBuildsGetDistinctContexts) {
  constexpr int kBuilds = 4;
  std::vector<pid_t> children;
  for (int i = 0; i < kBuilds; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int rc = 0;
      try {
        BuildOptions o;
        o.name = "g" + std::to_string(i);
        vs::provision::build_guest(roots_, o);
      } catch (...) {
        rc = 1;
      }
      ::_exit(rc);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  std::set<int> contexts;
  for (int i = 0; i < kBuilds; ++i) {
    contexts.insert(vs::config::load_guest(roots_, "g" + std::to_string(i)).context.value());
  }
  EXPECT_EQ(contexts.size(), static_cast<std::size_t>(kBuilds));
  EXPECT_EQ(*contexts.begin(), 40000);
  EXPECT_EQ(*contexts.rbegin(), 40000 + kBuilds - 1);
}

// ---- template --------------------------------------------------------------------------------

TEST_F(BuildTest, TemplatePreservesOwnersModesLinksAndNodes) {
  if (!is_root()) GTEST_SKIP() << "needs root to restore owners and device nodes";
  auto f = file("./dir/file", "hello", 04755);
  f.uid = 1234;
  f.gid = 1234;
  f.xattrs.push_back({"user.test", "value"});
  fs::path tar = base_ / "good.tar";
  write_tar(tar, {dir("./"), dir("./dir/", 0750), f, hardlink("./dir/hard", "./dir/file"),
                  symlink("./dir/link", "file"), device("./dir/fifo", AE_IFIFO, 0, 0),
                  dir("./dev/"), device("./dev/null", AE_IFCHR, 1, 3)});
  auto o = options("tpl", Method::archive);
  o.archives = {tar};
  vs::provision::build_guest(roots_, o);

  fs::path v = roots_.vdir / "tpl";
  struct stat st = lstat_of(v / "dir/file");
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_uid, 1234U);
  EXPECT_EQ(st.st_gid, 1234U);
  EXPECT_EQ(st.st_mode & 07777, 04755U);
  EXPECT_EQ(st.st_nlink, 2U);
  EXPECT_EQ(st.st_mtime, 1600000000);
  EXPECT_EQ(lstat_of(v / "dir/hard").st_ino, st.st_ino);
  EXPECT_EQ(slurp(v / "dir/file"), "hello");
  EXPECT_EQ(fs::read_symlink(v / "dir/link"), "file");
  EXPECT_TRUE(S_ISFIFO(lstat_of(v / "dir/fifo").st_mode));
  struct stat null = lstat_of(v / "dev/null");
  EXPECT_TRUE(S_ISCHR(null.st_mode));
  EXPECT_EQ(null.st_rdev, makedev(1, 3));
  EXPECT_EQ(lstat_of(v / "dir").st_mode & 07777, 0750U);
  std::array<char, 16> buf{};
  ssize_t n = ::lgetxattr((v / "dir/file").c_str(), "user.test", buf.data(), buf.size());
  ASSERT_EQ(n, 5);
  EXPECT_EQ(std::string(buf.data(), 5), "value");
  // The root keeps the mode of a new guest root; the standard directories were added.
  EXPECT_EQ(lstat_of(v).st_mode & 07777, 0755U);
  for (const char* d : {"proc", "sys", "dev/pts", "tmp", "var/tmp", "etc"}) {
    EXPECT_TRUE(S_ISDIR(lstat_of(v / d).st_mode)) << d;
  }
  ASSERT_FALSE(progress_.empty());
  EXPECT_EQ(progress_.front().rfind("Unpacked 7 entries from ", 0), 0U) << progress_.front();
}

TEST_F(BuildTest, TemplateKeepsSymlinkedDirectoriesOfAMergedUsr) {
  fs::path tar = base_ / "merged.tar";
  write_tar(tar, {dir("usr/"), dir("usr/lib/"), dir("usr/bin/"), symlink("lib", "usr/lib"),
                  symlink("bin", "usr/bin"), file("usr/bin/tool", "x", 0755)});
  auto o = options("merged", Method::archive);
  o.archives = {tar};
  vs::provision::build_guest(roots_, o);
  fs::path v = roots_.vdir / "merged";
  EXPECT_TRUE(S_ISLNK(lstat_of(v / "lib").st_mode));
  EXPECT_TRUE(S_ISLNK(lstat_of(v / "bin").st_mode));
  EXPECT_TRUE(S_ISDIR(lstat_of(v / "proc").st_mode));
}

class TemplateCompression
    : public BuildTest,
      public ::testing::WithParamInterface<std::pair<Compression, const char*>> {};

TEST_P(TemplateCompression, Unpacks) {
  auto [c, ext] = GetParam();
  fs::path tar = base_ / (std::string("root") + ext);
  write_tar(tar, {dir("etc/"), file("etc/motd", "compressed")}, c);
  auto o = options("z", Method::archive);
  o.archives = {tar};
  vs::provision::build_guest(roots_, o);
  EXPECT_EQ(slurp(roots_.vdir / "z" / "etc/motd"), "compressed");
}

INSTANTIATE_TEST_SUITE_P(Formats, TemplateCompression,
                         ::testing::Values(std::pair{Compression::none, ".tar"},
                                           std::pair{Compression::gzip, ".tar.gz"},
                                           std::pair{Compression::xz, ".tar.xz"},
                                           std::pair{Compression::zstd, ".tar.zst"},
                                           std::pair{Compression::bzip2, ".tar.bz2"}));

TEST_F(BuildTest, SeveralArchivesAreUnpackedInOrder) {
  write_tar(base_ / "a.tar", {dir("etc/"), file("etc/a", "1"), file("etc/b", "1")});
  write_tar(base_ / "b.tar", {dir("etc/"), file("etc/b", "2")});
  auto o = options("two", Method::archive);
  o.archives = {base_ / "a.tar", base_ / "b.tar"};
  vs::provision::build_guest(roots_, o);
  EXPECT_EQ(slurp(roots_.vdir / "two" / "etc/a"), "1");
  EXPECT_EQ(slurp(roots_.vdir / "two" / "etc/b"), "2");
  EXPECT_EQ(progress_.size(), 3U);
}

struct HostileCase {
  const char* label;
  std::vector<TarEntry> entries;
  std::string expect;  // in the error message
};

class HostileTemplate : public BuildTest, public ::testing::WithParamInterface<int> {};

std::vector<HostileCase> hostile_cases(const fs::path& outside) {
  return {
      {"dotdot", {dir("./etc/"), file("../evil", "x")}, "refusing entry \"../evil\""},
      {"dotdot-inside", {file("./a/../../evil", "x")}, "contains \"..\""},
      {"absolute", {file("/abs", "x")}, "refusing entry \"/abs\": the path is absolute"},
      {"through-symlink",
       {symlink("link", outside.string()), file("link/file", "x")},
       "refusing entry \"link/file\""},
      {"hardlink-dotdot", {hardlink("h", "../x")}, "hard-link target contains"},
      {"hardlink-absolute", {hardlink("h", "/etc/passwd")}, "hard-link target is absolute"},
      {"hardlink-through-symlink",
       {symlink("l", outside.string()), hardlink("h", "l/secret")},
       "symbolic link \"l\""},
      {"dir-replaced-by-symlink",
       {dir("a/"), symlink("a", outside.string())},
       "would replace the directory"},
      {"block-device", {device("dev/sda", AE_IFBLK, 8, 0)}, "block devices are not allowed"},
      {"char-device", {device("dev/tty1", AE_IFCHR, 4, 1)}, "character device 4:1"},
      {"kmem", {device("dev/kmem", AE_IFCHR, 1, 2)}, "character device 1:2"},
      {"mem", {device("dev/mem", AE_IFCHR, 1, 1)}, "character device 1:1"},
      {"loop-device", {device("dev/loop0", AE_IFBLK, 7, 0)}, "block devices are not allowed"},
      {"symlink-chain",
       {symlink("b", outside.string()), symlink("a", "b"), file("a/x", "x")},
       "goes through the symbolic link \"a\""},
      {"hardlink-dotdot-inside", {hardlink("h", "etc/../../x")}, "hard-link target contains"},
      {"directory-turned-symlink-later",
       {dir("d/"), file("d/f", "x"), symlink("d", outside.string())},
       "would replace the directory"},
      {"dotdot-after-slashes", {file(".//etc//..//..//evil", "x")}, "contains \"..\""},
  };
}

TEST_P(HostileTemplate, IsRefusedAndLeavesNothing) {
  fs::path outside = base_ / "outside";
  fs::create_directories(outside);
  std::ofstream(outside / "secret") << "host data";
  auto c = hostile_cases(outside).at(static_cast<std::size_t>(GetParam()));
  SCOPED_TRACE(c.label);
  fs::path tar = base_ / "hostile.tar";
  write_tar(tar, c.entries);
  auto o = options("evil", Method::archive);
  o.archives = {tar};
  try {
    vs::provision::build_guest(roots_, o);
    FAIL() << c.label << " was accepted";
  } catch (const vs::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
    EXPECT_NE(msg.find(tar.string()), std::string::npos) << msg;
  }
  expect_nothing_left("evil");
  EXPECT_FALSE(lexists(base_ / "evil"));
  EXPECT_FALSE(lexists(outside / "file"));
  EXPECT_EQ(slurp(outside / "secret"), "host data");
  EXPECT_EQ(lstat_of(outside / "secret").st_nlink, 1U);
  EXPECT_FALSE(lexists(base_ / "x"));
}

INSTANTIATE_TEST_SUITE_P(Cases, HostileTemplate, ::testing::Range(0, 17));

TEST_F(BuildTest, SymlinkFromAnEarlierArchiveIsNotWrittenThrough) {
  fs::path outside = base_ / "outside";
  fs::create_directories(outside);
  write_tar(base_ / "a.tar", {symlink("etc", outside.string())});
  write_tar(base_ / "b.tar", {file("etc/passwd", "root::0:0::/:/bin/sh\n")});
  auto o = options("two", Method::archive);
  o.archives = {base_ / "a.tar", base_ / "b.tar"};
  EXPECT_THROW(vs::provision::build_guest(roots_, o), vs::Error);
  EXPECT_FALSE(lexists(outside / "passwd"));
  expect_nothing_left("two");
}

TEST_F(BuildTest, CorruptOrMissingArchiveLeavesNothing) {
  auto o = options("junk", Method::archive);
  o.archives = {base_ / "missing.tar"};
  try {
    vs::provision::build_guest(roots_, o);
    FAIL();
  } catch (const vs::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.tar: No such file"), std::string::npos)
        << e.what();
  }
  expect_nothing_left("junk");
  // Refused before a context was taken.
  EXPECT_FALSE(lexists(roots_.config / ".defaults" / "context.next"));

  std::ofstream(base_ / "junk.tar.gz") << "this is not an archive at all";
  o.archives = {base_ / "junk.tar.gz"};
  EXPECT_THROW(vs::provision::build_guest(roots_, o), vs::Error);
  expect_nothing_left("junk");
}

// ---- clone -----------------------------------------------------------------------------------

// A POSIX access ACL granting uid 4321 read: the xattr format of linux/posix_acl_xattr.h.
std::string access_acl() {
  struct Entry {
    std::uint16_t tag, perm;
    std::uint32_t id;
  };
  std::uint32_t version = 2;
  std::vector<Entry> e = {{0x01, 6, 0xffffffff},   // USER_OBJ rw
                          {0x02, 4, 4321},         // USER 4321 r
                          {0x04, 4, 0xffffffff},   // GROUP_OBJ r
                          {0x10, 4, 0xffffffff},   // MASK r
                          {0x20, 0, 0xffffffff}};  // OTHER -
  std::string out(reinterpret_cast<const char*>(&version), sizeof version);
  out.append(reinterpret_cast<const char*>(e.data()), e.size() * sizeof(Entry));
  return out;
}

// security.capability granting cap_net_raw (permitted, effective).
std::string net_raw_capability() {
  struct vfs_cap_data cap {};
  cap.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
  cap.data[0].permitted = 1U << CAP_NET_RAW;
  return std::string(reinterpret_cast<const char*>(&cap), XATTR_CAPS_SZ_2);
}

std::string get_xattr(const fs::path& p, const char* name) {
  std::array<char, 256> buf{};
  ssize_t n = ::lgetxattr(p.c_str(), name, buf.data(), buf.size());
  if (n < 0) return "<" + std::string(std::strerror(errno)) + ">";
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

TEST_F(BuildTest, ClonePreservesEverything) {
  if (!is_root()) GTEST_SKIP() << "needs root for owners, capabilities and device nodes";
  fs::path src = base_ / "tree";
  fs::create_directories(src / "bin");
  fs::create_directories(src / "data/sub");
  std::ofstream(src / "bin/ping") << "binary";
  ASSERT_EQ(::chown((src / "bin/ping").c_str(), 1234, 1234), 0);
  ASSERT_EQ(::chmod((src / "bin/ping").c_str(), 04755), 0);
  std::string cap = net_raw_capability();
  ASSERT_EQ(
      ::setxattr((src / "bin/ping").c_str(), "security.capability", cap.data(), cap.size(), 0), 0)
      << std::strerror(errno);
  ASSERT_EQ(::setxattr((src / "bin/ping").c_str(), "user.note", "n", 1, 0), 0);
  ASSERT_EQ(::link((src / "bin/ping").c_str(), (src / "data/ping-link").c_str()), 0);
  std::ofstream(src / "data/acl") << "acl";
  std::string acl = access_acl();
  ASSERT_EQ(
      ::setxattr((src / "data/acl").c_str(), "system.posix_acl_access", acl.data(), acl.size(), 0),
      0)
      << std::strerror(errno);
  fs::create_symlink("../bin/ping", src / "data/sym");
  ASSERT_EQ(::lchown((src / "data/sym").c_str(), 77, 78), 0);
  ASSERT_EQ(::mkfifo((src / "data/fifo").c_str(), 0600), 0);
  ASSERT_EQ(::chmod((src / "data/fifo").c_str(), 0620), 0);
  ASSERT_EQ(::mknod((src / "data/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  {
    // A sparse file: 64 MiB with one byte of data at the end.
    int fd = ::open((src / "data/sparse").c_str(), O_WRONLY | O_CREAT, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "z", 1, 64 * 1024 * 1024 - 1), 1);
    ::close(fd);
  }
  {
    int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string sp = (src / "data/sock").string();
    ASSERT_LT(sp.size(), sizeof addr.sun_path);
    std::strcpy(addr.sun_path, sp.c_str());
    ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(s);
  }
  ASSERT_EQ(::chmod((src / "data/sub").c_str(), 02750), 0);
  ASSERT_EQ(::chown((src / "data/sub").c_str(), 50, 60), 0);
  std::array<struct timespec, 2> old = {timespec{1500000000, 0}, timespec{1500000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (src / "data/sub").c_str(), old.data(), 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, (src / "data/acl").c_str(), old.data(), 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, (src / "data/sym").c_str(), old.data(), AT_SYMLINK_NOFOLLOW), 0);

  auto o = options("copy", Method::clone);
  o.source = src.string();
  vs::provision::build_guest(roots_, o);
  fs::path v = roots_.vdir / "copy";

  struct stat ping = lstat_of(v / "bin/ping");
  EXPECT_EQ(ping.st_uid, 1234U);
  EXPECT_EQ(ping.st_gid, 1234U);
  EXPECT_EQ(ping.st_mode & 07777, 04755U);
  EXPECT_EQ(ping.st_nlink, 2U);
  EXPECT_EQ(lstat_of(v / "data/ping-link").st_ino, ping.st_ino);
  EXPECT_EQ(slurp(v / "bin/ping"), "binary");
  EXPECT_EQ(get_xattr(v / "bin/ping", "security.capability"), cap);
  EXPECT_EQ(get_xattr(v / "bin/ping", "user.note"), "n");
  EXPECT_EQ(get_xattr(v / "data/acl", "system.posix_acl_access"), acl);
  EXPECT_EQ(lstat_of(v / "data/acl").st_mtime, 1500000000);
  EXPECT_EQ(fs::read_symlink(v / "data/sym"), "../bin/ping");
  struct stat sym = lstat_of(v / "data/sym");
  EXPECT_EQ(sym.st_uid, 77U);
  EXPECT_EQ(sym.st_gid, 78U);
  EXPECT_EQ(sym.st_mtime, 1500000000);
  struct stat fifo = lstat_of(v / "data/fifo");
  EXPECT_TRUE(S_ISFIFO(fifo.st_mode));
  EXPECT_EQ(fifo.st_mode & 07777, 0620U);
  struct stat null = lstat_of(v / "data/null");
  EXPECT_TRUE(S_ISCHR(null.st_mode));
  EXPECT_EQ(null.st_rdev, makedev(1, 3));
  struct stat sparse = lstat_of(v / "data/sparse");
  EXPECT_EQ(sparse.st_size, 64 * 1024 * 1024);
  EXPECT_LT(sparse.st_blocks * 512, 1024 * 1024) << "the hole was filled";
  EXPECT_FALSE(lexists(v / "data/sock"));
  struct stat sub = lstat_of(v / "data/sub");
  EXPECT_EQ(sub.st_mode & 07777, 02750U);
  EXPECT_EQ(sub.st_uid, 50U);
  EXPECT_EQ(sub.st_gid, 60U);
  EXPECT_EQ(sub.st_mtime, 1500000000);
  EXPECT_EQ(lstat_of(v).st_mode & 07777, 0755U);
  EXPECT_EQ(lstat_of(v).st_uid, 0U);
  ASSERT_FALSE(warnings_.empty());
  EXPECT_NE(warnings_.front().find("skipped socket"), std::string::npos);
  ASSERT_FALSE(progress_.empty());
  EXPECT_EQ(progress_.front().rfind("Copied ", 0), 0U);
}

TEST_F(BuildTest, CloneOfAGuestGetsItsOwnIdentity) {
  auto o = options("src");
  o.hostname = "src";
  o.context = 40500;
  o.interfaces.push_back(vs::config::parse_interface("eth0:192.0.2.1/24", "0").iface);
  o.cflags = std::set<std::string>{"virt_uptime"};
  o.init_style = vs::config::InitStyle::plain;
  vs::provision::build_guest(roots_, o);
  std::ofstream(roots_.vdir / "src" / "etc/motd") << "hello";

  auto c = options("dst", Method::clone);
  c.source = "src";
  vs::provision::build_guest(roots_, c);
  auto cfg = vs::config::load_guest(roots_, "dst");
  EXPECT_EQ(cfg.name, "dst");
  EXPECT_NE(cfg.context, 40500);
  EXPECT_EQ(cfg.uts.nodename, "dst");
  EXPECT_TRUE(cfg.interfaces.empty());
  EXPECT_EQ(cfg.vdir, fs::absolute(roots_.vdir / "dst"));
  EXPECT_EQ(cfg.cflags, std::set<std::string>{"virt_uptime"});
  EXPECT_EQ(cfg.init.style, vs::config::InitStyle::plain);
  EXPECT_EQ(slurp(roots_.vdir / "dst" / "etc/motd"), "hello");
  EXPECT_EQ(slurp(roots_.vdir / "dst" / "etc/hostname"), "dst\n");
  EXPECT_EQ(slurp(roots_.vdir / "src" / "etc/hostname"), "src\n");

  // With --interface the clone gets those.
  auto d = options("dst2", Method::clone);
  d.source = "src";
  d.interfaces.push_back(vs::config::parse_interface("192.0.2.9", "0").iface);
  vs::provision::build_guest(roots_, d);
  auto cfg2 = vs::config::load_guest(roots_, "dst2");
  ASSERT_EQ(cfg2.interfaces.size(), 1U);
  EXPECT_EQ(cfg2.interfaces[0].ip, "192.0.2.9");
  EXPECT_TRUE(cfg2.interfaces[0].nodev);
}

TEST_F(BuildTest, CloneRefusesARunningGuestAndBadSources) {
  vs::provision::build_guest(roots_, options("src"));
  mark_running("src");
  auto c = options("dst", Method::clone);
  c.source = "src";
  try {
    vs::provision::build_guest(roots_, c);
    FAIL();
  } catch (const vs::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'src' is running"), std::string::npos) << e.what();
  }
  expect_nothing_left("dst");

  c.source = (base_ / "nowhere").string();
  EXPECT_THROW(vs::provision::build_guest(roots_, c), vs::Error);
  expect_nothing_left("dst");

  c.source = "dst";
  EXPECT_THROW(vs::provision::build_guest(roots_, c), vs::Error);  // from itself
}

// ---- busybox ---------------------------------------------------------------------------------

TEST_F(BuildTest, BusyboxMakesABootableGuest) {
  try {
    vs::provision::detail::check_static_executable("/bin/busybox");
  } catch (const vs::Error& e) {
    GTEST_SKIP() << "needs Debian's busybox-static: " << e.what();
  }
  auto o = options("bb", Method::busybox);
  vs::provision::build_guest(roots_, o);
  fs::path v = roots_.vdir / "bb";
  struct stat bb = lstat_of(v / "bin/busybox");
  EXPECT_TRUE(S_ISREG(bb.st_mode));
  EXPECT_EQ(bb.st_mode & 07777, 0755U);
  EXPECT_EQ(bb.st_size, lstat_of("/bin/busybox").st_size);
  EXPECT_EQ(fs::read_symlink(v / "bin/sh"), "/bin/busybox");
  EXPECT_EQ(fs::read_symlink(v / "sbin/init"), "/bin/busybox");
  EXPECT_EQ(fs::read_symlink(v / "sbin/poweroff"), "/bin/busybox");
  EXPECT_NE(slurp(v / "etc/inittab").find("::sysinit:/etc/init.d/rcS\n"), std::string::npos);
  EXPECT_EQ(slurp(v / "etc/inittab").find("respawn"), std::string::npos);  // no consoles
  EXPECT_EQ(lstat_of(v / "etc/init.d/rcS").st_mode & 07777, 0755U);
  EXPECT_EQ(lstat_of(v / "etc/shadow").st_mode & 07777, 0640U);
  EXPECT_EQ(slurp(v / "etc/passwd").rfind("root:x:0:0:root:/root:/bin/sh\n", 0), 0U);
  EXPECT_NE(slurp(v / "etc/shadow").find("root:*:"), std::string::npos);
  EXPECT_NE(slurp(v / "etc/group").find("tty:x:5:"), std::string::npos);
  EXPECT_EQ(slurp(v / "etc/hostname"), "bb\n");
  EXPECT_EQ(vs::config::load_guest(roots_, "bb").init.style, vs::config::InitStyle::plain);

  // rcS runs with the guest's own shell and exits 0 (in a UTS namespace of its own).
  if (is_root()) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      if (::unshare(CLONE_NEWUTS) != 0 || ::chroot(v.c_str()) != 0 || ::chdir("/") != 0) {
        ::_exit(100);
      }
      ::execl("/bin/sh", "sh", "/etc/init.d/rcS", static_cast<char*>(nullptr));
      ::_exit(101);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }

  auto s = options("bbs", Method::busybox);
  s.init_style = vs::config::InitStyle::sysv;
  vs::provision::build_guest(roots_, s);
  EXPECT_EQ(vs::config::load_guest(roots_, "bbs").init.style, vs::config::InitStyle::sysv);
}

TEST_F(BuildTest, BusyboxRefusesWhatIsNotAStaticExecutable) {
  std::ofstream(base_ / "script") << "#!/bin/sh\necho hi\n";
  fs::permissions(base_ / "script", fs::perms(0755));
  struct Case {
    fs::path path;
    std::string expect;
  };
  std::vector<Case> cases = {{base_ / "script", "not an ELF executable"},
                             {base_ / "missing", "No such file"},
                             {base_ / "script.noexec", "not an executable file"}};
  std::ofstream(base_ / "script.noexec") << "data";
  // A dynamically linked program of the host: the shell itself.
  if (lexists("/bin/sh")) cases.push_back({fs::canonical("/bin/sh"), "not a statically linked"});
  for (const auto& c : cases) {
    auto o = options("bb", Method::busybox);
    o.busybox = c.path;
    try {
      vs::provision::build_guest(roots_, o);
      FAIL() << c.path << " was accepted";
    } catch (const vs::Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
      EXPECT_NE(msg.find("busybox-static"), std::string::npos) << msg;
    }
    expect_nothing_left("bb");
  }
}

// ---- delete ----------------------------------------------------------------------------------

TEST_F(BuildTest, DeleteRemovesRootConfigurationAndState) {
  vs::provision::build_guest(roots_, options("web"));
  fs::path outside = base_ / "outside";
  fs::create_directories(outside);
  std::ofstream(outside / "keep") << "host";
  fs::create_symlink(outside, roots_.vdir / "web" / "mnt" / "link");
  fs::create_symlink(outside / "keep", roots_.vdir / "web" / "keep-link");
  fs::create_directories(roots_.run / "web");
  std::ofstream(roots_.run / "web" / "stale") << "x";

  EXPECT_TRUE(vs::provision::guest_exists(roots_, "web"));
  vs::provision::delete_guest(roots_, "web");
  EXPECT_FALSE(lexists(roots_.vdir / "web"));
  EXPECT_FALSE(lexists(roots_.config / "web"));
  EXPECT_FALSE(lexists(roots_.run / "web"));
  EXPECT_FALSE(vs::provision::guest_exists(roots_, "web"));
  EXPECT_EQ(slurp(outside / "keep"), "host");  // symlinks were not followed
}

TEST_F(BuildTest, DeleteRefusals) {
  EXPECT_THROW(vs::provision::delete_guest(roots_, "missing"), vs::provision::GuestNotFound);
  try {
    vs::provision::delete_guest(roots_, "missing");
  } catch (const vs::provision::GuestNotFound& e) {
    EXPECT_EQ(std::string(e.what()), "Can not find a vserver-setup at '" +
                                         (fs::absolute(roots_.config) / "missing").string() + "/'");
  }

  vs::provision::build_guest(roots_, options("run"));
  mark_running("run");
  try {
    vs::provision::delete_guest(roots_, "run");
    FAIL();
  } catch (const vs::Error& e) {
    EXPECT_EQ(std::string(e.what()), "vserver 'run' is running; stop it first");
  }
  EXPECT_TRUE(lexists(roots_.vdir / "run" / "etc"));

  // vdir links that cannot be a guest root.
  vs::provision::build_guest(roots_, options("odd"));
  fs::path link = roots_.config / "odd" / "vdir";
  std::ofstream(base_ / "plainfile") << "x";
  for (const auto& [target, expect] :
       std::vector<std::pair<fs::path, std::string>>{{"/", "too close to /"},
                                                     {"/usr", "too close to /"},
                                                     {base_, "which holds"},
                                                     {base_ / "plainfile", "not a directory"},
                                                     {roots_.vdir / "run", "overlaps the root"}}) {
    fs::remove(link);
    fs::create_symlink(target, link);
    try {
      vs::provision::delete_guest(roots_, "odd");
      FAIL() << target;
    } catch (const vs::provision::GuestNotFound&) {
      FAIL() << target;
    } catch (const vs::Error& e) {
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
    }
    EXPECT_TRUE(lexists(roots_.config / "odd"));
  }
  EXPECT_TRUE(lexists(base_ / "plainfile"));
  EXPECT_TRUE(lexists(roots_.vdir / "run" / "etc"));
}

TEST_F(BuildTest, DeleteDoesNotEnterMountedFilesystems) {
  if (!is_root()) GTEST_SKIP() << "needs root to mount";
  vs::provision::build_guest(roots_, options("mnt"));
  fs::path outside = base_ / "outside";
  fs::create_directories(outside);
  std::ofstream(outside / "keep") << "host";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // A private mount namespace: nothing leaks to the host.
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount(outside.c_str(), (roots_.vdir / "mnt" / "mnt").c_str(), nullptr, MS_BIND,
                nullptr) != 0) {
      ::_exit(100);
    }
    try {
      vs::provision::delete_guest(roots_, "mnt");
      ::_exit(1);
    } catch (const vs::Error& e) {
      bool ok = std::string(e.what()).find("a filesystem is mounted at") != std::string::npos;
      ::_exit(ok ? 0 : 2);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(slurp(outside / "keep"), "host");
  EXPECT_TRUE(lexists(roots_.vdir / "mnt" / "etc" / "hostname"));  // nothing was removed
}

// ---- removal ---------------------------------------------------------------------------------

TEST_F(BuildTest, RemoveTreeHandlesDeepTreesWithFewDescriptors) {
  fs::path top = base_ / "deep";
  ASSERT_EQ(::mkdir(top.c_str(), 0755), 0);
  {
    vs::UniqueFd cur(::open(top.c_str(), O_RDONLY | O_DIRECTORY));
    // Far deeper than PATH_MAX allows as one path, and deep enough to overflow the stack of a
    // recursive walk.
    for (int i = 0; i < 30000; ++i) {
      ASSERT_EQ(::mkdirat(cur.get(), "d", 0700), 0);
      int fd = ::openat(cur.get(), "d", O_RDONLY | O_DIRECTORY);
      ASSERT_GE(fd, 0);
      if (i % 5000 == 0) ::close(::openat(fd, "f", O_WRONLY | O_CREAT, 0600));
      cur.reset(fd);
    }
  }
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    struct rlimit rl {
      32, 32
    };
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) ::_exit(100);
    try {
      vs::remove_tree(top);
      ::_exit(0);
    } catch (const std::exception&) {
      ::_exit(1);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(lexists(top));
  EXPECT_NO_THROW(vs::remove_tree(top));  // absent: nothing to do
}

}  // namespace

namespace {

TEST(RsyncMethod, ArgvCopiesEverythingButTheRuntimeFilesystems) {
  vs::provision::detail::RsyncRun run;
  run.source = "/srv/old";
  run.excludes = {"/srv/cache/*"};
  run.options = {"--bwlimit=1000"};
  auto argv = vs::provision::detail::rsync_argv(run, "/var/lib/vservers/.g.build-1");
  std::vector<std::string> want = {"rsync",
                                   "-aHAX",
                                   "--numeric-ids",
                                   "--exclude=/proc/*",
                                   "--exclude=/sys/*",
                                   "--exclude=/dev/*",
                                   "--exclude=/run/*",
                                   "--exclude=/tmp/*",
                                   "--exclude=/srv/cache/*",
                                   "--bwlimit=1000",
                                   "/srv/old/",
                                   "/var/lib/vservers/.g.build-1/"};
  EXPECT_EQ(argv, want);
  run.one_file_system = true;
  run.source = "old:/";
  argv = vs::provision::detail::rsync_argv(run, "/t");
  EXPECT_EQ(argv[3], "--one-file-system");
  EXPECT_EQ(argv[argv.size() - 2], "old:/");
}

TEST(RsyncMethod, RemoteSourcesFollowRsyncsRule) {
  using vs::provision::detail::rsync_remote;
  EXPECT_TRUE(rsync_remote("old:/"));
  EXPECT_TRUE(rsync_remote("root@old.example.org:/srv"));
  EXPECT_TRUE(rsync_remote("old::module"));
  EXPECT_TRUE(rsync_remote("rsync://old/module"));
  EXPECT_FALSE(rsync_remote("/srv/old"));
  EXPECT_FALSE(rsync_remote("./a:b"));
  EXPECT_FALSE(rsync_remote("relative/dir"));
}

}  // namespace
