// Which links a guest gets, decided from its configuration before anything is created: interfaces
// naming the same device share one link inside the guest; the kind of link follows network/mode,
// or with the automatic mode the kind of the device (a bridge gets a veth pair into it, any other
// device an ipvlan link). Pure logic, no I/O: the device kinds come in through a callback.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"

namespace vs::runtime {

// tun, tap: a persistent tun or tap device made in the guest (interfaces/N/tun, tap); nothing on
// the host.
enum class LinkKind { veth_bridge, ipvlan, macvlan, tun, tap };
const char* to_string(LinkKind k);

struct PlannedAddress {
  std::string ip;
  int family = 0;
  int prefix = 0;
};

struct PlannedLink {
  LinkKind kind = LinkKind::ipvlan;
  std::string dev;   // host device: the bridge, or the parent of an ipvlan/macvlan link
  std::string name;  // the link's name inside the guest
  std::string host;  // veth: the host end's name; ipvlan, macvlan: the temporary name on the
                     // host; tun, tap: none
  std::optional<std::string> mac;  // configured MAC (veth peer, macvlan)
  // vlandev: dev is the VLAN device made on the host when missing, with this parent and id.
  std::optional<std::pair<std::string, int>> vlan;
  // tun, tap: the device's owner, group and hardware type.
  std::optional<std::uint32_t> tun_uid;
  std::optional<std::uint32_t> tun_gid;
  std::optional<std::uint16_t> linktype;
  std::vector<PlannedAddress> addresses;
  bool up = true;
};

struct NetworkPlan {
  std::vector<PlannedLink> links;
  std::vector<PlannedAddress> loopback;  // nodev addresses: on the guest's lo
  std::optional<std::string> gateway4;   // default routes
  std::optional<std::string> gateway6;
  [[nodiscard]] bool empty() const { return links.empty() && loopback.empty(); }
};

// Plans the guest's links. is_bridge tells whether a host device is a bridge. Throws vs::Error
// naming the interface for what cannot work (a bridge mode device that is not a bridge, two names
// for one device, a name used twice).
NetworkPlan plan_network(const config::GuestConfig& cfg, int context,
                         const std::function<bool(const std::string&)>& is_bridge);

}  // namespace vs::runtime
