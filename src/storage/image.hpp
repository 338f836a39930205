// A guest's ext4 image on a loop device: the disk limit for filesystems without project quota
// (the Xen "loop device" disk). Every object has an owner: the loop device is attached with
// LO_FLAGS_AUTOCLEAR (it goes away with its last user), the mount is undone unless kept.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "sys/fd.hpp"

namespace vs::storage {

namespace fs = std::filesystem;

// An attached loop device (/dev/loopN) over a file, detached on destruction unless a mount uses
// it (then the kernel detaches it when that mount goes).
class LoopDevice {
 public:
  // Attaches a free loop device to file with LOOP_CTL_GET_FREE and LOOP_CONFIGURE.
  static LoopDevice attach(const fs::path& file, bool read_only);
  LoopDevice(LoopDevice&&) noexcept = default;
  LoopDevice& operator=(LoopDevice&&) noexcept = default;
  ~LoopDevice();
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  LoopDevice(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;
};

// A filesystem mounted by us, unmounted on destruction unless kept.
class MountGuard {
 public:
  MountGuard(const std::string& source, fs::path target, const char* type, unsigned long flags,
             const std::string& data);
  MountGuard(const MountGuard&) = delete;
  MountGuard& operator=(const MountGuard&) = delete;
  ~MountGuard();
  void keep() { active_ = false; }

 private:
  fs::path target_;
  bool active_ = true;
};

struct ImageSpec {
  std::uint64_t size_kib = 0;  // the usable size (df's total inside); the file is larger
  std::uint64_t inodes = 0;    // 0: mke2fs's default
  int reserved = 0;            // percent of blocks for root
};
// Creates a sparse image of spec.size_kib and formats it ext4 with mke2fs, filled with the content
// of populate_from when given (mke2fs -d). Nothing is left on failure.
void create_image(const fs::path& image, const ImageSpec& spec,
                  const fs::path* populate_from = nullptr);

// The usable size of an ext4 image in KiB, what df shows as its total once mounted: its blocks
// less the overhead mke2fs recorded in the superblock.
std::uint64_t image_usable_kib(const fs::path& image);

// Every mount in this mount namespace of a loop device whose backing file is image, innermost
// first.
std::vector<fs::path> image_mounts(const fs::path& image);
// Loop devices whose backing file is image (/sys/block/loop*/loop/backing_file).
std::vector<std::string> image_loop_devices(const fs::path& image);

// Runs fn on a thread with a private mount namespace (see run_in_private_mounts) in which image
// is mounted read-only on mountpoint: nothing appears on the host, and the mount and the loop
// device go with the thread. fn's error is rethrown here.
void run_in_image_root(const fs::path& image, const fs::path& mountpoint,
                       const std::function<void()>& fn);

// Unmounts every mount of image in this namespace; the loop devices detach with them.
void release_image(const fs::path& image);

}  // namespace vs::storage
