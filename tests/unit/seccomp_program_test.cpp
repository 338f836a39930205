// The guests' seccomp program: the one compiled at build time is the policy compiled now, the
// binary-tree layout decides every system call as the plain rule list does, and a loaded program
// refuses what the policy refuses. Programs are run in a small classic-BPF interpreter.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/capabilities.hpp"
#include "config/model.hpp"
#include "runtime/seccomp_policy.hpp"
#include "runtime/security.hpp"

namespace {

using vs::runtime::compile_guest_filter;
using vs::runtime::guest_seccomp_program;

// Runs a classic BPF program on one system call, as the kernel's seccomp does. Throws for an
// instruction it does not know, a jump out of the program or a load outside seccomp_data.
std::uint32_t run_bpf(std::span<const sock_filter> prog, const seccomp_data& data) {
  std::array<std::uint32_t, BPF_MEMWORDS> mem{};
  std::uint32_t a = 0;
  std::uint32_t x = 0;
  std::size_t pc = 0;
  auto load = [&](std::uint32_t off) {
    if (off % 4 != 0 || off + 4 > sizeof data) throw std::runtime_error("load outside data");
    std::uint32_t w = 0;
    std::memcpy(&w, reinterpret_cast<const char*>(&data) + off, 4);
    return w;
  };
  auto alu = [](std::uint16_t op, std::uint32_t lhs, std::uint32_t rhs) -> std::uint32_t {
    switch (op) {
      case BPF_ADD:
        return lhs + rhs;
      case BPF_SUB:
        return lhs - rhs;
      case BPF_MUL:
        return lhs * rhs;
      case BPF_DIV:
        if (rhs == 0) throw std::runtime_error("division by zero");
        return lhs / rhs;
      case BPF_AND:
        return lhs & rhs;
      case BPF_OR:
        return lhs | rhs;
      case BPF_XOR:
        return lhs ^ rhs;
      case BPF_LSH:
        return rhs < 32 ? lhs << rhs : 0;
      case BPF_RSH:
        return rhs < 32 ? lhs >> rhs : 0;
      default:
        throw std::runtime_error("unknown ALU operation " + std::to_string(op));
    }
  };
  for (int steps = 0; steps < 4096; ++steps) {
    if (pc >= prog.size()) throw std::runtime_error("ran past the end of the program");
    const sock_filter& f = prog[pc++];
    std::uint16_t cls = BPF_CLASS(f.code);
    switch (cls) {
      case BPF_LD:
        if (f.code == (BPF_LD | BPF_W | BPF_ABS)) {
          a = load(f.k);
        } else if (f.code == (BPF_LD | BPF_IMM)) {
          a = f.k;
        } else if (f.code == (BPF_LD | BPF_MEM) && f.k < BPF_MEMWORDS) {
          a = mem[f.k];
        } else {
          throw std::runtime_error("unknown load " + std::to_string(f.code));
        }
        break;
      case BPF_LDX:
        if (f.code == (BPF_LDX | BPF_IMM)) {
          x = f.k;
        } else if (f.code == (BPF_LDX | BPF_MEM) && f.k < BPF_MEMWORDS) {
          x = mem[f.k];
        } else {
          throw std::runtime_error("unknown load " + std::to_string(f.code));
        }
        break;
      case BPF_ST:
      case BPF_STX:
        if (f.k >= BPF_MEMWORDS) throw std::runtime_error("store outside scratch memory");
        mem[f.k] = cls == BPF_ST ? a : x;
        break;
      case BPF_ALU:
        if (BPF_OP(f.code) == BPF_NEG) {
          a = 0U - a;
        } else {
          a = alu(BPF_OP(f.code), a, BPF_SRC(f.code) == BPF_X ? x : f.k);
        }
        break;
      case BPF_JMP: {
        if (BPF_OP(f.code) == BPF_JA) {
          pc += f.k;
          break;
        }
        std::uint32_t rhs = BPF_SRC(f.code) == BPF_X ? x : f.k;
        bool taken = false;
        switch (BPF_OP(f.code)) {
          case BPF_JEQ:
            taken = a == rhs;
            break;
          case BPF_JGT:
            taken = a > rhs;
            break;
          case BPF_JGE:
            taken = a >= rhs;
            break;
          case BPF_JSET:
            taken = (a & rhs) != 0;
            break;
          default:
            throw std::runtime_error("unknown jump " + std::to_string(f.code));
        }
        pc += taken ? f.jt : f.jf;
        break;
      }
      case BPF_RET:
        if (BPF_RVAL(f.code) == BPF_K) return f.k;
        if (BPF_RVAL(f.code) == BPF_A) return a;
        throw std::runtime_error("unknown return " + std::to_string(f.code));
      case BPF_MISC:
        if (BPF_MISCOP(f.code) == BPF_TAX) {
          x = a;
        } else {
          a = x;
        }
        break;
      default:
        throw std::runtime_error("unknown instruction " + std::to_string(f.code));
    }
  }
  throw std::runtime_error("the program does not end");
}

seccomp_data call(std::uint32_t arch, int nr, std::uint64_t a0 = 0, std::uint64_t a1 = 0,
                  std::uint64_t a2 = 0) {
  seccomp_data d{};
  d.nr = nr;
  d.arch = arch;
  d.instruction_pointer = 0x7f0000001000;
  d.args[0] = a0;
  d.args[1] = a1;
  d.args[2] = a2;
  return d;
}

bool same(std::span<const sock_filter> a, std::span<const sock_filter> b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].code != b[i].code || a[i].jt != b[i].jt || a[i].jf != b[i].jf || a[i].k != b[i].k) {
      return false;
    }
  }
  return true;
}

constexpr std::uint32_t kAllow = SECCOMP_RET_ALLOW;
constexpr std::uint32_t kEperm = SECCOMP_RET_ERRNO | EPERM;
constexpr std::uint32_t kEnosys = SECCOMP_RET_ERRNO | ENOSYS;

using vs::runtime::GuestFilter;
constexpr GuestFilter kPlain{false, false};
constexpr GuestFilter kTiocsti{true, false};
constexpr GuestFilter kIcmp{false, true};
constexpr GuestFilter kTiocstiIcmp{true, true};

TEST(SeccompProgram, BuiltProgramIsThePolicyCompiledNow) {
  for (GuestFilter f : {kPlain, kTiocsti, kIcmp, kTiocstiIcmp}) {
    EXPECT_TRUE(same(guest_seccomp_program(f), compile_guest_filter(f)))
        << f.allow_tiocsti << f.raw_icmp_only;
  }
  EXPECT_FALSE(same(guest_seccomp_program(kPlain), guest_seccomp_program(kTiocsti)));
  EXPECT_FALSE(same(guest_seccomp_program(kPlain), guest_seccomp_program(kIcmp)));
  EXPECT_FALSE(same(guest_seccomp_program(kIcmp), guest_seccomp_program(kTiocstiIcmp)));
}

// Which filter a guest gets: raw_icmp (on by default) restricts raw sockets unless bcapabilities
// grants CAP_NET_RAW outright, and puts CAP_NET_RAW in the bounding set.
TEST(SeccompProgram, GuestsGetTheFilterOfTheirContextCapabilities) {
  vs::config::GuestConfig cfg;
  cfg.bcapabilities = vs::config::default_bounding_set();
  const std::uint64_t net_raw = std::uint64_t{1} << CAP_NET_RAW;
  ASSERT_EQ(cfg.bcapabilities & net_raw, 0U);
  EXPECT_EQ(vs::runtime::filter_index(vs::runtime::guest_filter(cfg)),
            vs::runtime::filter_index(kIcmp));
  EXPECT_EQ(vs::runtime::guest_bounding_set(cfg), cfg.bcapabilities | net_raw);
  cfg.ccapabilities = {"tiocsti"};
  EXPECT_EQ(vs::runtime::filter_index(vs::runtime::guest_filter(cfg)),
            vs::runtime::filter_index(kTiocstiIcmp));
  cfg.ccapabilities_cleared = {"raw_icmp"};
  EXPECT_EQ(vs::runtime::filter_index(vs::runtime::guest_filter(cfg)),
            vs::runtime::filter_index(kTiocsti));
  EXPECT_EQ(vs::runtime::guest_bounding_set(cfg), cfg.bcapabilities);
  cfg.ccapabilities = {};
  cfg.ccapabilities_cleared = {};
  cfg.bcapabilities |= net_raw;
  EXPECT_EQ(vs::runtime::filter_index(vs::runtime::guest_filter(cfg)),
            vs::runtime::filter_index(kPlain));
}

TEST(SeccompProgram, InterpreterRefusesWhatItDoesNotKnow) {
  // A program the interpreter cannot run must fail the tests below, not pass them.
  std::vector<sock_filter> bad = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 200)};
  EXPECT_THROW(run_bpf(bad, call(0, 0)), std::runtime_error);
  bad = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0)};
  EXPECT_THROW(run_bpf(bad, call(0, 0)), std::runtime_error);
  bad = {BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0), BPF_STMT(BPF_RET | BPF_K, 0)};
  EXPECT_THROW(run_bpf(bad, call(0, 0)), std::runtime_error);
}

#if defined(__x86_64__)

// What the three x86 ABIs are refused: the system call numbers of x86_64 (also used by x32, with
// bit 30 set) and of i386.
constexpr int kX32 = 0x40000000;
constexpr int kI386Mount = 21;
constexpr int kI386Getppid = 64;
constexpr int kI386Unshare = 310;
constexpr int kI386Ioctl = 54;

TEST(SeccompProgram, RefusesWhatThePolicyRefuses) {
  auto deny = guest_seccomp_program(kPlain);
  auto allow = guest_seccomp_program(kTiocsti);
  const std::uint32_t x64 = AUDIT_ARCH_X86_64;
  const std::uint32_t i386 = AUDIT_ARCH_I386;
  for (auto prog : {deny, allow}) {
    EXPECT_EQ(run_bpf(prog, call(x64, __NR_getppid)), kAllow);
    EXPECT_EQ(run_bpf(prog, call(x64, __NR_openat)), kAllow);
    EXPECT_EQ(run_bpf(prog, call(x64, __NR_mount)), kEperm);
    EXPECT_EQ(run_bpf(prog, call(x64, __NR_init_module)), kEperm);
    EXPECT_EQ(run_bpf(prog, call(x64, __NR_kexec_load)), kEperm);
    EXPECT_EQ(run_bpf(prog, call(x64, __NR_bpf)), kEperm);
    EXPECT_EQ(run_bpf(prog, call(x64, __NR_keyctl)), kEperm);
    EXPECT_EQ(run_bpf(prog, call(x64, __NR_open_by_handle_at)), kEperm);
    EXPECT_EQ(run_bpf(prog, call(x64, __NR_clone3)), kEnosys);
    EXPECT_EQ(run_bpf(prog, call(x64, __NR_unshare, CLONE_NEWUSER | CLONE_NEWNS)), kEperm);
    EXPECT_EQ(run_bpf(prog, call(x64, __NR_unshare, CLONE_NEWNET)), kAllow);
    EXPECT_EQ(run_bpf(prog, call(x64, __NR_clone, CLONE_NEWUSER | SIGCHLD)), kEperm);
    EXPECT_EQ(run_bpf(prog, call(x64, __NR_clone, SIGCHLD)), kAllow);
    EXPECT_EQ(run_bpf(prog, call(x64, __NR_ioctl, 0, TCGETS)), kAllow);
    EXPECT_EQ(run_bpf(prog, call(x64, kX32 | __NR_mount)), kEperm);
    EXPECT_EQ(run_bpf(prog, call(x64, kX32 | __NR_getppid)), kAllow);
    EXPECT_EQ(run_bpf(prog, call(i386, kI386Mount)), kEperm);
    EXPECT_EQ(run_bpf(prog, call(i386, kI386Getppid)), kAllow);
    EXPECT_EQ(run_bpf(prog, call(i386, kI386Unshare, CLONE_NEWUSER)), kEperm);
    // Another architecture is not let through with the x86 numbers.
    EXPECT_NE(run_bpf(prog, call(std::uint32_t{AUDIT_ARCH_AARCH64}, __NR_getppid)), kAllow);
  }
  // TIOCSTI: refused unless the context capability allows it; the upper half of the argument is
  // ignored, as the kernel does for the 32-bit ioctl command.
  EXPECT_EQ(run_bpf(deny, call(x64, __NR_ioctl, 0, TIOCSTI)), kEperm);
  EXPECT_EQ(run_bpf(deny, call(x64, __NR_ioctl, 0, 0xffffffff00000000ULL | TIOCSTI)), kEperm);
  EXPECT_EQ(run_bpf(deny, call(i386, kI386Ioctl, 0, TIOCSTI)), kEperm);
  EXPECT_EQ(run_bpf(allow, call(x64, __NR_ioctl, 0, TIOCSTI)), kAllow);
  EXPECT_EQ(run_bpf(allow, call(i386, kI386Ioctl, 0, TIOCSTI)), kAllow);
}

// raw_icmp: raw ICMP and ICMPv6 sockets, nothing else raw; no header writing, no transparent
// sockets, no io_uring or socketcall around the rules.
TEST(SeccompProgram, RawIcmpOnlyLeavesIcmpSockets) {
  const std::uint32_t x64 = AUDIT_ARCH_X86_64;
  const std::uint32_t i386 = AUDIT_ARCH_I386;
  auto icmp = guest_seccomp_program(kIcmp);
  auto plain = guest_seccomp_program(kPlain);
  auto sock = [&](std::span<const sock_filter> p, std::uint64_t family, std::uint64_t type,
                  std::uint64_t proto) {
    return run_bpf(p, call(x64, __NR_socket, family, type, proto));
  };
  EXPECT_EQ(sock(icmp, AF_INET, SOCK_RAW, IPPROTO_ICMP), kAllow);
  EXPECT_EQ(sock(icmp, AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMP), kAllow);
  EXPECT_EQ(sock(icmp, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6), kAllow);
  EXPECT_EQ(sock(icmp, AF_INET, SOCK_DGRAM, IPPROTO_ICMP), kAllow);
  EXPECT_EQ(sock(icmp, AF_INET, SOCK_STREAM, 0), kAllow);
  EXPECT_EQ(sock(icmp, AF_INET6, SOCK_DGRAM, 0), kAllow);
  EXPECT_EQ(sock(icmp, AF_NETLINK, SOCK_RAW, 0), kAllow);
  EXPECT_EQ(sock(icmp, AF_UNIX, SOCK_RAW, 0), kAllow);
  EXPECT_EQ(sock(icmp, AF_INET, SOCK_RAW, IPPROTO_TCP), kEperm);
  EXPECT_EQ(sock(icmp, AF_INET, SOCK_RAW, IPPROTO_UDP), kEperm);
  EXPECT_EQ(sock(icmp, AF_INET, SOCK_RAW, IPPROTO_RAW), kEperm);
  EXPECT_EQ(sock(icmp, AF_INET, SOCK_RAW, 0x100000000ULL | IPPROTO_ICMP), kEperm);
  EXPECT_EQ(sock(icmp, AF_INET6, SOCK_RAW, IPPROTO_ICMP), kEperm);
  EXPECT_EQ(sock(icmp, AF_INET6, SOCK_RAW, IPPROTO_RAW), kEperm);
  EXPECT_EQ(sock(icmp, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6 | 0x100), kEperm);
  EXPECT_EQ(sock(icmp, AF_PACKET, SOCK_RAW, 0), kEperm);
  EXPECT_EQ(sock(icmp, AF_PACKET, SOCK_DGRAM, 0), kEperm);
  EXPECT_EQ(sock(icmp, 0xffffffff00000000ULL | AF_PACKET, SOCK_DGRAM, 0), kEperm);
  EXPECT_EQ(sock(icmp, AF_INET, SOCK_PACKET, 0), kEperm);
  EXPECT_EQ(sock(icmp, AF_CAN, SOCK_RAW, 1), kEperm);
  EXPECT_EQ(sock(icmp, AF_BLUETOOTH, SOCK_RAW, 0), kEperm);
  // Every family the kernel knows, on each architecture: raw sockets only of Unix, netlink and
  // (ICMP) IPv4 and IPv6; every other type of every family but packet sockets.
  for (std::uint32_t arch : {x64, i386}) {
    const int nr = arch == x64 ? __NR_socket : 359;
    for (std::uint64_t family = 0; family < 64; ++family) {
      const bool raw_ok =
          family == AF_UNIX || family == AF_NETLINK || family == AF_INET || family == AF_INET6;
      const std::uint64_t proto =
          family == AF_INET6 ? std::uint64_t{IPPROTO_ICMPV6} : std::uint64_t{IPPROTO_ICMP};
      EXPECT_EQ(run_bpf(icmp, call(arch, nr, family, SOCK_RAW, proto)), raw_ok ? kAllow : kEperm)
          << "family " << family << " arch " << arch;
      EXPECT_EQ(run_bpf(icmp, call(arch, nr, family | 0xffffffff00000000ULL,
                                   SOCK_RAW | SOCK_CLOEXEC, proto)),
                raw_ok ? kAllow : kEperm)
          << "family " << family << " arch " << arch;
      EXPECT_EQ(run_bpf(icmp, call(arch, nr, family, SOCK_DGRAM, 0)),
                family == AF_PACKET ? kEperm : kAllow)
          << "family " << family << " arch " << arch;
    }
  }
  auto opt = [&](std::span<const sock_filter> p, std::uint64_t level, std::uint64_t name) {
    return run_bpf(p, call(x64, __NR_setsockopt, 3, level, name));
  };
  EXPECT_EQ(opt(icmp, SOL_IP, IP_HDRINCL), kEperm);
  EXPECT_EQ(opt(icmp, SOL_IPV6, IPV6_HDRINCL), kEperm);
  EXPECT_EQ(opt(icmp, SOL_IP, IP_TRANSPARENT), kEperm);
  EXPECT_EQ(opt(icmp, SOL_IPV6, IPV6_TRANSPARENT), kEperm);
  EXPECT_EQ(opt(icmp, SOL_IP, IP_TTL), kAllow);
  EXPECT_EQ(opt(icmp, SOL_SOCKET, SO_RCVTIMEO), kAllow);
  EXPECT_EQ(run_bpf(icmp, call(x64, __NR_io_uring_setup)), kEperm);
  EXPECT_EQ(run_bpf(icmp, call(i386, 102 /* socketcall */)), kEperm);
  EXPECT_EQ(run_bpf(icmp, call(i386, 359 /* socket */, AF_INET, SOCK_RAW, IPPROTO_TCP)), kEperm);
  EXPECT_EQ(run_bpf(icmp, call(i386, 359 /* socket */, AF_INET, SOCK_RAW, IPPROTO_ICMP)), kAllow);
  // Without raw_icmp (the guest has no CAP_NET_RAW, or all of it) the kernel decides.
  EXPECT_EQ(sock(plain, AF_INET, SOCK_RAW, IPPROTO_TCP), kAllow);
  EXPECT_EQ(run_bpf(plain, call(x64, __NR_io_uring_setup)), kAllow);
}

TEST(SeccompProgram, BinaryTreeDecidesAsTheRuleList) {
  for (GuestFilter f : {kPlain, kTiocsti, kIcmp}) {
    auto tree = compile_guest_filter(f, 2);
    auto list = compile_guest_filter(f, 1);
    ASSERT_FALSE(same(tree, list)) << "the optimization changed nothing";
    const std::uint64_t args[] = {0,
                                  CLONE_NEWUSER,
                                  CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD,
                                  CLONE_NEWNET | SIGCHLD,
                                  TIOCSTI,
                                  0xffffffff00000000ULL | TIOCSTI,
                                  TCGETS,
                                  0xffffffffffffffffULL};
    int decided = 0;
    for (std::uint32_t arch : {std::uint32_t{AUDIT_ARCH_X86_64}, std::uint32_t{AUDIT_ARCH_I386},
                               std::uint32_t{AUDIT_ARCH_AARCH64}}) {
      for (int base : {0, kX32}) {
        for (int nr = 0; nr < 1024; ++nr) {
          for (std::uint64_t a0 : args) {
            for (std::uint64_t a1 : {args[0], args[4], args[5], args[6]}) {
              seccomp_data d = call(arch, base | nr, a0, a1);
              ASSERT_EQ(run_bpf(tree, d), run_bpf(list, d))
                  << "arch " << std::hex << arch << " nr " << (base | nr) << " args " << a0 << ", "
                  << a1;
              ++decided;
            }
          }
        }
      }
    }
    EXPECT_EQ(decided, 3 * 2 * 1024 * 8 * 4);
  }
}

#endif

// Loads the program into a child and reports what three calls return there.
TEST(SeccompProgram, LoadedProgramRefusesInTheProcess) {
  if (::geteuid() != 0) GTEST_SKIP() << "loading a filter without no_new_privs needs root";
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::array<int, 4> r{-1, -1, -1, -1};
    try {
      vs::runtime::install_seccomp(kPlain);
      r[0] = 0;
      r[1] = ::syscall(SYS_clone3, nullptr, 0) < 0 ? errno : 0;
      r[2] = ::syscall(SYS_unshare, CLONE_NEWUSER) < 0 ? errno : 0;
      r[3] = ::getppid() > 0 ? 0 : errno;
    } catch (const std::exception&) {
    }
    (void)!::write(fds[1], r.data(), sizeof r);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::array<int, 4> r{};
  ASSERT_EQ(::read(fds[0], r.data(), sizeof r), static_cast<ssize_t>(sizeof r));
  ::close(fds[0]);
  int ws = 0;
  ASSERT_EQ(::waitpid(pid, &ws, 0), pid);
  EXPECT_EQ(r[0], 0) << "install_seccomp failed";
  EXPECT_EQ(r[1], ENOSYS);
  EXPECT_EQ(r[2], EPERM);
  EXPECT_EQ(r[3], 0);
}

// Without CAP_SYS_ADMIN and without no_new_privs the kernel refuses the filter: the error names
// the operation.
TEST(SeccompProgram, LoadWithoutPrivilegeFailsWithAMessage) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string msg = "no error";
    if (::geteuid() == 0 && ::setresuid(65534, 65534, 65534) != 0) msg = "setresuid failed";
    if (msg == "no error") {
      try {
        vs::runtime::install_seccomp(kPlain);
      } catch (const std::exception& e) {
        msg = e.what();
      }
    }
    (void)!::write(fds[1], msg.data(), msg.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string msg(256, '\0');
  ssize_t n = ::read(fds[0], msg.data(), msg.size());
  ::close(fds[0]);
  int ws = 0;
  ASSERT_EQ(::waitpid(pid, &ws, 0), pid);
  ASSERT_GT(n, 0);
  msg.resize(static_cast<std::size_t>(n));
  EXPECT_EQ(msg, "seccomp load filter: Permission denied");
}

}  // namespace
