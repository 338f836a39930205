#include "runtime/seccomp_policy.hpp"

#include <linux/fs.h>
#include <netinet/in.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "sys/error.hpp"
#include "sys/fd.hpp"

namespace vs::runtime {

namespace {

// System calls refused outright. Most also need a capability the guest does not have; the filter
// is the second wall, and it also covers what capabilities do not (user namespaces, keyrings).
constexpr const char* kDenied[] = {
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "init_module",
    "ioperm",
    "iopl",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "request_key",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "_sysctl",
    "sysfs",
    "umount",
    "umount2",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
};

class SeccompCtx {
 public:
  explicit SeccompCtx(uint32_t def) : ctx_(seccomp_init(def)) {
    if (ctx_ == nullptr) throw Error("seccomp_init: failed");
  }
  SeccompCtx(const SeccompCtx&) = delete;
  SeccompCtx& operator=(const SeccompCtx&) = delete;
  ~SeccompCtx() { seccomp_release(ctx_); }
  [[nodiscard]] scmp_filter_ctx get() const { return ctx_; }

 private:
  scmp_filter_ctx ctx_;
};

void check(int rc, const std::string& what) {
  if (rc < 0) throw_errno("seccomp", what, -rc);
}

// raw_icmp on mainline: CAP_NET_RAW in the guest, and these rules that leave it raw ICMP and
// ICMPv6 sockets only (what ping needs), as the VServer kernel's VXC_RAW_ICMP did.
void add_raw_icmp_rules(scmp_filter_ctx ctx) {
  const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
  constexpr uint64_t kInt = 0xffffffffU;  // the kernel reads these arguments as int
  constexpr uint64_t kType = 0xf;         // SOCK_TYPE_MASK: SOCK_NONBLOCK and SOCK_CLOEXEC aside
  // Packet sockets of every type, and the old (AF_INET, SOCK_PACKET) spelling of one.
  check(seccomp_rule_add(ctx, deny, SCMP_SYS(socket), 1,
                         SCMP_A0(SCMP_CMP_MASKED_EQ, kInt, AF_PACKET)),
        "deny packet sockets");
  check(seccomp_rule_add(ctx, deny, SCMP_SYS(socket), 1,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, kType, SOCK_PACKET)),
        "deny SOCK_PACKET");
  // Raw IPv4 and IPv6 sockets of any protocol but ICMP and ICMPv6 (IPPROTO_RAW among them, which
  // writes whole IP headers).
  check(seccomp_rule_add(ctx, deny, SCMP_SYS(socket), 3, SCMP_A0(SCMP_CMP_MASKED_EQ, kInt, AF_INET),
                         SCMP_A1(SCMP_CMP_MASKED_EQ, kType, SOCK_RAW),
                         SCMP_A2(SCMP_CMP_NE, IPPROTO_ICMP)),
        "deny raw IPv4 sockets but ICMP");
  check(seccomp_rule_add(
            ctx, deny, SCMP_SYS(socket), 3, SCMP_A0(SCMP_CMP_MASKED_EQ, kInt, AF_INET6),
            SCMP_A1(SCMP_CMP_MASKED_EQ, kType, SOCK_RAW), SCMP_A2(SCMP_CMP_NE, IPPROTO_ICMPV6)),
        "deny raw IPv6 sockets but ICMPv6");
  // Raw sockets of the other families, but Unix sockets (SOCK_RAW is a datagram there) and
  // netlink (iproute2's sockets are SOCK_RAW), which need no capability. The kernel knows fewer
  // than 64 families and refuses the others itself. The families 0-63 less AF_UNIX (1), AF_INET
  // (2), AF_INET6 (10), AF_NETLINK (16) and AF_PACKET (17, above) as aligned blocks, one rule each
  // (one rule per family made the program five times as long, and every start and exec loads it).
  static_assert(AF_UNIX == 1 && AF_INET == 2 && AF_INET6 == 10 && AF_NETLINK == 16 &&
                AF_PACKET == 17);
  struct Block {
    uint32_t first;
    uint32_t size;  // a power of two; first is a multiple of it
  };
  constexpr Block blocks[] = {{0, 1},  {3, 1},  {4, 4},  {8, 2},  {11, 1},
                              {12, 4}, {18, 2}, {20, 4}, {24, 8}, {32, 32}};
  for (const Block& b : blocks) {
    const uint64_t mask = kInt & ~static_cast<uint64_t>(b.size - 1);
    check(
        seccomp_rule_add(ctx, deny, SCMP_SYS(socket), 2, SCMP_A0(SCMP_CMP_MASKED_EQ, mask, b.first),
                         SCMP_A1(SCMP_CMP_MASKED_EQ, kType, SOCK_RAW)),
        "deny raw sockets of families " + std::to_string(b.first) + "-" +
            std::to_string(b.first + b.size - 1));
  }
  // An ICMP socket that writes its own IP header carries any protocol; a transparent one sends
  // from any address.
  const std::pair<int, int> options[] = {{SOL_IP, IP_HDRINCL},
                                         {SOL_IPV6, IPV6_HDRINCL},
                                         {SOL_IP, IP_TRANSPARENT},
                                         {SOL_IPV6, IPV6_TRANSPARENT}};
  for (auto [level, name] : options) {
    check(seccomp_rule_add(ctx, deny, SCMP_SYS(setsockopt), 2,
                           SCMP_A1(SCMP_CMP_MASKED_EQ, kInt, static_cast<uint64_t>(level)),
                           SCMP_A2(SCMP_CMP_MASKED_EQ, kInt, static_cast<uint64_t>(name))),
          "deny setsockopt " + std::to_string(level) + "/" + std::to_string(name));
  }
  // Ways to socket() and setsockopt() that the rules above cannot see: io_uring's socket and
  // setsockopt operations, and i386's socketcall multiplexer (its arguments are in memory).
  for (const char* name : {"io_uring_setup", "io_uring_enter", "io_uring_register", "socketcall"}) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;
    int rc = seccomp_rule_add(ctx, deny, nr, 0);
    if (rc < 0 && rc != -EDOM && rc != -EFAULT) check(rc, std::string("deny ") + name);
  }
}

}  // namespace

std::vector<sock_filter> compile_guest_filter(const GuestFilter& filter, int optimize) {
  bool allow_tiocsti = filter.allow_tiocsti;
  SeccompCtx ctx(SCMP_ACT_ALLOW);
  // Guests keep setuid programs (su, passwd, ping): no no_new_privs. Loading the filter without it
  // needs CAP_SYS_ADMIN, which the loading process still has at that point.
  check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0), "disable no_new_privs");
  check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, optimize), "set optimization");
  uint32_t native = seccomp_arch_native();
  // 32-bit and x32 binaries in a guest get the same rules.
  if (native == SCMP_ARCH_X86_64) {
    for (uint32_t arch : {SCMP_ARCH_X86, SCMP_ARCH_X32}) {
      int rc = seccomp_arch_add(ctx.get(), arch);
      if (rc < 0 && rc != -EEXIST) check(rc, "add architecture");
    }
  }
  const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
  for (const char* name : kDenied) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not a system call on this architecture
    int rc = seccomp_rule_add(ctx.get(), deny, nr, 0);
    // A call that exists on some of the architectures only is reported as unsupported on others.
    if (rc < 0 && rc != -EDOM && rc != -EFAULT) check(rc, std::string("deny ") + name);
  }
  // New user namespaces would hand the guest a full set of capabilities over its own mounts.
  check(seccomp_rule_add(ctx.get(), deny, SCMP_SYS(unshare), 1,
                         SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER)),
        "deny unshare(CLONE_NEWUSER)");
  check(seccomp_rule_add(ctx.get(), deny, SCMP_SYS(clone), 1,
                         SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER)),
        "deny clone(CLONE_NEWUSER)");
  // clone3 passes its flags in memory, out of the filter's reach: report it missing so that the C
  // library falls back to clone, which the rule above covers.
  check(seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3");
  // Faking terminal input into another session's terminal (util-vserver ccap "tiocsti").
  if (!allow_tiocsti) {
    check(seccomp_rule_add(ctx.get(), deny, SCMP_SYS(ioctl), 1,
                           SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffU, TIOCSTI)),
          "deny ioctl(TIOCSTI)");
  }

  // The project id of a file keeps the guest's disk limit (docs/storage.md): root in the guest
  // owns its files and could move them to another project with this ioctl.
  check(seccomp_rule_add(ctx.get(), deny, SCMP_SYS(ioctl), 1,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffU, FS_IOC_FSSETXATTR)),
        "deny ioctl(FS_IOC_FSSETXATTR)");
  if (filter.raw_icmp_only) add_raw_icmp_rules(ctx.get());

  // libseccomp 2.5 writes the program to a file descriptor only.
  UniqueFd mem(::memfd_create("vserver-seccomp", MFD_CLOEXEC));
  if (!mem) throw_errno("memfd_create", "seccomp program");
  check(seccomp_export_bpf(ctx.get(), mem.get()), "export program");
  off_t size = ::lseek(mem.get(), 0, SEEK_END);
  if (size < 0) throw_errno("seek", "seccomp program");
  std::vector<sock_filter> prog(static_cast<std::size_t>(size) / sizeof(sock_filter));
  std::size_t bytes = prog.size() * sizeof(sock_filter);
  if (prog.empty() || bytes != static_cast<std::size_t>(size) ||
      ::pread(mem.get(), prog.data(), bytes, 0) != static_cast<ssize_t>(bytes)) {
    throw Error("seccomp export program: " + std::to_string(size) +
                " bytes are not a BPF program, or could not be read back");
  }
  return prog;
}

}  // namespace vs::runtime
