// MAC and IP addresses: parsing, formatting, and the stable MACs of guests' links.
#include <arpa/inet.h>

#include <cstring>
#include <string>

#include "net/netlink.hpp"

namespace vs::net {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<MacAddress> MacAddress::parse(std::string_view text) {
  // Six pairs of hex digits and five separators, all ':' or all '-'.
  if (text.size() != 17) return std::nullopt;
  const char separator = text[2];
  if (separator != ':' && separator != '-') return std::nullopt;
  MacAddress mac;
  for (size_t i = 0; i < 6; ++i) {
    const size_t at = i * 3;
    if (i > 0 && text[at - 1] != separator) return std::nullopt;
    const int high = hex_value(text[at]);
    const int low = hex_value(text[at + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    mac.bytes[i] = static_cast<uint8_t>(high * 16 + low);
  }
  return mac;
}

std::string MacAddress::to_string() const {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(17);
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i > 0) s += ':';
    s += digits[bytes[i] >> 4];
    s += digits[bytes[i] & 0x0f];
  }
  return s;
}

MacAddress stable_mac(std::string_view seed) {
  // 64-bit FNV-1a, then the splitmix64 finalizer so that similar seeds ("web/eth0", "web/eth1")
  // differ in every byte. This is part of the on-the-wire contract with guests' neighbours: it
  // must never change.
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : seed) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  MacAddress mac;
  for (size_t i = 0; i < mac.bytes.size(); ++i) {
    mac.bytes[i] = static_cast<uint8_t>(h >> (56 - 8 * i));
  }
  // Unicast (I/G bit clear), locally administered (U/L bit set).
  mac.bytes[0] = static_cast<uint8_t>((mac.bytes[0] & 0xfc) | 0x02);
  return mac;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.find('\0') != std::string_view::npos) return std::nullopt;
  const std::string s(text);
  IpAddress a;
  if (::inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET;
    return a;
  }
  if (::inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET6;
    return a;
  }
  return std::nullopt;
}

IpAddress IpAddress::any(int family) {
  IpAddress a;
  a.family = family;
  return a;
}

size_t IpAddress::size() const {
  switch (family) {
    case AF_INET:
      return 4;
    case AF_INET6:
      return 16;
    default:
      return 0;
  }
}

std::string IpAddress::to_string() const {
  if (size() == 0) return {};
  char text[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(family, bytes.data(), text, sizeof text) == nullptr) return {};
  return text;
}

std::optional<std::string> link_name_problem(std::string_view name) {
  // The kernel's dev_valid_name(), spelled out.
  if (name.empty()) return "empty";
  if (name.size() > 15) return "longer than 15 characters";
  if (name == "." || name == "..") return "\".\" and \"..\" are reserved";
  for (char c : name) {
    if (c == '/') return "contains '/'";
    if (c == ':') return "contains ':'";
    if (c == '\0') return "contains a NUL byte";
    // The kernel's isspace() also counts 0xa0 (Latin-1 no-break space).
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
        static_cast<unsigned char>(c) == 0xa0) {
      return "contains whitespace";
    }
  }
  return std::nullopt;
}

}  // namespace vs::net
