// Where guests live on the host. Defaults follow the util-vserver layout; each root can be moved by
// an environment variable or a command-line option so that tests and experiments run side by side.
#pragma once

#include <filesystem>
#include <string_view>

namespace vs::config {

namespace fs = std::filesystem;

struct Roots {
  fs::path config = "/etc/vservers";    // VSERVER_CONFIG_ROOT: one directory per guest
  fs::path vdir = "/var/lib/vservers";  // VSERVER_VDIR_ROOT: guests' root filesystems
  fs::path run = "/run/vservers";       // VSERVER_RUN_ROOT: what is running now
  fs::path log = "/var/log/vservers";   // VSERVER_LOG_ROOT: guests' console output

  // Defaults overridden by the VSERVER_*_ROOT environment variables that are set and non-empty.
  static Roots from_environment();

  [[nodiscard]] fs::path guest_config_dir(std::string_view name) const { return config / name; }
  [[nodiscard]] fs::path defaults_dir() const { return config / ".defaults"; }
  [[nodiscard]] fs::path default_vdir(std::string_view name) const { return vdir / name; }
  [[nodiscard]] fs::path run_dir(std::string_view name) const { return run / name; }
  [[nodiscard]] fs::path console_log(std::string_view name) const {
    return log / (std::string(name) + ".log");
  }
};

// A guest name is a single path component of [A-Za-z0-9._-], 1..64 characters, not starting
// with '.' or '-'.
bool valid_guest_name(std::string_view name);

}  // namespace vs::config
