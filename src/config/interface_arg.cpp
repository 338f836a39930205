// util-vserver's --interface argument.
#include "config/interface_arg.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <string>

#include "config/parse.hpp"
#include "sys/error.hpp"

namespace vs::config {

namespace {

// A device or label name as the configuration accepts it: 1..15 characters, no '/', ':' or
// whitespace.
bool valid_link_name(std::string_view s) {
  if (s.empty() || s.size() > 15 || s == "." || s == "..") return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    return c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)) != 0 ||
           static_cast<unsigned char>(c) < 0x20;
  });
}

std::string quote(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

std::string_view unbracket(std::string_view s) {
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') return s.substr(1, s.size() - 2);
  return s;
}

}  // namespace

ParsedInterface parse_interface(std::string_view spec, std::string id) {
  auto bad = [&](const std::string& why) {
    return Error("--interface " + quote(spec) + ": " + why);
  };
  ParsedInterface out;
  Interface& i = out.iface;
  i.id = std::move(id);
  std::string_view rest = spec;

  if (std::size_t eq = rest.find('='); eq != std::string_view::npos) {
    std::string_view label = rest.substr(0, eq);
    if (!valid_link_name(label)) {
      throw bad(quote(label) + " is not an interface name (1..15 characters, no '/', ':' or " +
                "whitespace)");
    }
    i.name = std::string(label);
    rest = rest.substr(eq + 1);
  }

  std::string_view prefix_text;
  bool has_prefix = false;
  if (std::size_t slash = rest.rfind('/'); slash != std::string_view::npos) {
    prefix_text = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    has_prefix = true;
  }

  std::optional<std::string_view> dev;
  std::string_view addr;
  if (address_family(rest) != 0 ||
      (rest.size() >= 2 && rest.front() == '[' && rest.back() == ']')) {
    addr = unbracket(rest);
  } else if (std::size_t colon = rest.find(':'); colon != std::string_view::npos) {
    dev = rest.substr(0, colon);
    addr = unbracket(rest.substr(colon + 1));
  } else {
    throw bad(quote(rest) + " is not an IPv4 or IPv6 address");
  }
  i.family = address_family(addr);
  if (i.family == 0) throw bad(quote(addr) + " is not an IPv4 or IPv6 address");
  i.ip = std::string(addr);

  if (!dev) {
    i.nodev = true;
    out.nodev_defaulted = true;
  } else if (*dev == "nodev") {
    i.nodev = true;
  } else if (valid_link_name(*dev)) {
    i.dev = std::string(*dev);
  } else {
    throw bad(quote(*dev) + " is not a device name (1..15 characters, no '/', ':' or whitespace)");
  }

  int max = i.family == AF_INET ? 32 : 128;
  if (!has_prefix) {
    i.prefix = max;
  } else if (!prefix_text.empty() &&
             std::all_of(prefix_text.begin(), prefix_text.end(),
                         [](char c) { return c >= '0' && c <= '9'; }) &&
             prefix_text.size() <= 3 && std::stoi(std::string(prefix_text)) <= max) {
    i.prefix = std::stoi(std::string(prefix_text));
  } else if (auto p = i.family == AF_INET ? mask_to_prefix(prefix_text, AF_INET) : std::nullopt) {
    i.prefix = *p;
  } else {
    throw bad(quote(prefix_text) + " is not a prefix length (0.." + std::to_string(max) + ")" +
              (i.family == AF_INET ? " or a netmask" : ""));
  }
  return out;
}

}  // namespace vs::config
