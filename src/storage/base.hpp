// Bases: shared read-only root filesystems that unified guests are layered on
// (VDIR_ROOT/.bases/BASE, docs/storage.md). A base is made once (provision/base.hpp: from
// archives, a busybox, or a copy of a guest or directory), is never written through a guest (it is
// overlayfs' lower layer), and cannot be deleted while a guest uses it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "config/roots.hpp"
#include "sys/fd.hpp"

namespace vs::storage {

namespace fs = std::filesystem;

// An exclusive lock on the set of bases (flock on VDIR_ROOT/.bases/.lock): held while a base is
// made or deleted and while a guest is put on a base (build, unify), so that a base in use cannot
// disappear between the check and the use.
class BaseLock {
 public:
  explicit BaseLock(const config::Roots& roots);

 private:
  UniqueFd fd_;
};

// Removes VDIR_ROOT/.bases when it holds no base (nothing but its lock), under that lock.
void remove_unused_bases_dir(const config::Roots& roots);

// Throws unless base is a valid base name.
void check_base_name(std::string_view base);

// Whether base exists (a directory).
bool base_exists(const config::Roots& roots, std::string_view base);
// Names of the bases, sorted.
std::vector<std::string> list_bases(const config::Roots& roots);
// Guests whose unify/base names base (their configuration may be otherwise broken), sorted.
std::vector<std::string> guests_on_base(const config::Roots& roots, std::string_view base);

// Deletes a base. Refused, naming the guests, while any guest uses it.
void delete_base(const config::Roots& roots, std::string_view base);

// Bytes allocated to the files below dir (st_blocks × 512, each inode once, not crossing into
// other filesystems): what du -s reports.
std::uint64_t disk_usage(const fs::path& dir);

}  // namespace vs::storage
