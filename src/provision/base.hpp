// Making a base: the shared read-only root filesystem unified guests are layered on
// (storage/base.hpp, docs/storage.md).
#pragma once

#include "config/roots.hpp"
#include "provision/build.hpp"

namespace vs::provision {

// Makes base opts.name from opts.method: template (opts.archives), busybox (opts.busybox) or
// clone (opts.source: a stopped guest, unified or not, or a directory; copied with reflinks where
// the filesystem shares extents). Built in VDIR_ROOT/.bases/.BASE.build-PID and renamed into place:
// a failed or interrupted creation leaves nothing. The base's top directory is made mode 0555.
void create_base(const config::Roots& roots, const BuildOptions& opts);

}  // namespace vs::provision
