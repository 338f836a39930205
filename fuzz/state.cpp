// The state record under RUN_ROOT/NAME/state (state::parse_state): any text is a record or a
// vs::Error, never a crash or another exception.
#include <cstdint>
#include <string_view>

#include "state/state.hpp"
#include "sys/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    (void)vs::state::parse_state(text);
  } catch (const vs::Error&) {
  }
  return 0;
}
