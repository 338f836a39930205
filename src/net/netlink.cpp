// RTNETLINK requests over libmnl. Every request carries NLM_F_ACK; replies are matched to it by
// port id and sequence number, and read up to the ack (or, for dumps, NLMSG_DONE).
#include "net/netlink.hpp"

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstring>
#include <string>

#include <fmt/format.h>

#include "sys/error.hpp"

namespace vs::net {

namespace {

// Receive buffer to start with: what the kernel fills per dump datagram at most (32 KiB);
// larger datagrams are measured first and the buffer grows.
constexpr size_t kInitialBufferSize = 32768;
// How often a dump is restarted when the kernel says a change interrupted it.
constexpr int kDumpAttempts = 10;

[[noreturn]] void throw_failure(const std::string& what, int err, const std::string& explanation) {
  std::string message = errno_message(what, "", err);
  if (!explanation.empty()) message += " (" + explanation + ")";
  throw Error(message, err);
}

[[noreturn]] void throw_protocol(std::string_view what) {
  throw Error("receive netlink reply: " + std::string(what), EPROTO);
}

[[noreturn]] void throw_bad_name(std::string_view op, std::string_view name,
                                 const std::string& problem) {
  throw Error(fmt::format("{} \"{}\": invalid link name: {}", op, name, problem), EINVAL);
}

void check_name(std::string_view op, std::string_view name) {
  if (auto problem = link_name_problem(name)) throw_bad_name(op, name, *problem);
}

// Calls f for each attribute between start and end.
template <class F>
void for_each_attr(const void* start, const void* end, F&& f) {
  const auto* attr = static_cast<const nlattr*>(start);
  int len = static_cast<int>(static_cast<const char*>(end) - static_cast<const char*>(start));
  while (mnl_attr_ok(attr, len)) {
    f(attr);
    len -= static_cast<int>(MNL_ALIGN(attr->nla_len));
    attr = mnl_attr_next(attr);
  }
}

// The attributes of a message, after its fixed header of offset bytes.
template <class F>
void for_each_attr(const nlmsghdr* nlh, size_t offset, F&& f) {
  if (mnl_nlmsg_get_payload_len(nlh) < offset) return;
  for_each_attr(mnl_nlmsg_get_payload_offset(nlh, offset), mnl_nlmsg_get_payload_tail(nlh),
                std::forward<F>(f));
}

// The attributes nested in attr.
template <class F>
void for_each_nested(const nlattr* attr, F&& f) {
  const char* start = static_cast<const char*>(mnl_attr_get_payload(attr));
  for_each_attr(start, start + mnl_attr_get_payload_len(attr), std::forward<F>(f));
}

// The fixed header of a message, or nullptr when the message is too short to hold one.
template <class T>
const T* fixed_header(const nlmsghdr* nlh) {
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(T)) return nullptr;
  return static_cast<const T*>(mnl_nlmsg_get_payload(nlh));
}

std::string attr_string(const nlattr* attr) {
  const char* p = static_cast<const char*>(mnl_attr_get_payload(attr));
  return std::string(p, ::strnlen(p, mnl_attr_get_payload_len(attr)));
}

std::optional<uint32_t> attr_u32(const nlattr* attr) {
  if (mnl_attr_get_payload_len(attr) < sizeof(uint32_t)) return std::nullopt;
  return mnl_attr_get_u32(attr);
}

// Copies the payload when it is exactly size bytes long.
bool attr_copy(const nlattr* attr, void* out, size_t size) {
  if (mnl_attr_get_payload_len(attr) != size) return false;
  std::memcpy(out, mnl_attr_get_payload(attr), size);
  return true;
}

std::optional<IpAddress> attr_ip(const nlattr* attr, int family) {
  IpAddress a = IpAddress::any(family);
  if (a.size() == 0 || !attr_copy(attr, a.bytes.data(), a.size())) return std::nullopt;
  return a;
}

std::optional<LinkInfo> parse_link(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWLINK) return std::nullopt;
  const auto* ifi = fixed_header<ifinfomsg>(nlh);
  if (ifi == nullptr) throw_protocol("link message too short");
  LinkInfo info;
  info.index = ifi->ifi_index;
  info.up = (ifi->ifi_flags & IFF_UP) != 0;
  for_each_attr(nlh, sizeof(ifinfomsg), [&](const nlattr* attr) {
    switch (mnl_attr_get_type(attr)) {
      case IFLA_IFNAME:
        info.name = attr_string(attr);
        break;
      case IFLA_MASTER:
        info.master = static_cast<int>(attr_u32(attr).value_or(0));
        break;
      case IFLA_LINK:
        info.parent = static_cast<int>(attr_u32(attr).value_or(0));
        break;
      case IFLA_ADDRESS:
        attr_copy(attr, info.mac.bytes.data(), info.mac.bytes.size());
        break;
      case IFLA_LINKINFO:
        for_each_nested(attr, [&](const nlattr* nested) {
          if (mnl_attr_get_type(nested) == IFLA_INFO_KIND) info.kind = attr_string(nested);
        });
        break;
      default:
        break;
    }
  });
  return info;
}

std::optional<AddressInfo> parse_address(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWADDR) return std::nullopt;
  const auto* ifa = fixed_header<ifaddrmsg>(nlh);
  if (ifa == nullptr) throw_protocol("address message too short");
  if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return std::nullopt;
  AddressInfo info;
  info.index = static_cast<int>(ifa->ifa_index);
  info.prefix = ifa->ifa_prefixlen;
  // IFA_LOCAL is the address itself; IFA_ADDRESS is the peer's on point-to-point links, and the
  // only one IPv6 usually sends.
  std::optional<IpAddress> local;
  std::optional<IpAddress> address;
  for_each_attr(nlh, sizeof(ifaddrmsg), [&](const nlattr* attr) {
    switch (mnl_attr_get_type(attr)) {
      case IFA_LOCAL:
        local = attr_ip(attr, ifa->ifa_family);
        break;
      case IFA_ADDRESS:
        address = attr_ip(attr, ifa->ifa_family);
        break;
      case IFA_BROADCAST:
        info.broadcast = attr_ip(attr, ifa->ifa_family);
        break;
      default:
        break;
    }
  });
  if (local) {
    info.address = *local;
  } else if (address) {
    info.address = *address;
  } else {
    return std::nullopt;
  }
  return info;
}

std::optional<RouteInfo> parse_route(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWROUTE) return std::nullopt;
  const auto* rtm = fixed_header<rtmsg>(nlh);
  if (rtm == nullptr) throw_protocol("route message too short");
  // Dumps of every family also bring multicast (RTNL_FAMILY_IPMR...) and MPLS routes.
  if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6) return std::nullopt;
  RouteInfo info;
  info.destination = IpAddress::any(rtm->rtm_family);
  info.prefix = rtm->rtm_dst_len;
  info.table = rtm->rtm_table;
  info.type = rtm->rtm_type;
  for_each_attr(nlh, sizeof(rtmsg), [&](const nlattr* attr) {
    switch (mnl_attr_get_type(attr)) {
      case RTA_DST:
        if (auto a = attr_ip(attr, rtm->rtm_family)) info.destination = *a;
        break;
      case RTA_GATEWAY:
        info.gateway = attr_ip(attr, rtm->rtm_family);
        break;
      case RTA_OIF:
        info.index = static_cast<int>(attr_u32(attr).value_or(0));
        break;
      case RTA_TABLE:
        info.table = static_cast<int>(attr_u32(attr).value_or(info.table));
        break;
      default:
        break;
    }
  });
  return info;
}

// The kernel's extended ack message in the attributes from offset on, if any.
std::string explanation(const nlmsghdr* nlh, size_t offset) {
  std::string text;
  if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) == 0) return text;
  for_each_attr(nlh, offset, [&](const nlattr* attr) {
    if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG) text = attr_string(attr);
  });
  return text;
}

std::string address_text(const IpAddress& address, int prefix) {
  return fmt::format("{}/{}", address.to_string(), prefix);
}

// "default", or "DESTINATION/PREFIX".
std::string destination_text(const IpAddress& destination, int prefix) {
  return prefix == 0 ? std::string("default") : address_text(destination, prefix);
}

}  // namespace

// One request message, built in place.
class Netlink::Request {
 public:
  Request(uint16_t type, uint16_t flags) {
    nlh_ = mnl_nlmsg_put_header(buffer_.data());
    nlh_->nlmsg_type = type;
    nlh_->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
  }
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  // Appends a zeroed fixed header (or a nested one, like a veth peer's ifinfomsg).
  template <class T>
  T* header() {
    if (nlh_->nlmsg_len + MNL_ALIGN(sizeof(T)) > buffer_.size()) overflow();
    return static_cast<T*>(mnl_nlmsg_put_extra_header(nlh_, sizeof(T)));
  }
  void put(uint16_t type, const void* data, size_t len) {
    if (!mnl_attr_put_check(nlh_, buffer_.size(), type, len, data)) overflow();
  }
  void put_u16(uint16_t type, uint16_t value) { put(type, &value, sizeof value); }
  void put_u32(uint16_t type, uint32_t value) { put(type, &value, sizeof value); }
  // A NUL-terminated string.
  void put_string(uint16_t type, std::string_view value) {
    const std::string s(value);
    put(type, s.c_str(), s.size() + 1);
  }
  void put_ip(uint16_t type, const IpAddress& address) {
    put(type, address.bytes.data(), address.size());
  }
  nlattr* nest(uint16_t type) {
    nlattr* start = mnl_attr_nest_start_check(nlh_, buffer_.size(), type);
    if (start == nullptr) overflow();
    return start;
  }
  void end(nlattr* start) { mnl_attr_nest_end(nlh_, start); }
  [[nodiscard]] nlmsghdr* message() const { return nlh_; }

 private:
  [[noreturn]] static void overflow() {
    throw Error("build netlink request: message too long", EMSGSIZE);
  }

  alignas(NLMSG_ALIGNTO) std::array<char, 4096> buffer_{};
  nlmsghdr* nlh_;
};

void Netlink::SocketCloser::operator()(mnl_socket* s) const noexcept {
  mnl_socket_close(s);
}

Netlink::Netlink() : buffer_(kInitialBufferSize) {
  socket_.reset(mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC));
  if (!socket_) throw_errno("open netlink socket", "NETLINK_ROUTE");
  // The kernel's reasons for errors, without the request echoed back. Older kernels lack these
  // options; the errno alone is still reported then.
  int one = 1;
  (void)mnl_socket_setsockopt(socket_.get(), NETLINK_EXT_ACK, &one, sizeof one);
  (void)mnl_socket_setsockopt(socket_.get(), NETLINK_CAP_ACK, &one, sizeof one);
  if (mnl_socket_bind(socket_.get(), 0, MNL_SOCKET_AUTOPID) != 0) {
    throw_errno("bind netlink socket", "NETLINK_ROUTE");
  }
  portid_ = mnl_socket_get_portid(socket_.get());
}

Netlink::~Netlink() = default;
Netlink::Netlink(Netlink&&) noexcept = default;
Netlink& Netlink::operator=(Netlink&&) noexcept = default;

size_t Netlink::receive() {
  const int fd = mnl_socket_get_fd(socket_.get());
  for (;;) {
    sockaddr_nl from{};
    iovec iov{buffer_.data(), buffer_.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    // Measure the datagram first, so that no reply is ever cut short.
    ssize_t n = ::recvmsg(fd, &msg, MSG_PEEK | MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("receive netlink reply", "");
    }
    if (static_cast<size_t>(n) > buffer_.size()) buffer_.resize(static_cast<size_t>(n));
    iov = iovec{buffer_.data(), buffer_.size()};
    msg.msg_namelen = sizeof from;
    n = ::recvmsg(fd, &msg, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("receive netlink reply", "");
    }
    if ((msg.msg_flags & MSG_TRUNC) != 0) throw_protocol("message truncated");
    if (from.nl_pid != 0) continue;  // not from the kernel
    return static_cast<size_t>(n);
  }
}

Netlink::Outcome Netlink::exchange(Request& request, const Handler& on_reply) {
  nlmsghdr* out = request.message();
  const uint32_t seq = ++seq_;
  out->nlmsg_seq = seq;
  out->nlmsg_pid = 0;
  if (mnl_socket_sendto(socket_.get(), out, out->nlmsg_len) < 0) {
    throw_errno("send netlink request", "");
  }
  Outcome outcome;
  for (;;) {
    const size_t received = receive();
    int len = static_cast<int>(received);
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(buffer_.data());
    for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
      if (nlh->nlmsg_pid != portid_) {
        throw_protocol(
            fmt::format("reply for port {} on the socket of port {}", nlh->nlmsg_pid, portid_));
      }
      if (nlh->nlmsg_seq != seq) {
        // The rest of an earlier exchange that was abandoned (its handler threw): skip it.
        if (static_cast<int32_t>(nlh->nlmsg_seq - seq) < 0) continue;
        throw_protocol(
            fmt::format("reply to request {} while waiting for {}", nlh->nlmsg_seq, seq));
      }
      if ((nlh->nlmsg_flags & NLM_F_DUMP_INTR) != 0) outcome.interrupted = true;
      switch (nlh->nlmsg_type) {
        case NLMSG_NOOP:
          break;
        case NLMSG_OVERRUN:
          throw_protocol("overrun");
        case NLMSG_ERROR: {
          const auto* err = fixed_header<nlmsgerr>(nlh);
          if (err == nullptr) throw_protocol("error message too short");
          outcome.error = err->error < 0 ? -err->error : err->error;
          // Unless capped, the request itself is echoed before the attributes.
          size_t offset = sizeof(nlmsgerr);
          if ((nlh->nlmsg_flags & NLM_F_CAPPED) == 0 && err->msg.nlmsg_len > sizeof(nlmsghdr)) {
            offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
          }
          outcome.explanation = explanation(nlh, offset);
          return outcome;
        }
        case NLMSG_DONE: {
          // The end of a dump: an int, negative when the dump failed.
          if (const auto* status = fixed_header<int>(nlh); status != nullptr && *status < 0) {
            outcome.error = -*status;
            outcome.explanation = explanation(nlh, sizeof(int));
          }
          return outcome;
        }
        default:
          if (nlh->nlmsg_type >= NLMSG_MIN_TYPE && on_reply) on_reply(nlh);
          break;
      }
    }
    if (len != 0) throw_protocol("malformed message");
  }
}

template <class T>
std::vector<T> Netlink::dump(Request& request, std::string_view what,
                             std::optional<T> (*parse)(const nlmsghdr*)) {
  for (int attempt = 1;; ++attempt) {
    std::vector<T> items;
    Outcome outcome = exchange(request, [&](const nlmsghdr* nlh) {
      if (auto item = parse(nlh)) items.push_back(std::move(*item));
    });
    if (outcome.error != 0) throw_failure(std::string(what), outcome.error, outcome.explanation);
    if (!outcome.interrupted) return items;
    if (attempt == kDumpAttempts) {
      throw_failure(std::string(what), EAGAIN, "changes kept interrupting the dump");
    }
  }
}

void Netlink::fail(const Outcome& outcome, std::string_view op, int index,
                   std::string_view suffix) {
  throw_failure(fmt::format("{} {}{}", op, describe(index), suffix), outcome.error,
                outcome.explanation);
}

std::string Netlink::describe(int index) {
  try {
    if (auto l = link(index); l && !l->name.empty()) return l->name;
  } catch (const Error&) {
    // Only for a message: the index will do.
  }
  return fmt::format("ifindex {}", index);
}

// ----- links -----

std::optional<LinkInfo> Netlink::link(std::string_view name) {
  check_name("find link", name);
  Request r(RTM_GETLINK, 0);
  r.header<ifinfomsg>()->ifi_family = AF_UNSPEC;
  r.put_string(IFLA_IFNAME, name);
  r.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  std::optional<LinkInfo> found;
  Outcome o = exchange(r, [&](const nlmsghdr* nlh) {
    if (auto l = parse_link(nlh)) found = std::move(l);
  });
  if (o.error == ENODEV) return std::nullopt;
  if (o.error != 0) throw_failure(fmt::format("find link {}", name), o.error, o.explanation);
  return found;
}

std::optional<LinkInfo> Netlink::link(int index) {
  if (index <= 0) return std::nullopt;
  Request r(RTM_GETLINK, 0);
  auto* ifi = r.header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  r.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  std::optional<LinkInfo> found;
  Outcome o = exchange(r, [&](const nlmsghdr* nlh) {
    if (auto l = parse_link(nlh)) found = std::move(l);
  });
  if (o.error == ENODEV) return std::nullopt;
  if (o.error != 0)
    throw_failure(fmt::format("find link ifindex {}", index), o.error, o.explanation);
  return found;
}

std::vector<LinkInfo> Netlink::links() {
  Request r(RTM_GETLINK, NLM_F_DUMP);
  r.header<ifinfomsg>()->ifi_family = AF_UNSPEC;
  r.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  return dump<LinkInfo>(r, "list links", &parse_link);
}

int Netlink::index_of(std::string_view name) {
  auto l = link(name);
  if (!l) throw Error(errno_message("find link", name, ENODEV), ENODEV);
  return l->index;
}

Netlink::Outcome Netlink::create_link(std::string_view kind, std::string_view name, int parent,
                                      const std::optional<MacAddress>& mac,
                                      const std::function<void(Request&)>& fill_data) {
  Request r(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  r.header<ifinfomsg>()->ifi_family = AF_UNSPEC;
  r.put_string(IFLA_IFNAME, name);
  if (parent != 0) r.put_u32(IFLA_LINK, static_cast<uint32_t>(parent));
  if (mac) r.put(IFLA_ADDRESS, mac->bytes.data(), mac->bytes.size());
  nlattr* linkinfo = r.nest(IFLA_LINKINFO);
  r.put_string(IFLA_INFO_KIND, kind);
  if (fill_data) {
    nlattr* data = r.nest(IFLA_INFO_DATA);
    fill_data(r);
    r.end(data);
  }
  r.end(linkinfo);
  return exchange(r);
}

void Netlink::create_veth(std::string_view name, std::string_view peer,
                          std::optional<MacAddress> peer_mac) {
  check_name("create veth", name);
  check_name("create veth peer", peer);
  Outcome o = create_link("veth", name, 0, std::nullopt, [&](Request& r) {
    // The peer is described by a link message of its own.
    nlattr* info = r.nest(VETH_INFO_PEER);
    r.header<ifinfomsg>()->ifi_family = AF_UNSPEC;
    r.put_string(IFLA_IFNAME, peer);
    if (peer_mac) r.put(IFLA_ADDRESS, peer_mac->bytes.data(), peer_mac->bytes.size());
    r.end(info);
  });
  if (o.error == 0) return;
  std::string what = fmt::format("create veth {}", name);
  if (o.error == EEXIST) {
    // Say which of the two names is taken when it is the peer's.
    try {
      if (!link(name) && link(peer)) what += fmt::format(" with peer {}", peer);
    } catch (const Error&) {
    }
  }
  throw_failure(what, o.error, o.explanation);
}

void Netlink::create_bridge(std::string_view name) {
  check_name("create bridge", name);
  Outcome o = create_link("bridge", name, 0, std::nullopt, {});
  if (o.error != 0) throw_failure(fmt::format("create bridge {}", name), o.error, o.explanation);
}

void Netlink::create_dummy(std::string_view name) {
  check_name("create dummy", name);
  Outcome o = create_link("dummy", name, 0, std::nullopt, {});
  if (o.error != 0) throw_failure(fmt::format("create dummy {}", name), o.error, o.explanation);
}

void Netlink::create_ipvlan(std::string_view name, int parent, IpvlanMode mode) {
  check_name("create ipvlan", name);
  if (parent <= 0) {
    throw Error(fmt::format("create ipvlan {} on ifindex {}: No such device", name, parent),
                ENODEV);
  }
  Outcome o = create_link("ipvlan", name, parent, std::nullopt, [&](Request& r) {
    r.put_u16(IFLA_IPVLAN_MODE, mode == IpvlanMode::l2 ? IPVLAN_MODE_L2 : IPVLAN_MODE_L3);
  });
  if (o.error != 0) {
    throw_failure(fmt::format("create ipvlan {} on {}", name, describe(parent)), o.error,
                  o.explanation);
  }
}

void Netlink::create_vlan(std::string_view name, int parent, int id) {
  check_name("create vlan", name);
  if (parent <= 0) {
    throw Error(fmt::format("create vlan {} on ifindex {}: No such device", name, parent), ENODEV);
  }
  if (id < 1 || id > 4094) {
    throw Error(fmt::format("create vlan {}: VLAN id {} is not in 1..4094", name, id), ERANGE);
  }
  Outcome o = create_link("vlan", name, parent, std::nullopt,
                          [&](Request& r) { r.put_u16(IFLA_VLAN_ID, static_cast<uint16_t>(id)); });
  if (o.error != 0) {
    throw_failure(fmt::format("create vlan {} id {} on {}", name, id, describe(parent)), o.error,
                  o.explanation);
  }
}

void Netlink::create_macvlan(std::string_view name, int parent, std::optional<MacAddress> mac) {
  check_name("create macvlan", name);
  if (parent <= 0) {
    throw Error(fmt::format("create macvlan {} on ifindex {}: No such device", name, parent),
                ENODEV);
  }
  Outcome o = create_link("macvlan", name, parent, mac,
                          [&](Request& r) { r.put_u32(IFLA_MACVLAN_MODE, MACVLAN_MODE_BRIDGE); });
  if (o.error != 0) {
    throw_failure(fmt::format("create macvlan {} on {}", name, describe(parent)), o.error,
                  o.explanation);
  }
}

namespace {

// A request that changes the existing link index (never creates one).
void check_index(std::string_view op, int index, std::string_view suffix) {
  if (index <= 0) {
    throw Error(fmt::format("{} ifindex {}{}: No such device", op, index, suffix), ENODEV);
  }
}

}  // namespace

void Netlink::set_up(int index, bool up) {
  const std::string_view suffix = up ? " up" : " down";
  check_index("set link", index, suffix);
  Request r(RTM_NEWLINK, 0);
  auto* ifi = r.header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  ifi->ifi_change = IFF_UP;
  ifi->ifi_flags = up ? IFF_UP : 0;
  if (Outcome o = exchange(r); o.error != 0) fail(o, "set link", index, suffix);
}

void Netlink::set_master(int index, int master) {
  const bool release = master == 0;
  check_index(release ? "release link" : "set master of link", index, "");
  if (master < 0) {
    throw Error(
        fmt::format("set master of link ifindex {} to ifindex {}: No such device", index, master),
        ENODEV);
  }
  Request r(RTM_NEWLINK, 0);
  auto* ifi = r.header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  r.put_u32(IFLA_MASTER, static_cast<uint32_t>(master));
  if (Outcome o = exchange(r); o.error != 0) {
    if (release) fail(o, "release link", index, " from its master");
    fail(o, "set master of link", index, " to " + describe(master));
  }
}

void Netlink::move_to_netns_fd(int index, int netns_fd) {
  const std::string suffix = fmt::format(" to network namespace fd {}", netns_fd);
  check_index("move link", index, suffix);
  Request r(RTM_NEWLINK, 0);
  auto* ifi = r.header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  r.put_u32(IFLA_NET_NS_FD, static_cast<uint32_t>(netns_fd));
  if (Outcome o = exchange(r); o.error != 0) fail(o, "move link", index, suffix);
}

void Netlink::move_to_netns_pid(int index, pid_t pid) {
  const std::string suffix = fmt::format(" to the network namespace of pid {}", pid);
  check_index("move link", index, suffix);
  Request r(RTM_NEWLINK, 0);
  auto* ifi = r.header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  r.put_u32(IFLA_NET_NS_PID, static_cast<uint32_t>(pid));
  if (Outcome o = exchange(r); o.error != 0) fail(o, "move link", index, suffix);
}

void Netlink::rename(int index, std::string_view name) {
  const std::string suffix = fmt::format(" to {}", name);
  check_name(fmt::format("rename link ifindex {} to", index), name);
  check_index("rename link", index, suffix);
  Request r(RTM_NEWLINK, 0);
  auto* ifi = r.header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  r.put_string(IFLA_IFNAME, name);
  if (Outcome o = exchange(r); o.error != 0) fail(o, "rename link", index, suffix);
}

void Netlink::set_mac(int index, const MacAddress& mac) {
  const std::string suffix = " to " + mac.to_string();
  check_index("set MAC address of link", index, suffix);
  Request r(RTM_NEWLINK, 0);
  auto* ifi = r.header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  r.put(IFLA_ADDRESS, mac.bytes.data(), mac.bytes.size());
  if (Outcome o = exchange(r); o.error != 0) fail(o, "set MAC address of link", index, suffix);
}

void Netlink::delete_link(int index) {
  check_index("delete link", index, "");
  Request r(RTM_DELLINK, 0);
  auto* ifi = r.header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  if (Outcome o = exchange(r); o.error != 0) fail(o, "delete link", index);
}

// ----- addresses -----

void Netlink::address_request(bool add, int index, const IpAddress& address, int prefix) {
  const std::string_view op = add ? "add address" : "delete address";
  const std::string_view to = add ? " to " : " from ";
  if (address.size() == 0) {
    throw Error(fmt::format("{}: not an IPv4 or IPv6 address", op), EINVAL);
  }
  const std::string text = address_text(address, prefix);
  if (prefix < 0 || prefix > address.max_prefix()) {
    throw Error(fmt::format("{} {}: invalid prefix length (0..{})", op, text, address.max_prefix()),
                EINVAL);
  }
  if (index <= 0) {
    throw Error(fmt::format("{} {}{}ifindex {}: No such device", op, text, to, index), ENODEV);
  }
  Request r(add ? RTM_NEWADDR : RTM_DELADDR, add ? NLM_F_CREATE | NLM_F_EXCL : 0);
  auto* ifa = r.header<ifaddrmsg>();
  ifa->ifa_family = static_cast<uint8_t>(address.family);
  ifa->ifa_prefixlen = static_cast<uint8_t>(prefix);
  ifa->ifa_index = static_cast<uint32_t>(index);
  // Like `ip address add`: IPv4 loopback addresses are host scoped (the kernel works out IPv6
  // scopes itself).
  ifa->ifa_scope =
      address.family == AF_INET && address.bytes[0] == 127 ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE;
  r.put_ip(IFA_LOCAL, address);
  r.put_ip(IFA_ADDRESS, address);
  if (add && address.family == AF_INET && prefix < 31) {
    // `brd +`: the host part all ones.
    IpAddress broadcast = address;
    for (int bit = prefix; bit < 32; ++bit) {
      broadcast.bytes[static_cast<size_t>(bit / 8)] |= static_cast<uint8_t>(0x80 >> (bit % 8));
    }
    r.put_ip(IFA_BROADCAST, broadcast);
  }
  if (Outcome o = exchange(r); o.error != 0) {
    throw_failure(fmt::format("{} {}{}{}", op, text, to, describe(index)), o.error, o.explanation);
  }
}

void Netlink::add_address(int index, const IpAddress& address, int prefix) {
  address_request(true, index, address, prefix);
}

void Netlink::delete_address(int index, const IpAddress& address, int prefix) {
  address_request(false, index, address, prefix);
}

std::vector<AddressInfo> Netlink::addresses(int family) {
  Request r(RTM_GETADDR, NLM_F_DUMP);
  r.header<ifaddrmsg>()->ifa_family = static_cast<uint8_t>(family);
  std::vector<AddressInfo> all = dump<AddressInfo>(r, "list addresses", &parse_address);
  if (family != AF_UNSPEC)
    std::erase_if(all, [&](const auto& a) { return a.address.family != family; });
  return all;
}

// ----- routes -----

void Netlink::route_request(bool add, const IpAddress& destination, int prefix,
                            const std::optional<IpAddress>& gateway, std::optional<int> index) {
  const std::string_view op = add ? "add route" : "delete route";
  if (destination.size() == 0) {
    throw Error(fmt::format("{}: destination is not an IPv4 or IPv6 address", op), EINVAL);
  }
  std::string what = fmt::format("{} {}", op, destination_text(destination, prefix));
  if (gateway) what += " via " + gateway->to_string();
  if (prefix < 0 || prefix > destination.max_prefix()) {
    throw Error(fmt::format("{}: invalid prefix length (0..{})", what, destination.max_prefix()),
                EINVAL);
  }
  if (gateway && gateway->family != destination.family) {
    throw Error(what + ": the gateway is of another address family", EINVAL);
  }
  if (add && !gateway && !index) throw Error(what + ": needs a gateway or a link", EINVAL);
  if (index && *index <= 0) {
    throw Error(fmt::format("{} dev ifindex {}: No such device", what, *index), ENODEV);
  }
  Request r(add ? RTM_NEWROUTE : RTM_DELROUTE, add ? NLM_F_CREATE | NLM_F_EXCL : 0);
  auto* rtm = r.header<rtmsg>();
  rtm->rtm_family = static_cast<uint8_t>(destination.family);
  rtm->rtm_dst_len = static_cast<uint8_t>(prefix);
  rtm->rtm_table = RT_TABLE_MAIN;
  if (add) {
    rtm->rtm_protocol = RTPROT_BOOT;
    rtm->rtm_scope = gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    rtm->rtm_type = RTN_UNICAST;
  } else {
    // Like `ip route del`: match whatever the scope.
    rtm->rtm_scope = RT_SCOPE_NOWHERE;
  }
  if (prefix > 0) r.put_ip(RTA_DST, destination);
  if (gateway) r.put_ip(RTA_GATEWAY, *gateway);
  if (index) r.put_u32(RTA_OIF, static_cast<uint32_t>(*index));
  if (Outcome o = exchange(r); o.error != 0) {
    if (index) what += " dev " + describe(*index);
    throw_failure(what, o.error, o.explanation);
  }
}

void Netlink::add_route(const IpAddress& gateway, std::optional<int> index) {
  if (gateway.size() == 0) {
    throw Error("add route default: the gateway is not an IPv4 or IPv6 address", EINVAL);
  }
  route_request(true, IpAddress::any(gateway.family), 0, gateway, index);
}

void Netlink::add_route(const IpAddress& destination, int prefix, std::optional<IpAddress> gateway,
                        std::optional<int> index) {
  route_request(true, destination, prefix, gateway, index);
}

void Netlink::delete_route(const IpAddress& destination, int prefix,
                           std::optional<IpAddress> gateway, std::optional<int> index) {
  route_request(false, destination, prefix, gateway, index);
}

std::vector<RouteInfo> Netlink::routes(int family) {
  Request r(RTM_GETROUTE, NLM_F_DUMP);
  r.header<rtmsg>()->rtm_family = static_cast<uint8_t>(family);
  std::vector<RouteInfo> all = dump<RouteInfo>(r, "list routes", &parse_route);
  if (family != AF_UNSPEC) {
    std::erase_if(all, [&](const auto& route) { return route.destination.family != family; });
  }
  return all;
}

}  // namespace vs::net
