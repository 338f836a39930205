// util-vserver's scriptlets (scripts/ of the guest and of .defaults): each flavour at its point of
// the start and the stop, with util-vserver's arguments, environment and working directory; .d
// directories, defaults, sourced scripts; a failing one before the guest runs aborts the start
// and leaves nothing. Busybox guests.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness.hpp"
#include "sys/file.hpp"

namespace {

using it::Env;
using it::Result;
namespace fs = std::filesystem;

// Where the scripts of a test write what they saw, one line each.
fs::path log_file(const Env& env) {
  return env.vdir_root().parent_path() / "scripts.log";
}

std::string read_log(const Env& env) {
  return vs::read_file_if_exists(log_file(env)).value_or("");
}

void write_script(const fs::path& p, const std::string& body, bool executable = true) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << body;
  ::chmod(p.c_str(), executable ? 0755 : 0644);
}

// A script that appends "LABEL ARGS..." to the log.
std::string marker(const Env& env, const std::string& label) {
  return "#!/bin/sh\necho \"" + label + " $*\" >> " + log_file(env).string() + "\n";
}

TEST(Scripts, EachFlavourRunsAtItsPointWithItsArgumentsEnvironmentAndDirectory) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest({"--context", "41051"});
  fs::path cg = it::guest_cgroup(g);
  fs::path record = env.run_root() / g / "state";
  // What each script sees: its name, its arguments, the variables, the working directory, and
  // whether the guest's cgroup and state record exist (the point of the start or stop it runs at).
  std::string body =
      "#!/bin/sh\n"
      "c=no; [ -d " +
      cg.string() +
      " ] && c=yes\n"
      "r=no; [ -e " +
      record.string() +
      " ] && r=yes\n"
      "echo \"$(basename \"$0\") $1 $2 ctx=$S_CONTEXT name=$VSERVER_NAME "
      "dir=$VSERVER_DIR vdir=$VDIR cwd=$(pwd -P) cgroup=$c record=$r\" >> " +
      log_file(env).string() + "\n";
  for (const char* f : {"initialize", "prepre-start", "pre-start", "post-start", "pre-stop",
                        "post-stop", "postpost-stop"}) {
    write_script(env.cfgdir(g) / "scripts" / f, body);
  }
  Result r = env.run({g, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  r = env.run({g, "stop"});
  ASSERT_EQ(r.rc, 0) << r;
  it::expect_nothing_left(env, g);

  std::string cfg = fs::canonical(env.cfgdir(g)).string();
  std::string vdir = fs::canonical(env.vdir(g)).string();
  auto line = [&](const std::string& f, const std::string& cwd, const char* c, const char* rec) {
    return f + " " + f + " " + g + " ctx=41051 name=" + g + " dir=" + env.cfgdir(g).string() +
           " vdir=" + env.vdir(g).string() + " cwd=" + cwd + " cgroup=" + c + " record=" + rec +
           "\n";
  };
  std::string expected =
      line("initialize", cfg, "no", "no") + line("prepre-start", cfg, "no", "no") +
      line("pre-start", vdir, "yes", "no") + line("post-start", vdir, "yes", "yes") +
      line("pre-stop", vdir, "yes", "yes") + line("post-stop", vdir, "no", "no") +
      line("postpost-stop", vdir, "no", "no");
  EXPECT_EQ(read_log(env), expected);
}

TEST(Scripts, AFailingScriptBeforeTheGuestRunsAbortsTheStartAndLeavesNothing) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  write_script(env.cfgdir(g) / "scripts/post-stop", marker(env, "post-stop"));
  for (const char* f : {"initialize", "prepre-start", "pre-start"}) {
    SCOPED_TRACE(f);
    fs::path script = env.cfgdir(g) / "scripts" / f;
    write_script(script, "#!/bin/sh\necho \"$1 says no\"\necho \"$1 on stderr\" >&2\nexit 3\n");
    Result r = env.run({g, "start"});
    EXPECT_NE(r.rc, 0) << r;
    // The script's output reaches the caller's terminal, and the error names the script.
    EXPECT_NE(r.out.find(std::string(f) + " says no"), std::string::npos) << r;
    EXPECT_NE(r.err.find(std::string(f) + " on stderr"), std::string::npos) << r;
    EXPECT_NE(r.err.find(std::string(f) + " script " + script.string() + " failed (exit status 3)"),
              std::string::npos)
        << r;
    EXPECT_EQ(env.run({g, "status"}).rc, 3);
    it::expect_nothing_left(env, g);
    fs::remove(script);
  }
  // The guest never ran: no post-stop.
  EXPECT_EQ(read_log(env), "");
  // Without the failing scripts it starts.
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  ASSERT_EQ(env.run({g, "stop"}).rc, 0);
  EXPECT_EQ(read_log(env), "post-stop post-stop " + g + "\n");
}

TEST(Scripts, LaterFlavoursThatFailAreReportedAndTheGuestGoesOn) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  for (const char* f : {"post-start", "pre-stop", "post-stop"}) {
    write_script(env.cfgdir(g) / "scripts" / f, "#!/bin/sh\nexit 4\n");
  }
  write_script(env.cfgdir(g) / "scripts/postpost-stop", marker(env, "postpost-stop"));
  Result r = env.run({g, "start"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.err.find("warning: post-start script"), std::string::npos) << r;
  EXPECT_EQ(env.run({g, "running"}).rc, 0);
  r = env.run({g, "stop"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.err.find("warning: pre-stop script"), std::string::npos) << r;
  it::expect_nothing_left(env, g);
  // The supervisor ran the stop scripts: what they said is in the guest's log.
  std::string log = vs::read_file_if_exists(env.log_root() / (g + ".log")).value_or("");
  EXPECT_NE(log.find("warning: post-stop script"), std::string::npos) << log;
  EXPECT_EQ(read_log(env), "postpost-stop postpost-stop " + g + "\n");
}

TEST(Scripts, DirectoriesDefaultsAndSourcedScriptsRunInUtilVserversOrder) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  fs::path defaults = env.config_root() / ".defaults/scripts";
  write_script(defaults / "post-start", marker(env, "default"));
  write_script(defaults / "post-start.d/50-default", marker(env, "default.d"));
  // No script of the guest's own: the defaults run.
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  ASSERT_EQ(env.run({g, "stop"}).rc, 0);
  EXPECT_EQ(read_log(env), "default post-start " + g + "\ndefault.d post-start " + g + "\n");
  fs::remove(log_file(env));

  // The guest's own: scripts/FLAVOUR, then FLAVOUR.d/* in name order (not hidden files, not
  // directories); a file without the execute bit is sourced, with FLAVOUR NAME as $1 $2. The
  // defaults are skipped.
  fs::path own = env.cfgdir(g) / "scripts";
  write_script(own / "post-start", "echo \"sourced $1 $2\" >> " + log_file(env).string() + "\n",
               false);
  write_script(own / "post-start.d/20-b", marker(env, "20-b"));
  write_script(own / "post-start.d/10-a", marker(env, "10-a"));
  write_script(own / "post-start.d/.hidden", marker(env, "hidden"));
  fs::create_directories(own / "post-start.d/30-dir");
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  ASSERT_EQ(env.run({g, "stop"}).rc, 0);
  EXPECT_EQ(read_log(env),
            "sourced post-start " + g + "\n10-a post-start " + g + "\n20-b post-start " + g + "\n");
  fs::remove(log_file(env));

  // A sourced script that sets DONT_SKIP_DEFAULTS lets the defaults run after the guest's.
  write_script(own / "post-start",
               "DONT_SKIP_DEFAULTS=1\necho \"sourced $1 $2\" >> " + log_file(env).string() + "\n",
               false);
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  ASSERT_EQ(env.run({g, "stop"}).rc, 0);
  EXPECT_EQ(read_log(env), "sourced post-start " + g + "\n10-a post-start " + g +
                               "\n20-b post-start " + g + "\ndefault post-start " + g +
                               "\ndefault.d post-start " + g + "\n");
}

TEST(Scripts, AGuestThatEndsByItselfRunsItsStopScriptsOnce) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  write_script(env.cfgdir(g) / "scripts/pre-stop", marker(env, "pre-stop"));
  write_script(env.cfgdir(g) / "scripts/post-stop", marker(env, "post-stop"));
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  env.run({g, "exec", "poweroff"});
  EXPECT_TRUE(it::wait_until([&] { return read_log(env) == "post-stop post-stop " + g + "\n"; }))
      << read_log(env);
  it::expect_nothing_left(env, g);
  // vserver stop afterwards finds nothing to end: the scripts do not run again.
  EXPECT_EQ(env.run({g, "stop"}).rc, 0);
  EXPECT_EQ(read_log(env), "post-stop post-stop " + g + "\n");
}

TEST(Scripts, CheckNotesFilesThatNeverRun) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  write_script(env.cfgdir(g) / "scripts/prestart", marker(env, "typo"));
  write_script(env.cfgdir(g) / "scripts/pre-start", marker(env, "fine"));
  Result r = env.run({g, "check"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("note: " + (env.cfgdir(g) / "scripts/prestart").string() +
                       ": never runs: not a scriptlet name"),
            std::string::npos)
      << r;
  EXPECT_EQ(r.out.find("scripts/pre-start:"), std::string::npos) << r;
}

}  // namespace
