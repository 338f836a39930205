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

// The guest policy for the native architecture (on x86_64 also for 32-bit x86 and x32 binaries):
// system calls a guest must never make fail with EPERM (module loading, kexec, raw filehandles,
// swap, clock setting, mounts, keyrings, bpf, perf, user namespaces, TIOCSTI unless
// allow_tiocsti), clone3 fails with ENOSYS; everything else is allowed. Throws Error when
// libseccomp refuses a rule.
std::vector<sock_filter> compile_guest_filter(bool allow_tiocsti,
                                              int optimize = kGuestFilterOptimize);

}  // namespace vs::runtime
