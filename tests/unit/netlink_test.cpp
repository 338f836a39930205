// The netlink library against the real kernel, never in the host's network namespace: each test
// that talks to the kernel runs in a forked child that first enters a new network namespace
// (unshare(CLONE_NEWNET), which needs root). The child reports a failed check or an unexpected
// exception to the parent through a pipe, and the parent turns it into a test failure.
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "net/netlink.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/process.hpp"

namespace {

using vs::net::AddressInfo;
using vs::net::IpAddress;
using vs::net::LinkInfo;
using vs::net::MacAddress;
using vs::net::Netlink;
using vs::net::RouteInfo;

// ----- checks inside the child -----

struct CheckFailure {
  std::string message;
};
struct SkipTest {
  std::string message;
};

[[noreturn]] void fail_at(const char* file, int line, const std::string& what) {
  throw CheckFailure{fmt::format("{}:{}: {}", file, line, what)};
}

template <class T>
std::string show(const T& v) {
  if constexpr (requires { v.to_string(); }) {
    return v.to_string();
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return fmt::format("\"{}\"", std::string_view(v));
  } else if constexpr (requires {
                         v.has_value();
                         *v;
                       }) {
    return v ? show(*v) : std::string("nullopt");
  } else {
    return fmt::format("{}", v);
  }
}

template <class A, class B>
void check_eq(const A& a, const B& b, const char* ea, const char* eb, const char* file, int line) {
  if (!(a == b)) fail_at(file, line, fmt::format("{} == {}: {} vs {}", ea, eb, show(a), show(b)));
}

// Expects a vs::Error whose message is expected, possibly followed by the kernel's explanation in
// parentheses (its wording differs between kernel versions), and whose errno is err.
void check_error(const std::function<void()>& f, const std::string& expected, int err,
                 const char* expr, const char* file, int line) {
  try {
    f();
  } catch (const vs::Error& e) {
    const std::string what = e.what();
    if (what != expected && !what.starts_with(expected + " (")) {
      fail_at(file, line, fmt::format("{}: message \"{}\", expected \"{}\"", expr, what, expected));
    }
    if (e.code() != err) {
      fail_at(file, line,
              fmt::format("{}: errno {} ({}), expected {} ({})", expr, e.code(),
                          std::strerror(e.code()), err, std::strerror(err)));
    }
    return;
  }
  fail_at(file, line, fmt::format("{}: no exception, expected \"{}\"", expr, expected));
}

#define NL_CHECK(cond)                                                \
  do {                                                                \
    if (!(cond)) fail_at(__FILE__, __LINE__, "check failed: " #cond); \
  } while (0)
#define NL_CHECK_EQ(a, b) check_eq((a), (b), #a, #b, __FILE__, __LINE__)
#define NL_CHECK_ERROR(stmt, message, err) \
  check_error([&] { stmt; }, (message), (err), #stmt, __FILE__, __LINE__)

// ----- the child in its own network namespace -----

constexpr int kSkipExit = 77;

void write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Runs body in a forked child in a new network namespace; its failures become this test's.
void in_netns(const std::function<void()>& body) {
  if (::geteuid() != 0) GTEST_SKIP() << "a new network namespace needs root";
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0) << std::strerror(errno);
  vs::UniqueFd read_end(fds[0]);
  vs::UniqueFd write_end(fds[1]);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) {
    read_end.reset();
    int code = 0;
    std::string message;
    ::alarm(60);  // a hung request ends the child, and the parent reports the signal
    if (::unshare(CLONE_NEWNET) != 0) {
      code = errno == EPERM ? kSkipExit : 1;
      message = fmt::format("unshare(CLONE_NEWNET): {}", std::strerror(errno));
    } else {
      try {
        body();
      } catch (const CheckFailure& f) {
        code = 1;
        message = f.message;
      } catch (const SkipTest& s) {
        code = kSkipExit;
        message = s.message;
      } catch (const std::exception& e) {
        code = 1;
        message = fmt::format("unexpected exception: {}", e.what());
      } catch (...) {
        code = 1;
        message = "unexpected exception of unknown type";
      }
    }
    write_all(write_end.get(), message);
    ::_exit(code);
  }
  vs::ChildProcess child(pid);
  write_end.reset();
  std::string message;
  char chunk[4096];
  for (;;) {
    ssize_t n = ::read(read_end.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    message.append(chunk, static_cast<size_t>(n));
  }
  const int status = child.wait_status("netlink test child");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  if (WIFEXITED(status) && WEXITSTATUS(status) == kSkipExit) GTEST_SKIP() << message;
  if (WIFSIGNALED(status)) {
    ADD_FAILURE() << "test child killed by signal " << WTERMSIG(status) << " " << message;
  } else {
    ADD_FAILURE() << message;
  }
}

// A new network namespace, held by an fd only; the caller stays where it is.
vs::UniqueFd new_netns() {
  vs::UniqueFd home(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  NL_CHECK(home.valid());
  NL_CHECK(::unshare(CLONE_NEWNET) == 0);
  vs::UniqueFd other(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  NL_CHECK(other.valid());
  NL_CHECK(::setns(home.get(), CLONE_NEWNET) == 0);
  return other;
}

// A netlink socket of the network namespace netns; the caller stays where it is.
Netlink netlink_in(int netns) {
  vs::UniqueFd home(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  NL_CHECK(home.valid());
  NL_CHECK(::setns(netns, CLONE_NEWNET) == 0);
  Netlink nl;
  NL_CHECK(::setns(home.get(), CLONE_NEWNET) == 0);
  return nl;
}

// A process that sits in a network namespace of its own until destroyed.
class NetnsHolder {
 public:
  NetnsHolder() {
    int fds[2];
    NL_CHECK(::pipe2(fds, O_CLOEXEC) == 0);
    vs::UniqueFd read_end(fds[0]);
    vs::UniqueFd write_end(fds[1]);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    NL_CHECK(pid >= 0);
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);
      const char ok = ::unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
      (void)!::write(write_end.get(), &ok, 1);
      for (;;) ::pause();
    }
    child_ = std::make_unique<vs::ChildProcess>(pid);
    write_end.reset();
    char ok = 0;
    NL_CHECK(::read(read_end.get(), &ok, 1) == 1 && ok == 'y');
  }
  [[nodiscard]] pid_t pid() const { return child_->pid(); }

 private:
  std::unique_ptr<vs::ChildProcess> child_;
};

// A device to carry addresses or ipvlan/macvlan links: a dummy, or a veth pair (NAME and NAMEp,
// both up) on kernels built without dummy links. Returns its index.
int make_device(Netlink& nl, const std::string& name) {
  try {
    nl.create_dummy(name);
  } catch (const vs::Error& e) {
    if (e.code() != EOPNOTSUPP) throw;
    nl.create_veth(name, name + "p");
    nl.set_up(nl.index_of(name + "p"), true);
  }
  return nl.index_of(name);
}

LinkInfo must_find(Netlink& nl, const std::string& name) {
  auto l = nl.link(name);
  if (!l) fail_at(__FILE__, __LINE__, "no link " + name);
  return *l;
}

const AddressInfo* find_address(const std::vector<AddressInfo>& all, int index,
                                const std::string& address) {
  for (const auto& a : all) {
    if (a.index == index && a.address.to_string() == address) return &a;
  }
  return nullptr;
}

const RouteInfo* find_route(const std::vector<RouteInfo>& all, const std::string& destination,
                            int prefix) {
  for (const auto& r : all) {
    if (r.table == RT_TABLE_MAIN && r.destination.to_string() == destination &&
        r.prefix == prefix) {
      return &r;
    }
  }
  return nullptr;
}

bool has_link(const std::vector<LinkInfo>& all, const std::string& name) {
  return std::any_of(all.begin(), all.end(), [&](const LinkInfo& l) { return l.name == name; });
}

IpAddress ip(const char* text) {
  auto a = IpAddress::parse(text);
  if (!a) fail_at(__FILE__, __LINE__, fmt::format("test address {} does not parse", text));
  return *a;
}

// ----- addresses, no kernel involved -----

TEST(MacAddress, ParsesAndFormats) {
  auto mac = MacAddress::parse("02:00:5e:10:00:01");
  ASSERT_TRUE(mac.has_value());
  EXPECT_EQ(mac->bytes, (std::array<uint8_t, 6>{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}));
  EXPECT_EQ(mac->to_string(), "02:00:5e:10:00:01");
  EXPECT_TRUE(mac->is_locally_administered());
  EXPECT_FALSE(mac->is_multicast());

  auto upper = MacAddress::parse("AB-CD-EF-01-23-45");
  ASSERT_TRUE(upper.has_value());
  EXPECT_EQ(upper->to_string(), "ab:cd:ef:01:23:45");
  EXPECT_TRUE(upper->is_multicast());
  EXPECT_EQ(MacAddress{}.to_string(), "00:00:00:00:00:00");

  for (const char* bad :
       {"", "02:00:5e:10:00", "02:00:5e:10:00:01:02", "02:00:5e:10:00:0g", "02-00:5e:10:00:01",
        "0200.5e10.0001", "02:00:5e:10:00:1", " 02:00:5e:10:00:01", "02:00:5e:10:00:01 ",
        "+2:00:5e:10:00:01", "02:00:5e:10:00:-1", "020:0:5e:10:00:01"}) {
    EXPECT_FALSE(MacAddress::parse(bad).has_value()) << bad;
  }
}

TEST(IpAddress, ParsesAndFormats) {
  auto v4 = IpAddress::parse("192.0.2.1");
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->family, AF_INET);
  EXPECT_EQ(v4->size(), 4u);
  EXPECT_EQ(v4->bytes[0], 192);
  EXPECT_EQ(v4->bytes[3], 1);
  EXPECT_TRUE(
      std::all_of(v4->bytes.begin() + 4, v4->bytes.end(), [](uint8_t b) { return b == 0; }));
  EXPECT_EQ(v4->to_string(), "192.0.2.1");

  auto v6 = IpAddress::parse("2001:DB8:0:0::1");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->family, AF_INET6);
  EXPECT_EQ(v6->size(), 16u);
  EXPECT_EQ(v6->bytes[0], 0x20);
  EXPECT_EQ(v6->bytes[15], 1);
  EXPECT_EQ(v6->to_string(), "2001:db8::1");

  EXPECT_EQ(IpAddress::parse("::ffff:192.0.2.1")->to_string(), "::ffff:192.0.2.1");
  EXPECT_EQ(IpAddress::parse("::"), IpAddress::any(AF_INET6));
  EXPECT_EQ(IpAddress::parse("0.0.0.0"), IpAddress::any(AF_INET));
  EXPECT_NE(IpAddress::parse("192.0.2.1"), IpAddress::parse("192.0.2.2"));
  EXPECT_EQ(IpAddress{}.size(), 0u);
  EXPECT_EQ(IpAddress{}.to_string(), "");

  for (std::string_view bad :
       {std::string_view(""), std::string_view("256.0.0.1"), std::string_view("1.2.3"),
        std::string_view("1.2.3.4.5"), std::string_view("192.0.2.1/24"),
        std::string_view("fe80::1%eth0"), std::string_view("2001:db8:::1"),
        std::string_view("localhost"), std::string_view(" 192.0.2.1"),
        std::string_view("192.0.2.1\0junk", 14)}) {
    EXPECT_FALSE(IpAddress::parse(bad).has_value()) << bad;
  }
}

TEST(StableMac, IsDeterministicUnicastAndLocallyAdministered) {
  EXPECT_EQ(vs::net::stable_mac("web/eth0"), vs::net::stable_mac("web/eth0"));
  EXPECT_NE(vs::net::stable_mac("web/eth0"), vs::net::stable_mac("web/eth1"));
  EXPECT_NE(vs::net::stable_mac("web/eth0"), vs::net::stable_mac("mail/eth0"));
  // Guests keep their MACs across releases: this value must never change.
  EXPECT_EQ(vs::net::stable_mac("web/eth0").to_string(), "22:c9:aa:9c:85:d8");
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    const MacAddress mac = vs::net::stable_mac(fmt::format("guest{}/eth{}", i, i % 3));
    EXPECT_TRUE(mac.is_locally_administered()) << mac.to_string();
    EXPECT_FALSE(mac.is_multicast()) << mac.to_string();
    seen.insert(mac.to_string());
  }
  EXPECT_EQ(seen.size(), 2000u);
}

TEST(LinkName, FollowsTheKernelsRules) {
  using vs::net::link_name_problem;
  for (const char* good : {"eth0", "vs40001.0", "a", "br-guests", "123456789012345", "x..y"}) {
    EXPECT_FALSE(link_name_problem(good).has_value()) << good;
  }
  EXPECT_EQ(link_name_problem(""), "empty");
  EXPECT_EQ(link_name_problem("1234567890123456"), "longer than 15 characters");
  EXPECT_EQ(link_name_problem("."), "\".\" and \"..\" are reserved");
  EXPECT_EQ(link_name_problem(".."), "\".\" and \"..\" are reserved");
  EXPECT_EQ(link_name_problem("a/b"), "contains '/'");
  EXPECT_EQ(link_name_problem("eth0:1"), "contains ':'");
  EXPECT_EQ(link_name_problem("a b"), "contains whitespace");
  EXPECT_EQ(link_name_problem("a\tb"), "contains whitespace");
  EXPECT_EQ(link_name_problem(std::string_view("a\0b", 3)), "contains a NUL byte");
}

// ----- links -----

TEST(Netlink, HarnessReportsFailuresFromTheChild) {
  // The harness itself: a failed check in the child must fail the test, with its message.
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    in_netns([] { NL_CHECK_EQ(1 + 1, 3); });
  }
  if (::geteuid() != 0) GTEST_SKIP() << "a new network namespace needs root";
  ASSERT_EQ(results.size(), 1);
  EXPECT_TRUE(results.GetTestPartResult(0).failed());
  EXPECT_NE(std::string(results.GetTestPartResult(0).message()).find("1 + 1 == 3: 2 vs 3"),
            std::string::npos)
      << results.GetTestPartResult(0).message();
}

TEST(Netlink, DummyCreateUpDownDelete) {
  in_netns([] {
    Netlink nl;
    try {
      nl.create_dummy("dummy0");
    } catch (const vs::Error& e) {
      if (e.code() == EOPNOTSUPP) throw SkipTest{std::string("no dummy links: ") + e.what()};
      throw;
    }
    LinkInfo l = must_find(nl, "dummy0");
    NL_CHECK(l.index > 0);
    NL_CHECK_EQ(l.kind, "dummy");
    NL_CHECK(!l.up);
    NL_CHECK_EQ(l.master, 0);
    NL_CHECK_EQ(nl.index_of("dummy0"), l.index);
    NL_CHECK_EQ(nl.link(l.index)->name, "dummy0");
    nl.set_up(l.index, true);
    NL_CHECK(must_find(nl, "dummy0").up);
    nl.set_up(l.index, false);
    NL_CHECK(!must_find(nl, "dummy0").up);
    NL_CHECK(has_link(nl.links(), "dummy0"));
    nl.delete_link(l.index);
    NL_CHECK(!nl.link("dummy0").has_value());
    NL_CHECK(!nl.link(l.index).has_value());
    NL_CHECK(!has_link(nl.links(), "dummy0"));
    NL_CHECK_ERROR(nl.index_of("dummy0"), "find link dummy0: No such device", ENODEV);
  });
}

TEST(Netlink, BridgeCreateUpDownDelete) {
  in_netns([] {
    Netlink nl;
    // A new namespace has only its loopback device, and it is down.
    const std::vector<LinkInfo> initial = nl.links();
    NL_CHECK_EQ(initial.size(), 1u);
    NL_CHECK_EQ(initial[0].name, "lo");
    NL_CHECK_EQ(initial[0].kind, "");
    NL_CHECK(!initial[0].up);

    nl.create_bridge("br0");
    LinkInfo l = must_find(nl, "br0");
    NL_CHECK_EQ(l.kind, "bridge");
    NL_CHECK(!l.up);
    NL_CHECK(l.mac != MacAddress{});
    nl.set_up(l.index, true);
    NL_CHECK(nl.link(l.index)->up);
    nl.set_up(l.index, false);
    NL_CHECK(!nl.link(l.index)->up);
    NL_CHECK_EQ(nl.links().size(), 2u);
    nl.delete_link(l.index);
    NL_CHECK(!nl.link("br0").has_value());
    NL_CHECK_EQ(nl.links().size(), 1u);
  });
}

TEST(Netlink, VethPairWithPeerMac) {
  in_netns([] {
    Netlink nl;
    const MacAddress peer_mac = vs::net::stable_mac("web/eth0");
    nl.create_veth("ve0", "ve1", peer_mac);
    LinkInfo a = must_find(nl, "ve0");
    LinkInfo b = must_find(nl, "ve1");
    NL_CHECK_EQ(a.kind, "veth");
    NL_CHECK_EQ(b.kind, "veth");
    NL_CHECK_EQ(b.mac, peer_mac);
    NL_CHECK(a.mac != peer_mac);
    NL_CHECK_EQ(a.parent, b.index);
    NL_CHECK_EQ(b.parent, a.index);

    const MacAddress other = *MacAddress::parse("02:11:22:33:44:55");
    nl.set_mac(a.index, other);
    NL_CHECK_EQ(must_find(nl, "ve0").mac, other);

    // Without a MAC, the kernel picks a random locally administered one.
    nl.create_veth("vr0", "vr1");
    NL_CHECK(must_find(nl, "vr1").mac.is_locally_administered());

    // Deleting one end takes the other.
    nl.delete_link(a.index);
    NL_CHECK(!nl.link("ve0").has_value());
    NL_CHECK(!nl.link("ve1").has_value());
  });
}

TEST(Netlink, BridgePortsAndMaster) {
  in_netns([] {
    Netlink nl;
    nl.create_bridge("br0");
    nl.create_veth("vb0", "vb1");
    const int br = nl.index_of("br0");
    const int port = nl.index_of("vb0");
    nl.set_master(port, br);
    LinkInfo l = must_find(nl, "vb0");
    NL_CHECK_EQ(l.master, br);
    NL_CHECK_EQ(l.kind, "veth");
    NL_CHECK_EQ(must_find(nl, "br0").kind, "bridge");
    NL_CHECK_EQ(must_find(nl, "vb1").master, 0);
    int ports = 0;
    for (const auto& link : nl.links()) ports += link.master == br ? 1 : 0;
    NL_CHECK_EQ(ports, 1);

    nl.set_master(port, 0);
    NL_CHECK_EQ(must_find(nl, "vb0").master, 0);

    // A veth end cannot take ports.
    NL_CHECK_ERROR(nl.set_master(port, nl.index_of("vb1")),
                   "set master of link vb0 to vb1: Operation not supported", EOPNOTSUPP);
    NL_CHECK_ERROR(nl.set_master(port, 99999),
                   "set master of link vb0 to ifindex 99999: " + std::string(std::strerror(EINVAL)),
                   EINVAL);
  });
}

TEST(Netlink, MacvlanOnParent) {
  in_netns([] {
    Netlink nl;
    const int parent = make_device(nl, "dev0");
    const MacAddress mac = vs::net::stable_mac("mail/eth0");
    nl.create_macvlan("mv0", parent, mac);
    LinkInfo l = must_find(nl, "mv0");
    NL_CHECK_EQ(l.kind, "macvlan");
    NL_CHECK_EQ(l.parent, parent);
    NL_CHECK_EQ(l.mac, mac);
    nl.create_macvlan("mv1", parent);
    NL_CHECK(must_find(nl, "mv1").mac != mac);
    NL_CHECK_ERROR(nl.create_macvlan("mv0", parent), "create macvlan mv0 on dev0: File exists",
                   EEXIST);
    NL_CHECK_ERROR(nl.create_macvlan("mv2", 99999),
                   "create macvlan mv2 on ifindex 99999: No such device", ENODEV);
    // Deleting the parent takes its macvlan links.
    nl.delete_link(parent);
    NL_CHECK(!nl.link("mv0").has_value());
  });
}

TEST(Netlink, IpvlanOnParent) {
  in_netns([] {
    Netlink nl;
    const int parent = make_device(nl, "dev0");
    try {
      nl.create_ipvlan("iv0", parent);
    } catch (const vs::Error& e) {
      if (e.code() == EOPNOTSUPP) throw SkipTest{std::string("no ipvlan links: ") + e.what()};
      throw;
    }
    nl.create_ipvlan("iv1", parent, Netlink::IpvlanMode::l3);
    for (const char* name : {"iv0", "iv1"}) {
      LinkInfo l = must_find(nl, name);
      NL_CHECK_EQ(l.kind, "ipvlan");
      NL_CHECK_EQ(l.parent, parent);
      // ipvlan links share their parent's MAC.
      NL_CHECK_EQ(l.mac, must_find(nl, "dev0").mac);
    }
    NL_CHECK_ERROR(nl.create_ipvlan("iv0", parent), "create ipvlan iv0 on dev0: File exists",
                   EEXIST);
    NL_CHECK_ERROR(nl.create_ipvlan("iv2", 99999),
                   "create ipvlan iv2 on ifindex 99999: No such device", ENODEV);
  });
}

TEST(Netlink, MoveVethEndToNetnsFdAndRename) {
  in_netns([] {
    Netlink nl;
    vs::UniqueFd other_ns = new_netns();
    Netlink there = netlink_in(other_ns.get());
    NL_CHECK_EQ(there.links().size(), 1u);

    nl.create_veth("h0", "g0");
    nl.move_to_netns_fd(nl.index_of("g0"), other_ns.get());
    NL_CHECK(!nl.link("g0").has_value());
    NL_CHECK(nl.link("h0").has_value());
    // Both sockets stay in their own namespaces, wherever this process is.
    LinkInfo moved = must_find(there, "g0");
    NL_CHECK_EQ(moved.kind, "veth");

    there.rename(moved.index, "eth0");
    NL_CHECK(!there.link("g0").has_value());
    NL_CHECK_EQ(must_find(there, "eth0").index, moved.index);
    NL_CHECK(!nl.link("eth0").has_value());
    there.set_up(moved.index, true);
    NL_CHECK(must_find(there, "eth0").up);

    NL_CHECK_ERROR(there.rename(there.index_of("lo"), "eth0"),
                   "rename link lo to eth0: File exists", EEXIST);
    NL_CHECK_ERROR(there.rename(moved.index, "eth 0"),
                   fmt::format("rename link ifindex {} to \"eth 0\": invalid link name: contains "
                               "whitespace",
                               moved.index),
                   EINVAL);
    NL_CHECK_ERROR(nl.rename(99999, "x0"), "rename link ifindex 99999 to x0: No such device",
                   ENODEV);

    // Not a namespace: the link stays.
    vs::UniqueFd not_ns(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    NL_CHECK_ERROR(
        nl.move_to_netns_fd(nl.index_of("h0"), not_ns.get()),
        fmt::format("move link h0 to network namespace fd {}: Invalid argument", not_ns.get()),
        EINVAL);
    NL_CHECK(nl.link("h0").has_value());
  });
}

TEST(Netlink, MoveToNetnsOfPid) {
  in_netns([] {
    Netlink nl;
    NetnsHolder holder;
    nl.create_veth("h1", "g1");
    nl.move_to_netns_pid(nl.index_of("g1"), holder.pid());
    NL_CHECK(!nl.link("g1").has_value());
    vs::UniqueFd ns(
        ::open(fmt::format("/proc/{}/ns/net", holder.pid()).c_str(), O_RDONLY | O_CLOEXEC));
    NL_CHECK(ns.valid());
    Netlink there = netlink_in(ns.get());
    NL_CHECK_EQ(must_find(there, "g1").kind, "veth");

    // Beyond the largest possible pid (4194304).
    NL_CHECK_ERROR(nl.move_to_netns_pid(nl.index_of("h1"), 0x3fffffff),
                   "move link h1 to the network namespace of pid 1073741823: No such process",
                   ESRCH);
  });
}

TEST(Netlink, DumpOfManyLinksSpansSeveralMessages) {
  in_netns([] {
    Netlink nl;
    // Well over what fits in one 32 KiB datagram.
    constexpr int kBridges = 100;
    for (int i = 0; i < kBridges; ++i) nl.create_bridge(fmt::format("br{}", i));
    const std::vector<LinkInfo> all = nl.links();
    NL_CHECK_EQ(all.size(), static_cast<size_t>(kBridges + 1));
    std::set<std::string> names;
    for (const auto& l : all) names.insert(l.name);
    for (int i = 0; i < kBridges; ++i) NL_CHECK(names.count(fmt::format("br{}", i)) == 1);
    // The socket is still in step after the dump.
    NL_CHECK_EQ(must_find(nl, "br99").kind, "bridge");
  });
}

TEST(Netlink, ErrorsNameTheOperationAndTheLink) {
  in_netns([] {
    Netlink nl;
    nl.create_veth("vs40001.0", "vsp40001.0");
    NL_CHECK_ERROR(nl.create_veth("vs40001.0", "vsp40001.1"), "create veth vs40001.0: File exists",
                   EEXIST);
    NL_CHECK_ERROR(nl.create_veth("vs40002.0", "vsp40001.0"),
                   "create veth vs40002.0 with peer vsp40001.0: File exists", EEXIST);
    NL_CHECK(!nl.link("vs40002.0").has_value());
    nl.create_bridge("dup0");
    NL_CHECK_ERROR(nl.create_bridge("dup0"), "create bridge dup0: File exists", EEXIST);

    NL_CHECK_ERROR(nl.index_of("nope0"), "find link nope0: No such device", ENODEV);
    NL_CHECK(!nl.link("nope0").has_value());
    NL_CHECK(!nl.link(99999).has_value());
    NL_CHECK(!nl.link(0).has_value());
    NL_CHECK_ERROR(nl.delete_link(99999), "delete link ifindex 99999: No such device", ENODEV);
    NL_CHECK_ERROR(nl.delete_link(0), "delete link ifindex 0: No such device", ENODEV);
    NL_CHECK_ERROR(nl.set_up(99999, true), "set link ifindex 99999 up: No such device", ENODEV);
    NL_CHECK_ERROR(nl.set_mac(99999, MacAddress{}),
                   "set MAC address of link ifindex 99999 to 00:00:00:00:00:00: No such device",
                   ENODEV);
    // A multicast MAC is refused by the kernel, and the message names the link.
    NL_CHECK_ERROR(nl.set_mac(nl.index_of("vs40001.0"), *MacAddress::parse("01:00:5e:00:00:01")),
                   "set MAC address of link vs40001.0 to 01:00:5e:00:00:01: Cannot assign "
                   "requested address",
                   EADDRNOTAVAIL);

    // Bad names are refused before any request: nothing is created.
    const size_t before = nl.links().size();
    NL_CHECK_ERROR(nl.create_bridge(""), "create bridge \"\": invalid link name: empty", EINVAL);
    NL_CHECK_ERROR(nl.create_bridge("a/b"),
                   "create bridge \"a/b\": invalid link name: contains '/'", EINVAL);
    NL_CHECK_ERROR(nl.create_dummy("0123456789abcdef"),
                   "create dummy \"0123456789abcdef\": invalid link name: longer than 15 "
                   "characters",
                   EINVAL);
    NL_CHECK_ERROR(nl.create_bridge(".."),
                   "create bridge \"..\": invalid link name: \".\" and \"..\" are reserved",
                   EINVAL);
    NL_CHECK_ERROR(nl.create_veth("ok0", "bad peer"),
                   "create veth peer \"bad peer\": invalid link name: contains whitespace", EINVAL);
    NL_CHECK_ERROR(nl.create_macvlan("a:b", 1),
                   "create macvlan \"a:b\": invalid link name: "
                   "contains ':'",
                   EINVAL);
    NL_CHECK_ERROR(nl.index_of("a b"), "find link \"a b\": invalid link name: contains whitespace",
                   EINVAL);
    NL_CHECK_EQ(nl.links().size(), before);
    NL_CHECK(!nl.link("ok0").has_value());
  });
}

// ----- addresses -----

TEST(Netlink, Ipv4AddressesAddListDelete) {
  in_netns([] {
    Netlink nl;
    const int dev = make_device(nl, "dev0");
    nl.add_address(dev, ip("192.0.2.1"), 24);
    nl.add_address(dev, ip("198.51.100.7"), 31);
    nl.add_address(dev, ip("203.0.113.9"), 32);
    const int lo = nl.index_of("lo");
    nl.add_address(lo, ip("127.0.0.2"), 8);

    std::vector<AddressInfo> all = nl.addresses(AF_INET);
    const AddressInfo* a = find_address(all, dev, "192.0.2.1");
    NL_CHECK(a != nullptr);
    NL_CHECK_EQ(a->prefix, 24);
    NL_CHECK_EQ(a->address.family, AF_INET);
    NL_CHECK_EQ(a->broadcast, IpAddress::parse("192.0.2.255"));
    const AddressInfo* b = find_address(all, dev, "198.51.100.7");
    NL_CHECK(b != nullptr);
    NL_CHECK_EQ(b->prefix, 31);
    NL_CHECK(!b->broadcast.has_value());
    NL_CHECK(find_address(all, dev, "203.0.113.9") != nullptr);
    NL_CHECK(find_address(all, lo, "127.0.0.2") != nullptr);
    NL_CHECK(std::all_of(all.begin(), all.end(),
                         [](const AddressInfo& x) { return x.address.family == AF_INET; }));
    NL_CHECK(find_address(nl.addresses(AF_INET6), dev, "192.0.2.1") == nullptr);
    NL_CHECK(find_address(nl.addresses(), dev, "192.0.2.1") != nullptr);

    NL_CHECK_ERROR(nl.add_address(dev, ip("192.0.2.1"), 24),
                   "add address 192.0.2.1/24 to dev0: File exists", EEXIST);
    nl.delete_address(dev, ip("192.0.2.1"), 24);
    NL_CHECK(find_address(nl.addresses(AF_INET), dev, "192.0.2.1") == nullptr);
    NL_CHECK(find_address(nl.addresses(AF_INET), dev, "198.51.100.7") != nullptr);
    NL_CHECK_ERROR(nl.delete_address(dev, ip("192.0.2.1"), 24),
                   "delete address 192.0.2.1/24 from dev0: Cannot assign requested address",
                   EADDRNOTAVAIL);

    // Refused before any request.
    NL_CHECK_ERROR(nl.add_address(dev, ip("192.0.2.1"), 33),
                   "add address 192.0.2.1/33: invalid prefix length (0..32)", EINVAL);
    NL_CHECK_ERROR(nl.add_address(dev, ip("192.0.2.1"), -1),
                   "add address 192.0.2.1/-1: invalid prefix length (0..32)", EINVAL);
    NL_CHECK_ERROR(nl.add_address(dev, IpAddress{}, 24), "add address: not an IPv4 or IPv6 address",
                   EINVAL);
    // Refused by the kernel.
    NL_CHECK_ERROR(nl.add_address(99999, ip("192.0.2.1"), 24),
                   "add address 192.0.2.1/24 to ifindex 99999: No such device", ENODEV);
  });
}

TEST(Netlink, Ipv6AddressesAddListDelete) {
  in_netns([] {
    Netlink nl;
    const int dev = make_device(nl, "dev0");
    nl.set_up(dev, true);
    nl.add_address(dev, ip("2001:db8::1"), 64);
    nl.add_address(dev, ip("2001:db8:1::1"), 128);
    std::vector<AddressInfo> all = nl.addresses(AF_INET6);
    const AddressInfo* a = find_address(all, dev, "2001:db8::1");
    NL_CHECK(a != nullptr);
    NL_CHECK_EQ(a->prefix, 64);
    NL_CHECK_EQ(a->address.family, AF_INET6);
    NL_CHECK(!a->broadcast.has_value());
    NL_CHECK_EQ(find_address(all, dev, "2001:db8:1::1")->prefix, 128);
    NL_CHECK(find_address(nl.addresses(AF_INET), dev, "2001:db8::1") == nullptr);

    NL_CHECK_ERROR(nl.add_address(dev, ip("2001:db8::1"), 64),
                   "add address 2001:db8::1/64 to dev0: File exists", EEXIST);
    nl.delete_address(dev, ip("2001:db8::1"), 64);
    NL_CHECK(find_address(nl.addresses(AF_INET6), dev, "2001:db8::1") == nullptr);
    NL_CHECK(find_address(nl.addresses(AF_INET6), dev, "2001:db8:1::1") != nullptr);
    NL_CHECK_ERROR(nl.delete_address(dev, ip("2001:db8::1"), 64),
                   "delete address 2001:db8::1/64 from dev0: Cannot assign requested address",
                   EADDRNOTAVAIL);
    NL_CHECK_ERROR(nl.add_address(dev, ip("2001:db8::1"), 129),
                   "add address 2001:db8::1/129: invalid prefix length (0..128)", EINVAL);
  });
}

// ----- routes -----

TEST(Netlink, DefaultRouteViaGatewayOnConnectedSubnet) {
  in_netns([] {
    Netlink nl;
    const int dev = make_device(nl, "dev0");
    nl.set_up(dev, true);
    nl.add_address(dev, ip("192.0.2.1"), 24);
    nl.add_route(ip("192.0.2.254"));
    const auto r_all = nl.routes(AF_INET);

    const RouteInfo* r = find_route(r_all, "0.0.0.0", 0);
    NL_CHECK(r != nullptr);
    NL_CHECK_EQ(r->gateway, IpAddress::parse("192.0.2.254"));
    NL_CHECK_EQ(r->index, dev);
    NL_CHECK_EQ(r->type, RTN_UNICAST);
    NL_CHECK_ERROR(nl.add_route(ip("192.0.2.254")),
                   "add route default via 192.0.2.254: File exists", EEXIST);
    NL_CHECK_ERROR(nl.add_route(ip("192.0.2.254"), dev),
                   "add route default via 192.0.2.254 dev dev0: File exists", EEXIST);
    nl.delete_route(IpAddress::any(AF_INET), 0, ip("192.0.2.254"), {});
    NL_CHECK(find_route(nl.routes(AF_INET), "0.0.0.0", 0) == nullptr);
    // Not on a connected subnet.
    NL_CHECK_ERROR(nl.add_route(ip("198.51.100.1")),
                   "add route default via 198.51.100.1: Network is unreachable", ENETUNREACH);

    // IPv6: via a gateway in the prefix of the link's address.
    nl.add_address(dev, ip("2001:db8::1"), 64);
    nl.add_route(ip("2001:db8::fe"), dev);
    const auto r6_all = nl.routes(AF_INET6);

    const RouteInfo* r6 = find_route(r6_all, "::", 0);
    NL_CHECK(r6 != nullptr);
    NL_CHECK_EQ(r6->gateway, IpAddress::parse("2001:db8::fe"));
    NL_CHECK_EQ(r6->index, dev);
    NL_CHECK(find_route(nl.routes(AF_INET), "::", 0) == nullptr);
  });
}

TEST(Netlink, RoutesToPrefixes) {
  in_netns([] {
    Netlink nl;
    const int dev = make_device(nl, "dev0");
    nl.set_up(dev, true);
    nl.add_address(dev, ip("192.0.2.1"), 24);
    // On the link itself, then via a gateway.
    nl.add_route(ip("10.1.0.0"), 16, std::nullopt, dev);
    nl.add_route(ip("10.2.0.0"), 16, ip("192.0.2.254"), std::nullopt);
    std::vector<RouteInfo> all = nl.routes(AF_INET);
    const RouteInfo* direct = find_route(all, "10.1.0.0", 16);
    NL_CHECK(direct != nullptr);
    NL_CHECK(!direct->gateway.has_value());
    NL_CHECK_EQ(direct->index, dev);
    const RouteInfo* via = find_route(all, "10.2.0.0", 16);
    NL_CHECK(via != nullptr);
    NL_CHECK_EQ(via->gateway, IpAddress::parse("192.0.2.254"));
    // The connected route of the address.
    NL_CHECK(find_route(all, "192.0.2.0", 24) != nullptr);

    nl.delete_route(ip("10.1.0.0"), 16, std::nullopt, dev);
    NL_CHECK(find_route(nl.routes(AF_INET), "10.1.0.0", 16) == nullptr);
    NL_CHECK_ERROR(nl.delete_route(ip("10.1.0.0"), 16, std::nullopt, dev),
                   "delete route 10.1.0.0/16 dev dev0: No such process", ESRCH);
    // Host bits set beyond the prefix.
    NL_CHECK_ERROR(nl.add_route(ip("10.1.2.3"), 16, std::nullopt, dev),
                   "add route 10.1.2.3/16 dev dev0: Invalid argument", EINVAL);
    NL_CHECK_ERROR(nl.add_route(ip("10.3.0.0"), 16, ip("2001:db8::1"), dev),
                   "add route 10.3.0.0/16 via 2001:db8::1: the gateway is of another address "
                   "family",
                   EINVAL);
    NL_CHECK_ERROR(nl.add_route(ip("10.3.0.0"), 16, std::nullopt, std::nullopt),
                   "add route 10.3.0.0/16: needs a gateway or a link", EINVAL);
    NL_CHECK_ERROR(nl.add_route(ip("10.3.0.0"), 40, std::nullopt, dev),
                   "add route 10.3.0.0/40: invalid prefix length (0..32)", EINVAL);
    NL_CHECK_ERROR(nl.add_route(IpAddress{}),
                   "add route default: the gateway is not an IPv4 or "
                   "IPv6 address",
                   EINVAL);
  });
}

}  // namespace
