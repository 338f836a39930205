// The guest's filesystem view, built inside its new mount namespace: the vdir bind-mounted onto
// itself, safe /proc, read-only /sys, a private /dev, the guest's fstab, then pivot_root into it
// with the old root detached. Mount targets are resolved inside the guest root (openat2
// RESOLVE_IN_ROOT), so symlinks in the guest cannot redirect a mount onto the host.
#pragma once

#include <functional>
#include <string>
#include <string_view>

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
