// Reading, checking and writing the configuration tree /etc/vservers/NAME/ (util-vserver layout,
// one value per file, .defaults/ fallbacks).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"
#include "config/roots.hpp"
#include "sys/error.hpp"

namespace vs::config {

// The largest configuration file read (a value file, fstab, a list). A larger file, a file that
// is not a regular file (a FIFO, a device), one holding a NUL byte and a symbolic link that
// resolves outside the guest's directory and the configuration root are problems of the tree,
// reported with the file's name; nothing else of them is read.
constexpr std::size_t kMaxConfigFile = std::size_t{1} << 20;

// One problem in the tree: the file and what is wrong with its value, e.g.
// {"/etc/vservers/web/context", "\"abc\" is not a context id (2..49151)"}.
struct Problem {
  fs::path file;
  std::string message;
  [[nodiscard]] std::string to_string() const { return file.string() + ": " + message; }
};

// Thrown by load_guest when the tree has problems; what() lists them all, one per line.
class ConfigError : public Error {
 public:
  explicit ConfigError(std::vector<Problem> problems);
  [[nodiscard]] const std::vector<Problem>& problems() const noexcept { return problems_; }

 private:
  std::vector<Problem> problems_;
};

// Reads and validates one guest, collecting every problem. Throws Error("guest NAME does not exist
// (no ROOT/NAME)") if the directory is missing, ConfigError if anything is wrong.
GuestConfig load_guest(const Roots& roots, std::string_view name);

// As load_guest but returns the problems instead of throwing (empty: the guest is fine). cfg
// receives what could be parsed. consulted, when given, receives every path (relative to the
// guest's directory) that the readers looked at.
std::vector<Problem> check_guest(const Roots& roots, std::string_view name, GuestConfig& cfg,
                                 std::set<std::string>* consulted = nullptr);

// Writes the guest's configuration into cfg.cfgdir (created if needed): every item that differs
// from its default, in util-vserver's format, so load_guest returns an equal GuestConfig. Writes
// the vdir link as an absolute symlink to cfg.vdir.
void write_guest(const GuestConfig& cfg);

// The limits a new guest starts with (docs/limits.md, "Defaults for new guests"), into
// cfg.limits and cfg.sched: every file of CONFIG_ROOT/.defaults/limits/ and .defaults/sched/, read
// and checked as the guest's own would be, where an empty file means "none"; and for
// limits/processes, sched/fill-rate and sched/interval, when .defaults has no such file, the
// built-in kNewGuestProcesses, kNewGuestFillRate and kNewGuestInterval. Conflicts with what cfg
// already holds (cflags sched_hard with limits/cpu) are problems too. A cfg without cgroup
// settings gets what .defaults/cgroup/ gives every guest without a cgroup/ of its own. Returns
// the problems, each naming its .defaults file; cfg changes only when there are none.
std::vector<Problem> new_guest_limits(const Roots& roots, GuestConfig& cfg);

// Names of all guests in the configuration root (directories with a valid name), sorted.
std::vector<std::string> list_guests(const Roots& roots);

// The guest's configuration as it would be with one file changed: the file REL (a path relative
// to the guest's configuration directory, e.g. "rlimits/rss.hard") holding value, or removed when
// value is nullopt. Nothing on disk changes: the tree is read from a private copy, so every check
// of load_guest applies and problems name the real file. Throws ConfigError on problems.
GuestConfig with_setting(const Roots& roots, std::string_view name, const fs::path& rel,
                         const std::optional<std::string>& value);
// Writes that change into the real tree (value + newline, atomically; nullopt removes the file).
void save_setting(const GuestConfig& cfg, const fs::path& rel,
                  const std::optional<std::string>& value);

// Resolves "NAME", a path to a cfgdir, or a context id ("40001") to a guest name.
std::string resolve_guest(const Roots& roots, std::string_view spec);

}  // namespace vs::config
