// Integration test harness: runs the real vserver binary as root, on temporary roots of its own,
// against small guests built from Debian's busybox-static.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "../wait_until.hpp"
#include "sys/fd.hpp"

namespace it {

using testutil::wait_until;

namespace fs = std::filesystem;

struct Result {
  int rc = -1;
  std::string out;
  std::string err;
};

std::ostream& operator<<(std::ostream& os, const Result& r);

// Temporary configuration, vdir, run and log roots; every guest built in them is stopped and
// removed on destruction.
class Env {
 public:
  Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  ~Env();

  // Runs PROG (vserver, vserver-stat, vps, vkill) with these roots in its environment.
  Result run_as(const std::string& prog, const std::vector<std::string>& args,
                const std::string& input = "", int timeout_s = 120) const;
  // Runs any program (path) the same way.
  Result run_program(const std::string& path, const std::vector<std::string>& args,
                     const std::string& input = "", int timeout_s = 120) const;
  // From now on, every command runs in the network namespace /run/netns/NAME (made by the test
  // with "ip netns add"): the guests' host side lives there, never in the real host's.
  void use_netns(const std::string& name) { netns_ = name; }
  // From now on, every command also gets VAR=VALUE in its environment, instead of an inherited
  // VAR.
  void add_env(const std::string& entry) { extra_env_.push_back(entry); }
  [[nodiscard]] const std::vector<std::string>& extra_env() const { return extra_env_; }
  Result run(const std::vector<std::string>& args, const std::string& input = "",
             int timeout_s = 120) const {
    return run_as("vserver", args, input, timeout_s);
  }
  // Runs vserver on a new pseudo-terminal, feeding input; returns everything the terminal showed.
  Result run_on_pty(const std::vector<std::string>& args, const std::string& input,
                    int timeout_s = 30) const;

  // A guest name unique on this host (cgroups are host-wide).
  std::string unique_name(const std::string& base = "g");
  // Builds a busybox guest (with the probe in /bin/probe); returns its name. Fails the test on
  // error.
  std::string busybox_guest(const std::vector<std::string>& build_args = {});
  // Writes a configuration file of a guest (creating directories).
  void write_config(const std::string& name, const std::string& rel, const std::string& content);

  [[nodiscard]] fs::path config_root() const { return root_ / "etc"; }
  [[nodiscard]] fs::path vdir_root() const { return root_ / "vdir"; }
  [[nodiscard]] fs::path run_root() const { return root_ / "run"; }
  [[nodiscard]] fs::path log_root() const { return root_ / "log"; }
  [[nodiscard]] fs::path cfgdir(const std::string& n) const { return config_root() / n; }
  [[nodiscard]] fs::path vdir(const std::string& n) const { return vdir_root() / n; }

 private:
  fs::path root_;
  fs::path bin_;  // links named after the multi-call programs
  std::string netns_;
  std::vector<std::string> extra_env_;
  std::vector<std::string> guests_;
};

// Where the guest's cgroup would be (v2), and its v1 directories on a hybrid host.
fs::path guest_cgroup(const std::string& name);
std::vector<fs::path> guest_v1_cgroups(const std::string& name);
// Host pids whose cgroup is the guest's.
std::vector<int> guest_processes(const std::string& name);
// Asserts that nothing of the guest is left on the host: no cgroup, no state record, no mount
// below its root, no process.
void expect_nothing_left(const Env& env, const std::string& name);
// Sets an extended attribute NAME (without namespace) = value on path for a round-trip test, in
// the user namespace, or in trusted where the filesystem has no user xattrs (tmpfs before Linux
// 6.6, as in the cgroup v2 VM); returns the full name. Fails the test when neither works.
std::string set_test_xattr(const fs::path& path, const std::string& name, const std::string& value);
// True if running as root (integration tests need it).
bool is_root();

// A process the test did not start (a guest's supervisor), held by a pidfd: no pid reuse can
// make another process pass for it. Fails the test if there is no such process.
class Process {
 public:
  explicit Process(int pid);
  // Sends sig (pidfd_send_signal); true if it was sent.
  bool signal(int sig) const;
  // Waits up to timeout_ms for it to end (a zombie or gone); true if it did.
  [[nodiscard]] bool wait_exited(int timeout_ms = 15000) const;
  // Waits up to timeout_ms for it to end and be reaped by its parent (so that kill(pid, 0) fails);
  // true if it was.
  [[nodiscard]] bool wait_reaped(int timeout_ms = 15000) const;

 private:
  vs::UniqueFd fd_;
};

}  // namespace it

#define REQUIRE_ROOT()                                                 \
  do {                                                                 \
    if (!it::is_root()) GTEST_SKIP() << "integration tests need root"; \
  } while (0)
