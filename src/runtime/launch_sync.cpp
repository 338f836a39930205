#include "runtime/launch_sync.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "sys/error.hpp"

namespace vs::runtime::detail {

namespace {

constexpr std::uint32_t kSyncMagic = 0x56535931;  // "VSY1"

// The header: magic, kind, phase, text size, errno.
struct Header {
  std::uint32_t magic;
  std::uint8_t kind;
  std::uint8_t phase;
  std::uint16_t text_size;
  std::int32_t err;
};
static_assert(sizeof(Header) == kSyncHeaderSize);
static_assert(kMaxSyncText <= UINT16_MAX);

[[noreturn]] void bad_message(const std::string& why) {
  throw Error("decode launch message: " + why, EBADMSG);
}

}  // namespace

std::string_view to_string(Phase phase) {
  switch (phase) {
    case Phase::supervisor:
      return "supervisor";
    case Phase::cgroup:
      return "cgroup";
    case Phase::procfs:
      return "procfs";
    case Phase::clone:
      return "clone";
    case Phase::network:
      return "network";
    case Phase::pre_start:
      return "pre-start";
    case Phase::namespaces:
      return "namespaces";
    case Phase::rootfs:
      return "rootfs";
    case Phase::process:
      return "process";
    case Phase::init:
      return "init";
    case Phase::security:
      return "security";
    case Phase::exec:
      return "exec";
    case Phase::running:
      return "running";
  }
  return "unknown";
}

std::size_t encode(SyncKind kind, Phase phase, int err, std::string_view text,
                   std::span<char> out) noexcept {
  std::size_t room = std::min(out.size(), kMaxSyncMessage);
  if (room < kSyncHeaderSize) return 0;
  std::size_t size = std::min({text.size(), kMaxSyncText, room - kSyncHeaderSize});
  Header h{kSyncMagic, static_cast<std::uint8_t>(kind), static_cast<std::uint8_t>(phase),
           static_cast<std::uint16_t>(size), static_cast<std::int32_t>(err)};
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + sizeof h, text.data(), size);
  return sizeof h + size;
}

SyncMessage decode(std::span<const char> data) {
  if (data.size() < kSyncHeaderSize) {
    bad_message(fmt::format("truncated header ({} of {} bytes)", data.size(), kSyncHeaderSize));
  }
  Header h{};
  std::memcpy(&h, data.data(), sizeof h);
  if (h.magic != kSyncMagic) bad_message(fmt::format("bad magic {:#x}", h.magic));
  if (h.kind < static_cast<std::uint8_t>(SyncKind::go) ||
      h.kind > static_cast<std::uint8_t>(SyncKind::error)) {
    bad_message(fmt::format("unknown kind {}", h.kind));
  }
  if (h.phase >= kPhaseCount) bad_message(fmt::format("unknown phase {}", h.phase));
  if (h.text_size > kMaxSyncText) {
    bad_message(fmt::format("text of {} bytes, more than {}", h.text_size, kMaxSyncText));
  }
  std::size_t want = kSyncHeaderSize + h.text_size;
  if (data.size() != want) {
    bad_message(fmt::format("{} bytes for a message of {}", data.size(), want));
  }
  SyncMessage m;
  m.kind = static_cast<SyncKind>(h.kind);
  m.phase = static_cast<Phase>(h.phase);
  m.err = h.err;
  m.text.assign(data.data() + kSyncHeaderSize, h.text_size);
  return m;
}

}  // namespace vs::runtime::detail
