#include "runtime/security.hpp"

#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "runtime/seccomp_policy.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::runtime {

namespace {

// The programs compiled when vserver was built (src/gen/seccomp_bpf.cpp): kGuestFilter0..3, by
// filter_index.
#include "runtime/seccomp_bpf.inc"

static_assert(kGuestFilterOptimizeBuilt == kGuestFilterOptimize);

constexpr std::uint64_t kNetRaw = std::uint64_t{1} << CAP_NET_RAW;

}  // namespace

std::uint64_t guest_bounding_set(const config::GuestConfig& cfg) {
  return cfg.raw_icmp() ? cfg.bcapabilities | kNetRaw : cfg.bcapabilities;
}

GuestFilter guest_filter(const config::GuestConfig& cfg) {
  return {cfg.ccapabilities.count("tiocsti") != 0,
          cfg.raw_icmp() && (cfg.bcapabilities & kNetRaw) == 0};
}

std::span<const sock_filter> guest_seccomp_program(const GuestFilter& filter) {
  switch (filter_index(filter)) {
    case 0:
      return kGuestFilter0;
    case 1:
      return kGuestFilter1;
    case 2:
      return kGuestFilter2;
    default:
      return kGuestFilter3;
  }
}

void install_seccomp(const GuestFilter& filter) {
  std::span<const sock_filter> prog = guest_seccomp_program(filter);
  // The kernel copies the program; it does not write to it.
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), const_cast<sock_filter*>(prog.data())};
  // Guests keep setuid programs (su, passwd, ping): no no_new_privs. Loading the filter without it
  // needs CAP_SYS_ADMIN, which the caller still has at this point.
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0U, &fprog) == 0) return;
  // Linux 3.5 to 3.16 have the filter mode through prctl only.
  if (errno == ENOSYS && ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) == 0) return;
  throw_errno("seccomp", "load filter");
}

int kernel_last_capability() {
  static int last = [] {
    try {
      return std::stoi(read_file("/proc/sys/kernel/cap_last_cap"));
    } catch (const std::exception&) {
      return CAP_LAST_CAP;
    }
  }();
  return last;
}

void limit_bounding_set(std::uint64_t keep) {
  int last = kernel_last_capability();
  for (int cap = 0; cap <= last; ++cap) {
    if ((keep >> cap) & 1U) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
      throw_errno("drop capability from bounding set", std::to_string(cap));
    }
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    throw_errno("clear ambient capabilities", "");
  }
}

void set_capabilities(std::uint64_t keep) {
  int last = kernel_last_capability();
  cap_t caps = cap_init();
  if (caps == nullptr) throw_errno("cap_init", "");
  for (int cap = 0; cap <= last && cap < 64; ++cap) {
    if (((keep >> cap) & 1U) == 0) continue;
    cap_value_t v = cap;
    cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_SET);
    cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_SET);
  }
  int rc = cap_set_proc(caps);
  int err = errno;
  cap_free(caps);
  if (rc != 0) throw_errno("set capabilities", "", err);
}

void drop_capabilities(std::uint64_t keep) {
  limit_bounding_set(keep);
  set_capabilities(keep);
}

}  // namespace vs::runtime
