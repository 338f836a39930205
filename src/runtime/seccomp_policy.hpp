// The guests' seccomp policy, compiled to a classic BPF program with libseccomp.
//
// vserver does not compile it when a guest starts: the build runs the compiler once
// (src/gen/seccomp_bpf.cpp writes the programs for the build's architecture) and install_seccomp()
// (runtime/security.hpp) loads the stored program. Compiling at run time took 0.3-0.4 ms of every
// start and exec (kernel probes, libseccomp's rule database, the BPF generator). The tests compile
// the policy again and compare.
#pragma once

#include <linux/filter.h>

#include <vector>

namespace vs::runtime {

// libseccomp's SCMP_FLTATR_CTL_OPTIMIZE for the guests' program: 2 arranges the system call
// numbers as a binary tree, so that an allowed call (nearly all of a guest's) passes about 8
// comparisons instead of one for each rule.
constexpr int kGuestFilterOptimize = 2;

// What a guest's filter depends on.
struct GuestFilter {
  bool allow_tiocsti = false;  // context capability tiocsti
  // The guest has CAP_NET_RAW for util-vserver's raw_icmp only: raw sockets other than ICMP and
  // ICMPv6 are refused, and what would let an ICMP socket carry anything else.
  bool raw_icmp_only = false;
};
// The number of filters: the index of one is allow_tiocsti + 2 * raw_icmp_only.
inline constexpr int kGuestFilters = 4;
constexpr int filter_index(const GuestFilter& f) {
  return (f.allow_tiocsti ? 1 : 0) + (f.raw_icmp_only ? 2 : 0);
}

// The guest policy for the native architecture (on x86_64 also for 32-bit x86 and x32 binaries):
// system calls a guest must never make fail with EPERM (module loading, kexec, raw filehandles,
// swap, clock setting, mounts, keyrings, bpf, perf, user namespaces, TIOCSTI unless
// allow_tiocsti), clone3 fails with ENOSYS; with raw_icmp_only, socket() of a raw socket other
// than ICMP or ICMPv6 (netlink and Unix sockets excepted) or of any packet socket, the
// setsockopt() options IP_HDRINCL, IPV6_HDRINCL, IP_TRANSPARENT and IPV6_TRANSPARENT, and
// io_uring and socketcall (which would reach socket() past the filter) fail with EPERM;
// everything else is allowed. Throws Error when libseccomp refuses a rule.
std::vector<sock_filter> compile_guest_filter(const GuestFilter& filter,
                                              int optimize = kGuestFilterOptimize);
inline std::vector<sock_filter> compile_guest_filter(bool allow_tiocsti,
                                                     int optimize = kGuestFilterOptimize) {
  return compile_guest_filter(GuestFilter{allow_tiocsti, false}, optimize);
}

}  // namespace vs::runtime
