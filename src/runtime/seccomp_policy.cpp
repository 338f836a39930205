#include "runtime/seccomp_policy.hpp"

#include <linux/fs.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <string>

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

}  // namespace

std::vector<sock_filter> compile_guest_filter(bool allow_tiocsti, int optimize) {
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
