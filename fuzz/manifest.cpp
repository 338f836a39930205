// The manifest of an export archive (provision::parse_export_manifest): any text is a manifest or a
// vs::Error, never a crash, another exception or undefined behaviour.
#include <cstdint>
#include <string_view>

#include "provision/build.hpp"
#include "sys/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    (void)vs::provision::parse_export_manifest(text);
  } catch (const vs::Error&) {
  }
  return 0;
}
