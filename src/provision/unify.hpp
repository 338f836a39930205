// vserver NAME unify [BASE]: turns a guest with a full root into a base plus its own delta, the
// mainline replacement of util-vserver's vunify/vhashify (util-vserver.md §6).
//
// Every entry of the guest's root is compared with the base at the same path:
//   - identical to the base's (same type, content, mode, owner, extended attributes; for links
//     the same target, for device nodes the same numbers) → dropped: the guest sees the base's;
//   - different, or absent from the base → kept in the upper layer (hard-linked from the old
//     root, so nothing is copied when both are on one filesystem);
//   - present in the base but not in the guest → an overlayfs whiteout (a 0/0 character device);
//   - a directory where the base has something else → an opaque directory with all its contents;
//   - a directory with other metadata than the base's → the directory in the upper layer, with
//     the guest's mode, owner and attributes (its contents are still merged).
// Modification times are not compared: a dropped file shows the base's.
//
// The new layers are made in VDIR_ROOT/.layers/.ID.unify-PID. The guest becomes unified when its
// configuration file unify/base is written (one atomic rename); an interruption before that leaves
// the guest exactly as it was, with nothing else behind. Afterwards the old root is swapped with an
// empty mount point (RENAME_EXCHANGE) and removed.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "config/roots.hpp"

namespace vs::provision {

struct UnifyOptions {
  // The base to unify on; when empty, every base is tried and the one that saves the most is used.
  std::string base;
  bool dry_run = false;       // compare and report only
  bool catch_signals = true;  // as BuildOptions::catch_signals
  std::function<void(const std::string&)> progress;
};

struct UnifyResult {
  std::string base;
  std::uint64_t bytes_before = 0;  // disk use of the guest's root before (du)
  std::uint64_t bytes_after = 0;   // disk use of its layers after (for a dry run: what would stay)
  std::size_t identical = 0;       // entries dropped in favour of the base's
  std::size_t kept = 0;            // entries kept in the upper layer
  std::size_t whiteouts = 0;       // base entries the guest had deleted
  [[nodiscard]] std::uint64_t saved() const {
    return bytes_before > bytes_after ? bytes_before - bytes_after : 0;
  }
};

// Unifies the stopped guest name. Throws (and changes nothing) when the guest runs, is already
// unified, the base does not exist, or the guest has nothing in common with the base.
UnifyResult unify_guest(const config::Roots& roots, std::string_view name,
                        const UnifyOptions& opts);

// vserver NAME make-base BASE: copies the stopped guest's root into a new base (reflinked where
// the filesystem shares extents), then unifies the guest on it, leaving it an empty upper layer.
UnifyResult make_base_from_guest(const config::Roots& roots, std::string_view name,
                                 const std::string& base,
                                 const std::function<void(const std::string&)>& progress);

}  // namespace vs::provision
