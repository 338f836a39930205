// /proc texts that a guest's processes shape (src/hostproc/proc.cpp): /proc/PID/stat, whose command
// name the process chooses (spaces, parentheses, newlines), and the NSpid line of
// /proc/PID/status; and the signal and pid arguments of vkill.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "hostproc/format.hpp"
#include "hostproc/proc.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto st = vs::hostproc::parse_stat(text)) {
    if (st->comm.size() > size) std::abort();
  }
  if (auto ids = vs::hostproc::parse_nspid(text)) {
    if (ids->empty()) std::abort();
  }
  (void)vs::hostproc::parse_signal(text);
  (void)vs::hostproc::parse_pid(text);
  return 0;
}
