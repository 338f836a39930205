// vserver NAME remove-image (docs/storage.md).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "config/roots.hpp"

namespace vs::provision {

// The way back from the image method: the stopped guest's files move out of its image into its
// directory, then the image is removed. Refused while the guest runs, when its directory holds
// files, when the host's filesystem lacks the room, and while dlimits/ would make a new image at
// the next start. A failure leaves the directory as it was and the image in place.
void remove_image(const config::Roots& roots, std::string_view name,
                  const std::function<void(const std::string&)>& progress);

}  // namespace vs::provision
