// The guest's network, made by the supervisor between the clone of the guest's init and the
// moment it is let go: links created on the host (a veth pair into a bridge, an ipvlan or macvlan
// link on a device), moved into the guest's network namespace, named, addressed and routed there.
// Links inside the guest vanish with its namespace; what stays on the host is listed in the
// result so that cleanup can remove it after a crash.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"
#include "config/roots.hpp"

namespace vs::runtime {

struct NetworkResult {
  std::vector<std::string> host_links;       // veth host ends
  std::vector<std::string> created_bridges;  // bridges made for this guest
  std::vector<std::string> shared_links;     // VLAN devices made by vserver that the guest uses
  std::vector<std::string> addresses;        // "ADDRESS/PREFIX on LINK (KIND DEV)"
};

// Sets up the network of the guest whose init (still waiting) is init. On failure, removes what
// it created on the host and throws. VLAN devices (vlandev) are recorded under roots.run.
NetworkResult setup_network(const config::Roots& roots, const config::GuestConfig& cfg, int context,
                            pid_t init);

// Removes host links that outlived the guest, bridges created for it that have no port left,
// and the VLAN devices in shared_links that no other guest uses. Best effort; returns messages for
// what could not be removed.
std::vector<std::string> cleanup_network(const config::Roots& roots, std::string_view guest,
                                         const std::vector<std::string>& host_links,
                                         const std::vector<std::string>& created_bridges,
                                         const std::vector<std::string>& shared_links);

// Drops the guest's share of each VLAN device in devs; the last guest using one removes it.
// Best effort; returns messages for what could not be done.
std::vector<std::string> release_shared_links(const config::Roots& roots, std::string_view guest,
                                              const std::vector<std::string>& devs);

// Lets unprivileged ICMP echo sockets work in the calling process's network namespace
// (util-vserver's raw_icmp without CAP_NET_RAW): net.ipv4.ping_group_range = 0 2147483647.
void allow_ping();

}  // namespace vs::runtime
