// --interface values (config::parse_interface): any text is either refused with vs::Error or
// gives an interface whose fields hold what the configuration tree accepts.
#include <arpa/inet.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/interface_arg.hpp"
#include "config/parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view spec(reinterpret_cast<const char*>(data), size);
  try {
    auto p = vs::config::parse_interface(spec, "0");
    const auto& i = p.iface;
    if (i.family != AF_INET && i.family != AF_INET6) std::abort();
    if (vs::config::address_family(i.ip) != i.family) std::abort();
    if (i.prefix < 0 || i.prefix > (i.family == AF_INET ? 32 : 128)) std::abort();
    if (i.dev && !vs::config::valid_device_name(*i.dev)) std::abort();
    if (i.name && !vs::config::valid_device_name(*i.name)) std::abort();
  } catch (const vs::Error&) {
  }
  return 0;
}
