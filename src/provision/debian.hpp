// Debian guests: the host's apt sources (for the default mirror), debootstrap's machine-readable
// status output (for the progress display), and the changes that fit a Debian root to run in a
// container. See docs/debian.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vs::provision {

namespace fs = std::filesystem;

// One "deb" source of apt: a URI and the suites it serves.
struct AptSource {
  std::string uri;
  std::vector<std::string> suites;
  std::vector<std::string> components;
};

// The one-line format of sources.list: "deb [options] URI SUITE [COMPONENT...]". deb-src lines,
// comments and malformed lines are skipped.
std::vector<AptSource> parse_sources_list(std::string_view text);
// The deb822 format of *.sources: stanzas of Types, URIs, Suites, Components (Enabled: no skips
// one), separated by blank lines.
std::vector<AptSource> parse_deb822_sources(std::string_view text);
// The enabled "deb" sources of a host: ETC_APT/sources.list, then sources.list.d/*.list and
// *.sources in name order.
std::vector<AptSource> host_apt_sources(const fs::path& etc_apt = "/etc/apt");
// VERSION_CODENAME of an os-release file (or the word in parentheses of VERSION); empty if none.
std::string host_codename(const fs::path& os_release = "/etc/os-release");

// The mirror to debootstrap SUITE from: the first source that serves SUITE, else the first that
// serves FALLBACK_SUITE (the host's own: the same archive serves its other suites), else none.
std::optional<std::string> mirror_for_suite(const std::vector<AptSource>& sources,
                                            std::string_view suite,
                                            std::string_view fallback_suite);

// What debootstrap is doing, from its --debian-installer output ("P: now end NAME", "PF: format",
// "I: NAME", "IA: arg", "IF: format", "W: ...", "E: ...").
struct DebootstrapProgress {
  std::string stage;       // "Retrieving packages", "Unpacking the base system", ...
  std::string action;      // the last per-package action: retrieve, extract, unpack, configure
  std::int64_t done = 0;   // packages through the current action
  std::int64_t total = 0;  // packages in the system being built; 0 until known
};

class DebootstrapStatus {
 public:
  // Feeds one line; returns true when the progress changed.
  bool feed(std::string_view line);
  [[nodiscard]] const DebootstrapProgress& progress() const { return progress_; }
  // Warnings ("W: ...") and errors ("E: ...") seen since the last call, formatted.
  std::vector<std::string> take_messages();

 private:
  bool finish_block();

  DebootstrapProgress progress_;
  char kind_ = 0;  // 'P', 'I', 'W', 'E' while a block is open
  std::string name_;
  std::int64_t now_ = 0;
  std::int64_t end_ = 0;
  std::vector<std::string> args_;
  std::vector<std::string> messages_;
};

// Substitutes ARGS for the %s (and other single-letter) conversions of debootstrap's FORMAT.
std::string format_debootstrap(std::string_view format, const std::vector<std::string>& args);

// One line of the progress display: "[1:05] Unpacking the base system: 37/121 packages".
std::string render_progress(const DebootstrapProgress& p, std::int64_t elapsed_ms);

// The changes that fit a freshly bootstrapped Debian root for a container, each described in one
// line (for the build's output):
//  - /etc/inittab: no getty on virtual consoles and serial lines the guest does not have;
//  ctrl-alt-del
//    (SIGINT, how a plain-style guest is stopped) halts instead of rebooting;
//  - sysv-rc: the boot and shutdown scripts that touch the kernel or real disks (hwclock, udev,
//    kmod, mounting and checking file systems, unmounting at shutdown) lose their rc?.d links;
//  - systemd: the same units masked (symlinks to /dev/null), getty@ and serial-getty@ masked;
//  - /etc/machine-id: emptied, so that every guest made from the same tree gets its own on first
//    boot (systemd) and the tree can be shared;
//  - /usr/sbin/policy-rc.d: removed if debootstrap left one, so services start in the guest.
// The root password stays unset (the account is locked); the list says so.
std::vector<std::string> fit_debian_for_container(const fs::path& root);

}  // namespace vs::provision
