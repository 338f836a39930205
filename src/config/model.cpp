#include "config/model.hpp"

#include <array>
#include <utility>

namespace vs::config {

namespace {

constexpr std::array<std::pair<InitStyle, const char*>, 5> kInitStyles = {{
    {InitStyle::sysv, "sysv"},
    {InitStyle::plain, "plain"},
    {InitStyle::minit, "minit"},
    {InitStyle::systemd, "systemd"},
    {InitStyle::command, "command"},
}};

constexpr std::array<std::pair<NetworkMode, const char*>, 6> kNetworkModes = {{
    {NetworkMode::automatic, "automatic"},
    {NetworkMode::none, "none"},
    {NetworkMode::host, "host"},
    {NetworkMode::bridge, "bridge"},
    {NetworkMode::ipvlan, "ipvlan"},
    {NetworkMode::macvlan, "macvlan"},
}};

constexpr std::array<std::pair<DiskLimitMethod, const char*>, 3> kDiskLimitMethods = {{
    {DiskLimitMethod::automatic, "auto"},
    {DiskLimitMethod::quota, "quota"},
    {DiskLimitMethod::image, "image"},
}};

}  // namespace

const char* to_string(DiskLimitMethod m) {
  for (const auto& [method, name] : kDiskLimitMethods) {
    if (method == m) return name;
  }
  return "unknown";
}

std::optional<DiskLimitMethod> disk_limit_method_from_string(std::string_view s) {
  for (const auto& [method, name] : kDiskLimitMethods) {
    if (s == name) return method;
  }
  return std::nullopt;
}

const char* to_string(VshelperAction a) {
  return a == VshelperAction::halt ? "halt" : "restart";
}

std::optional<VshelperAction> vshelper_action_from_string(std::string_view s) {
  if (s == "restart") return VshelperAction::restart;
  if (s == "halt" || s == "stop") return VshelperAction::halt;
  return std::nullopt;
}

const char* to_string(InitStyle s) {
  for (const auto& [style, name] : kInitStyles) {
    if (style == s) return name;
  }
  return "unknown";
}

std::optional<InitStyle> init_style_from_string(std::string_view s) {
  for (const auto& [style, name] : kInitStyles) {
    if (s == name) return style;
  }
  return std::nullopt;
}

const char* to_string(NetworkMode m) {
  for (const auto& [mode, name] : kNetworkModes) {
    if (mode == m) return name;
  }
  return "unknown";
}

std::optional<NetworkMode> network_mode_from_string(std::string_view s) {
  for (const auto& [mode, name] : kNetworkModes) {
    if (s == name) return mode;
  }
  return std::nullopt;
}

std::vector<FstabEntry> default_fstab() {
  // distrib/misc/fstab (util-vserver.md §1.5).
  return {
      {"none", "/proc", "proc", "defaults", 0, 0},
      {"none", "/tmp", "tmpfs", "size=16m,mode=1777", 0, 0},
      {"none", "/dev/pts", "devpts", "gid=5,mode=620", 0, 0},
  };
}

std::optional<std::pair<std::string, int>> split_vlan_device(std::string_view dev) {
  auto dot = dev.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == dev.size()) return std::nullopt;
  std::string_view digits = dev.substr(dot + 1);
  if (digits.size() > 4) return std::nullopt;
  int id = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    id = id * 10 + (c - '0');
  }
  if (id < 1 || id > 4094) return std::nullopt;
  return std::pair<std::string, int>(std::string(dev.substr(0, dot)), id);
}

}  // namespace vs::config
