#include "runtime/netplan.hpp"

#include <fmt/format.h>
#include <sys/socket.h>

#include <map>
#include <set>

#include "runtime/internal.hpp"
#include "sys/error.hpp"

namespace vs::runtime {

const char* to_string(LinkKind k) {
  switch (k) {
    case LinkKind::veth_bridge:
      return "bridge";
    case LinkKind::ipvlan:
      return "ipvlan";
    case LinkKind::macvlan:
      return "macvlan";
    case LinkKind::tun:
      return "tun";
    case LinkKind::tap:
      return "tap";
  }
  return "?";
}

namespace detail {

bool network_needs_supervisor(const config::GuestConfig& cfg) {
  // As plan_network: every enabled interface gives a link or an address on lo (and maybe a route).
  if (cfg.network == config::NetworkMode::host || cfg.network == config::NetworkMode::none) {
    return false;
  }
  for (const auto& i : cfg.interfaces) {
    if (!i.disabled) return true;
  }
  return false;
}

}  // namespace detail

NetworkPlan plan_network(const config::GuestConfig& cfg, int context,
                         const std::function<bool(const std::string&)>& is_bridge) {
  using config::NetworkMode;
  NetworkPlan plan;
  if (cfg.network == NetworkMode::host || cfg.network == NetworkMode::none) return plan;
  std::map<std::string, size_t> by_dev;  // device → index in plan.links
  std::set<std::string> names;
  auto where = [&](const config::Interface& i) {
    return (cfg.cfgdir / "interfaces" / i.id).string();
  };
  for (const auto& i : cfg.interfaces) {
    if (i.disabled) continue;
    PlannedAddress a{i.ip, i.family, i.prefix};
    if (i.gateway) {
      auto& gw = i.family == AF_INET6 ? plan.gateway6 : plan.gateway4;
      if (gw && *gw != *i.gateway) {
        throw Error(
            fmt::format("{}: a second default gateway {} (already {})", where(i), *i.gateway, *gw));
      }
      gw = *i.gateway;
    }
    if (i.nodev || !i.dev) {
      plan.loopback.push_back(a);
      continue;
    }
    auto it = by_dev.find(*i.dev);
    if (it != by_dev.end()) {
      PlannedLink& l = plan.links[it->second];
      if (i.name && *i.name != l.name) {
        throw Error(fmt::format("{}: device {} is already linked in the guest as {}", where(i),
                                *i.dev, l.name));
      }
      if ((i.tun == config::TunKind::tun) != (l.kind == LinkKind::tun) ||
          (i.tun == config::TunKind::tap) != (l.kind == LinkKind::tap)) {
        throw Error(fmt::format("{}: device {} is already a {} link in the guest", where(i), *i.dev,
                                to_string(l.kind)));
      }
      if (i.mac && l.mac && *i.mac != *l.mac) {
        throw Error(fmt::format("{}: a second MAC address for device {}", where(i), *i.dev));
      }
      if (i.mac) l.mac = i.mac;
      if (i.vlandev) l.vlan = config::split_vlan_device(*i.dev);
      l.addresses.push_back(a);
      l.up = l.up && !i.down;
      continue;
    }
    PlannedLink l;
    l.dev = *i.dev;
    size_t n = plan.links.size();
    if (i.tun != config::TunKind::none) {
      // Made in the guest under its own name: nothing of it is on the host.
      l.kind = i.tun == config::TunKind::tap ? LinkKind::tap : LinkKind::tun;
      l.name = i.name.value_or(l.dev);
      if (!names.insert(l.name).second || l.name == "lo") {
        throw Error(fmt::format("{}: link name {} is used twice in the guest", where(i), l.name));
      }
      l.tun_uid = i.tun_uid;
      l.tun_gid = i.tun_gid;
      l.linktype = i.linktype;
      l.addresses.push_back(a);
      l.up = !i.down;
      by_dev.emplace(l.dev, n);
      plan.links.push_back(std::move(l));
      continue;
    }
    switch (cfg.network) {
      case NetworkMode::bridge:
        if (!is_bridge(l.dev) && !cfg.create_bridge) {
          throw Error(
              fmt::format("{}: network/mode is bridge but {} is not a bridge (create it, "
                          "or touch network/create-bridge)",
                          where(i), l.dev));
        }
        l.kind = LinkKind::veth_bridge;
        break;
      case NetworkMode::ipvlan:
        l.kind = LinkKind::ipvlan;
        break;
      case NetworkMode::macvlan:
        l.kind = LinkKind::macvlan;
        break;
      default:
        l.kind = is_bridge(l.dev) ? LinkKind::veth_bridge : LinkKind::ipvlan;
        break;
    }
    l.name = i.name.value_or("eth" + std::to_string(n));
    if (!names.insert(l.name).second || l.name == "lo") {
      throw Error(fmt::format("{}: link name {} is used twice in the guest", where(i), l.name));
    }
    // Host-side names are unique per running guest: its context is.
    l.host = fmt::format("{}{}.{}", l.kind == LinkKind::veth_bridge ? "vs" : "vst", context, n);
    l.mac = i.mac;
    if (i.vlandev) l.vlan = config::split_vlan_device(*i.dev);
    l.addresses.push_back(a);
    l.up = !i.down;
    by_dev.emplace(l.dev, n);
    plan.links.push_back(std::move(l));
  }
  return plan;
}

}  // namespace vs::runtime
