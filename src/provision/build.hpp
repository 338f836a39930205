// Building and deleting guests: `vserver NAME build` and `vserver NAME delete`
// (util-vserver.md §2.1).
//
// A build never leaves a half-made guest behind. The configuration is written into
// CONFIG_ROOT/.NAME.build-PID and the root filesystem into VDIR_ROOT/.NAME.build-PID; both are
// renamed into place only when the method has succeeded, and removed on any failure, including
// SIGINT, SIGTERM and SIGHUP during the build. Leftovers of a build whose process died are removed
// by the next build of the same name.
//
// The template method changes the working directory of the calling process while it unpacks
// (libarchive's secure extraction works on relative paths). A multi-threaded caller must run
// builds in a child process.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/model.hpp"
#include "config/roots.hpp"
#include "provision/debian.hpp"
#include "sys/error.hpp"

namespace vs::provision {

namespace fs = std::filesystem;

enum class Method {
  skeleton,     // configuration plus an empty root with the standard directories
  archive,      // util-vserver's "template": unpack tarballs
  clone,        // copy another guest or a directory tree
  busybox,      // a small working guest made from a static busybox
  base,         // a unified guest on a shared read-only base (docs/storage.md)
  debootstrap,  // Debian's debootstrap, then fitted for a container (docs/debian.md)
  rsync,        // an existing server's files, copied by rsync (locally or over ssh)
};
// The names used on the command line: skeleton, template, clone, busybox, base, debootstrap,
// rsync.
const char* to_string(Method m);
std::optional<Method> method_from_string(std::string_view s);

struct BuildOptions {
  std::string name;
  Method method = Method::skeleton;

  std::optional<int> context;                 // --context; allocated when absent
  std::optional<std::string> hostname;        // --hostname → uts/nodename; default the guest name
  std::vector<config::Interface> interfaces;  // --interface, see config::parse_interface
  std::optional<config::InitStyle> init_style;  // --initstyle
  std::optional<std::set<std::string>> cflags;  // --flags, lower-case context flag names
  bool force = false;  // replace an existing guest, keeping it as NAME~EPOCH~

  // Method arguments.
  std::vector<std::string> command;  // skeleton: run afterwards in the new root
  std::vector<fs::path> archives;    // template: unpacked in this order
  std::string source;                // clone: a guest name or a directory; rsync: [HOST:]PATH
  // rsync: --exclude patterns (besides the contents of /proc, /sys, /dev, /run and /tmp), more
  // rsync options, and whether to stay on the source's root filesystem.
  std::vector<std::string> rsync_excludes;
  std::vector<std::string> rsync_options;
  bool one_file_system = false;
  fs::path busybox = "/bin/busybox";  // busybox: a statically linked busybox
  std::string base;                   // base: the base (VDIR_ROOT/.bases/BASE) to layer on
  // template with one archive made by export_guest: take the configuration from it too (vserver
  // NEW import FILE), keeping its context when that is free here. Without it, an export given to
  // the template method gives only its root filesystem.
  bool import_config = false;
  // debootstrap: -d SUITE [-m MIRROR] [-s SCRIPT] [--variant V] [-- DEBOOTSTRAP-OPTIONS...].
  // Without a mirror: NAME/apps/debootstrap/mirror (a guest being replaced with --force),
  // .distributions/SUITE/debootstrap.mirror, .defaults/apps/debootstrap/mirror, then the host's
  // apt sources (the source of SUITE, else of the host's own suite).
  std::string suite;
  std::string mirror;
  std::string script;
  std::string variant;
  std::vector<std::string> debootstrap_options;
  // debootstrap's progress (stage, packages done and total), several times a second.
  std::function<void(const DebootstrapProgress&, std::int64_t elapsed_ms)> debootstrap_progress;

  // Catch SIGINT, SIGTERM and SIGHUP during the build and abort it cleanly. Callers that manage
  // signals themselves set this to false and use vs::request_interrupt()
  // (sys/interrupt.hpp).
  bool catch_signals = true;
  // Progress lines ("Unpacked 1234 entries into ...") and warnings; ignored when empty.
  std::function<void(const std::string&)> progress;
  std::function<void(const std::string&)> warning;
};

// Builds the guest described by opts. Throws vs::Error on failure, after removing everything the
// build created.
//
// Unified guests (docs/storage.md): method base makes a guest whose root is the base plus an
// upper layer of its own holding /etc/hostname, /etc/hosts and /etc/resolv.conf; a clone of a
// unified guest is a unified guest on the same base with a copy of the source's upper layer. Their
// files are written through the merged root, mounted in a private mount namespace.
void build_guest(const config::Roots& roots, const BuildOptions& opts);

// The mirror a debootstrap build of SUITE would use (see BuildOptions::mirror), and where it was
// found; throws when there is none.
std::pair<std::string, std::string> default_debootstrap_mirror(const config::Roots& roots,
                                                               std::string_view name,
                                                               std::string_view suite);

// The packages a debootstrap build adds for an init style: sysv needs /etc/init.d/rc (sysv-rc),
// plain a /sbin/init (sysvinit-core), systemd systemd and systemd-sysv.
std::vector<std::string> init_packages(config::InitStyle style);

// Allocates a context id like util-vserver: .defaults/context.next (default 40000), skipping ids
// used by existing guests and by builds in progress; writes the next value back. Serialised by an
// flock on .defaults/.context.lock.
int allocate_context(const config::Roots& roots);

// Thrown when a guest to act on does not exist; util-vserver exits 5 then.
class GuestNotFound : public Error {
 public:
  using Error::Error;
};

// Whether the guest's configuration directory or its default root exists.
bool guest_exists(const config::Roots& roots, std::string_view name);

// Removes a stopped guest: its root (the vdir link's target, never following symlinks inside it
// and never crossing into another mounted filesystem), its configuration directory, and its stale
// run-time state. Throws GuestNotFound for a missing guest, Error for a running one or for a vdir
// that resolves to something that cannot be a guest root ("/", a top-level directory, a
// directory holding the configured roots).
void delete_guest(const config::Roots& roots, std::string_view name);

// Renames a stopped guest: its configuration directory, its root when it is the default
// VDIR_ROOT/NAME (and the vdir link), the name file and uts/nodename when they held the old name,
// the guest's /etc/hostname and the names in its /etc/hosts when its hostname was the old name,
// other guests' apps/init/depends, and the console log. Refused while the guest runs or when NEW
// exists. Either everything is renamed or, after a failure, everything is as before.
void rename_guest(const config::Roots& roots, std::string_view from, std::string_view to);
// The lines of an /etc/hosts with every host name `from` (or `from.DOMAIN`) replaced by `to`;
// addresses, comments and spacing unchanged.
std::string rename_hosts_entries(std::string_view hosts, std::string_view from,
                                 std::string_view to);

// ---- export and import ---------------------------------------------------------------------

// The first entry of an export archive.
inline constexpr std::string_view kExportManifest = "vserver-export.json";

struct ExportManifest {
  int version = 1;
  std::string name;            // the guest's name when exported
  std::optional<int> context;  // its context id
  std::string hostname;
  std::string created;  // UTC, ISO 8601
};

// Writes the stopped guest's configuration and root filesystem into file (.tar, .tar.gz, .tgz,
// .tar.xz, .txz, .tar.zst, .tzst: compressed by the suffix), atomically: a temporary file in the
// same directory renamed over file at the end, removed on failure. Returns the number of entries.
// Refused while the guest runs and when its configuration has problems.
std::size_t export_guest(const config::Roots& roots, std::string_view name, const fs::path& file,
                         const std::function<void(const std::string&)>& warning);
// The manifest when archive is an export, nullopt for any other archive. Throws for an archive
// that cannot be read and for an export with a bad or unknown manifest.
std::optional<ExportManifest> read_export_manifest(const fs::path& archive);
// The manifest from its text; throws Error naming the bad field.
ExportManifest parse_export_manifest(std::string_view text);

}  // namespace vs::provision
