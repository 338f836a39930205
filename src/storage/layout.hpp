// Where a guest's own data lives on the host: the directory its writes go to, which a disk limit
// applies to, and the image that holds it when the image method keeps the limit.
#pragma once

#include <filesystem>

#include "config/model.hpp"
#include "config/roots.hpp"

namespace vs::storage {

// The directory that holds the guest's own writes: its root, VDIR_ROOT/NAME (or where the vdir
// link points).
std::filesystem::path guest_data_dir(const config::Roots& roots, const config::GuestConfig& cfg);

// The ext4 image of a guest whose disk limit is kept by the image method:
// VDIR_ROOT/.images/NAME.ext4 (a guest name never starts with '.', so no guest can own it).
std::filesystem::path guest_image(const config::Roots& roots, std::string_view id);

}  // namespace vs::storage
