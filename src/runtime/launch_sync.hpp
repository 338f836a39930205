// The phases of a guest's launch, and the messages the processes of a launch send each other:
// the supervisor to the guest's first process ("go on"), the first process to the supervisor (its
// error, or "the guest is up"), and the supervisor to the caller of start (the same).
//
// A message is a fixed header and a bounded text, in one datagram of the sync socket
// (SOCK_SEQPACKET) or one write of the start report pipe (at most PIPE_BUF, so atomic). Both ends
// are this binary on this host: the header is in the host's byte order.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace vs::runtime::detail {

// The steps of a launch, in order; an error names the phase it happened in.
enum class Phase : std::uint8_t {
  // The supervisor.
  supervisor,  // the supervisor forked from the caller, its output redirected
  cgroup,      // the guest's cgroup made, its limits and device filter written
  procfs,      // the server of the guest's /proc views started
  clone,       // the time namespace, the guest's first process cloned into its namespaces
  network,     // the child moved into its cgroups, links, addresses and routes set up
  pre_start,   // the pre-start scripts
  // The guest's first process.
  namespaces,  // told to go on; loopback, cgroup namespace, host and domain name
  rootfs,      // the guest's mounts, /proc views, pivot_root
  process,     // nice level, per-process limits, inherited descriptors closed
  init,        // the environment, the init's command found, a machine id
  security,    // seccomp filter, capabilities
  exec,        // the guest's init executed (or the minimal init started)
  // The supervisor again.
  running,  // the state record written, the caller told
};
inline constexpr std::uint8_t kPhaseCount = static_cast<std::uint8_t>(Phase::running) + 1;

// "rootfs", "pre-start", ...
std::string_view to_string(Phase phase);

enum class SyncKind : std::uint8_t {
  go = 1,     // supervisor to child: the child may go on
  ready = 2,  // the guest is up (the minimal init runs; the supervisor to the caller)
  error = 3,  // the sender failed in phase; errno and text say how
};

struct SyncMessage {
  SyncKind kind = SyncKind::ready;
  Phase phase = Phase::supervisor;
  int err = 0;       // errno of the failure, 0 when it was not a system error
  std::string text;  // the error message (at most kMaxSyncText bytes are sent)
};

inline constexpr std::size_t kSyncHeaderSize = 12;
inline constexpr std::size_t kMaxSyncMessage = 4096;  // PIPE_BUF: one atomic write
inline constexpr std::size_t kMaxSyncText = kMaxSyncMessage - kSyncHeaderSize;
// A buffer that holds any message.
using SyncBuffer = std::array<char, kMaxSyncMessage>;

// Writes the message into out and returns the bytes used (0 when out cannot hold the header); a
// text longer than kMaxSyncText, or than out has room for, is cut. Allocates nothing, so that the
// guest's first process may use it anywhere.
std::size_t encode(SyncKind kind, Phase phase, int err, std::string_view text,
                   std::span<char> out) noexcept;
inline std::size_t encode(const SyncMessage& m, std::span<char> out) noexcept {
  return encode(m.kind, m.phase, m.err, m.text, out);
}
// The message in data; throws Error (EBADMSG) for a short, oversized or unknown one.
SyncMessage decode(std::span<const char> data);

}  // namespace vs::runtime::detail
