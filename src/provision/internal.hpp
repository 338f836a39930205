// Pieces shared by the build methods; not part of the library's interface.
#pragma once

#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "provision/debian.hpp"
#include "sys/fd.hpp"
#include "sys/interrupt.hpp"
#include "sys/tree.hpp"

namespace vs::provision::detail {

namespace fs = std::filesystem;

using Report = std::function<void(const std::string&)>;

// ---- the root filesystem under construction ------------------------------------------------

// A guest root being built: its path (for messages) and an fd every operation starts from.
struct Root {
  fs::path path;
  UniqueFd fd;
};

// Splits a relative path into its components, dropping empty ones and ".". Throws for "..".
std::vector<std::string> components(std::string_view rel);
// The name of an archive entry (or a hard-link target) as the path it is written to below the
// guest root: its components, "./" and empty ones dropped. nullopt when it would leave the root:
// absolute, or holding "..". An empty result is the root itself.
std::optional<std::vector<std::string>> clean_entry_name(std::string_view name);

// Opens directory rel under rootfd without following symlinks. When create is set, missing
// components are made with mode (exactly, regardless of umask). Throws when a component is a
// symlink or not a directory, unless lenient is set: then an invalid fd is returned.
UniqueFd open_dir_in(const Root& root, std::string_view rel, bool create, mode_t mode = 0755,
                     bool lenient = false);

// Writes a regular file (created or truncated, mode set exactly) without following symlinks.
void write_file_in(const Root& root, std::string_view rel, std::string_view content,
                   mode_t mode = 0644);
// Creates a symbolic link rel → target. Returns false if rel already exists.
bool symlink_in(const Root& root, std::string_view rel, const std::string& target);

// The standard directories of a new guest (FHS), with their modes.
struct StdDir {
  const char* path;
  mode_t mode;
};
const std::vector<StdDir>& standard_dirs();
// Creates the standard directories that are missing. Components that are symbolic links (a
// merged /usr's "lib -> usr/lib") are left alone when lenient.
void make_standard_dirs(const Root& root, bool lenient);

// /etc/hostname and /etc/hosts for a new guest.
std::string hosts_file(const std::string& hostname);

// ---- commands -------------------------------------------------------------------------------

// Runs argv[0] (searched in PATH) in cwd with extra environment entries (VAR=VAL, replacing
// inherited ones), waits, and returns its standard output when capture is set (otherwise the
// output goes to ours). Throws when it cannot be run, when it fails ("CMD exited with status N"),
// and when the build is interrupted (the command is killed).
std::string run_command(const std::vector<std::string>& argv, const fs::path& cwd,
                        const std::vector<std::string>& env, bool capture);

// The outcome of a command whose failure the caller explains itself.
struct CommandResult {
  int status = 0;      // the raw wait status
  std::string errors;  // everything it wrote to its standard error
};
// Runs argv like run_command, its standard output going to ours and its standard error collected;
// throws only when it cannot be run and when the build is interrupted.
CommandResult run_command_result(const std::vector<std::string>& argv, const fs::path& cwd);

// ---- methods --------------------------------------------------------------------------------

// The standard directories, /etc/hostname and /etc/hosts of a new guest.
void populate_skeleton(const Root& root, const std::string& hostname);

// Unpacks one archive into root; returns the number of entries written. Refuses (throws, naming
// the entry) entries that would escape the root or create device nodes other than the harmless
// ones.
// With under set, only the entries below that top-level directory of the archive are unpacked,
// with the directory stripped from their names (and from hard-link targets, which must be below
// it too); every other entry is skipped. After unpacking the entries below under, it stops at
// the first entry past them when stop_after is set (the directory comes first in the archive).
std::size_t unpack_archive(const Root& root, const fs::path& archive, const Report& warning,
                           std::string_view under = {}, bool stop_after = false);

// Copies the tree at source into root, preserving everything (see clone.cpp). Returns the number
// of entries copied.
std::size_t copy_tree(const fs::path& source, const Root& root, const Report& warning);

// What a copy of a guest must not share with its source, so that the two can run side by side:
// the SSH host keys (/etc/ssh/ssh_host_*, removed), the machine id (/etc/machine-id and a regular
// /var/lib/dbus/machine-id, given a new random id; an empty /etc/machine-id stays empty, to be set
// at first boot), systemd's random seed and credential secret (removed). Never follows symbolic
// links. Returns the paths changed, relative to the root; host_keys is set when keys were removed.
std::vector<std::string> reset_identity(const Root& root, bool& host_keys);

// Throws unless path is a statically linked ELF executable (no PT_INTERP program header).
void check_static_executable(const fs::path& path);
// Installs busybox, its applet links and the files of a minimal bootable system into root.
void install_busybox(const Root& root, const fs::path& busybox, const std::string& hostname);

// build -m rsync: rsync -aHAX --numeric-ids SOURCE/ TARGET/, leaving out the contents of /proc,
// /sys, /dev, /run and /tmp (rsync_default_excludes) and what excludes names.
struct RsyncRun {
  std::string source;                 // [HOST:]PATH
  std::vector<std::string> excludes;  // rsync --exclude patterns
  std::vector<std::string> options;   // more rsync options
  bool one_file_system = false;       // --one-file-system: not into other mounted filesystems
};
const std::vector<std::string>& rsync_default_excludes();
// Whether rsync reads source from another host (HOST:PATH, HOST::MODULE, rsync://HOST/...).
bool rsync_remote(std::string_view source);
std::vector<std::string> rsync_argv(const RsyncRun& run, const fs::path& target);
// Runs rsync; throws with its exit status and the end of its standard error when it fails. Files
// that vanished during the copy (status 24) are a warning.
void run_rsync(const RsyncRun& run, const fs::path& target, const Report& warning);

// Runs debootstrap into target (an empty directory), in its own process group and mount
// namespace, reporting its progress; ends it and throws on interruption, throws with debootstrap's
// errors when it fails.
struct DebootstrapRun {
  std::string suite;
  std::string mirror;
  std::string variant;               // --variant (minbase, buildd, ...); empty: debootstrap's
  std::string script;                // the suite script, when not the suite's own
  std::vector<std::string> include;  // --include packages
  std::vector<std::string> extra;    // more debootstrap options
};
using DebootstrapReport = std::function<void(const DebootstrapProgress&, std::int64_t elapsed_ms)>;
std::vector<std::string> debootstrap_argv(const DebootstrapRun& run, const fs::path& target);
void run_debootstrap(const DebootstrapRun& run, const fs::path& target,
                     const DebootstrapReport& progress, const Report& warning);

}  // namespace vs::provision::detail
