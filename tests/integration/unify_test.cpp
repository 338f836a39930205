// Unification (docs/storage.md, "Unification"): bases, guests layered on them with overlayfs,
// unify, and what must never happen (a base written through a guest, a mount left on the host, a
// half-unified guest).
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fstream>
#include <thread>

#include "harness.hpp"
#include "storage/base.hpp"
#include "sys/file.hpp"

namespace {

using it::Env;
using it::Result;
namespace fs = std::filesystem;

fs::path base_path(const Env& env, const std::string& base) {
  return env.vdir_root() / ".bases" / base;
}
fs::path upper(const Env& env, const std::string& g) {
  return env.vdir_root() / ".layers" / g / "upper";
}

std::string make_base(Env& env, const std::string& name = "bb") {
  Result r = env.run_as("vserver-base", {"create", name, "-m", "busybox"});
  EXPECT_EQ(r.rc, 0) << r;
  return name;
}

std::string guest_on(Env& env, const std::string& base) {
  std::string g = env.unique_name("u");
  Result r = env.run({g, "build", "-m", "base", "--", "--base", base});
  EXPECT_EQ(r.rc, 0) << r;
  return g;
}

// No mount of the host's mentions the test's roots.
void expect_no_mount(const Env& env) {
  std::string mounts = vs::read_file("/proc/self/mountinfo");
  EXPECT_EQ(mounts.find(env.vdir_root().string()), std::string::npos) << mounts;
}

bool is_whiteout(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

TEST(Unify, GuestsOnOneBaseShareItAndSeeOnlyTheirOwnWrites) {
  REQUIRE_ROOT();
  Env env;
  std::string base = make_base(env);
  fs::path bdir = base_path(env, base);
  std::string passwd_before = vs::read_file(bdir / "etc/passwd");
  std::uint64_t base_bytes = vs::storage::disk_usage(bdir);

  constexpr int kGuests = 10;
  std::vector<std::string> guests;
  for (int i = 0; i < kGuests; ++i) guests.push_back(guest_on(env, base));
  // The base once, plus a small delta per guest (hostname, hosts, resolv.conf).
  std::uint64_t total = vs::storage::disk_usage(env.vdir_root());
  EXPECT_LT(total, base_bytes + kGuests * 64 * 1024) << "base " << base_bytes;
  for (const auto& g : guests) {
    EXPECT_TRUE(fs::is_empty(env.vdir(g))) << "mount point of " << g << " is not empty";
    EXPECT_EQ(vs::read_file(env.cfgdir(g) / "unify/base"), base + "\n");
  }

  for (const auto& g : guests) ASSERT_EQ(env.run({g, "start"}).rc, 0) << g;
  expect_no_mount(env);  // the merged roots exist in the guests' namespaces only
  for (int i = 0; i < kGuests; ++i) {
    Result r = env.run({guests[i], "exec", "sh", "-c",
                        "echo mine-" + std::to_string(i) + " > /root/own && hostname"});
    EXPECT_EQ(r.rc, 0) << r;
    EXPECT_EQ(r.out, guests[i] + "\n");
  }
  // Guest 0 writes to a base file, guest 1 removes one.
  Result r =
      env.run({guests[0], "exec", "sh", "-c", "echo intruder:x:0:0::/:/bin/sh >> /etc/passwd"});
  EXPECT_EQ(r.rc, 0) << r;
  r = env.run({guests[1], "exec", "rm", "/etc/profile"});
  EXPECT_EQ(r.rc, 0) << r;
  for (int i = 0; i < kGuests; ++i) {
    r = env.run({guests[i], "exec", "cat", "/root/own"});
    EXPECT_EQ(r.out, "mine-" + std::to_string(i) + "\n") << guests[i];
    r = env.run({guests[i], "exec", "grep", "-c", "intruder", "/etc/passwd"});
    EXPECT_EQ(r.out, i == 0 ? "1\n" : "0\n") << guests[i] << r;
    r = env.run({guests[i], "exec", "test", "-e", "/etc/profile"});
    EXPECT_EQ(r.rc, i == 1 ? 1 : 0) << guests[i];
  }
  // The base is unchanged; the changes are in the writers' upper layers.
  EXPECT_EQ(vs::read_file(bdir / "etc/passwd"), passwd_before);
  EXPECT_TRUE(fs::exists(bdir / "etc/profile"));
  EXPECT_FALSE(fs::exists(bdir / "root/own"));
  EXPECT_NE(vs::read_file(upper(env, guests[0]) / "etc/passwd").find("intruder"),
            std::string::npos);
  EXPECT_TRUE(is_whiteout(upper(env, guests[1]) / "etc/profile"));

  for (const auto& g : guests) EXPECT_EQ(env.run({g, "stop", "--timeout", "5"}).rc, 0);
  for (const auto& g : guests) it::expect_nothing_left(env, g);
  expect_no_mount(env);

  // A base in use cannot be deleted; the error names its guests.
  r = env.run_as("vserver-base", {"delete", base});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("used by 10 vservers"), std::string::npos) << r;
  EXPECT_NE(r.err.find(guests[3]), std::string::npos) << r;
  r = env.run_as("vserver-base", {"list"});
  EXPECT_NE(r.out.find(base), std::string::npos) << r;
  r = env.run_as("vserver-base", {"list", "--json"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("\"name\":\"" + base + "\""), std::string::npos) << r;
  EXPECT_NE(r.out.find("\"" + guests[9] + "\""), std::string::npos) << r;

  // Deleting a guest leaves the base; once no guest uses it, the base can go.
  for (const auto& g : guests) {
    r = env.run({g, "delete", "--yes"});
    ASSERT_EQ(r.rc, 0) << r;
    EXPECT_FALSE(fs::exists(env.vdir(g)));
    EXPECT_FALSE(fs::exists(env.vdir_root() / ".layers" / g));
    EXPECT_EQ(vs::read_file(bdir / "etc/passwd"), passwd_before);
  }
  r = env.run_as("vserver-base", {"delete", base});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_FALSE(fs::exists(bdir));
}

TEST(Unify, FailedStartOnMissingBaseLeavesNothing) {
  REQUIRE_ROOT();
  Env env;
  std::string base = make_base(env);
  std::string g = guest_on(env, base);
  env.write_config(g, "unify/base", "gone\n");
  Result r = env.run({g, "start"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("base 'gone'"), std::string::npos) << r;
  it::expect_nothing_left(env, g);
  expect_no_mount(env);
  // The upper layer missing: refused the same way.
  env.write_config(g, "unify/base", base + "\n");
  fs::rename(upper(env, g), upper(env, g).string() + ".away");
  r = env.run({g, "start"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("upper layer"), std::string::npos) << r;
  it::expect_nothing_left(env, g);
  fs::rename(upper(env, g).string() + ".away", upper(env, g));
  r = env.run({g, "start"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(env.run({g, "stop", "--timeout", "5"}).rc, 0);
  // Bad names and missing bases at build time.
  r = env.run({env.unique_name("u"), "build", "-m", "base", "--", "--base", "nope"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("base 'nope' does not exist"), std::string::npos) << r;
  r = env.run_as("vserver-base", {"create", "../x", "-m", "busybox"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_EQ(env.run_as("vserver-base", {"create", base, "-m", "busybox"}).rc, 1);
}

// A full guest: its file count, for "unchanged" checks.
std::size_t count_entries(const fs::path& dir) {
  std::size_t n = 0;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    ++n;
  }
  return n;
}

TEST(Unify, UnifyTurnsACloneIntoItsDelta) {
  REQUIRE_ROOT();
  Env env;
  std::string src = env.busybox_guest();
  Result r = env.run_as("vserver-base", {"create", "b1", "-m", "clone", "--", "--source", src});
  ASSERT_EQ(r.rc, 0) << r;
  std::string c = env.unique_name("c");
  r = env.run({c, "build", "-m", "clone", "--", "--source", src});
  ASSERT_EQ(r.rc, 0) << r;
  fs::path root = env.vdir(c);
  // The clone's own changes: a new file, a changed one, a removed one, a directory's mode.
  std::ofstream(root / "root/notes") << "only in the clone\n";
  std::ofstream(root / "etc/passwd", std::ios::app) << "clone:x:1000:1000::/:/bin/sh\n";
  fs::remove(root / "etc/profile");
  fs::permissions(root / "home", fs::perms(0700));
  std::uint64_t before = vs::storage::disk_usage(root);

  // Refused while it runs.
  ASSERT_EQ(env.run({c, "start"}).rc, 0);
  r = env.run({c, "unify", "b1"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("is running"), std::string::npos) << r;
  EXPECT_FALSE(fs::exists(env.cfgdir(c) / "unify/base"));
  ASSERT_EQ(env.run({c, "stop", "--timeout", "5"}).rc, 0);

  r = env.run({c, "unify", "--dry-run", "b1"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("would be saved"), std::string::npos) << r;
  EXPECT_FALSE(fs::exists(env.cfgdir(c) / "unify/base"));

  r = env.run({c, "unify", "b1"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("saved"), std::string::npos) << r;
  EXPECT_EQ(vs::read_file(env.cfgdir(c) / "unify/base"), "b1\n");
  EXPECT_TRUE(fs::is_empty(root));
  std::uint64_t after = vs::storage::disk_usage(env.vdir_root() / ".layers" / c);
  EXPECT_LT(after, 128 * 1024) << "delta of " << c;
  EXPECT_LT(after * 4, before) << "before " << before << ", after " << after;
  EXPECT_TRUE(is_whiteout(upper(env, c) / "etc/profile"));
  EXPECT_TRUE(fs::exists(upper(env, c) / "root/notes"));
  EXPECT_FALSE(fs::exists(upper(env, c) / "bin/busybox"));  // identical: the base's

  ASSERT_EQ(env.run({c, "start"}).rc, 0);
  r = env.run({c, "exec", "cat", "/root/notes"});
  EXPECT_EQ(r.out, "only in the clone\n") << r;
  EXPECT_EQ(env.run({c, "exec", "grep", "-q", "^clone:", "/etc/passwd"}).rc, 0);
  EXPECT_EQ(env.run({c, "exec", "test", "-e", "/etc/profile"}).rc, 1);
  r = env.run({c, "exec", "stat", "-c", "%a", "/home"});
  EXPECT_EQ(r.out, "700\n") << r;
  EXPECT_EQ(env.run({c, "exec", "/bin/probe", "true"}).rc == 127, false);
  ASSERT_EQ(env.run({c, "stop", "--timeout", "5"}).rc, 0);
  EXPECT_TRUE(fs::exists(base_path(env, "b1") / "etc/profile"));

  // Unified already, a base that does not exist, a guest with nothing in common.
  r = env.run({c, "unify", "b1"});
  EXPECT_NE(r.err.find("already unified"), std::string::npos) << r;
  r = env.run({src, "unify", "nope"});
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r;

  // A clone of a unified guest is unified on the same base, with a copy of the delta.
  std::string c2 = env.unique_name("c");
  r = env.run({c2, "build", "-m", "clone", "--", "--source", c});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(vs::read_file(env.cfgdir(c2) / "unify/base"), "b1\n");
  EXPECT_TRUE(is_whiteout(upper(env, c2) / "etc/profile"));
  EXPECT_EQ(vs::read_file(upper(env, c2) / "etc/hostname"), c2 + "\n");
}

TEST(Unify, InterruptedUnifyLeavesTheGuestAsItWas) {
  REQUIRE_ROOT();
  Env env;
  std::string src = env.busybox_guest();
  ASSERT_EQ(env.run_as("vserver-base", {"create", "b2", "-m", "clone", "--", "--source", src}).rc,
            0);
  // Enough files of its own that the unify takes a while.
  fs::path root = env.vdir(src);
  fs::create_directories(root / "srv/data");
  for (int i = 0; i < 4000; ++i) {
    std::ofstream(root / "srv/data" / fmt::format("f{}", i)) << "file " << i << '\n';
  }
  std::size_t entries = count_entries(root);
  bool interrupted = false;
  for (int delay_ms : {5, 30, 80}) {
    pid_t pid = ::fork();
    if (pid == 0) {
      setenv("VSERVER_CONFIG_ROOT", env.config_root().c_str(), 1);
      setenv("VSERVER_VDIR_ROOT", env.vdir_root().c_str(), 1);
      setenv("VSERVER_RUN_ROOT", env.run_root().c_str(), 1);
      execl(VSERVER_BINARY, "vserver", src.c_str(), "unify", "b2", nullptr);
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(pid, SIGINT);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      // Too fast to interrupt: it must be complete.
      EXPECT_EQ(vs::read_file(env.cfgdir(src) / "unify/base"), "b2\n");
      EXPECT_TRUE(fs::exists(upper(env, src) / "srv/data/f3999"));
      return;
    }
    EXPECT_FALSE(fs::exists(env.cfgdir(src) / "unify/base")) << "after " << delay_ms << " ms";
    EXPECT_EQ(count_entries(root), entries) << "after " << delay_ms << " ms";
    EXPECT_FALSE(fs::exists(env.vdir_root() / ".layers" / src));
    if (fs::exists(env.vdir_root() / ".layers")) {
      for (const auto& e : fs::directory_iterator(env.vdir_root() / ".layers")) {
        ADD_FAILURE() << "left behind: " << e.path();
      }
    }
    interrupted = true;
    for (const auto& e : fs::directory_iterator(env.vdir_root())) {
      EXPECT_EQ(e.path().filename().string().find(".unify-"), std::string::npos)
          << "left behind: " << e.path();
    }
  }
  EXPECT_TRUE(interrupted);
  // Not interrupted, it completes.
  Result r = env.run({src, "unify", "b2"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_TRUE(fs::exists(upper(env, src) / "srv/data/f3999"));
}

}  // namespace
