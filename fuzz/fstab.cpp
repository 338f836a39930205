// fstab(5) lines (src/config/parse.cpp): parsing never fails on any input, every entry it returns
// has an absolute mount point, and formatting the entries gives a text that parses to the same
// entries. The mount options of each entry go through the runtime's option parser too.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/parse.hpp"
#include "runtime/rootfs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = vs::config::parse_fstab(text);
  for (const auto& e : parsed.entries) {
    if (e.target.empty() || e.target.front() != '/') std::abort();
    (void)vs::runtime::parse_mount_options(e.options);
  }
  auto again = vs::config::parse_fstab(vs::config::format_fstab(parsed.entries));
  if (!again.errors.empty() || again.entries.size() != parsed.entries.size()) std::abort();
  for (std::size_t i = 0; i < parsed.entries.size(); ++i) {
    const auto& a = parsed.entries[i];
    const auto& b = again.entries[i];
    if (a.source != b.source || a.target != b.target || a.type != b.type ||
        a.options != b.options || a.dump != b.dump || a.pass != b.pass) {
      std::abort();
    }
  }
  return 0;
}
