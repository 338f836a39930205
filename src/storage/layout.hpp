// Where a guest's files live on the host (docs/storage.md, "Layout").
//
// A guest with a full root of its own keeps everything in its vdir (VDIR_ROOT/NAME). A unified
// guest (configuration file unify/base) is layered with overlayfs:
//
//   VDIR_ROOT/.bases/BASE/           the shared read-only base: a complete root filesystem
//   VDIR_ROOT/.layers/ID/upper/      the guest's own changes (overlayfs upper layer)
//   VDIR_ROOT/.layers/ID/work/       overlayfs' work directory (same filesystem as upper)
//   VDIR_ROOT/NAME/                  an empty directory: the mount point of the merged root
//
// ID is the guest's configuration directory name (GuestConfig::id()). The merged root is mounted
// only inside the guest's own mount namespace (at start) or in the private mount namespace of a
// short-lived helper process (build), never in the host's, so no crash can leave a mount behind.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "config/model.hpp"
#include "config/roots.hpp"

namespace vs::storage {

namespace fs = std::filesystem;

// VDIR_ROOT/.bases and VDIR_ROOT/.bases/BASE.
fs::path bases_dir(const config::Roots& roots);
fs::path base_dir(const config::Roots& roots, std::string_view base);
// VDIR_ROOT/.layers and VDIR_ROOT/.layers/ID.
fs::path layers_root(const config::Roots& roots);
fs::path layers_dir(const config::Roots& roots, std::string_view id);

// A base name follows the rules of a guest name (config::valid_guest_name).
bool valid_base_name(std::string_view name);

// The directory that holds the guest's own writes: VDIR_ROOT/.layers/ID for a unified guest (its
// upper and work directories), the vdir (VDIR_ROOT/NAME or the vdir link's target) for a guest
// with a full root. This is what a disk limit (project quota) applies to.
std::filesystem::path guest_data_dir(const config::Roots& roots, const config::GuestConfig& cfg);

// The layers of a unified guest's root.
struct Overlay {
  fs::path lower;  // the base
  fs::path upper;  // LAYERS/upper
  fs::path work;   // LAYERS/work
};
// nullopt for a guest with a full root. Computes paths only; see check_overlay.
std::optional<Overlay> guest_overlay(const config::Roots& roots, const config::GuestConfig& cfg);
// Whether an absolute path inside the guest (e.g. "/bin/bash") names something in its root, seen
// from the host without mounting anything: for a unified guest, its upper layer (where a whiteout
// means "deleted") and then its base. Symbolic links are not followed.
bool exists_in_root(const config::Roots& roots, const config::GuestConfig& cfg,
                    std::string_view path);

// The ext4 image of a guest whose disk limit is kept by the image method:
// VDIR_ROOT/.images/NAME.ext4 (a guest name never starts with '.', so no guest can own it).
std::filesystem::path guest_image(const config::Roots& roots, std::string_view id);

// Throws, naming the layer ("base 'NAME'", "upper layer", "work directory") and its path,
// unless every layer is a directory.
void check_overlay(const config::GuestConfig& cfg, const Overlay& o);

}  // namespace vs::storage
