// Persistent tun and tap devices (util-vserver's interfaces/N/tun and tap, which it made with its
// tunctl): made with TUNSETIFF on /dev/net/tun in the network namespace of the calling thread, and
// kept by TUNSETPERSIST after the descriptor is closed. A persistent device lives until it is
// deleted, or until its network namespace goes.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace vs::net {

struct TunOptions {
  bool tap = false;                    // IFF_TAP (Ethernet frames) instead of IFF_TUN (IP packets)
  std::optional<std::uint32_t> owner;  // TUNSETOWNER: the user who may attach without privileges
  std::optional<std::uint32_t> group;  // TUNSETGROUP: the group who may
  std::optional<std::uint16_t> link_type;  // TUNSETLINK: the ARPHRD_* hardware type
};

// Creates the persistent device name (down, without packet information headers: IFF_NO_PI).
// Throws "create tun NAME: ERRNO" (or "tap"), naming the step that failed; nothing is left then.
void create_tun(std::string_view name, const TunOptions& options);

}  // namespace vs::net
