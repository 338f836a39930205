// Mounting a unified guest's merged root (overlayfs: the base as the lower layer, the guest's
// upper and work directories). Mounts are made only in a private mount namespace: the guest's own
// (runtime/rootfs.cpp) or that of a helper process (run_in_merged_root).
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "storage/layout.hpp"

namespace vs::storage {

// Mounts the overlay on target in the caller's mount namespace, with the given mount(2) flags
// (MS_NODEV, MS_NOSUID, ...). The layers are passed to the kernel as /proc/self/fd paths of
// descriptors opened here, so no character of a path needs escaping. The base is a lower layer:
// overlayfs never writes to it.
void mount_overlay(const Overlay& o, const fs::path& target, unsigned long flags);

// Runs fn on a thread of its own with a private mount namespace (a copy of the caller's): what fn
// mounts is seen by no other process or thread and ends with the thread, or with the process
// whatever happens to it. fn's exception is rethrown here as it was; what names the work in other
// errors. fn reports to the caller's report sink; the caller waits meanwhile.
void run_in_private_mounts(const std::string& what, const std::function<void()>& fn);

// Runs fn as run_in_private_mounts does, with the overlay mounted on mountpoint in that private
// namespace. An exception of fn (or of the mount) is rethrown here.
void run_in_merged_root(const Overlay& o, const fs::path& mountpoint,
                        const std::function<void()>& fn);

}  // namespace vs::storage
