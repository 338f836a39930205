// Networking: guests on a bridge, on an ipvlan link of a simulated LAN, confined; nothing left on
// the host side. Everything happens in network namespaces the tests create: the guests' "host" is
// a test namespace, never the real host's.
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "harness.hpp"
#include "sys/file.hpp"

namespace {

using it::Env;
using it::Result;
namespace fs = std::filesystem;

int sh(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str());
}

class Network : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_ROOT();
    static std::atomic<int> n{0};
    host_ = "vsh" + std::to_string(::getpid()) + "x" + std::to_string(n++);
    ASSERT_EQ(sh("ip netns add " + host_), 0);
    ASSERT_EQ(sh("ip -n " + host_ + " link set lo up"), 0);
    env_ = std::make_unique<Env>();
    env_->use_netns(host_);
  }
  void TearDown() override {
    env_.reset();  // stops the guests first
    for (const auto& ns : extra_) sh("ip netns del " + ns);
    if (!host_.empty()) sh("ip netns del " + host_);
  }
  // Runs the host's busybox applet in the test's host namespace (a client on the "host").
  Result host_busybox(const std::vector<std::string>& args) const {
    return env_->run_program("/bin/busybox", args);
  }
  // The links of the test's host namespace, sorted, space-separated.
  std::string links() const {
    Result r = env_->run_program(
        "/bin/sh", {"-c",
                    "ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | "
                    "tr '\\n' ' '"});
    return r.out;
  }
  // ping from inside a guest, over an unprivileged ICMP socket (no CAP_NET_RAW needed).
  // Up to three echoes, as ping would send: the first may go while a fresh link settles.
  bool ping(const std::string& g, const std::string& addr) {
    for (int i = 0; i < 3; ++i) {
      if (env_->run({g, "exec", "/bin/probe", "ping", addr}).out == "ok\n") return true;
    }
    return false;
  }
  std::string in(const std::string& g, const std::string& script) {
    return env_->run({g, "exec", "sh", "-c", script}).out;
  }
  void make_bridge(const std::string& br, const std::string& addr) {
    ASSERT_EQ(sh("ip -n " + host_ + " link add " + br + " type bridge"), 0);
    ASSERT_EQ(sh("ip -n " + host_ + " addr add " + addr + " dev " + br), 0);
    ASSERT_EQ(sh("ip -n " + host_ + " link set " + br + " up"), 0);
  }

  void run_lan_test(const std::string& mode);

  std::string host_;
  std::vector<std::string> extra_;
  std::unique_ptr<Env> env_;
};

bool has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST_F(Network, TwoGuestsOnABridgeReachEachOtherAndSeeOnlyTheirOwn) {
  make_bridge("br0", "10.77.0.1/24");
  std::string a = env_->busybox_guest({"--interface", "br0:10.77.0.2/24"});
  std::string b = env_->busybox_guest({"--interface", "br0:10.77.0.3/24"});
  ASSERT_EQ(env_->run({a, "start"}).rc, 0);
  ASSERT_EQ(env_->run({b, "start"}).rc, 0);
  // ping works without CAP_NET_RAW.
  EXPECT_TRUE(ping(a, "10.77.0.3"));
  EXPECT_TRUE(ping(b, "10.77.0.1"));
  Result r;
  // Each sees its own link and address only.
  EXPECT_EQ(in(a, "ls /sys/class/net | tr '\\n' ' '"), "eth0 lo ");
  std::string addrs = in(a, "ip -o addr");
  EXPECT_TRUE(has(addrs, "10.77.0.2/24")) << addrs;
  EXPECT_FALSE(has(addrs, "10.77.0.3/")) << addrs;
  EXPECT_FALSE(has(addrs, "10.77.0.1/")) << addrs;
  // status and list show the address.
  r = env_->run({a, "status"});
  EXPECT_TRUE(has(r.out, "Address:  10.77.0.2/24 on eth0 (bridge br0)")) << r;
  r = env_->run({"list", "--json"});
  EXPECT_TRUE(has(r.out, "10.77.0.2/24 on eth0 (bridge br0)")) << r;
  // Stopped, nothing of theirs is left on the host side.
  r = env_->run({a, "stop", "--timeout", "5"});
  EXPECT_EQ(r.rc, 0) << r;
  r = env_->run({b, "stop", "--timeout", "5"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_EQ(links(), "br0 lo ");
}

TEST_F(Network, ServerInGuestIsReachableAndDoesNotCollideWithTheHost) {
  make_bridge("br0", "10.77.1.1/24");
  std::string g = env_->busybox_guest({"--interface", "br0:10.77.1.2/24"});
  ASSERT_EQ(env_->run({g, "start"}).rc, 0);
  // A server on 0.0.0.0:8080 in the guest and one on the host's address, same port.
  ASSERT_EQ(env_->run({g, "exec", "sh", "-c",
                       "mkdir -p /www && echo guest > /www/index.html && httpd -p 8080 -h /www"})
                .rc,
            0);
  std::string www = env_->vdir_root().string() + "/../hostwww";
  std::filesystem::create_directories(www);
  std::ofstream(www + "/index.html") << "host\n";
  Result srv = host_busybox({"httpd", "-p", "10.77.1.1:8080", "-h", www});
  ASSERT_EQ(srv.rc, 0) << srv;
  Result r;
  it::wait_until(
      [&] {
        r = host_busybox({"wget", "-q", "-O", "-", "http://10.77.1.2:8080/"});
        return r.rc == 0;
      },
      std::chrono::seconds(5));
  EXPECT_EQ(r.out, "guest\n") << r;
  r = host_busybox({"wget", "-q", "-O", "-", "http://10.77.1.1:8080/"});
  EXPECT_EQ(r.out, "host\n") << r;
  host_busybox({"pkill", "-f", "httpd -p 10.77.1.1:8080"});
}

TEST_F(Network, IpvlanGuestAnswersOnTheLanAndSeesNoHostAddress) {
  // Probed in the test's own namespace.
  bool have_ipvlan = sh("ip -n " + host_ + " link add vsp0 type veth peer name vsp1 && ip -n " +
                        host_ + " link add link vsp0 name vsp2 type ipvlan mode l2") == 0;
  sh("ip -n " + host_ + " link del vsp0");
  if (!have_ipvlan) GTEST_SKIP() << "this kernel has no ipvlan (CONFIG_IPVLAN)";
  run_lan_test("ipvlan");
}

TEST_F(Network, MacvlanGuestAnswersOnTheLanAndSeesNoHostAddress) {
  run_lan_test("macvlan");
}

void Network::run_lan_test(const std::string& mode) {
  // A simulated LAN: the test host's lan0 and a peer in another namespace.
  std::string lan = host_ + "l";
  extra_.push_back(lan);
  ASSERT_EQ(sh("ip netns add " + lan), 0);
  ASSERT_EQ(sh("ip -n " + host_ + " link add lan0 type veth peer name peer0 netns " + lan), 0);
  ASSERT_EQ(sh("ip -n " + host_ + " addr add 10.78.0.1/24 dev lan0"), 0);
  ASSERT_EQ(sh("ip -n " + host_ + " link set lan0 up"), 0);
  ASSERT_EQ(sh("ip -n " + lan + " addr add 10.78.0.2/24 dev peer0"), 0);
  ASSERT_EQ(sh("ip -n " + lan + " link set peer0 up"), 0);
  std::string g = env_->busybox_guest({"--interface", "lan0:10.78.0.10/24"});
  env_->write_config(g, "network/mode", mode + "\n");
  Result started = env_->run({g, "start"});
  ASSERT_EQ(started.rc, 0) << started;
  EXPECT_EQ(sh("ip netns exec " + lan + " /bin/busybox ping -c 1 -W 5 10.78.0.10"), 0);
  std::string addrs = in(g, "ip -o addr");
  EXPECT_TRUE(has(addrs, "10.78.0.10/24")) << addrs;
  EXPECT_FALSE(has(addrs, "10.78.0.1/")) << addrs;
  EXPECT_TRUE(has(env_->run({g, "status"}).out, "(" + mode + " lan0)"));
  EXPECT_EQ(env_->run({g, "stop", "--timeout", "5"}).rc, 0);
  EXPECT_EQ(links(), "lan0 lo ");
}

TEST_F(Network, RootInsideCannotChangeTheNetwork) {
  make_bridge("br0", "10.77.2.1/24");
  std::string g = env_->busybox_guest({"--interface", "br0:10.77.2.2/24"});
  ASSERT_EQ(env_->run({g, "start"}).rc, 0);
  EXPECT_NE(env_->run({g, "exec", "ip", "addr", "add", "10.77.2.99/24", "dev", "eth0"}).rc, 0);
  EXPECT_NE(env_->run({g, "exec", "ip", "route", "add", "10.9.9.0/24", "via", "10.77.2.1"}).rc, 0);
  EXPECT_NE(env_->run({g, "exec", "ip", "link", "set", "eth0", "down"}).rc, 0);
  EXPECT_FALSE(has(in(g, "ip -o addr"), "10.77.2.99"));
  EXPECT_TRUE(ping(g, "10.77.2.1"));
  // busybox's ping works (raw ICMP, util-vserver's raw_icmp); other raw sockets stay closed.
  EXPECT_EQ(env_->run({g, "exec", "ping", "-c", "1", "-W", "5", "10.77.2.1"}).rc, 0);
  EXPECT_EQ(in(g, "/bin/probe socket 2 3 6"), "EPERM\n");  // AF_INET, SOCK_RAW, IPPROTO_TCP
}

TEST_F(Network, GatewayBecomesTheDefaultRoute) {
  make_bridge("br0", "10.77.3.1/24");
  std::string g = env_->busybox_guest({"--interface", "br0:10.77.3.2/24"});
  env_->write_config(g, "interfaces/0/gateway", "10.77.3.1\n");
  ASSERT_EQ(env_->run({g, "start"}).rc, 0);
  std::string routes = in(g, "ip route");
  EXPECT_TRUE(has(routes, "default via 10.77.3.1 dev eth0")) << routes;
}

TEST_F(Network, CrashAndFailedStartLeaveNoLinks) {
  make_bridge("br0", "10.77.4.1/24");
  std::string g = env_->busybox_guest({"--interface", "br0:10.77.4.2/24"});
  ASSERT_EQ(env_->run({g, "start"}).rc, 0);
  // kill -9 of the supervisor and of the guest's init: the next start finds no stale link.
  std::string state = vs::read_file(env_->run_root() / g / "state");
  int sup = std::stoi(state.substr(state.find("\"supervisor_pid\":") + 17));
  ASSERT_EQ(::kill(sup, SIGKILL), 0);
  ASSERT_EQ(env_->run_as("vkill", {"-c", g, "-s", "KILL", "1"}).rc, 0);
  Result r = env_->run({g, "start"});
  EXPECT_EQ(r.rc, 0) << r;
  EXPECT_TRUE(ping(g, "10.77.4.1"));
  EXPECT_EQ(env_->run({g, "stop", "--timeout", "5"}).rc, 0);
  EXPECT_EQ(links(), "br0 lo ");
  // A start that fails halfway (the second interface's device is missing).
  env_->write_config(g, "interfaces/1/ip", "10.99.0.2\n");
  env_->write_config(g, "interfaces/1/dev", "nosuchdev\n");
  r = env_->run({g, "start"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_TRUE(has(r.err, "nosuchdev")) << r;
  EXPECT_EQ(links(), "br0 lo ");
  it::expect_nothing_left(*env_, g);
}

TEST_F(Network, BridgeCreatedOnRequestGoesWithTheGuest) {
  std::string g = env_->busybox_guest({"--interface", "brnew:10.77.5.2/24"});
  env_->write_config(g, "network/mode", "bridge\n");
  Result r = env_->run({g, "start"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_TRUE(has(r.err, "brnew is not a bridge")) << r;
  env_->write_config(g, "network/create-bridge", "");
  r = env_->run({g, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_TRUE(has(links(), "brnew ")) << links();
  EXPECT_EQ(env_->run({g, "stop", "--timeout", "5"}).rc, 0);
  EXPECT_EQ(links(), "lo ");
}

}  // namespace

namespace {

// Addresses are taken at start: a change while the guest runs applies at the next start, cleanly
// (util-vserver's pitfall was a stop that left the old alias on the host).
TEST_F(Network, ChangedAddressAppliesAtRestartWithNothingStale) {
  make_bridge("br0", "10.77.6.1/24");
  std::string g = env_->busybox_guest({"--interface", "br0:10.77.6.2/24"});
  ASSERT_EQ(env_->run({g, "start"}).rc, 0);
  env_->write_config(g, "interfaces/0/ip", "10.77.6.3\n");
  EXPECT_TRUE(has(in(g, "ip -o addr"), "10.77.6.2/24"));
  Result r = env_->run({g, "restart"});
  ASSERT_EQ(r.rc, 0) << r;
  std::string addrs = in(g, "ip -o addr");
  EXPECT_TRUE(has(addrs, "10.77.6.3/24")) << addrs;
  EXPECT_FALSE(has(addrs, "10.77.6.2/")) << addrs;
  EXPECT_TRUE(ping(g, "10.77.6.1"));
  // One host link for the guest: the new one.
  int host_links = 0;
  std::istringstream names(links());
  for (std::string n; names >> n;) host_links += n.rfind("vs", 0) == 0 ? 1 : 0;
  EXPECT_EQ(host_links, 1) << links();
}

}  // namespace

namespace {

TEST_F(Network, Ipv6AndSeveralAddressesOnOneLink) {
  make_bridge("br0", "10.77.7.1/24");
  ASSERT_EQ(sh("ip -n " + host_ + " addr add fd77:7::1/64 dev br0 nodad"), 0);
  std::string g = env_->busybox_guest({"--interface", "br0:10.77.7.2/24", "--interface",
                                       "br0:fd77:7::2/64", "--interface", "br0:10.77.7.3/24"});
  ASSERT_EQ(env_->run({g, "start"}).rc, 0);
  std::string addrs = in(g, "ip -o addr show dev eth0");
  EXPECT_TRUE(has(addrs, "10.77.7.2/24")) << addrs;
  EXPECT_TRUE(has(addrs, "10.77.7.3/24")) << addrs;
  EXPECT_TRUE(has(addrs, "fd77:7::2/64")) << addrs;
  // One link for the three addresses.
  EXPECT_EQ(in(g, "ls /sys/class/net | tr '\\n' ' '"), "eth0 lo ");
  EXPECT_TRUE(ping(g, "10.77.7.1"));
}

TEST_F(Network, BuildWritesHostsAndResolvConf) {
  std::string g = env_->busybox_guest({"--hostname", "mail", "--interface", "br0:10.77.8.2/24"});
  std::string hosts = vs::read_file(env_->vdir(g) / "etc" / "hosts");
  EXPECT_TRUE(has(hosts, "10.77.8.2\tmail")) << hosts;
  EXPECT_TRUE(has(hosts, "127.0.0.1\tlocalhost")) << hosts;
  std::string resolv = vs::read_file(env_->vdir(g) / "etc" / "resolv.conf");
  // The host's loopback resolvers are unreachable from a guest: never copied.
  EXPECT_FALSE(has(resolv, "nameserver 127.")) << resolv;
}

}  // namespace

namespace {

// vlandev: the VLAN device DEV.ID is made on the test host when a guest needs it, shared by the
// guests on it, and removed with the last of them; one made by the administrator stays.
bool kernel_has_vlan(const std::string& ns) {
  bool have = sh("ip -n " + ns + " link add vsq0 type veth peer name vsq1 && ip -n " + ns +
                 " link add link vsq0 name vsq0.5 type vlan id 5") == 0;
  sh("ip -n " + ns + " link del vsq0");
  return have;
}

TEST_F(Network, VlanDeviceIsMadeSharedAndRemovedWithTheLastGuest) {
  if (!kernel_has_vlan(host_)) GTEST_SKIP() << "this kernel has no VLAN support (8021q)";
  // A simulated LAN with VLAN 7 on its far side.
  std::string lan = host_ + "l";
  extra_.push_back(lan);
  ASSERT_EQ(sh("ip netns add " + lan), 0);
  ASSERT_EQ(sh("ip -n " + host_ + " link add lan0 type veth peer name peer0 netns " + lan), 0);
  ASSERT_EQ(sh("ip -n " + host_ + " link set lan0 up"), 0);
  ASSERT_EQ(sh("ip -n " + lan + " link set peer0 up"), 0);
  ASSERT_EQ(sh("ip -n " + lan + " link add link peer0 name peer0.7 type vlan id 7"), 0);
  ASSERT_EQ(sh("ip -n " + lan + " addr add 10.79.0.2/24 dev peer0.7"), 0);
  ASSERT_EQ(sh("ip -n " + lan + " link set peer0.7 up"), 0);
  auto vlan_guest = [&](const std::string& dev, const std::string& addr) {
    std::string g = env_->busybox_guest({"--interface", dev + ":" + addr});
    env_->write_config(g, "network/mode", "macvlan\n");
    env_->write_config(g, "interfaces/0/vlandev", "");
    return g;
  };
  std::string a = vlan_guest("lan0.7", "10.79.0.10/24");
  std::string b = vlan_guest("lan0.7", "10.79.0.11/24");
  Result r = env_->run({a, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(links(), "lan0 lan0.7 lo ");
  EXPECT_EQ(sh("ip -n " + host_ + " -d link show lan0.7 | grep -q 'vlan protocol 802.1Q id 7'"), 0);
  EXPECT_EQ(sh("ip netns exec " + lan + " /bin/busybox ping -c 1 -W 5 10.79.0.10"), 0);
  r = env_->run({b, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  // The first guest goes: the second still uses the device.
  EXPECT_EQ(env_->run({a, "stop", "--timeout", "5"}).rc, 0);
  EXPECT_EQ(links(), "lan0 lan0.7 lo ");
  EXPECT_EQ(sh("ip netns exec " + lan + " /bin/busybox ping -c 1 -W 5 10.79.0.11"), 0);
  EXPECT_EQ(env_->run({b, "stop", "--timeout", "5"}).rc, 0);
  EXPECT_EQ(links(), "lan0 lo ");
  EXPECT_FALSE(fs::exists(env_->run_root() / ".links" / "lan0.7"));

  // A VLAN device of the administrator's is used and left alone.
  ASSERT_EQ(sh("ip -n " + host_ + " link add link lan0 name lan0.8 type vlan id 8"), 0);
  ASSERT_EQ(sh("ip -n " + host_ + " link set lan0.8 up"), 0);
  std::string c = vlan_guest("lan0.8", "10.79.1.10/24");
  r = env_->run({c, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(env_->run({c, "stop", "--timeout", "5"}).rc, 0);
  EXPECT_EQ(links(), "lan0 lan0.8 lo ");

  // novlandev wins over the global switch: no device is made, and the start fails without one.
  env_->write_config(a, "interfaces/vlandev", "");
  fs::remove(env_->config_root() / a / "interfaces/0/vlandev");
  env_->write_config(a, "interfaces/0/novlandev", "");
  r = env_->run({a, "start"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_TRUE(has(r.err, "lan0.7: No such device")) << r;
  EXPECT_EQ(links(), "lan0 lan0.8 lo ");
}

TEST_F(Network, FailedStartRemovesTheVlanDeviceItMade) {
  ASSERT_EQ(sh("ip -n " + host_ + " link add lan0 type veth peer name peer0"), 0);
  ASSERT_EQ(sh("ip -n " + host_ + " link set lan0 up"), 0);  // a VLAN device is up on an up parent
  std::string g = env_->busybox_guest({"--interface", "lan0.9:10.79.2.10/24"});
  env_->write_config(g, "network/mode", "macvlan\n");
  env_->write_config(g, "interfaces/vlandev", "");
  env_->write_config(g, "interfaces/1/ip", "10.99.0.2\n");
  env_->write_config(g, "interfaces/1/dev", "nosuchdev\n");
  Result r = env_->run({g, "start"});
  EXPECT_NE(r.rc, 0) << r;
  // Without VLAN support the VLAN device cannot be made; with it, the second device is missing.
  if (kernel_has_vlan(host_)) {
    EXPECT_TRUE(has(r.err, "nosuchdev")) << r;
  } else {
    EXPECT_TRUE(has(r.err, "create vlan lan0.9 id 9 on lan0: Operation not supported")) << r;
    EXPECT_TRUE(has(r.err, "no VLAN support")) << r;
  }
  EXPECT_EQ(links(), "lan0 lo peer0 ");
  EXPECT_FALSE(fs::exists(env_->run_root() / ".links" / "lan0.9"));
  it::expect_nothing_left(*env_, g);
  // A parent that does not exist names the VLAN device.
  env_->write_config(g, "interfaces/0/dev", "nolan.9\n");
  r = env_->run({g, "start"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_TRUE(has(r.err, "nolan")) << r;
  EXPECT_EQ(links(), "lan0 lo peer0 ");
}

TEST_F(Network, CheckRefusesBadVlanDevices) {
  std::string g = env_->busybox_guest({"--interface", "lan0.4095:10.79.3.10/24"});
  env_->write_config(g, "interfaces/0/vlandev", "");
  Result r = env_->run({g, "check"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_TRUE(has(r.out + r.err, "\"lan0.4095\" is not a VLAN device")) << r;
  env_->write_config(g, "interfaces/0/dev", "lan0\n");
  r = env_->run({g, "check"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_TRUE(has(r.out + r.err, "\"lan0\" is not a VLAN device")) << r;
  // The global switch concerns DEV.ID names only.
  fs::remove(env_->config_root() / g / "interfaces/0/vlandev");
  env_->write_config(g, "interfaces/vlandev", "");
  r = env_->run({g, "check"});
  EXPECT_EQ(r.rc, 0) << r;
  env_->write_config(g, "interfaces/0/novlandev", "");
  env_->write_config(g, "interfaces/0/vlandev", "");
  r = env_->run({g, "check"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_TRUE(has(r.out + r.err, "both vlandev and novlandev")) << r;
}

}  // namespace

namespace {

// tun / tap: a persistent device in the guest with its addresses, its owner, group and link type;
// nothing on the host; gone with the guest.
TEST_F(Network, TunAndTapDevicesAreMadeInTheGuest) {
  std::string g = env_->busybox_guest({"--interface", "tun0:10.80.0.1/24"});
  env_->write_config(g, "interfaces/0/tun", "");
  env_->write_config(g, "interfaces/0/uid", "1000\n");
  env_->write_config(g, "interfaces/0/gid", "100\n");
  env_->write_config(g, "interfaces/1/ip", "10.80.1.1\n");
  env_->write_config(g, "interfaces/1/prefix", "24\n");
  env_->write_config(g, "interfaces/1/dev", "tapx\n");
  env_->write_config(g, "interfaces/1/name", "tap0\n");
  env_->write_config(g, "interfaces/1/tap", "");
  env_->write_config(g, "interfaces/1/linktype", "1\n");
  Result r = env_->run({g, "start"});
  ASSERT_EQ(r.rc, 0) << r;
  std::string addrs = in(g, "ip -o addr");
  EXPECT_TRUE(has(addrs, "tun0") && has(addrs, "10.80.0.1/24")) << addrs;
  EXPECT_TRUE(has(addrs, "tap0") && has(addrs, "10.80.1.1/24")) << addrs;
  EXPECT_EQ(in(g, "cat /sys/class/net/tun0/owner /sys/class/net/tun0/group"), "1000\n100\n");
  // IFF_TUN | IFF_NO_PI | IFF_PERSIST (0x1 | 0x1000 | 0x800); IFF_TAP instead of IFF_TUN.
  EXPECT_EQ(in(g, "cat /sys/class/net/tun0/tun_flags /sys/class/net/tap0/tun_flags"),
            "0x1801\n0x1802\n");
  EXPECT_EQ(in(g, "cat /sys/class/net/tap0/type /sys/class/net/tap0/owner"), "1\n-1\n");
  EXPECT_TRUE(has(env_->run({g, "status"}).out, "10.80.0.1/24 on tun0 (tun tun0)"));
  // The guest attaches to its devices through /dev/net/tun: to tap0, which has no owner, and not
  // to tun0 as root, which is neither its owner (1000) nor in its group (100).
  EXPECT_EQ(in(g, "/bin/probe tun_attach tap0 tap"), "ok\n");
  EXPECT_EQ(in(g, "/bin/probe tun_attach tun0 tun"), "EPERM\n");
  EXPECT_EQ(links(), "lo ");
  EXPECT_EQ(env_->run({g, "stop", "--timeout", "5"}).rc, 0);
  EXPECT_EQ(links(), "lo ");
  it::expect_nothing_left(*env_, g);
}

// Without a tun or tap interface the guest has no /dev/net/tun, and a node made for it on a mount
// without nodev (the default fstab's /tmp) does not open: the device filter refuses 10:200.
TEST_F(Network, NoTunDeviceWithoutTunInterfaces) {
  std::string g = env_->busybox_guest();
  ASSERT_EQ(env_->run({g, "start"}).rc, 0);
  EXPECT_EQ(in(g, "/bin/probe open_read /dev/net/tun"), "ENOENT\n");
  // The guest lacks CAP_MKNOD: the host makes the node in the guest's /tmp, through its root.
  auto pids = it::guest_processes(g);
  ASSERT_FALSE(pids.empty());
  fs::path node = fs::path("/proc") / std::to_string(pids.front()) / "root/tmp/tun";
  ASSERT_EQ(::mknod(node.c_str(), S_IFCHR | 0666, makedev(10, 200)), 0) << std::strerror(errno);
  EXPECT_EQ(in(g, "/bin/probe open_read /tmp/tun"), "EPERM\n");
  EXPECT_EQ(env_->run({g, "stop", "--timeout", "5"}).rc, 0);
  it::expect_nothing_left(*env_, g);
}

TEST_F(Network, CheckRefusesBadTunOptions) {
  std::string g = env_->busybox_guest({"--interface", "tun0:10.80.2.1/24"});
  env_->write_config(g, "interfaces/0/uid", "1000\n");
  Result r = env_->run({g, "check"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_TRUE(has(r.out + r.err, "only for a tun or tap interface")) << r;
  env_->write_config(g, "interfaces/0/tun", "");
  env_->write_config(g, "interfaces/0/tap", "");
  env_->write_config(g, "interfaces/0/uid", "nobody\n");
  env_->write_config(g, "interfaces/0/linktype", "ether\n");
  r = env_->run({g, "check"});
  EXPECT_NE(r.rc, 0) << r;
  EXPECT_TRUE(has(r.out + r.err, "both tun and tap")) << r;
  fs::remove(env_->config_root() / g / "interfaces/0/tap");
  r = env_->run({g, "check"});
  EXPECT_TRUE(has(r.out + r.err, "\"nobody\" is not a numeric id")) << r;
  EXPECT_TRUE(has(r.out + r.err, "\"ether\" is not a link type")) << r;
}

}  // namespace
