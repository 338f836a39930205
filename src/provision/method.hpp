// The build methods behind one interface: build_guest validates the options, lets the method check
// what it needs (before anything is written), prepares the configuration and the empty root, lets
// the method fill the root, then does the steps every guest shares. A new method is a class in a
// file of its own and a line in method_for(); not part of the library's interface.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "config/roots.hpp"
#include "provision/build.hpp"
#include "provision/internal.hpp"
#include "state/state.hpp"
#include "storage/layout.hpp"

namespace vs::provision::detail {

// One build under way: its inputs, what the method's check found, and where populate writes.
struct Build {
  Build(const config::Roots& r, const BuildOptions& opts) : roots(r), o(opts) {}

  const config::Roots& roots;  // absolute
  const BuildOptions& o;
  std::string hostname;  // the guest's hostname (an import may take the exported one)

  // Found by check().
  std::string base;                                    // the base of a unified guest
  std::optional<config::GuestConfig> source_cfg;       // clone of a guest: its configuration
  std::optional<state::GuestLock> source_lock;         // ... locked, so that it cannot start
  std::vector<std::optional<ExportManifest>> exports;  // template: which archives are exports
  fs::path source_dir;                                 // clone: what is copied
  fs::path busybox;                                    // busybox: the executable, absolute
  DebootstrapRun deb;
  RsyncRun rsync;

  // Set up by build_guest before populate().
  const config::GuestConfig* cfg = nullptr;  // the configuration being written
  fs::path vdir;                             // where the root will be (for messages)
  fs::path tmp_vdir;                         // where it is made
  fs::path tmp_cfg;                          // where the configuration is made
  const Root* root = nullptr;                // tmp_vdir, open
  std::optional<storage::Overlay> overlay;   // a unified guest's layers
  // Runs fn on the merged root of a unified guest (mounted in a helper's mount namespace).
  std::function<void(const std::function<void(const Root&)>&)> in_merged_root;

  // Set by populate().
  bool regenerate_keys = false;  // a copy whose SSH host keys were removed
};

class BuildMethod {
 public:
  BuildMethod() = default;
  BuildMethod(const BuildMethod&) = delete;
  BuildMethod& operator=(const BuildMethod&) = delete;
  virtual ~BuildMethod() = default;

  // The method's own options, before anything is looked at; throws naming what is missing.
  virtual void validate(const BuildOptions& o) const = 0;
  // What the method needs, checked before anything is written (sources, tools, the base);
  // fills b. Runs with the guest's lock held.
  virtual void check(Build& b) const = 0;
  // Fills the new root (b.root, or the merged root of b.overlay).
  virtual void populate(Build& b) const = 0;

  // The init style when --initstyle gives none; nullopt: the configuration's default.
  [[nodiscard]] virtual std::optional<config::InitStyle> default_init_style(const Build&) const {
    return std::nullopt;
  }
  // Whether the method wrote /etc/hosts itself (then it is rewritten with the guest's addresses).
  [[nodiscard]] virtual bool writes_own_hosts() const { return false; }
  // Whether the root came from elsewhere (a template, a directory, debootstrap): its init is then
  // looked at to choose or check the init style.
  [[nodiscard]] virtual bool foreign_root(const Build&) const { return false; }
};

const BuildMethod& method_for(Method m);

const BuildMethod& skeleton_method();
const BuildMethod& archive_method();
const BuildMethod& clone_method();
const BuildMethod& busybox_method();
const BuildMethod& base_method();
const BuildMethod& debootstrap_method();
const BuildMethod& rsync_method();

// vserver NEW import FILE: the exported configuration unpacked into a directory of its own below
// CONFIG_ROOT and checked, before anything else is written (export.cpp). Removed with the guard
// unless the build renames it into place first.
struct StagedImport {
  std::unique_ptr<TempDir> guard;  // the staging directory
  fs::path config;                 // the configuration directory in it
  std::string hostname;            // the exported guest's hostname
};
StagedImport stage_import(const config::Roots& roots, const BuildOptions& o,
                          const ExportManifest* manifest);

// Steps shared by several methods (build.cpp).

// Copies .defaults/files/{hosts,resolv.conf,...} into the root's /etc.
void copy_default_files(const config::Roots& roots, const Root& root);
// /etc/hosts naming the guest's addresses and /etc/resolv.conf, written when the guest has none
// (or, when ours, rewritten with the addresses).
void write_network_files(const config::Roots& roots, const Root& root, const std::string& hostname,
                         const std::vector<config::Interface>& interfaces, bool ours);
// A copy of a guest gets its own name in /etc/hostname when the file held the source's.
void rename_hostname(const Root& root, const std::string& old_name, const std::string& new_name);
// The roots made absolute: a build changes its working directory.
config::Roots absolute_roots(const config::Roots& r);
// Whether cmd is an executable in PATH.
bool in_path(std::string_view cmd);
// "text" with quotes, for messages.
std::string quote(std::string_view s);

}  // namespace vs::provision::detail
