// The --interface argument of vserver NAME build (util-vserver.md §2.1).
#pragma once

#include <string>
#include <string_view>

#include "config/model.hpp"
#include "sys/error.hpp"

namespace vs::config {

// Parses util-vserver's --interface value [NAME=][DEV:]IP[/PREFIX|/MASK] for interfaces/ID.
// DEV may be the word "nodev". When the whole text after NAME= (without /PREFIX) is an IPv4 or
// IPv6 address there is no DEV; otherwise DEV is what precedes the first ':', so
// "eth0:2001:db8::1/64" is DEV eth0 with an IPv6 address. Brackets force the split:
// "[2001:db8::1]/64", "eth0:[fe80::1]/64". A missing prefix means a host address (/32, /128).
struct ParsedInterface {
  Interface iface;
  bool nodev_defaulted = false;  // no DEV was given: util-vserver says "setting 'nodev'"
};
ParsedInterface parse_interface(std::string_view spec, std::string id);

}  // namespace vs::config
