#include "provision/base.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <optional>

#include "config/config.hpp"
#include "provision/internal.hpp"
#include "provision/method.hpp"
#include "state/state.hpp"
#include "storage/base.hpp"
#include "storage/layout.hpp"
#include "storage/overlay.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"
#include "sys/interrupt.hpp"
#include "sys/tree.hpp"

namespace vs::provision {

namespace {

std::string temp_name(std::string_view name) {
  return fmt::format(".{}.build-{}", name, ::getpid());
}

}  // namespace

void create_base(const config::Roots& roots_in, const BuildOptions& o) {
  storage::check_base_name(o.name);
  config::Roots roots = roots_in;
  roots.vdir = fs::absolute(roots.vdir).lexically_normal();
  roots.config = fs::absolute(roots.config).lexically_normal();
  clear_interrupt();
  InterruptScope signals(o.catch_signals);
  // Everything that can be checked is checked before anything is written.
  std::optional<config::GuestConfig> source_cfg;
  std::optional<state::GuestLock> source_lock;
  fs::path source_dir;
  switch (o.method) {
    case Method::archive:
      if (o.archives.empty()) throw Error("method template needs at least one archive (-t FILE)");
      for (const auto& a : o.archives) {
        UniqueFd f = open_file(a, O_RDONLY);
        struct stat st {};
        if (::fstat(f.get(), &st) != 0) throw_errno("stat", a.string());
        if (!S_ISREG(st.st_mode)) throw Error(a.string() + ": not a regular file");
      }
      break;
    case Method::busybox:
      detail::check_static_executable(fs::absolute(o.busybox));
      break;
    case Method::clone: {
      if (o.source.empty()) throw Error("method clone needs a source (--source GUEST|DIR)");
      std::error_code ec;
      if (config::valid_guest_name(o.source) &&
          fs::is_directory(roots.guest_config_dir(o.source), ec)) {
        source_lock.emplace(roots, o.source);
        if (state::guest_running(roots, o.source)) {
          throw Error("vserver '" + o.source + "' is running; stop it before copying it");
        }
        source_cfg = config::load_guest(roots, o.source);
        source_dir = source_cfg->vdir;
      } else {
        source_dir = fs::absolute(o.source);
      }
      struct stat st {};
      if (::stat(source_dir.c_str(), &st) != 0) throw_errno("clone source", source_dir.string());
      if (!S_ISDIR(st.st_mode)) {
        throw Error("clone source " + source_dir.string() + ": not a directory");
      }
      break;
    }
    case Method::skeleton:
    case Method::base:
    case Method::debootstrap:
    case Method::rsync:
      throw Error(std::string("a base cannot be made with method ") + to_string(o.method) +
                  " (use template, busybox or clone; a guest built with debootstrap becomes a "
                  "base with vserver NAME make-base BASE)");
  }

  // After the source's lock: unify takes a guest's lock, then this one.
  storage::BaseLock lock(roots);
  fs::path dest = storage::base_dir(roots, o.name);
  if (lexists(dest)) throw Error("base '" + o.name + "' already exists (" + dest.string() + ")");
  // Leftovers (.BASE.build-PID) of creations of this base whose process is gone.
  remove_stale_temps(storage::bases_dir(roots), fmt::format(".{}.build-", o.name));

  fs::path tmp = storage::bases_dir(roots) / temp_name(o.name);
  if (::mkdir(tmp.c_str(), 0700) != 0) throw_errno("create directory", tmp.string());
  TempDir guard(tmp);
  detail::Root root{tmp, open_file(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)};
  if (::geteuid() == 0 && ::fchown(root.fd.get(), 0, 0) != 0) throw_errno("chown", tmp.string());
  switch (o.method) {
    case Method::archive:
      for (const auto& a : o.archives) {
        std::size_t n = detail::unpack_archive(root, a, o.warning);
        if (o.progress) {
          o.progress("Unpacked " + std::to_string(n) + " entries from " + a.string() +
                     " into base " + o.name);
        }
      }
      detail::make_standard_dirs(root, true);
      break;
    case Method::busybox:
      detail::install_busybox(root, fs::absolute(o.busybox), o.name);
      break;
    case Method::clone: {
      std::size_t n = 0;
      auto copy = [&] { n = detail::copy_tree(source_dir, root, o.warning); };
      if (source_cfg && source_cfg->base) {
        // A unified guest: its merged root, mounted in a private mount namespace.
        auto ov = storage::guest_overlay(roots, *source_cfg);
        storage::check_overlay(*source_cfg, *ov);
        storage::run_in_merged_root(*ov, source_dir, copy);
      } else {
        copy();
      }
      if (o.progress) {
        o.progress((n > 0 ? "Copied " + std::to_string(n) + " entries" : std::string("Copied")) +
                   " from " + source_dir.string() + " into base " + o.name);
      }
      detail::make_standard_dirs(root, true);
      break;
    }
    case Method::skeleton:
    case Method::base:
    case Method::debootstrap:
    case Method::rsync:
      break;
  }
  check_interrupted();
  // The top directory says "read-only" to whoever looks; overlayfs never writes to a lower layer.
  if (::fchmod(root.fd.get(), 0555) != 0) throw_errno("chmod", tmp.string());
  root.fd.reset();
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dest.c_str(), RENAME_NOREPLACE) != 0) {
    throw_errno("rename " + tmp.string() + " to", dest.string());
  }
  guard.dismiss();
  if (o.progress) o.progress("Made base '" + o.name + "' in " + dest.string());
}

// ---- build -m base: a guest layered on a base ---------------------------------------------

namespace detail {
namespace {

class OnBase final : public BuildMethod {
 public:
  void validate(const BuildOptions& o) const override {
    if (o.base.empty()) throw Error("method base needs a base (--base BASE)");
    if (!storage::valid_base_name(o.base)) throw Error("invalid base name " + quote(o.base));
  }
  void check(Build& b) const override { b.base = b.o.base; }
  void populate(Build& b) const override {
    b.in_merged_root([&](const Root& merged) {
      write_file_in(merged, "etc/hostname", b.hostname + "\n");
      copy_default_files(b.roots, merged);
      write_network_files(b.roots, merged, b.hostname, b.cfg->interfaces, true);
    });
    if (b.o.progress) {
      b.o.progress("Layered vserver '" + b.o.name + "' on base '" + b.base +
                   "'; its own files are in " + storage::layers_dir(b.roots, b.o.name).string());
    }
  }
  [[nodiscard]] std::optional<config::InitStyle> default_init_style(const Build& b) const override {
    // The base's own init when it has no sysv rc script (a busybox base, for one).
    fs::path dir = storage::base_dir(b.roots, b.base);
    if (!lexists(dir / "etc/init.d/rc") && !lexists(dir / "etc/rc.d/rc")) {
      return config::InitStyle::plain;
    }
    return std::nullopt;
  }
};

}  // namespace

const BuildMethod& base_method() {
  static const OnBase m;
  return m;
}

}  // namespace detail

}  // namespace vs::provision
