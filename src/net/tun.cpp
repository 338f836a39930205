#include "net/tun.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "net/netlink.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"

namespace vs::net {

namespace {

// The tun driver's control device. A host whose /dev lacks the node (a minimal system that makes
// no static device nodes at boot) gets it as every Debian host has it: c 10:200, mode 0666.
UniqueFd open_tun_control(const std::string& what) {
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (fd || errno != ENOENT) {
    if (!fd) throw_errno("open /dev/net/tun to create", what);
    return fd;
  }
  if (::mkdir("/dev/net", 0755) != 0 && errno != EEXIST)
    throw_errno("create directory", "/dev/net");
  if (::mknod("/dev/net/tun", S_IFCHR | 0666, makedev(10, 200)) != 0 && errno != EEXIST) {
    throw_errno("create device node", "/dev/net/tun");
  }
  fd = UniqueFd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!fd) throw_errno("open /dev/net/tun to create", what);
  return fd;
}

}  // namespace

void create_tun(std::string_view name, const TunOptions& options) {
  const char* kind = options.tap ? "tap" : "tun";
  std::string what = fmt::format("{} {}", kind, name);
  if (auto problem = link_name_problem(name)) {
    throw Error(fmt::format("create {}: the name is {}", what, *problem), EINVAL);
  }
  // Until TUNSETPERSIST the device lives as long as this descriptor: a failure closes it, and
  // the kernel removes the half-made device.
  UniqueFd fd = open_tun_control(what);
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
