// vserver NAME remove-image: the way back from the image method to a plain directory, as
// util-vserver's vdlimit --remove took a guest's disk limit away (docs/storage.md).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fmt/format.h>

#include "config/config.hpp"
#include "provision/internal.hpp"
#include "provision/remove_image.hpp"
#include "state/state.hpp"
#include "storage/image.hpp"
#include "storage/layout.hpp"
#include "storage/quota.hpp"
#include "storage/storage.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::provision {

// The guest's image and quota are storage's; this file moves its files between them.
using namespace vs::storage;

namespace {

// Removes what is in dir (not dir itself); errors are the caller's original failure's business.
void clear_dir(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code rec;
    fs::remove_all(it->path(), rec);
  }
}

}  // namespace

void remove_image(const config::Roots& roots, std::string_view name,
                  const std::function<void(const std::string&)>& progress) {
  config::GuestConfig cfg = config::load_guest(roots, name);
  state::GuestLock lock(roots, cfg.id());
  if (state::guest_running(roots, cfg.id())) {
    throw Error("vserver '" + cfg.name + "' is running; stop it before removing its disk image");
  }
  cfg = config::load_guest(roots, name);  // as it is now, under the lock
  fs::path image = guest_image(roots, cfg.id());
  struct stat ist {};
  if (::stat(image.c_str(), &ist) != 0) {
    if (errno == ENOENT) {
      throw Error("vserver '" + cfg.name + "' has no disk image (" + image.string() + ")");
    }
    throw_errno("stat", image.string());
  }
  fs::path data = guest_data_dir(roots, cfg);
  // Without the image, the next start would make a new one: the limit must go first, or be
  // kept by a project quota.
  if (cfg.dlimits.limit) {
    fs::path dir = cfg.cfgdir / "dlimits";
    if (cfg.dlimits.method == config::DiskLimitMethod::image) {
      throw Error(fmt::format(
          "vserver '{}': {}/method is image, so the next start would make a new image; remove "
          "{} (no disk limit) or set the method to quota first",
          cfg.name, dir.string(), dir.string()));
    }
    auto support = project_quota_support(data);
    if (!support.enforced) {
      throw Error(fmt::format(
          "vserver '{}': {} still asks for a disk limit, and without a project quota ({}) the "
          "next start would make a new image; remove {} first",
          cfg.name, dir.string(), support.why_not, dir.string()));
    }
  }
  release_image(image);  // a mount left by a run that crashed
  std::error_code ec;
  if (fs::directory_iterator(data, ec) != fs::directory_iterator() || ec) {
    if (ec) throw_errno("read directory", data.string(), ec.value());
    throw Error("vserver '" + cfg.name + "': " + data.string() +
                " holds files besides the image's; move them away first");
  }
  fs::path mnt = image;
  mnt += ".extract";
  if (::mkdir(mnt.c_str(), 0700) != 0 && errno != EEXIST) {
    throw_errno("create directory", mnt.string());
  }
  struct RemoveDir {
    const fs::path& p;
    ~RemoveDir() { ::rmdir(p.c_str()); }
  } remove_mnt{mnt};
  try {
    run_in_image_root(image, mnt, [&] {
      // Room on the host's filesystem for what the image holds.
      struct statvfs in {};
      struct statvfs out {};
      if (::statvfs(mnt.c_str(), &in) != 0) throw_errno("statfs", image.string());
      if (::statvfs(data.c_str(), &out) != 0) throw_errno("statfs", data.string());
      std::uint64_t used = (in.f_blocks - in.f_bfree) * in.f_frsize / 1024;
      std::uint64_t room = out.f_bavail * out.f_frsize / 1024;
      if (used > room) {
        throw Error(
            fmt::format("vserver '{}': the image {} holds {} KiB, the filesystem of {} "
                        "has {} KiB free",
                        cfg.name, image.string(), used, data.string(), room));
      }
      detail::Root root{data, open_file(data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)};
      detail::copy_tree(mnt, root, [&](const std::string& w) {
        if (progress) progress("warning: " + w);
      });
    });
    // The image's lost+found is ext4's, not the guest's.
    ::rmdir((data / "lost+found").c_str());
  } catch (...) {
    clear_dir(data);  // back as it was: the data stays in the image
    throw;
  }
  if (::unlink(image.c_str()) != 0) throw_errno("remove disk image", image.string());
  if (progress) {
    progress("moved the files of " + image.string() + " into " + data.string() +
             " and removed the image");
  }
}

}  // namespace vs::provision
