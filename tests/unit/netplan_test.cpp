#include <gtest/gtest.h>
#include <sys/socket.h>

#include "runtime/netplan.hpp"
#include "sys/error.hpp"

namespace {

using vs::config::GuestConfig;
using vs::config::Interface;
using vs::config::NetworkMode;
using vs::runtime::LinkKind;
using vs::runtime::plan_network;

Interface iface(const std::string& id, const std::string& dev, const std::string& ip, int prefix) {
  Interface i;
  i.id = id;
  if (!dev.empty()) i.dev = dev;
  i.nodev = dev.empty();
  i.ip = ip;
  i.family = ip.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  i.prefix = prefix;
  return i;
}

GuestConfig guest(NetworkMode mode, std::vector<Interface> ifs) {
  GuestConfig cfg;
  cfg.name = "web";
  cfg.cfgdir = "/etc/vservers/web";
  cfg.network = mode;
  cfg.interfaces = std::move(ifs);
  return cfg;
}

bool bridge_br0(const std::string& dev) {
  return dev == "br0";
}

TEST(NetworkPlan, AutomaticPicksTheKindFromTheDevice) {
  auto cfg = guest(NetworkMode::automatic,
                   {iface("0", "br0", "10.0.0.2", 24), iface("1", "eth0", "192.0.2.10", 24),
                    iface("2", "br0", "fd00::2", 64)});
  auto p = plan_network(cfg, 40001, bridge_br0);
  ASSERT_EQ(p.links.size(), 2U);
  EXPECT_EQ(p.links[0].kind, LinkKind::veth_bridge);
  EXPECT_EQ(p.links[0].name, "eth0");
  EXPECT_EQ(p.links[0].host, "vs40001.0");
  ASSERT_EQ(p.links[0].addresses.size(), 2U);  // both br0 addresses on one link
  EXPECT_EQ(p.links[0].addresses[1].ip, "fd00::2");
  EXPECT_EQ(p.links[1].kind, LinkKind::ipvlan);
  EXPECT_EQ(p.links[1].name, "eth1");
  EXPECT_EQ(p.links[1].host, "vst40001.1");
}

TEST(NetworkPlan, NoneAndHostApplyNothing) {
  auto ifs = std::vector<Interface>{iface("0", "eth0", "192.0.2.10", 24)};
  EXPECT_TRUE(plan_network(guest(NetworkMode::none, ifs), 2, bridge_br0).empty());
  EXPECT_TRUE(plan_network(guest(NetworkMode::host, ifs), 2, bridge_br0).empty());
  EXPECT_TRUE(plan_network(guest(NetworkMode::automatic, {}), 2, bridge_br0).empty());
}

TEST(NetworkPlan, NodevGoesOnLoopbackDisabledIsSkippedGatewaysAreDefaultRoutes) {
  auto a = iface("0", "", "192.0.2.50", 32);
  auto b = iface("1", "eth0", "192.0.2.10", 24);
  b.gateway = "192.0.2.1";
  auto c = iface("2", "eth1", "198.51.100.1", 24);
  c.disabled = true;
  auto d = iface("3", "eth0", "2001:db8::10", 64);
  d.gateway = "2001:db8::1";
  d.name = "eth0";
  auto p = plan_network(guest(NetworkMode::macvlan, {a, b, c, d}), 7, bridge_br0);
  ASSERT_EQ(p.loopback.size(), 1U);
  EXPECT_EQ(p.loopback[0].ip, "192.0.2.50");
  ASSERT_EQ(p.links.size(), 1U);
  EXPECT_EQ(p.links[0].kind, LinkKind::macvlan);
  EXPECT_EQ(p.gateway4, "192.0.2.1");
  EXPECT_EQ(p.gateway6, "2001:db8::1");
}

TEST(NetworkPlan, NamesMacsAndDown) {
  auto a = iface("0", "br0", "10.0.0.2", 24);
  a.name = "lan";
  a.mac = "02:00:00:00:00:01";
  a.down = true;
  auto p = plan_network(guest(NetworkMode::bridge, {a}), 40002, bridge_br0);
  ASSERT_EQ(p.links.size(), 1U);
  EXPECT_EQ(p.links[0].name, "lan");
  EXPECT_EQ(p.links[0].mac, "02:00:00:00:00:01");
  EXPECT_FALSE(p.links[0].up);
}

TEST(NetworkPlan, RefusesWhatCannotWork) {
  // Bridge mode on a device that is not a bridge, unless it may be created.
  auto cfg = guest(NetworkMode::bridge, {iface("0", "eth0", "10.0.0.2", 24)});
  try {
    plan_network(cfg, 2, bridge_br0);
    FAIL();
  } catch (const vs::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/etc/vservers/web/interfaces/0"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("eth0 is not a bridge"), std::string::npos);
  }
  cfg.create_bridge = true;
  EXPECT_EQ(plan_network(cfg, 2, bridge_br0).links.size(), 1U);
  // Two names for one device; one name for two devices; two gateways.
  auto a = iface("0", "eth0", "10.0.0.2", 24);
  auto b = iface("1", "eth0", "10.0.0.3", 24);
  b.name = "other";
  EXPECT_THROW(plan_network(guest(NetworkMode::ipvlan, {a, b}), 2, bridge_br0), vs::Error);
  a.name = "x";
  auto c = iface("1", "eth1", "10.0.1.3", 24);
  c.name = "x";
  EXPECT_THROW(plan_network(guest(NetworkMode::ipvlan, {a, c}), 2, bridge_br0), vs::Error);
  auto g1 = iface("0", "eth0", "10.0.0.2", 24);
  g1.gateway = "10.0.0.1";
  auto g2 = iface("1", "eth1", "10.0.1.2", 24);
  g2.gateway = "10.0.1.1";
  EXPECT_THROW(plan_network(guest(NetworkMode::ipvlan, {g1, g2}), 2, bridge_br0), vs::Error);
}

}  // namespace

namespace {

TEST(NetworkPlan, VlanAndTunLinks) {
  auto vlan = iface("0", "eth0.7", "10.0.0.1", 24);
  vlan.vlandev = true;
  auto tun = iface("1", "tun0", "10.0.1.1", 24);
  tun.tun = vs::config::TunKind::tun;
  tun.tun_uid = 1000;
  auto tap = iface("2", "tapdev", "10.0.2.1", 24);
  tap.tun = vs::config::TunKind::tap;
  tap.name = "tap0";
  auto plan = plan_network(guest(NetworkMode::automatic, {vlan, tun, tap}), 40001, bridge_br0);
  ASSERT_EQ(plan.links.size(), 3U);
  EXPECT_EQ(plan.links[0].kind, LinkKind::ipvlan);
  EXPECT_EQ(plan.links[0].vlan, std::make_pair(std::string("eth0"), 7));
  EXPECT_EQ(plan.links[1].kind, LinkKind::tun);
  EXPECT_EQ(plan.links[1].name, "tun0");
  EXPECT_EQ(plan.links[1].host, "");
  EXPECT_EQ(plan.links[1].tun_uid, 1000U);
  EXPECT_EQ(plan.links[2].kind, LinkKind::tap);
  EXPECT_EQ(plan.links[2].name, "tap0");
  // One device cannot be a tun device for one address and a parent for another.
  auto other = iface("3", "tun0", "10.0.3.1", 24);
  EXPECT_THROW(plan_network(guest(NetworkMode::automatic, {tun, other}), 40001, bridge_br0),
               vs::Error);
}

}  // namespace
