// Everyday operations on many guests and on whole guests: vserver-autostart, --all exec,
// rename, export and import, clone identity.
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fmt/format.h>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "harness.hpp"
#include "sys/file.hpp"

namespace {

using it::Env;
using it::Result;
namespace fs = std::filesystem;

int sh(const std::string& cmd) {
  return std::system(cmd.c_str());
}

std::int64_t started_at(const Env& env, const std::string& name) {
  std::string s = vs::read_file(env.run_root() / name / "state");
  auto pos = s.find("\"started_at_ms\":");
  return std::stoll(s.substr(pos + 16));
}

bool running(const Env& env, const std::string& name) {
  return env.run({name, "running"}).rc == 0;
}

TEST(Ops, AutostartStartsMarkedGuestsInDependencyOrder) {
  REQUIRE_ROOT();
  Env env;
  std::string db = env.busybox_guest();
  std::string app = env.busybox_guest();
  std::string other = env.busybox_guest();
  std::string broken = env.busybox_guest();
  env.write_config(db, "apps/init/mark", "default\n");
  env.write_config(app, "apps/init/mark", "default\n");
  env.write_config(app, "apps/init/depends", db + "\n");
  env.write_config(other, "apps/init/mark", "elsewhere\n");
  env.write_config(broken, "apps/init/mark", "default\n");
  env.write_config(broken, "apps/init/depends", "nosuchguest\n");

  Result r = env.run_as("vserver-autostart", {"list"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_LT(r.out.find(db + "\n"), r.out.find(app + "\tafter " + db)) << r;
  EXPECT_NE(r.err.find(broken + ": cannot be started: depends on 'nosuchguest', which does not "
                                "exist"),
            std::string::npos)
      << r;

  r = env.run_as("vserver-autostart", {"start", "-j", "4"});
  EXPECT_EQ(r.rc, 1) << r;  // the broken one
  EXPECT_NE(r.err.find("1 of 3 guests failed to start: " + broken), std::string::npos) << r;
  ASSERT_TRUE(running(env, db));
  ASSERT_TRUE(running(env, app));
  EXPECT_FALSE(running(env, other));
  EXPECT_FALSE(running(env, broken));
  EXPECT_LE(started_at(env, db), started_at(env, app));
  EXPECT_LT(r.out.find(db + ": started"), r.out.find(app + ": started")) << r;

  // Started again: already running counts as success.
  env.write_config(broken, "apps/init/mark", "none\n");
  r = env.run_as("vserver-autostart", {});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find(db + ": already running"), std::string::npos) << r;

  r = env.run_as("vserver-autostart", {"stop", "--timeout", "2"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_LT(r.out.find(app + ": stopped"), r.out.find(db + ": stopped")) << r;
  EXPECT_FALSE(running(env, db));
  EXPECT_FALSE(running(env, app));
  it::expect_nothing_left(env, db);
  it::expect_nothing_left(env, app);
}

TEST(Ops, AutostartReportsCycles) {
  REQUIRE_ROOT();
  Env env;
  std::string a = env.busybox_guest();
  std::string b = env.busybox_guest();
  std::string mark = fmt::format("m{}", ::getpid());
  for (const auto& [g, dep] : {std::pair{a, b}, std::pair{b, a}}) {
    env.write_config(g, "apps/init/mark", mark + "\n");
    env.write_config(g, "apps/init/depends", dep + "\n");
  }
  Result r = env.run_as("vserver-autostart", {"start", mark});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("dependency cycle: "), std::string::npos) << r;
  EXPECT_FALSE(running(env, a));
  EXPECT_FALSE(running(env, b));
  r = env.run_as("vserver-autostart", {"start", "nosuchmark"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("No vserver is marked 'nosuchmark'"), std::string::npos) << r;
}

TEST(Ops, AllExecPrefixesLinesAndSummarisesFailures) {
  REQUIRE_ROOT();
  Env env;
  std::string x = env.busybox_guest();
  std::string y = env.busybox_guest();
  // a sorts before b: the order the guests are visited in.
  std::string a = std::min(x, y);
  std::string b = std::max(x, y);
  env.write_config(a, "uts/nodename", "alpha\n");
  env.write_config(b, "uts/nodename", "beta\n");
  std::string stopped = env.busybox_guest();
  env.write_config(a, "apps/init/mark", "web\n");
  ASSERT_EQ(env.run({a, "start"}).rc, 0);
  ASSERT_EQ(env.run({b, "start"}).rc, 0);

  Result r = env.run({"--all", "exec", "sh", "-c", "hostname; echo oops >&2; printf tail"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.out, a + ": alpha\n" + a + ": tail\n" + b + ": beta\n" + b + ": tail\n");
  EXPECT_EQ(r.err, a + ": oops\n" + b + ": oops\n");
  EXPECT_EQ(r.out.find(stopped), std::string::npos);

  r = env.run({"--all", "exec", "sh", "-c", "test $(hostname) = alpha || exit 4"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("exec failed in 1 of 2 guests: " + b + " (exit status 4)"),
            std::string::npos)
      << r;

  r = env.run({"--all", "--mark", "web", "exec", "hostname"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.out, a + ": alpha\n");

  // apt-get: the guest's own; busybox guests have none, which fails in each, by name.
  r = env.run({"--all", "apt-get", "--", "update"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find(a + ": "), std::string::npos) << r;
  EXPECT_NE(r.err.find("apt-get failed in 2 of 2 guests"), std::string::npos) << r;
  r = env.run({stopped, "apt-get", "update"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("supported for running vservers only"), std::string::npos) << r;
}

TEST(Ops, RenameMovesEverythingAndRefusesWhileRunning) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  std::string dependent = env.busybox_guest();
  env.write_config(dependent, "apps/init/depends", g + "\n");
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  ASSERT_EQ(env.run({g, "exec", "sh", "-c", "echo same > /root/marker"}).rc, 0);
  std::string to = env.unique_name("r");

  Result r = env.run({g, "rename", to});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("is running"), std::string::npos) << r;
  EXPECT_TRUE(fs::exists(env.cfgdir(g)));
  EXPECT_FALSE(fs::exists(env.cfgdir(to)));
  ASSERT_EQ(env.run({g, "stop", "--timeout", "2"}).rc, 0);
  std::string context = vs::read_file(env.cfgdir(g) / "context");

  // An existing name is refused, and nothing changes.
  r = env.run({g, "rename", dependent});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r;

  r = env.run({g, "rename", to});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_FALSE(fs::exists(env.cfgdir(g)));
  EXPECT_FALSE(fs::exists(env.vdir(g)));
  EXPECT_FALSE(fs::exists(env.log_root() / (g + ".log")));
  EXPECT_TRUE(fs::exists(env.log_root() / (to + ".log")));
  EXPECT_EQ(fs::read_symlink(env.cfgdir(to) / "vdir"), env.vdir(to));
  EXPECT_EQ(vs::read_file(env.cfgdir(to) / "uts" / "nodename"), to + "\n");
  EXPECT_EQ(vs::read_file(env.vdir(to) / "etc" / "hostname"), to + "\n");
  EXPECT_NE(vs::read_file(env.vdir(to) / "etc" / "hosts").find("\t" + to + "\n"),
            std::string::npos);
  EXPECT_EQ(vs::read_file(env.cfgdir(dependent) / "apps" / "init" / "depends"), to + "\n");
  EXPECT_EQ(vs::read_file(env.cfgdir(to) / "context"), context);

  ASSERT_EQ(env.run({to, "start"}).rc, 0);
  EXPECT_EQ(env.run({to, "exec", "hostname"}).out, to + "\n");
  EXPECT_EQ(env.run({to, "exec", "cat", "/root/marker"}).out, "same\n");
  EXPECT_EQ(env.run({g, "status"}).rc, 5);
}

// ---- export and import ----------------------------------------------------------------------

// Everything the tree comparison looks at, per path relative to the root.
std::map<std::string, std::string> describe_tree(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const fs::path& p = it->path();
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    std::ostringstream d;
    d << std::oct << st.st_mode << std::dec << " " << st.st_uid << ":" << st.st_gid << " n"
      << (S_ISDIR(st.st_mode) ? 0 : st.st_nlink);
    if (S_ISREG(st.st_mode))
      d << " " << vs::read_file(p).size() << " " << std::hash<std::string>{}(vs::read_file(p));
    if (S_ISLNK(st.st_mode)) d << " -> " << fs::read_symlink(p).string();
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
      d << " dev " << major(st.st_rdev) << ":" << minor(st.st_rdev);
    if (!S_ISLNK(st.st_mode)) d << " mtime " << st.st_mtim.tv_sec;
    std::array<char, 4096> names{};
    ssize_t n = ::llistxattr(p.c_str(), names.data(), names.size());
    for (ssize_t i = 0; i < n;) {
      std::string name(names.data() + i);
      i += static_cast<ssize_t>(name.size()) + 1;
      std::array<char, 4096> value{};
      ssize_t v = ::lgetxattr(p.c_str(), name.c_str(), value.data(), value.size());
      d << " " << name << "=" << std::string(value.data(), v > 0 ? static_cast<std::size_t>(v) : 0);
    }
    out[fs::relative(p, root).string()] = d.str();
  }
  return out;
}

TEST(Ops, ExportDeleteImportRunsIdentical) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest({"--hostname", "exported"});
  fs::path v = env.vdir(g);
  // The hard cases: owners, set-id modes, a file capability, a user xattr, a hard link, a device
  // node, a fifo, a symlink.
  std::ofstream(v / "root" / "owned") << "data";
  ASSERT_EQ(::chown((v / "root" / "owned").c_str(), 1234, 5678), 0);
  ASSERT_EQ(::chmod((v / "root" / "owned").c_str(), 04750), 0);
  // tmpfs has user xattrs since Linux 6.6 only (the v2 VM's kernel is older): there, the file
  // capability stands for the extended attributes.
  if (::setxattr((v / "root" / "owned").c_str(), "user.note", "hello", 5, 0) != 0) {
    ASSERT_EQ(errno, EOPNOTSUPP) << std::strerror(errno);
  }
  vfs_cap_data cap{};  // cap_net_raw+ep, as setcap writes it
  cap.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
  cap.data[0].permitted = 1U << CAP_NET_RAW;
  ASSERT_EQ(::setxattr((v / "bin" / "probe").c_str(), "security.capability", &cap, sizeof cap, 0),
            0);
  ASSERT_EQ(::link((v / "root" / "owned").c_str(), (v / "root" / "hardlink").c_str()), 0);
  ASSERT_EQ(::mknod((v / "root" / "null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  ASSERT_EQ(::mkfifo((v / "root" / "fifo").c_str(), 0640), 0);
  fs::create_symlink("/etc/hostname", v / "root" / "link");
  env.write_config(g, "apps/init/mark", "web\n");
  env.write_config(g, "scripts/pre-start", "#!/bin/sh\n");  // sourced at each start; no model
  std::string context = vs::read_file(env.cfgdir(g) / "context");
  auto before = describe_tree(v);

  fs::path archive = env.vdir_root().parent_path() / "exp.tar.zst";
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  Result r = env.run({g, "export", archive.string()});
  EXPECT_NE(r.rc, 0) << r;  // running
  EXPECT_NE(r.err.find("is running"), std::string::npos) << r;
  EXPECT_FALSE(fs::exists(archive));
  ASSERT_EQ(env.run({g, "stop", "--timeout", "2"}).rc, 0);
  before = describe_tree(v);  // the run wrote its files
  r = env.run({g, "export", archive.string()});
  ASSERT_EQ(r.rc, 0) << r;
  for (const auto& e : fs::directory_iterator(archive.parent_path())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }

  ASSERT_EQ(env.run({g, "delete", "--yes"}).rc, 0);
  ASSERT_FALSE(fs::exists(v));
  r = env.run({g, "import", archive.string()});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(before, describe_tree(v));
  EXPECT_EQ(vs::read_file(env.cfgdir(g) / "context"), context);  // free here: kept
  EXPECT_EQ(vs::read_file(env.cfgdir(g) / "apps" / "init" / "mark"), "web\n");
  EXPECT_TRUE(fs::exists(env.cfgdir(g) / "scripts" / "pre-start"));
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  EXPECT_EQ(env.run({g, "exec", "hostname"}).out, "exported\n");
  EXPECT_EQ(env.run({g, "exec", "cat", "/root/owned"}).out, "data");

  // Imported again beside it: a name that exists is refused, a new name gets a new context.
  r = env.run({g, "import", archive.string()});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r;
  std::string copy = env.unique_name("i");
  r = env.run({copy, "import", "--hostname", "second", archive.string()});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("is used by vserver '" + g + "' here"), std::string::npos) << r;
  EXPECT_NE(vs::read_file(env.cfgdir(copy) / "context"), context);
  ASSERT_EQ(env.run({copy, "start"}).rc, 0);
  EXPECT_EQ(env.run({copy, "exec", "hostname"}).out, "second\n");

  // The template method takes the root of an export.
  std::string tpl = env.unique_name("t");
  r = env.run({tpl, "build", "-m", "template", "--", "-t", archive.string()});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_TRUE(fs::exists(env.vdir(tpl) / "root" / "owned"));
  EXPECT_FALSE(fs::exists(env.vdir(tpl) / "config"));
  EXPECT_FALSE(fs::exists(env.vdir(tpl) / "vserver-export.json"));
  EXPECT_FALSE(fs::exists(env.cfgdir(tpl) / "apps" / "init" / "mark"));
}

// An archive shaped like an export, with one extra entry made by extra_cmd in the work dir.
fs::path hostile_export(const Env& env, const std::string& tag, const std::string& setup,
                        const std::string& tar_opts) {
  fs::path work = env.vdir_root().parent_path() / ("hostile-" + tag);
  fs::create_directories(work / "config");
  fs::create_directories(work / "root" / "etc");
  std::ofstream(work / "vserver-export.json")
      << R"({"format": "vserver-export", "version": 1, "name": "x", "context": 40123})"
      << "\n";
  std::ofstream(work / "config" / "context") << "40123\n";
  EXPECT_EQ(sh("cd " + work.string() + " && " + setup), 0);
  fs::path archive = work.parent_path() / (tag + ".tar");
  EXPECT_EQ(sh("cd " + work.string() + " && tar " + tar_opts + " -cf " + archive.string() +
               " vserver-export.json config root"),
            0);
  return archive;
}

void expect_no_guest(const Env& env, const std::string& g) {
  EXPECT_FALSE(fs::exists(env.cfgdir(g)));
  EXPECT_FALSE(fs::exists(env.vdir(g)));
  for (const auto& root : {env.config_root(), env.vdir_root()}) {
    for (const auto& e : fs::directory_iterator(root)) {
      EXPECT_EQ(e.path().filename().string().find(g), std::string::npos) << e.path();
    }
  }
}

TEST(Ops, HostileImportsAreRefusedWithNothingLeft) {
  REQUIRE_ROOT();
  Env env;
  struct Case {
    std::string tag, setup, tar_opts, expect;
  };
  std::vector<Case> cases = {
      {"dotdot", "echo x > root/evil", "-P --transform 's,^root/evil,root/../../evil,'",
       "contains \"..\""},
      {"symlink", "ln -s /tmp root/etc/escape && echo x > root/escaped",
       "--transform 's,^root/escaped,root/etc/escape/vs-escaped,'", "refusing entry"},
      {"blockdev", "mknod root/sda b 8 0", "", "block devices are not allowed"},
      {"vdirlink", "ln -s /etc config/vdir", "", "refusing entry \"config/vdir\""},
      {"configdotdot", "echo x > config/evil", "-P --transform 's,^config/evil,config/../../evil,'",
       "contains \"..\""},
  };
  for (const auto& c : cases) {
    fs::path archive = hostile_export(env, c.tag, c.setup, c.tar_opts);
    // Make sure the hostile entry is in the archive as intended.
    std::string g = env.unique_name("h");
    Result r = env.run({g, "import", archive.string()});
    EXPECT_NE(r.rc, 0) << c.tag << ": " << r;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.tag << ": " << r;
    expect_no_guest(env, g);
    EXPECT_FALSE(fs::exists("/tmp/vs-escaped")) << c.tag;
    EXPECT_FALSE(fs::exists(env.vdir_root().parent_path().parent_path() / "evil")) << c.tag;
  }
  // Not an export at all.
  std::string g = env.unique_name("h");
  fs::path plain = env.vdir_root().parent_path() / "plain.tar";
  ASSERT_EQ(sh("tar -C " + env.config_root().string() + " -cf " + plain.string() + " ."), 0);
  Result r = env.run({g, "import", plain.string()});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_NE(r.err.find("not an archive made by vserver NAME export"), std::string::npos) << r;
  expect_no_guest(env, g);
}

TEST(Ops, CloneRunsBesideItsSourceWithItsOwnIdentity) {
  REQUIRE_ROOT();
  Env env;
  std::string src = env.busybox_guest({"--hostname", "original"});
  fs::path v = env.vdir(src);
  fs::create_directories(v / "etc" / "ssh");
  std::ofstream(v / "etc" / "ssh" / "ssh_host_ed25519_key") << "SECRET-OF-THE-SOURCE\n";
  std::ofstream(v / "etc" / "ssh" / "ssh_host_ed25519_key.pub") << "ssh-ed25519 AAAA source\n";
  std::ofstream(v / "etc" / "ssh" / "sshd_config") << "Port 22\n";
  std::ofstream(v / "etc" / "machine-id") << "0123456789abcdef0123456789abcdef\n";
  // The guest's own ssh-keygen makes the new keys; this one shows where it ran.
  fs::create_directories(v / "usr" / "bin");
  std::ofstream(v / "usr" / "bin" / "ssh-keygen")
      << "#!/bin/sh\n[ \"$1\" = -A ] || exit 2\n"
         "echo \"new key made in $(hostname) as pid $$\" > /etc/ssh/ssh_host_ed25519_key\n";
  fs::permissions(v / "usr" / "bin" / "ssh-keygen", fs::perms(0755));

  std::string g = env.unique_name("c");
  Result r = env.run({g, "build", "-m", "clone", "--hostname", "copy", "--", "--source", src});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("/etc/ssh/ssh_host_ed25519_key"), std::string::npos) << r;
  fs::path c = env.vdir(g);
  EXPECT_EQ(vs::read_file(c / "etc" / "ssh" / "ssh_host_ed25519_key"),
            "new key made in copy as pid 1\n");
  EXPECT_FALSE(fs::exists(c / "etc" / "ssh" / "ssh_host_ed25519_key.pub"));
  EXPECT_TRUE(fs::exists(c / "etc" / "ssh" / "sshd_config"));
  EXPECT_EQ(vs::read_file(v / "etc" / "ssh" / "ssh_host_ed25519_key"), "SECRET-OF-THE-SOURCE\n");
  std::string id = vs::read_file(c / "etc" / "machine-id");
  EXPECT_EQ(id.size(), 33U);
  EXPECT_NE(id, vs::read_file(v / "etc" / "machine-id"));
  it::expect_nothing_left(env, g);  // the one-shot run of ssh-keygen

  ASSERT_EQ(env.run({src, "start"}).rc, 0);
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  EXPECT_EQ(env.run({src, "exec", "hostname"}).out, "original\n");
  EXPECT_EQ(env.run({g, "exec", "hostname"}).out, "copy\n");
  std::string c1(vs::trim(vs::read_file(env.cfgdir(src) / "context")));
  std::string c2(vs::trim(vs::read_file(env.cfgdir(g) / "context")));
  EXPECT_NE(env.run({src, "status"}).out.find("running at context '" + c1 + "'"),
            std::string::npos);
  EXPECT_NE(env.run({g, "status"}).out.find("running at context '" + c2 + "'"), std::string::npos);
  EXPECT_NE(vs::read_file(env.cfgdir(src) / "context"), vs::read_file(env.cfgdir(g) / "context"));
}

}  // namespace

namespace {

// The extended attribute make_hard_cases set (user.note, or trusted.note without user xattrs).
std::string hard_case_xattr = "user.note";

// The files an export round trip must keep, made in dir (a guest's root or its upper layer).
void make_hard_cases(const fs::path& dir) {
  fs::create_directories(dir / "srv");
  std::ofstream(dir / "srv" / "owned") << "data";
  ASSERT_EQ(::chown((dir / "srv" / "owned").c_str(), 1234, 5678), 0);
  ASSERT_EQ(::chmod((dir / "srv" / "owned").c_str(), 04750), 0);
  hard_case_xattr = it::set_test_xattr(dir / "srv" / "owned", "note", "hello");
  ASSERT_EQ(::link((dir / "srv" / "owned").c_str(), (dir / "srv" / "hardlink").c_str()), 0);
  fs::create_directories(dir / "srv" / "private");
  ASSERT_EQ(::chown((dir / "srv" / "private").c_str(), 42, 43), 0);
  ASSERT_EQ(::chmod((dir / "srv" / "private").c_str(), 0700), 0);
}

void expect_hard_cases(const fs::path& root) {
  struct stat a {
  }, b{}, d{};
  ASSERT_EQ(::lstat((root / "srv" / "owned").c_str(), &a), 0);
  ASSERT_EQ(::lstat((root / "srv" / "hardlink").c_str(), &b), 0);
  EXPECT_EQ(a.st_uid, 1234U);
  EXPECT_EQ(a.st_gid, 5678U);
  EXPECT_EQ(a.st_mode & 07777, 04750U);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2U);
  std::array<char, 16> v{};
  EXPECT_EQ(
      ::getxattr((root / "srv" / "owned").c_str(), hard_case_xattr.c_str(), v.data(), v.size()), 5);
  EXPECT_EQ(std::string(v.data(), 5), "hello");
  EXPECT_EQ(vs::read_file(root / "srv" / "owned"), "data");
  ASSERT_EQ(::lstat((root / "srv" / "private").c_str(), &d), 0);
  EXPECT_EQ(d.st_uid, 42U);
  EXPECT_EQ(d.st_gid, 43U);
  EXPECT_EQ(d.st_mode & 07777, 0700U);
}

// A unified guest exports its merged view (the base's files, its own, minus what it deleted);
// the import is a guest with a plain root that starts without the base.
TEST(Ops, UnifiedGuestExportsItsMergedRootAndImportsPlain) {
  REQUIRE_ROOT();
  Env env;
  std::string base = env.unique_name("b");
  Result r = env.run_as("vserver-base", {"create", base, "-m", "busybox"});
  ASSERT_EQ(r.rc, 0) << r;
  std::string g = env.unique_name("u");
  r = env.run({g, "build", "-m", "base", "--", "--base", base});
  ASSERT_EQ(r.rc, 0) << r;
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  ASSERT_EQ(env.run({g, "exec", "rm", "/etc/inittab"}).rc, 0);  // a whiteout in its layer
  ASSERT_EQ(env.run({g, "stop", "--timeout", "2"}).rc, 0);
  make_hard_cases(env.vdir_root() / ".layers" / g / "upper");

  fs::path archive = env.vdir_root().parent_path() / "unified.tar";
  r = env.run({g, "export", archive.string()});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_TRUE(fs::is_empty(env.vdir(g)));  // nothing stays mounted
  std::string copy = env.unique_name("i");
  r = env.run({copy, "import", archive.string()});
  ASSERT_EQ(r.rc, 0) << r;
  fs::path root = env.vdir(copy);
  expect_hard_cases(root);
  EXPECT_TRUE(fs::exists(root / "bin" / "busybox"));   // from the base
  EXPECT_FALSE(fs::exists(root / "etc" / "inittab"));  // deleted in the guest
  EXPECT_FALSE(fs::exists(env.cfgdir(copy) / "unify" / "base"));
  EXPECT_FALSE(fs::exists(env.vdir_root() / ".layers" / copy));
  ASSERT_EQ(env.run({copy, "start"}).rc, 0);
  EXPECT_EQ(env.run({copy, "exec", "cat", "/srv/hardlink"}).out, "data");
  ASSERT_EQ(env.run({copy, "stop", "--timeout", "2"}).rc, 0);
  // The export did not change the source.
  EXPECT_TRUE(fs::exists(env.cfgdir(g) / "unify" / "base"));
}

// A guest kept in a disk image exports the image's files (mounted read-only in a helper's mount
// namespace); the import is a guest with a plain root.
TEST(Ops, DiskImageGuestExportsTheImagesFiles) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  make_hard_cases(env.vdir(g));
  env.write_config(g, "dlimits/method", "image\n");
  env.write_config(g, "dlimits/0/directory", env.vdir(g).string() + "\n");
  env.write_config(g, "dlimits/0/space_total", "65536\n");
  env.write_config(g, "dlimits/0/inodes_total", "-1\n");
  env.write_config(g, "dlimits/0/reserved", "0\n");
  Result r = env.run({g, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  ASSERT_EQ(env.run({g, "stop", "--timeout", "2"}).rc, 0);
  ASSERT_TRUE(fs::is_empty(env.vdir(g)));  // its files are in the image

  fs::path archive = env.vdir_root().parent_path() / "image.tar.zst";
  r = env.run({g, "export", archive.string()});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_TRUE(fs::is_empty(env.vdir(g)));
  std::string copy = env.unique_name("i");
  r = env.run({copy, "import", archive.string()});
  ASSERT_EQ(r.rc, 0) << r;
  expect_hard_cases(env.vdir(copy));
  EXPECT_TRUE(fs::exists(env.vdir(copy) / "bin" / "busybox"));
}

}  // namespace
