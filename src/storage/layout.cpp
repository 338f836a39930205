#include "storage/layout.hpp"

#include <string>

namespace vs::storage {

std::filesystem::path guest_data_dir(const config::Roots& /*roots*/,
                                     const config::GuestConfig& cfg) {
  // cfg.vdir is VDIR_ROOT/NAME unless the guest's vdir link says otherwise.
  return cfg.vdir;
}

std::filesystem::path guest_image(const config::Roots& roots, std::string_view id) {
  return roots.vdir / ".images" / (std::string(id) + ".ext4");
}

}  // namespace vs::storage
