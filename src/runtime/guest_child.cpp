// The guest's first process, from its clone to the execve of the guest's init: PID 1 of the new
// PID namespace, set up phase by phase.
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "procfs/procfs.hpp"
#include "runtime/internal.hpp"
#include "runtime/launch.hpp"
#include "runtime/launch_sync.hpp"
#include "runtime/network.hpp"
#include "runtime/rootfs.hpp"
#include "runtime/runtime.hpp"
#include "runtime/security.hpp"
#include "sys/debug.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/file.hpp"

namespace vs::runtime {

using namespace detail;

namespace {

// The first process of the styles that exec one (sysv runs rc under our init instead).
std::vector<std::string> style_command(config::InitStyle style) {
  switch (style) {
    case config::InitStyle::plain:
      return {"/sbin/init"};
    case config::InitStyle::systemd:
      // Debian's systemd-sysv links /sbin/init to systemd; without it, systemd itself.
      if (::access("/sbin/init", X_OK) == 0) return {"/sbin/init"};
      if (::access("/lib/systemd/systemd", X_OK) == 0) return {"/lib/systemd/systemd"};
      return {"/usr/lib/systemd/systemd"};
    case config::InitStyle::minit:
      return {"/sbin/minit-start"};
    case config::InitStyle::sysv:
    case config::InitStyle::command:
      return {};
  }
  return {};
}

// systemd wants a machine id. A tree shared by several guests (a template, a clone) has none
// (docs/debian.md): the guest gets its own here, kept across restarts. Runs inside the guest's
// root.
void ensure_machine_id() {
  struct stat st {};
  if (::lstat("/etc/machine-id", &st) == 0 && (!S_ISREG(st.st_mode) || st.st_size >= 32)) return;
  std::array<unsigned char, 16> raw{};
  UniqueFd r(::open("/dev/urandom", O_RDONLY | O_CLOEXEC));
  if (!r || ::read(r.get(), raw.data(), raw.size()) != static_cast<ssize_t>(raw.size())) {
    throw_errno("read", "/dev/urandom for a machine id");
  }
  raw[6] = static_cast<unsigned char>((raw[6] & 0x0f) | 0x40);  // a v4 UUID, as systemd makes
  raw[8] = static_cast<unsigned char>((raw[8] & 0x3f) | 0x80);
  std::string id;
  for (unsigned char c : raw) id += fmt::format("{:02x}", c);
  UniqueFd f(
      ::open("/etc/machine-id", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0444));
  if (!f) throw_errno("write", "/etc/machine-id of the guest");
  write_all(f.get(), id + "\n", "/etc/machine-id of the guest");
}

}  // namespace

namespace detail {

// Only send(2) and _exit(2) after the message is encoded into a buffer on the stack: nothing that
// allocates or takes a lock, whatever state the failure left the process in.
[[noreturn]] void child_fail(int sync_fd, Phase phase, int err, std::string_view text) noexcept {
  SyncBuffer buf;
  std::size_t size = encode(SyncKind::error, phase, err, text, buf);
  ssize_t n = ::send(sync_fd, buf.data(), size, MSG_NOSIGNAL);
  (void)n;
  ::_exit(127);
}

// Closes every descriptor from 3 up but those in keep (-1 entries are ignored).
void close_all_but(std::vector<int> keep, const std::string& what) {
  keep.push_back(2);
  std::sort(keep.begin(), keep.end());
  for (size_t i = 0; i < keep.size(); ++i) {
    if (keep[i] < 2) continue;
    unsigned first = static_cast<unsigned>(keep[i]) + 1;
    unsigned last = i + 1 < keep.size() ? static_cast<unsigned>(keep[i + 1]) - 1 : ~0U;
    if (first <= last && ::syscall(SYS_close_range, first, last, 0) != 0) {
      throw_errno("close_range", what);
    }
  }
}

namespace {

// Waits for the supervisor's go; ends the process quietly when the supervisor went away (it has
// nobody to report to then) or sent something else.
void wait_for_go(int sync_fd) {
  SyncBuffer buf;
  ssize_t n;
  do {
    n = ::recv(sync_fd, buf.data(), buf.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) ::_exit(127);
  try {
    if (decode({buf.data(), static_cast<std::size_t>(n)}).kind == SyncKind::go) return;
  } catch (const Error&) {
    // Not a message: as if the supervisor were gone.
  }
  ::_exit(127);
}

}  // namespace

// The guest's first process: PID 1 of the new PID namespace. Goes through the phases namespaces,
// rootfs, process, init, security and exec; a failure reaches the supervisor with its phase and
// errno (child_fail).
[[noreturn]] void guest_child(const config::GuestConfig& cfg, int sync_fd, const ChildSetup& cs) {
  Phase phase = Phase::namespaces;
  const std::string who = cfg.name + " (guest's first process)";
  auto step = [&](std::string_view what) {
    if (debug::enabled()) debug::step(who, fmt::format("{}: {}", to_string(phase), what));
  };
  try {
    if (cs.wait_go) wait_for_go(sync_fd);
    step(cs.wait_go ? "told to go on" : "going on");
    // ping without CAP_NET_RAW too (ICMP datagram sockets), in the guest's own network namespace.
    if (cfg.network != config::NetworkMode::host) allow_ping();
    if (cs.loopback) loopback_up();
    for (int fd : cs.cgroup_procs) {
      if (::write(fd, "0", 1) != 1) throw_errno("join cgroup", "of the guest");
    }
    // The cgroup namespace is rooted at the guest's cgroup, which we are in (in every hierarchy)
    // by now.
    if (::unshare(CLONE_NEWCGROUP) != 0) throw_errno("unshare", "cgroup namespace");
    std::string host = cfg.uts.nodename.value_or(cfg.name);
    if (::sethostname(host.data(), host.size()) != 0) throw_errno("set hostname", host);
    if (cfg.uts.domainname) {
      const std::string& d = *cfg.uts.domainname;
      if (::setdomainname(d.data(), d.size()) != 0) throw_errno("set domainname", d);
    }
    step("cgroup namespace, hostname");

    phase = Phase::rootfs;
    ::umask(0);
    setup_rootfs(
        cfg,
        [&](const std::string& root) {
          if (cs.procfs_fd >= 0) procfs::mount_views(cs.procfs_fd, root, cs.views);
        },
        cs.overlay);
    ::umask(022);
    step("root filesystem mounted, pivot_root done");

    phase = Phase::process;
    if (cfg.nice && ::setpriority(PRIO_PROCESS, 0, *cfg.nice) != 0) {
      throw_errno("set nice level", std::to_string(*cfg.nice));
    }
    // Per-process limits (rlimits/, ulimits/), inherited by every process of the guest; the
    // address-space ones just before execve.
    auto [early_limits, late_limits] = split_limits(cs.plan.rlimits);
    set_process_limits(0, early_limits);
    // Nothing of the host's but stdin, stdout, stderr and the sync socket (close-on-exec) reaches
    // the guest; --debug's descriptor (close-on-exec) until the last step.
    std::vector<int> keep_fds{sync_fd};
    if (debug::fd() > 2) keep_fds.push_back(debug::fd());
    close_all_but(keep_fds, "inherited descriptors");

    phase = Phase::init;
    std::vector<std::string> env = guest_environment(cfg);
    if (const char* term = std::getenv("TERM"); term != nullptr && ::isatty(0) == 1) {
      env.push_back(std::string("TERM=") + term);
    }
    // apps/init/cmd.start overrides the start command of every style (util-vserver).
    std::vector<std::string> argv = cfg.init.cmd_start;
    if (argv.empty()) argv = style_command(cfg.init.style);
    if (cfg.init.style == config::InitStyle::systemd) ensure_machine_id();
    std::string program;
    if (!argv.empty()) {
      program = find_program(argv[0], env);
      if (::access(program.c_str(), X_OK) != 0) {
        throw_errno("execute init", argv[0] + " in guest " + cfg.name);
      }
    }

    phase = Phase::security;
    install_seccomp(guest_filter(cfg));
    // systemd narrows the bounding set of its services (CapabilityBoundingSet=), which takes
    // CAP_SETPCAP; it only ever lowers what the guest has.
    std::uint64_t bcaps = guest_bounding_set(cfg);
    if (cfg.init.style == config::InitStyle::systemd) bcaps |= std::uint64_t{1} << CAP_SETPCAP;
    drop_capabilities(bcaps);
    step(cfg.init.style == config::InitStyle::sysv
             ? "seccomp and capabilities set; becoming the minimal init"
             : "seccomp and capabilities set; executing " + program);

    phase = Phase::exec;
    // The caller's descriptor must not stay open in a PID 1 that is this binary (sysv).
    if (debug::fd() > 2) ::close(debug::fd());
    debug::set_fd(-1);
    if (cfg.init.style == config::InitStyle::sysv) {
      minimal_init(cfg, env, argv, sync_fd, late_limits);
    }
    exec_program(program, argv, env, late_limits);
  } catch (const Error& e) {
    child_fail(sync_fd, phase, e.code(), e.what());
  } catch (const std::exception& e) {
    child_fail(sync_fd, phase, 0, e.what());
  }
  ::_exit(127);
}

}  // namespace detail

}  // namespace vs::runtime
