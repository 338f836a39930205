#include "storage/quota.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/dqblk_xfs.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/quota.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/file.hpp"

#ifndef SYS_quotactl_fd
#define SYS_quotactl_fd 443  // the same number on every architecture
#endif
#ifndef PRJQUOTA
#define PRJQUOTA 2
#endif

namespace vs::storage {

namespace {

constexpr long kXfsMagic = 0x58465342;

long quotactl_fd(int fd, unsigned cmd, int id, void* addr) {
  return ::syscall(SYS_quotactl_fd, fd, cmd, id, addr);
}

UniqueFd open_dir(const fs::path& dir) {
  return open_file(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
}

// Sets projid + PROJINHERIT (directories) on the open inode; true if it changed anything.
bool tag(int fd, std::uint32_t projid, bool directory, const std::string& name) {
  fsxattr fa{};
  if (::ioctl(fd, FS_IOC_FSGETXATTR, &fa) != 0) throw_errno("read the project id of", name);
  std::uint32_t want = fa.fsx_xflags | (directory ? FS_XFLAG_PROJINHERIT : 0U);
  if (fa.fsx_projid == projid && fa.fsx_xflags == want) return false;
  fa.fsx_projid = projid;
  fa.fsx_xflags = want;
  if (::ioctl(fd, FS_IOC_FSSETXATTR, &fa) != 0) throw_errno("set the project id on", name);
  return true;
}

// Depth first below the open directory dirfd (name for messages); returns the inodes changed.
std::uint64_t tag_below(int dirfd, dev_t dev, std::uint32_t projid, const std::string& name) {
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) throw_errno("duplicate descriptor of", name);
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    throw_errno("open directory", name);
  }
  std::unique_ptr<DIR, int (*)(DIR*)> owner(d, ::closedir);
  std::uint64_t changed = 0;
  for (;;) {
    errno = 0;
    dirent* e = ::readdir(d);
    if (e == nullptr) {
      if (errno != 0) throw_errno("read directory", name);
      break;
    }
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    std::string child = name + "/" + std::string(n);
    struct stat st {};
    if (::fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // removed meanwhile
      throw_errno("stat", child);
    }
    if (st.st_dev != dev) continue;  // another filesystem mounted here
    bool dir = S_ISDIR(st.st_mode);
    if (!dir && !S_ISREG(st.st_mode)) continue;
    int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (dir ? O_DIRECTORY : 0);
    UniqueFd fd(::openat(dirfd, e->d_name, flags));
    if (!fd) {
      if (errno == ENOENT) continue;
      throw_errno("open", child);
    }
    if (dir) changed += tag_below(fd.get(), dev, projid, child);
    if (tag(fd.get(), projid, dir, child)) ++changed;
  }
  return changed;
}

}  // namespace

ProjectQuotaSupport project_quota_support(const fs::path& dir) {
  ProjectQuotaSupport s;
  UniqueFd fd = open_dir(dir);
  struct statfs sf {};
  if (::fstatfs(fd.get(), &sf) != 0) throw_errno("statfs", dir.string());
  s.xfs = sf.f_type == kXfsMagic;
  fs_quota_statv qs{};
  qs.qs_version = FS_QSTATV_VERSION1;
  if (quotactl_fd(fd.get(), QCMD(Q_XGETQSTATV, PRJQUOTA), 0, &qs) != 0) {
    int err = errno;
    if (err == ENOSYS) {
      s.why_not = "this kernel has no quota support (CONFIG_QUOTA)";
    } else if (err == ENOTSUP || err == EOPNOTSUPP || err == EINVAL) {
      s.why_not = "the filesystem of " + dir.string() + " has no project quota";
    } else {
      s.why_not = errno_message("read the quota state of", dir.string(), err);
    }
    return s;
  }
  s.accounting = (qs.qs_flags & FS_QUOTA_PDQ_ACCT) != 0;
  s.enforced = s.accounting && (qs.qs_flags & FS_QUOTA_PDQ_ENFD) != 0;
  if (!s.enforced) {
    s.why_not = "the filesystem of " + dir.string() +
                (s.accounting ? " counts project quota but does not enforce it"
                              : " is not mounted with prjquota");
  }
  return s;
}

QuotaLimits quota_limits(const config::DiskLimit& l) {
  QuotaLimits q;
  if (l.space_total != config::kUnlimited) {
    q.block_hard_kib = l.space_total;
    if (l.reserved > 0) {
      std::uint64_t pct = static_cast<std::uint64_t>(100 - l.reserved);
      // total × pct / 100 without overflow (total ≤ 2^53), at least 1 KiB.
      q.block_soft_kib =
          std::max<std::uint64_t>(1, l.space_total / 100 * pct + l.space_total % 100 * pct / 100);
    }
  }
  if (l.inodes_total != config::kUnlimited) q.inode_hard = l.inodes_total;
  return q;
}

std::uint64_t tag_tree(const fs::path& dir, std::uint32_t projid) {
  UniqueFd fd = open_dir(dir);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_errno("stat", dir.string());
  std::uint64_t changed = tag_below(fd.get(), st.st_dev, projid, dir.string());
  if (tag(fd.get(), projid, true, dir.string())) ++changed;
  return changed;
}

std::optional<std::uint32_t> inherited_project(const fs::path& dir) {
  UniqueFd fd = open_dir(dir);
  fsxattr fa{};
  if (::ioctl(fd.get(), FS_IOC_FSGETXATTR, &fa) != 0) {
    throw_errno("read the project id of", dir.string());
  }
  if ((fa.fsx_xflags & FS_XFLAG_PROJINHERIT) == 0) return std::nullopt;
  return fa.fsx_projid;
}

void set_project_limits(const fs::path& dir, std::uint32_t projid, const QuotaLimits& limits) {
  UniqueFd fd = open_dir(dir);
  struct statfs sf {};
  if (::fstatfs(fd.get(), &sf) != 0) throw_errno("statfs", dir.string());
  std::string what = "project " + std::to_string(projid) + " on " + dir.string();
  if (sf.f_type == kXfsMagic) {
    fs_disk_quota q{};
    q.d_version = FS_DQUOT_VERSION;
    q.d_flags = FS_PROJ_QUOTA;
    q.d_fieldmask = FS_DQ_BHARD | FS_DQ_BSOFT | FS_DQ_IHARD | FS_DQ_ISOFT;
    q.d_id = projid;
    q.d_blk_hardlimit = kib_to_basic_blocks(limits.block_hard_kib);
    q.d_blk_softlimit = kib_to_basic_blocks(limits.block_soft_kib);
    q.d_ino_hardlimit = limits.inode_hard;
    q.d_ino_softlimit = limits.inode_soft;
    if (quotactl_fd(fd.get(), QCMD(Q_XSETQLIM, PRJQUOTA), static_cast<int>(projid), &q) != 0) {
      throw_errno("set the quota limits of", what);
    }
    return;
  }
  dqblk q{};
  q.dqb_bhardlimit = limits.block_hard_kib;
  q.dqb_bsoftlimit = limits.block_soft_kib;
  q.dqb_ihardlimit = limits.inode_hard;
  q.dqb_isoftlimit = limits.inode_soft;
  q.dqb_valid = QIF_LIMITS;
  if (quotactl_fd(fd.get(), QCMD(Q_SETQUOTA, PRJQUOTA), static_cast<int>(projid), &q) != 0) {
    throw_errno("set the quota limits of", what);
  }
}

ProjectUsage project_usage(const fs::path& dir, std::uint32_t projid) {
  UniqueFd fd = open_dir(dir);
  dqblk q{};
  if (quotactl_fd(fd.get(), QCMD(Q_GETQUOTA, PRJQUOTA), static_cast<int>(projid), &q) != 0) {
    throw_errno("read the quota of", "project " + std::to_string(projid) + " on " + dir.string());
  }
  ProjectUsage u;
  u.space_bytes = q.dqb_curspace;
  u.inodes = q.dqb_curinodes;
  u.limits.block_hard_kib = q.dqb_bhardlimit;
  u.limits.block_soft_kib = q.dqb_bsoftlimit;
  u.limits.inode_hard = q.dqb_ihardlimit;
  u.limits.inode_soft = q.dqb_isoftlimit;
  return u;
}

}  // namespace vs::storage
