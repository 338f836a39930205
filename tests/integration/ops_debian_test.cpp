// Everyday operations on a real Debian guest: apt-get inside it (alone and with --all), and a
// clone whose SSH host keys are made anew by the guest's own ssh-keygen.
//
// It downloads and installs openssh-server from the host's mirror: 543 s on a loaded 2-core
// development host, far beyond what CI can spend, so it runs only with VSERVER_TEST_APT=1
// (VSERVER_TEST_APT=1 build/integration_tests --gtest_filter='OpsDebian.*'). The same paths
// run in CI with busybox guests (ops_test.cpp: --all apt-get, a clone's keys remade by the
// guest's own ssh-keygen).
#include <cstdlib>
#include <fstream>

#include "debian.hpp"
#include "harness.hpp"
#include "sys/file.hpp"

namespace {

using it::Env;
using it::Result;
namespace fs = std::filesystem;

TEST(OpsDebian, AptGetInsideAndCloneRegeneratesSshHostKeys) {
  REQUIRE_ROOT();
  if (const char* on = std::getenv("VSERVER_TEST_APT"); on == nullptr || std::string(on) != "1") {
    GTEST_SKIP() << "installs packages from the mirror; set VSERVER_TEST_APT=1 to run it";
  }
  REQUIRE_DEBIAN();
  Env env;
  std::string g = env.unique_name("deb");
  Result r = env.run({g, "build", "-m", "template", "--", "-t", it::debian_tarball().string()});
  ASSERT_EQ(r.rc, 0) << r;
  // apt reaches the mirror through the host's network; the guest has no address of its own.
  env.write_config(g, "network/mode", "host\n");
  // No daemon of a package starts while it is installed (sshd would want the host's port 22).
  std::ofstream(env.vdir(g) / "usr/sbin/policy-rc.d") << "#!/bin/sh\nexit 101\n";
  fs::permissions(env.vdir(g) / "usr/sbin/policy-rc.d", fs::perms(0755));
  ASSERT_EQ(env.run({g, "start"}).rc, 0);

  r = env.run({"--all", "apt-get", "--", "update"}, "", 300);
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find(g + ": Reading package lists..."), std::string::npos) << r;
  r = env.run({g, "apt-get", "install", "-y", "--no-install-recommends", "openssh-server"}, "",
              300);
  ASSERT_EQ(r.rc, 0) << r;
  fs::path key = env.vdir(g) / "etc/ssh/ssh_host_ed25519_key.pub";
  ASSERT_TRUE(fs::exists(key));
  std::string source_key = vs::read_file(key);
  ASSERT_EQ(env.run({g, "stop", "--timeout", "10"}).rc, 0);

  std::string c = env.unique_name("debc");
  r = env.run({c, "build", "-m", "clone", "--hostname", "debclone", "--", "--source", g});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("Made new SSH host keys with the guest's /usr/bin/ssh-keygen -A"),
            std::string::npos)
      << r;
  fs::path clone_key = env.vdir(c) / "etc/ssh/ssh_host_ed25519_key.pub";
  ASSERT_TRUE(fs::exists(clone_key));
  EXPECT_NE(vs::read_file(clone_key), source_key);
  EXPECT_EQ(vs::read_file(key), source_key);  // the source keeps its own
  // The private key is the guest's root's alone, as ssh-keygen makes it.
  EXPECT_EQ(fs::status(env.vdir(c) / "etc/ssh/ssh_host_ed25519_key").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  it::expect_nothing_left(env, c);
}

}  // namespace
