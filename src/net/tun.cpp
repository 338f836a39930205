#include "net/tun.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "net/netlink.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"

namespace vs::net {

void create_tun(std::string_view name, const TunOptions& options) {
  const char* kind = options.tap ? "tap" : "tun";
  std::string what = fmt::format("{} {}", kind, name);
  if (auto problem = link_name_problem(name)) {
    throw Error(fmt::format("create {}: the name is {}", what, *problem), EINVAL);
  }
  // Until TUNSETPERSIST the device lives as long as this descriptor: a failure closes it, and
  // the kernel removes the half-made device.
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!fd) throw_errno("open /dev/net/tun to create", what);
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = static_cast<short>((options.tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI);
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) throw_errno("create", what);
  if (options.owner && ::ioctl(fd.get(), TUNSETOWNER, static_cast<unsigned long>(*options.owner))) {
    throw_errno(fmt::format("set owner {} of", *options.owner), what);
  }
  if (options.group && ::ioctl(fd.get(), TUNSETGROUP, static_cast<unsigned long>(*options.group))) {
    throw_errno(fmt::format("set group {} of", *options.group), what);
  }
  if (options.link_type &&
      ::ioctl(fd.get(), TUNSETLINK, static_cast<unsigned long>(*options.link_type)) != 0) {
    throw_errno(fmt::format("set link type {} of", *options.link_type), what);
  }
  if (::ioctl(fd.get(), TUNSETPERSIST, 1UL) != 0) throw_errno("make persistent", what);
}

}  // namespace vs::net
