// Links, addresses and routes through RTNETLINK (over libmnl): what the guests' networks are made
// of — veth pairs into bridges, ipvlan and macvlan links on host devices, moved into the guests'
// network namespaces, named, addressed and routed there. No `ip` command is run.
//
// Every request asks for an acknowledgement and waits for it, so a failure surfaces at the call
// that caused it, as a vs::Error naming the operation, the link (by name where it is known, else
// "ifindex N") and the errno text, e.g. "create veth vs40001.0: File exists". When the kernel adds
// an explanation (extended ack) it follows in parentheses.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct mnl_socket;
struct nlmsghdr;

namespace vs::net {

// An Ethernet address.
struct MacAddress {
  std::array<uint8_t, 6> bytes{};

  // "02:00:5e:10:00:01" (or with '-' between the bytes; hex digits in either case); nullopt for
  // anything else.
  static std::optional<MacAddress> parse(std::string_view text);
  // Lower-case, colon separated.
  [[nodiscard]] std::string to_string() const;
  [[nodiscard]] bool is_multicast() const { return (bytes[0] & 0x01) != 0; }
  [[nodiscard]] bool is_locally_administered() const { return (bytes[0] & 0x02) != 0; }
  friend bool operator==(const MacAddress&, const MacAddress&) = default;
};

// A locally administered unicast MAC derived from seed (e.g. "web/eth0"): the same seed gives the
// same address on every host and in every release, so a guest keeps its MAC (and its neighbours'
// ARP caches and DHCP leases stay valid) across restarts.
MacAddress stable_mac(std::string_view seed);

// An IPv4 or IPv6 address. An IPv4 address uses the first 4 bytes; the others are zero.
struct IpAddress {
  int family = AF_UNSPEC;  // AF_INET or AF_INET6 once parsed
  std::array<uint8_t, 16> bytes{};

  // Dotted quad or RFC 4291 text; nullopt for anything else (including "/prefix" suffixes and
  // "%zone" scopes).
  static std::optional<IpAddress> parse(std::string_view text);
  // The unspecified address of family (0.0.0.0 or ::): the destination of a default route.
  static IpAddress any(int family);
  [[nodiscard]] std::string to_string() const;
  // 4, 16, or 0 for an address of no family.
  [[nodiscard]] size_t size() const;
  [[nodiscard]] int max_prefix() const { return static_cast<int>(size()) * 8; }
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

struct LinkInfo {
  int index = 0;
  std::string name;
  std::string kind;  // "veth", "bridge", "ipvlan", "macvlan", "dummy", ...; "" for plain devices
  bool up = false;   // administratively up (IFF_UP)
  int master = 0;    // the bridge (or bond) this link is a port of; 0 if none
  // IFLA_LINK: the lower device of an ipvlan or macvlan link, the peer of a veth end; 0 if none.
  // It may be an index in another network namespace (a veth whose peer was moved away).
  int parent = 0;
  MacAddress mac;  // all zero for links without an Ethernet address
};

struct AddressInfo {
  int index = 0;
  IpAddress address;
  int prefix = 0;
  std::optional<IpAddress> broadcast;  // IPv4 only, when set
};

struct RouteInfo {
  IpAddress destination;  // IpAddress::any(family) for a default route
  int prefix = 0;
  std::optional<IpAddress> gateway;
  int index = 0;  // output device; 0 if none
  int table = 0;  // RT_TABLE_MAIN (254), RT_TABLE_LOCAL (255), ...
  int type = 0;   // RTN_UNICAST, RTN_LOCAL, ...
};

// Checks a link name the way the kernel will (1..15 characters, no '/', ':' or whitespace, not
// "." or ".."); returns what is wrong with it, or nullopt when it is fine.
std::optional<std::string> link_name_problem(std::string_view name);

// An RTNETLINK socket in the network namespace that was current (for the calling thread) when it
// was created; it keeps working there whichever namespace the thread moves to later. Not
// thread-safe: one request at a time.
class Netlink {
 public:
  Netlink();
  ~Netlink();
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;
  Netlink(Netlink&&) noexcept;
  Netlink& operator=(Netlink&&) noexcept;

  // Lookups: nullopt when there is no such link.
  std::optional<LinkInfo> link(std::string_view name);
  std::optional<LinkInfo> link(int index);
  std::vector<LinkInfo> links();
  // The index of the link; throws "find link NAME: No such device" when there is none.
  int index_of(std::string_view name);

  // Creation. The links start down. Names are checked (link_name_problem) before any request.
  void create_veth(std::string_view name, std::string_view peer,
                   std::optional<MacAddress> peer_mac = {});
  void create_bridge(std::string_view name);
  enum class IpvlanMode { l2, l3 };
  void create_ipvlan(std::string_view name, int parent, IpvlanMode mode = IpvlanMode::l2);
  // In bridge mode: macvlan links on one parent reach each other directly.
  void create_macvlan(std::string_view name, int parent, std::optional<MacAddress> mac = {});
  void create_dummy(std::string_view name);
  // An 802.1Q VLAN link with the VLAN id (1..4094) on parent, as
  // `ip link add link PARENT name NAME type vlan id ID`.
  void create_vlan(std::string_view name, int parent, int id);

  void set_up(int index, bool up);
  void set_master(int index, int master);  // 0: leave the current master
  // Moves the link into another network namespace; its index may change there.
  void move_to_netns_fd(int index, int netns_fd);
  void move_to_netns_pid(int index, pid_t pid);
  void rename(int index, std::string_view name);  // the link must be down
  void set_mac(int index, const MacAddress& mac);
  void delete_link(int index);  // a veth takes its peer with it

  // IPv4 addresses also get the subnet's broadcast address (`ip addr add ... brd +`) unless the
  // prefix is /31 or /32. IPv4 loopback addresses (127.0.0.0/8) get host scope; the kernel works
  // out the scopes of IPv6 addresses itself.
  void add_address(int index, const IpAddress& address, int prefix);
  void delete_address(int index, const IpAddress& address, int prefix);
  // AF_UNSPEC: both families.
  std::vector<AddressInfo> addresses(int family = AF_UNSPEC);

  // A default route via gateway (optionally through the link index) in the main table.
  void add_route(const IpAddress& gateway, std::optional<int> index = {});
  // A route to destination/prefix in the main table, via gateway, or directly on the link index
  // (scope link) when there is no gateway. At least one of gateway and index is needed.
  void add_route(const IpAddress& destination, int prefix, std::optional<IpAddress> gateway,
                 std::optional<int> index);
  void delete_route(const IpAddress& destination, int prefix, std::optional<IpAddress> gateway,
                    std::optional<int> index);
  // Routes of every table; AF_UNSPEC: both families.
  std::vector<RouteInfo> routes(int family = AF_UNSPEC);

 private:
  class Request;
  struct Outcome {
    int error = 0;             // errno, 0 on success
    std::string explanation;   // the kernel's extended ack message, if any
    bool interrupted = false;  // a dump the kernel flagged as inconsistent (NLM_F_DUMP_INTR)
  };
  using Handler = std::function<void(const nlmsghdr*)>;

  // Sends the request and reads the replies up to its ack (or the end of a dump), passing each
  // data message to on_reply.
  Outcome exchange(Request& request, const Handler& on_reply = {});
  // One datagram into buffer_; returns its length.
  size_t receive();
  // The items parse finds in a dump; restarts the dump when a change interrupted it.
  template <class T>
  std::vector<T> dump(Request& request, std::string_view what,
                      std::optional<T> (*parse)(const nlmsghdr*));
  // Throws the error of a failed request on a link: "OP LINK SUFFIX: errno (explanation)".
  [[noreturn]] void fail(const Outcome& outcome, std::string_view op, int index,
                         std::string_view suffix = {});
  // The link's name for a message, or "ifindex N".
  std::string describe(int index);
  Outcome create_link(std::string_view kind, std::string_view name, int parent,
                      const std::optional<MacAddress>& mac,
                      const std::function<void(Request&)>& fill_data);
  void address_request(bool add, int index, const IpAddress& address, int prefix);
  void route_request(bool add, const IpAddress& destination, int prefix,
                     const std::optional<IpAddress>& gateway, std::optional<int> index);

  struct SocketCloser {
    void operator()(mnl_socket* s) const noexcept;
  };
  std::unique_ptr<mnl_socket, SocketCloser> socket_;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
  std::vector<char> buffer_;  // receive buffer, grown to the largest datagram seen
};

}  // namespace vs::net
