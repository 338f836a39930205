// What confines a guest's processes: the capability bounding set and a seccomp filter. Applied to
// the guest's init and to every process that joins the guest (exec, enter), in that order:
// install_seccomp() first (it needs CAP_SYS_ADMIN without no_new_privs), then drop_capabilities().
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <set>
#include <span>
#include <string>

#include "config/model.hpp"
#include "runtime/seccomp_policy.hpp"

namespace vs::runtime {

// The guest's bounding set: bcapabilities, and CAP_NET_RAW for the context capability raw_icmp
// (on by default, as in util-vserver) when bcapabilities does not grant it already.
std::uint64_t guest_bounding_set(const config::GuestConfig& cfg);
// What the guest's seccomp filter depends on: tiocsti, and whether CAP_NET_RAW comes from
// raw_icmp only (then raw sockets other than ICMP are refused).
GuestFilter guest_filter(const config::GuestConfig& cfg);

// Installs the guest seccomp filter: system calls a guest must never make (module loading, kexec,
// raw filehandles, swap, clock setting, mounts, keyrings, bpf, perf, user namespaces, TIOCSTI)
// fail with EPERM; see compile_guest_filter.
// The program is compiled when vserver is built (runtime/seccomp_policy.hpp), not at each start.
void install_seccomp(const GuestFilter& filter);
// The BPF program install_seccomp() loads for this filter.
std::span<const sock_filter> guest_seccomp_program(const GuestFilter& filter);

// Reduces the bounding set to keep and clears the ambient set. Needs CAP_SETPCAP.
void limit_bounding_set(std::uint64_t keep);
// Sets the permitted and effective sets to keep and clears the inheritable set.
void set_capabilities(std::uint64_t keep);
// Both, for a process that stays root.
void drop_capabilities(std::uint64_t keep);

// The highest capability the running kernel knows (/proc/sys/kernel/cap_last_cap).
int kernel_last_capability();

}  // namespace vs::runtime
