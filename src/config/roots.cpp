#include "config/roots.hpp"

#include <cstdlib>

namespace vs::config {

Roots Roots::from_environment() {
  Roots r;
  auto env = [](const char* var, fs::path& target) {
    const char* v = std::getenv(var);
    if (v != nullptr && *v != '\0') target = v;
  };
  env("VSERVER_CONFIG_ROOT", r.config);
  env("VSERVER_VDIR_ROOT", r.vdir);
  env("VSERVER_RUN_ROOT", r.run);
  env("VSERVER_LOG_ROOT", r.log);
  return r;
}

bool valid_guest_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  if (name.front() == '.' || name.front() == '-') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace vs::config
