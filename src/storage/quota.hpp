// Project quotas (ext4, XFS): the project id on a tree, the limits of a project, its usage. All
// through ioctl(FS_IOC_FSSETXATTR) and quotactl_fd(2); nothing is shelled out.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "config/model.hpp"

namespace vs::storage {

namespace fs = std::filesystem;

// What the filesystem holding dir does about project quotas.
struct ProjectQuotaSupport {
  bool accounting = false;  // usage is counted
  bool enforced = false;    // limits are enforced
  bool xfs = false;
  std::string why_not;  // when not enforced: why, for the message that picks another method
};
ProjectQuotaSupport project_quota_support(const fs::path& dir);

// The limits of one project, in quotactl's generic units (1 KiB blocks); 0 means no limit.
struct QuotaLimits {
  std::uint64_t block_hard_kib = 0;
  std::uint64_t block_soft_kib = 0;
  std::uint64_t inode_hard = 0;
  std::uint64_t inode_soft = 0;
  bool operator==(const QuotaLimits&) const = default;
};
// dlimits/ as quota limits: space_total is the hard block limit; reserved (percent) lowers the
// soft limit to total × (100 − reserved) / 100, which statfs reports as the size (ext4 and XFS
// report the soft limit when there is one). Unlimited values are 0.
QuotaLimits quota_limits(const config::DiskLimit& l);
// 1 KiB blocks as XFS's 512-byte basic blocks.
constexpr std::uint64_t kib_to_basic_blocks(std::uint64_t kib) {
  return kib * 2;
}

// Sets project id projid and FS_XFLAG_PROJINHERIT on dir and on every directory and regular file
// below it on the same filesystem (symbolic links and device nodes cannot be opened for the
// ioctl; new ones inherit the id from their directory). dir itself is set last, so a tree whose
// top carries the id was tagged completely. Returns the number of inodes changed.
std::uint64_t tag_tree(const fs::path& dir, std::uint32_t projid);
// The project id of dir when it carries FS_XFLAG_PROJINHERIT, else nullopt.
std::optional<std::uint32_t> inherited_project(const fs::path& dir);

void set_project_limits(const fs::path& dir, std::uint32_t projid, const QuotaLimits& limits);

struct ProjectUsage {
  std::uint64_t space_bytes = 0;
  std::uint64_t inodes = 0;
  QuotaLimits limits;
};
ProjectUsage project_usage(const fs::path& dir, std::uint32_t projid);

}  // namespace vs::storage
