// The guest's filesystem view, built inside its new mount namespace: the vdir bind-mounted onto
// itself, safe /proc, read-only /sys, a private /dev, the guest's fstab, then pivot_root into it
// with the old root detached. Mount targets are resolved inside the guest root (openat2
// RESOLVE_IN_ROOT), so symlinks in the guest cannot redirect a mount onto the host.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <optional>

#include "config/model.hpp"
#include "storage/layout.hpp"
#include "sys/fd.hpp"
#include "sys/in_root.hpp"

namespace vs::runtime {

// Must run in a fresh mount namespace, as root, before the guest's security is applied.
// after_proc runs once the guest's /proc is mounted (at ROOT/proc), before pivot_root. A unified
// guest's root is the overlay (base + its upper layer) mounted on the vdir in this namespace only;
// a guest with a full root gets its vdir bind-mounted onto itself.
void setup_rootfs(const config::GuestConfig& cfg,
                  const std::function<void(const std::string& root)>& after_proc = {},
                  const std::optional<storage::Overlay>& overlay = std::nullopt);

// One step of the guest's filesystem view. setup_rootfs is a table of these (plan_rootfs), then
// the same table performed in order (apply_rootfs_plan), so that what a guest sees can be read
// and tested without mounting anything.
struct RootfsStep {
  enum class Kind {
    overlay,     // the unified guest's merged root (overlay) mounted on the vdir
    mount,       // a filesystem of type fstype from source, with flags and data, on target
    bind,        // source (a host path; target itself with source_in_guest) bind-mounted on target
    remount,     // the bind mount at target remounted with flags (MS_REMOUNT | MS_BIND added)
    mkdir,       // the directory target, created with mode (and made to have it)
    device,      // the character device node target, major and minor
    symlink,     // target, a symbolic link whose text is source
    after_proc,  // the caller's hook: the guest's /proc and its masks are in place
    pivot_root,  // into the guest's root; the old root is detached
  };
  // What must hold for the step to be done at all.
  enum class Condition {
    always,
    // The guest's tree has the FHS 3 layout of /run: /var/run is a link to /run, a directory.
    // Looked at when the steps run: it is a property of the files, not of the configuration.
    fhs_run,
  };

  Kind kind = Kind::mount;
  // A path inside the guest ("/" is the vdir itself); steps with a target below "/" resolve it
  // inside the guest's root, so that a symbolic link there cannot lead onto the host.
  std::string target;
  std::string source;
  std::string fstype;       // mount and overlay
  unsigned long flags = 0;  // mount(2)'s flags: MS_BIND and MS_REC included for a bind
  // mount(2)'s data; empty: none. For the overlay, its layers as the reader knows them; the
  // mount itself names them by descriptors (storage::mount_overlay).
  std::string data;
  bool source_in_guest = false;  // bind: the source is target, as seen inside the guest
  // remount of "/": the flags of the host's mount that holds the guest's files are added
  // (read-only, nosuid, noexec, atime); overlay: likewise.
  bool keep_host_flags = false;
  bool create_target = false;  // missing directories of target are created (mode 0755)
  unsigned mode = 0;           // mkdir
  unsigned major = 0;          // device
  unsigned minor = 0;          // device
  // false: the step is skipped when its target does not exist in the guest's tree (ENOENT), as
  // a /proc or /sys file the kernel does not have; any other failure is an error all the same.
  bool fatal = true;
  Condition when = Condition::always;
};

// The steps that build the guest's filesystem view, in the order they are done: the root (the
// overlay or the vdir bound onto itself), /proc and /sys with their read-only parts and masks, the
// caller's hook, the private /dev, /run, the cgroup tree of a systemd guest, the fstab entries
// (but those of /proc, /sys, /dev and devpts, which the guest always gets from us, and noauto
// ones), then pivot_root. No syscall: only the configuration is read. Throws on an fstab entry
// that cannot be honoured (one mounted over the guest's root).
std::vector<RootfsStep> plan_rootfs(const config::GuestConfig& cfg,
                                    const std::optional<storage::Overlay>& overlay = std::nullopt);

// Performs steps for the guest cfg (its vdir is "/"), as setup_rootfs does: in a fresh mount
// namespace, as root. overlay is the layers of a step of kind overlay.
void apply_rootfs_plan(const std::vector<RootfsStep>& steps, const config::GuestConfig& cfg,
                       const std::function<void(const std::string& root)>& after_proc = {},
                       const std::optional<storage::Overlay>& overlay = std::nullopt);

// Splits "ro,nosuid,size=16m" into mount(2) flags and the remaining data string. Throws on
// options it does not understand only when they look like flags it cannot honour (none now).
struct MountOptions {
  unsigned long flags = 0;
  std::string data;
  bool bind = false;
  bool recursive = false;
  bool noauto = false;  // not mounted at start
};
MountOptions parse_mount_options(std::string_view options);

}  // namespace vs::runtime
