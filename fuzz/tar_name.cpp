// The names of template archive entries (provision::detail::clean_entry_name): what it accepts
// never leaves the guest root: no component is empty, ".", ".." or holds a '/', and the input was
// not absolute.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "provision/internal.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view name(reinterpret_cast<const char*>(data), size);
  auto comps = vs::provision::detail::clean_entry_name(name);
  if (!comps) return 0;
  if (!name.empty() && name.front() == '/') std::abort();
  for (const auto& c : *comps) {
    if (c.empty() || c == "." || c == ".." || c.find('/') != std::string::npos) std::abort();
  }
  return 0;
}
