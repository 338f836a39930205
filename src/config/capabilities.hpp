// Capability names and the bounding set of a guest (bcapabilities).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vs::config {

// "CAP_NET_RAW", "NET_RAW" and "net_raw" → CAP_NET_RAW; nullopt for unknown names.
std::optional<int> capability_from_name(std::string_view name);
// CAP_NET_RAW → "CAP_NET_RAW".
std::string capability_name(int cap);
// The highest capability number known to this build.
int last_capability();

// util-vserver's secure default bounding set (vattribute --secure plus SYS_BOOT and AUDIT_WRITE,
// which are safe in a PID namespace).
std::uint64_t default_bounding_set();

// Applies bcapabilities lines ("CAP_X" adds, "!CAP_X" or "~CAP_X" removes; '#' comments and blank
// lines skipped) to base. Unknown names are reported in errors (one message per bad line).
std::uint64_t apply_capability_lines(std::uint64_t base, const std::vector<std::string>& lines,
                                     std::vector<std::string>& errors);

// Context capabilities (ccapabilities) util-vserver knows, lower case, with legacy aliases.
bool known_context_capability(std::string_view name);
// Context flags (cflags) util-vserver knows, lower case.
bool known_context_flag(std::string_view name);

}  // namespace vs::config
