// The value parsers of the configuration tree (src/config/parse.cpp, capabilities.cpp,
// src/cgroup/limits.cpp): integers, rlimit values and their round trip, sizes, CPU counts,
// netmasks, kill sequences, capability lines. The first byte picks the parser.
#include <sys/socket.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "cgroup/limits.hpp"
#include "config/capabilities.hpp"
#include "config/parse.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  namespace c = vs::config;
  switch (data[0] % 8) {
    case 0:
      (void)c::parse_integer(text);
      break;
    case 1:
      if (auto v = c::parse_limit(text)) {
        if (c::parse_limit(c::format_limit(*v)) != v) std::abort();
      }
      break;
    case 2:
      if (auto v = vs::cgroup::parse_bytes(text)) (void)vs::cgroup::format_bytes(*v);
      break;
    case 3:
      (void)vs::cgroup::parse_cpus(text);
      break;
    case 4: {
      auto p4 = c::mask_to_prefix(text, AF_INET);
      auto p6 = c::mask_to_prefix(text, AF_INET6);
      if ((p4 && (*p4 < 0 || *p4 > 32)) || (p6 && (*p6 < 0 || *p6 > 128))) std::abort();
      break;
    }
    case 5: {
      std::string error;
      auto seq = c::parse_killseq(vs::split_lines(text), error);
      if (seq && seq->size() % 2 != 1) std::abort();
      if (!seq && error.empty()) std::abort();
      break;
    }
    case 6: {
      std::vector<std::string> errors;
      (void)c::apply_capability_lines(c::default_bounding_set(), vs::split_lines(text), errors);
      break;
    }
    default:
      (void)c::valid_mac(text);
      (void)c::valid_device_name(text);
      (void)c::valid_environment_entry(text);
      (void)c::address_family(text);
      (void)c::capability_from_name(text);
      (void)c::known_context_capability(text);
      (void)c::known_context_flag(text);
      break;
  }
  return 0;
}
