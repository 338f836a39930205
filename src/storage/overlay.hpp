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

// Runs fn in a forked helper process with a private mount namespace of its own: what fn mounts
// ends with the helper, whatever happens to it or to the caller. An exception of fn is rethrown
// here as vs::Error with its message and errno; what names the helper in other errors. The caller
// must be single-threaded, as every forking function of the library.
void run_in_private_mounts(const std::string& what, const std::function<void()>& fn);

// Runs fn in a forked helper process with a private mount namespace in which the overlay is
// mounted on mountpoint; the mount ends with the helper, whatever happens to it or to the caller.
// An exception of fn (or of the mount) is rethrown here as vs::Error with its message and errno.
// The caller must be single-threaded, as every forking function of the library.
void run_in_merged_root(const Overlay& o, const fs::path& mountpoint,
                        const std::function<void()>& fn);

}  // namespace vs::storage
