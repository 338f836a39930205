// vserver NAME delete: removing a stopped guest, its root, configuration and state.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "provision/build.hpp"
#include "provision/internal.hpp"
#include "provision/method.hpp"
#include "state/state.hpp"
#include "storage/base.hpp"
#include "storage/image.hpp"
#include "storage/layout.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"
#include "sys/tree.hpp"

namespace vs::provision {

using detail::absolute_roots;
using detail::quote;

namespace {

bool is_within(const fs::path& inner, const fs::path& outer) {
  auto o = outer.begin();
  auto i = inner.begin();
  for (; o != outer.end(); ++o, ++i) {
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

// The directory a guest's vdir resolves to, checked to be something that can be removed as a
// guest root; nullopt if it does not exist.
std::optional<fs::path> removable_root(const config::Roots& roots, const std::string& name,
                                       const fs::path& vdir) {
  char buf[PATH_MAX];
  if (::realpath(vdir.c_str(), buf) == nullptr) {
    if (errno == ENOENT) return std::nullopt;
    throw_errno("resolve", vdir.string());
  }
  fs::path real = buf;
  auto refuse = [&](const std::string& why) {
    return Error("refusing to delete the root of vserver '" + name + "': " + vdir.string() +
                 (real == vdir ? std::string() : " resolves to " + real.string()) + ", " + why);
  };
  std::size_t parts = 0;
  for (const auto& c : real.relative_path()) {
    if (!c.empty()) ++parts;
  }
  if (parts < 2) throw refuse("which is too close to / to be a guest root");
  struct stat st {
  }, slash{};
  if (::stat(real.c_str(), &st) != 0) throw_errno("stat", real.string());
  if (!S_ISDIR(st.st_mode)) throw refuse("which is not a directory");
  if (::stat("/", &slash) == 0 && st.st_dev == slash.st_dev && st.st_ino == slash.st_ino) {
    throw refuse("which is the host's root directory");
  }
  for (const auto& r : {roots.config, roots.vdir, roots.run, roots.log}) {
    std::error_code ec;
    fs::path rr = fs::weakly_canonical(r, ec);
    if (!ec && is_within(rr, real)) throw refuse("which holds " + r.string());
  }
  for (const auto& other : config::list_guests(roots)) {
    if (other == name) continue;
    config::GuestConfig ocfg;
    try {
      config::check_guest(roots, other, ocfg);
    } catch (const Error&) {
      continue;
    }
    std::error_code ec;
    fs::path oreal = fs::weakly_canonical(ocfg.vdir, ec);
    if (!ec && (is_within(oreal, real) || is_within(real, oreal))) {
      throw refuse("which overlaps the root of vserver '" + other + "' (" + oreal.string() + ")");
    }
  }
  return real;
}

// Mount points at or below dir, from /proc/self/mountinfo (field 5, octal escapes decoded).
std::vector<fs::path> mounts_within(const fs::path& dir) {
  std::vector<fs::path> out;
  auto text = read_file_if_exists("/proc/self/mountinfo");
  if (!text) return out;
  for (const auto& line : split_lines(*text)) {
    std::size_t pos = 0;
    for (int field = 0; field < 4 && pos != std::string::npos; ++field) {
      pos = line.find(' ', pos);
      if (pos != std::string::npos) ++pos;
    }
    if (pos == std::string::npos) continue;
    std::size_t end = line.find(' ', pos);
    std::string_view raw = std::string_view(line).substr(pos, end - pos);
    std::string mp;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 3 < raw.size()) {
        mp += static_cast<char>((raw[i + 1] - '0') * 64 + (raw[i + 2] - '0') * 8 +
                                (raw[i + 3] - '0'));
        i += 3;
      } else {
        mp += raw[i];
      }
    }
    if (is_within(mp, dir)) out.emplace_back(mp);
  }
  return out;
}

}  // namespace

void delete_guest(const config::Roots& roots_in, std::string_view name_in) {
  std::string name(name_in);
  if (!config::valid_guest_name(name)) throw Error("invalid vserver name " + quote(name));
  const config::Roots roots = absolute_roots(roots_in);
  fs::path cfgdir = roots.guest_config_dir(name);
  auto missing = [&] {
    return GuestNotFound("Can not find a vserver-setup at '" + cfgdir.string() + "/'");
  };
  struct stat st {};
  if (::stat(cfgdir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) throw missing();

  state::GuestLock lock(roots, name);
  if (::stat(cfgdir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) throw missing();
  if (state::guest_running(roots, name))
    throw Error("vserver '" + name + "' is running; stop it first");

  config::GuestConfig cfg;
  config::check_guest(roots, name, cfg);  // a broken configuration can still be deleted
  if (auto real = removable_root(roots, name, cfg.vdir)) {
    // Nothing is removed while a filesystem is mounted in the root (remove_tree would stop at
    // it, halfway).
    if (auto mounts = mounts_within(*real); !mounts.empty()) {
      throw Error("refusing to delete the root of vserver '" + name +
                  "': a filesystem is mounted at " + mounts.front().string() +
                  "; unmount it first");
    }
    remove_tree(*real);
  }
  // A unified guest's own files; its base stays.
  remove_tree(storage::layers_dir(roots, cfg.id()));
  // The guest's disk image, when the image method kept its disk limit.
  fs::path image = storage::guest_image(roots, name);
  if (!storage::image_mounts(image).empty()) {
    throw Error("refusing to delete the disk image of vserver '" + name + "': " + image.string() +
                " is mounted");
  }
  if (::unlink(image.c_str()) != 0 && errno != ENOENT) throw_errno("remove", image.string());
  remove_tree(cfgdir);
  state::remove_state(roots, name);
  // Nothing of the guest stays: its console log, its lock, and the directories of unified
  // guests and bases when it was the last to use them.
  fs::path log = roots.console_log(name);
  if (::unlink(log.c_str()) != 0 && errno != ENOENT) throw_errno("remove", log.string());
  fs::path layers = storage::layers_root(roots);
  if (::rmdir(layers.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST) {
    throw_errno("remove", layers.string());
  }
  storage::remove_unused_bases_dir(roots);
  lock.remove_file();
}

}  // namespace vs::provision
