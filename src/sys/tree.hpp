// Directory trees on the host: existence without following links, removal that never follows a
// link nor crosses a mount, and directories removed unless kept.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string_view>
#include <utility>

namespace vs {

namespace fs = std::filesystem;

// p made absolute (against the working directory) and lexically normal; throws vs::Error
// naming p when the working directory cannot be had.
fs::path absolute_path(const fs::path& p);

// Whether p exists, without following a final symbolic link; throws for errors other than ENOENT
// and ENOTDIR.
bool lexists(const fs::path& p);

// Whether a process with this pid exists (possibly owned by another user).
bool process_exists(pid_t pid);

// Removes path and everything below it. Never follows symbolic links, never descends into another
// mount (throws instead), keeps a constant number of fds however deep the tree is. No error when
// path does not exist.
void remove_tree(const fs::path& path);

// Removes the entries of dir named PREFIX + PID whose process is gone (or is this process): the
// leftovers of a temporary directory whose maker died.
void remove_stale_temps(const fs::path& dir, std::string_view prefix);

// A directory being built: removed on destruction unless dismissed.
class TempDir {
 public:
  TempDir() = default;
  explicit TempDir(fs::path p) : path_(std::move(p)) {}
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  [[nodiscard]] const fs::path& path() const { return path_; }
  void dismiss() { path_.clear(); }

 private:
  fs::path path_;
};

}  // namespace vs
