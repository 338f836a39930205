#include "runtime/network.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "net/netlink.hpp"
#include "net/tun.hpp"
#include "runtime/internal.hpp"
#include "runtime/netplan.hpp"
#include "state/shared_links.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/file.hpp"
#include "sys/reverter.hpp"

namespace vs::runtime {

namespace {

// Runs in the guest's network namespace for its lifetime, then returns to the caller's.
class InNetns {
 public:
  explicit InNetns(pid_t pid) {
    home_ = open_file("/proc/self/ns/net", O_RDONLY);
    std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
    UniqueFd target = open_file(path, O_RDONLY);
    if (::setns(target.get(), CLONE_NEWNET) != 0) throw_errno("enter network namespace", path);
  }
  InNetns(const InNetns&) = delete;
  InNetns& operator=(const InNetns&) = delete;
  ~InNetns() {
    // Failing to return would leave the supervisor in the guest's namespace: nothing sane is left.
    if (::setns(home_.get(), CLONE_NEWNET) != 0) ::abort();
  }

 private:
  UniqueFd home_;
};

// Deletes the host link name on an error path (best effort: the error on its way matters more).
void delete_host_link(net::Netlink& nl, const std::string& name) noexcept {
  try {
    if (auto l = nl.link(name)) nl.delete_link(l->index);
  } catch (const Error&) {  // NOLINT(bugprone-empty-catch): see above
  }
}

// The VLAN device dev (vlandev): made on the host and brought up when missing, and then recorded
// as vserver's, shared by the guests that use it. One that exists is used as it is; the guest
// takes a share of it only when vserver made it. Returns whether the guest took a share.
bool take_vlan(net::Netlink& host, const config::Roots& roots, const std::string& guest,
               const std::string& dev, const std::pair<std::string, int>& vlan) {
  state::SharedLinks shared(roots);
  if (host.link(dev)) {
    if (!shared.owned(dev)) return false;
    shared.add_user(dev, guest);
    return true;
  }
  try {
    host.create_vlan(dev, host.index_of(vlan.first), vlan.second);
  } catch (const Error& e) {
    if (e.code() != EOPNOTSUPP) throw;
    throw Error(std::string(e.what()) + "; this kernel has no VLAN support (CONFIG_VLAN_8021Q)",
                e.code());
  }
  try {
    host.set_up(host.index_of(dev), true);
    shared.add_user(dev, guest);
  } catch (const Error&) {
    if (auto l = host.link(dev)) host.delete_link(l->index);
    throw;
  }
  return true;
}

net::IpAddress address(const std::string& text) {
  auto a = net::IpAddress::parse(text);
  if (!a) throw Error("not an IP address: " + text);
  return *a;
}

net::MacAddress mac_for(const config::GuestConfig& cfg, const PlannedLink& l) {
  if (l.mac) {
    auto m = net::MacAddress::parse(*l.mac);
    if (!m) throw Error("not a MAC address: " + *l.mac);
    return *m;
  }
  // Stable per guest and link: the guest keeps its MAC (and its neighbours' ARP caches) across
  // restarts.
  return net::stable_mac(cfg.id() + "/" + l.name);
}

}  // namespace

namespace detail {

void loopback_up() {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) throw_errno("open socket", "to bring up lo");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", sizeof ifr.ifr_name - 1);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) throw_errno("read flags of link", "lo");
  if ((ifr.ifr_flags & IFF_UP) != 0) return;
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) throw_errno("bring up link", "lo");
}

}  // namespace detail

void allow_ping() {
  write_existing("/proc/sys/net/ipv4/ping_group_range", "0 2147483647");
}

std::vector<std::string> release_shared_links(const config::Roots& roots, std::string_view guest,
                                              const std::vector<std::string>& devs) {
  std::vector<std::string> problems;
  if (devs.empty()) return problems;
  try {
    state::SharedLinks shared(roots);
    net::Netlink host;
    for (auto it = devs.rbegin(); it != devs.rend(); ++it) {
      try {
        if (!shared.drop_user(*it, guest)) continue;
        // The last user: the device goes, unless someone replaced it by something else.
        if (auto l = host.link(*it); l && l->kind == "vlan") host.delete_link(l->index);
      } catch (const Error& e) {
        problems.emplace_back(e.what());
      }
    }
  } catch (const Error& e) {
    problems.emplace_back(e.what());
  }
  return problems;
}

NetworkResult setup_network(const config::Roots& roots, const config::GuestConfig& cfg, int context,
                            pid_t init) {
  NetworkResult result;
  net::Netlink host;
  auto is_bridge = [&](const std::string& dev) {
    auto l = host.link(dev);
    return l && l->kind == "bridge";
  };
  NetworkPlan plan = plan_network(cfg, context, is_bridge);
  // On an error the host links made so far are deleted, newest first, after the guest's uses of
  // the VLAN devices it took are dropped (the last user removes the device).
  Reverter created;
  Reverter vlans;
  vlans.add([&] { release_shared_links(roots, cfg.id(), result.shared_links); });
  auto made = [&](const std::string& name) {
    created.add([&host, name] { delete_host_link(host, name); });
  };
  std::vector<std::string> inside;  // the name each link has when it arrives in the guest
  for (auto& l : plan.links) {
    if (l.vlan && take_vlan(host, roots, cfg.id(), l.dev, *l.vlan)) {
      result.shared_links.push_back(l.dev);
    }
    // A leftover of a run that crashed before its namespace was gone.
    if (!l.host.empty()) {
      if (auto old = host.link(l.host)) host.delete_link(old->index);
    }
    switch (l.kind) {
      case LinkKind::veth_bridge: {
        if (!is_bridge(l.dev)) {
          host.create_bridge(l.dev);
          made(l.dev);
          result.created_bridges.push_back(l.dev);
          host.set_up(host.index_of(l.dev), true);
        }
        std::string peer = "vsp" + l.host.substr(2);
        if (auto old = host.link(peer)) host.delete_link(old->index);
        host.create_veth(l.host, peer, mac_for(cfg, l));
        made(l.host);
        int idx = host.index_of(l.host);
        host.set_master(idx, host.index_of(l.dev));
        host.set_up(idx, true);
        host.move_to_netns_pid(host.index_of(peer), init);
        result.host_links.push_back(l.host);
        inside.push_back(peer);
        break;
      }
      case LinkKind::ipvlan:
        try {
          host.create_ipvlan(l.host, host.index_of(l.dev));
        } catch (const Error& e) {
          if (e.code() != EOPNOTSUPP) throw;
          // A kernel without ipvlan (CONFIG_IPVLAN): the automatic mode takes macvlan, which puts
          // the guest on the same LAN with a MAC of its own; an explicit ipvlan cannot be had.
          if (cfg.network == config::NetworkMode::ipvlan) {
            throw Error(std::string(e.what()) +
                            "; this kernel has no ipvlan: use network/mode macvlan or bridge",
                        e.code());
          }
          l.kind = LinkKind::macvlan;
          host.create_macvlan(l.host, host.index_of(l.dev), mac_for(cfg, l));
        }
        made(l.host);
        host.move_to_netns_pid(host.index_of(l.host), init);
        inside.push_back(l.host);
        break;
      case LinkKind::macvlan:
        host.create_macvlan(l.host, host.index_of(l.dev), mac_for(cfg, l));
        made(l.host);
        host.move_to_netns_pid(host.index_of(l.host), init);
        inside.push_back(l.host);
        break;
      case LinkKind::tun:
      case LinkKind::tap:
        inside.push_back(l.name);  // made in the guest below
        break;
    }
  }
  {
    InNetns in(init);
    net::Netlink nl;
    int lo = nl.index_of("lo");
    nl.set_up(lo, true);
    for (const auto& a : plan.loopback) {
      nl.add_address(lo, address(a.ip), a.prefix);
      result.addresses.push_back(fmt::format("{}/{} on lo", a.ip, a.prefix));
    }
    for (size_t i = 0; i < plan.links.size(); ++i) {
      const PlannedLink& l = plan.links[i];
      if (l.kind == LinkKind::tun || l.kind == LinkKind::tap) {
        net::create_tun(l.name, {.tap = l.kind == LinkKind::tap,
                                 .owner = l.tun_uid,
                                 .group = l.tun_gid,
                                 .link_type = l.linktype});
      }
      int idx = nl.index_of(inside[i]);
      if (inside[i] != l.name) nl.rename(idx, l.name);
      for (const auto& a : l.addresses) {
        nl.add_address(idx, address(a.ip), a.prefix);
        result.addresses.push_back(
            fmt::format("{}/{} on {} ({} {})", a.ip, a.prefix, l.name, to_string(l.kind), l.dev));
      }
      if (l.up) nl.set_up(idx, true);
    }
    if (plan.gateway4) nl.add_route(address(*plan.gateway4));
    if (plan.gateway6) nl.add_route(address(*plan.gateway6));
  }
  vlans.success();
  created.success();
  return result;
}

std::vector<std::string> cleanup_network(const config::Roots& roots, std::string_view guest,
                                         const std::vector<std::string>& host_links,
                                         const std::vector<std::string>& created_bridges,
                                         const std::vector<std::string>& shared_links) {
  std::vector<std::string> problems;
  if (host_links.empty() && created_bridges.empty()) {
    return release_shared_links(roots, guest, shared_links);
  }
  try {
    net::Netlink host;
    for (const auto& name : host_links) {
      if (auto l = host.link(name)) host.delete_link(l->index);
    }
    for (const auto& name : created_bridges) {
      auto br = host.link(name);
      if (!br) continue;
      bool has_ports = false;
      for (const auto& l : host.links()) has_ports = has_ports || l.master == br->index;
      if (!has_ports) host.delete_link(br->index);
    }
  } catch (const Error& e) {
    problems.emplace_back(e.what());
  }
  for (auto& p : release_shared_links(roots, guest, shared_links)) problems.push_back(std::move(p));
  return problems;
}

}  // namespace vs::runtime
