// Host links that vserver made for guests and that several guests may share (VLAN devices made
// for interfaces/N/vlandev). RUN_ROOT/.links/DEV/ exists while vserver owns DEV; it holds one empty
// file per guest using DEV. Users are added and dropped under one lock (RUN_ROOT/.lock/.links), so
// that the last guest to go, and only it, removes the link. A link that exists without a directory
// here is the administrator's: no guest records it, and none removes it.
#pragma once

#include <filesystem>
#include <string_view>

#include "config/roots.hpp"
#include "sys/fd.hpp"

namespace vs::state {

// Holds RUN_ROOT/.lock/.links while it lives: create the link, then record it, under one lock.
class SharedLinks {
 public:
  explicit SharedLinks(const config::Roots& roots);
  SharedLinks(const SharedLinks&) = delete;
  SharedLinks& operator=(const SharedLinks&) = delete;

  // Whether vserver made the link dev and some guest still uses it.
  [[nodiscard]] bool owned(std::string_view dev) const;
  // Records that guest uses dev (made by vserver now, or owned already).
  void add_user(std::string_view dev, std::string_view guest);
  // Drops guest's use of dev; true when it was the last user (the record of dev is gone then, and
  // the caller removes the link).
  bool drop_user(std::string_view dev, std::string_view guest);

 private:
  std::filesystem::path dir_;
  UniqueFd lock_;
};

}  // namespace vs::state
