// Every file of a guest's configuration tree, one row each: what it holds, whether it is applied,
// and why not when it is not. The table drives `vserver NAME check` (which warns for each file
// present without effect and for each file it does not know) and the reference table of
// docs/configuration.md, which a unit test keeps equal to items_markdown().
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace vs::config {

enum class Effect {
  applied,  // changes how the guest runs
  limits,   // applied as far as cgroups can express it; check notes each value that cannot be
  ignored,  // accepted (util-vserver's file) without effect; check warns, giving the reason
};

struct Item {
  // Path relative to the guest's directory. A component may hold '*' and '{a,b}' alternatives
  // (shell style); a last component "**" stands for anything below.
  std::string_view path;
  std::string_view type;  // scalar, boolean, list, lines, link, directory, program, fstab
  Effect effect;
  std::string_view meaning;  // applied: what it does; ignored: why it has no effect
  // For the round-trip test: a path matching `path` and a valid content; empty path when the
  // row has no sample (directories, programs).
  std::string_view sample_path;
  std::string_view sample;
  // Whether write_guest writes the file back from the typed configuration.
  bool written = false;
};

// Every row, in the order of docs/configuration.md's reference.
std::span<const Item> items();

// The row a file or directory of the tree belongs to (path relative to the guest's directory),
// or nullptr when the tree has no such file.
const Item* find_item(std::string_view rel);

// Whether a directory of the tree can hold files of some row (it is walked) or not (unknown).
bool known_directory(std::string_view rel);

// The warnings of `check` for a valid guest: every file present that has no effect (with the
// reason), every file the tree does not know (with the closest known name), and settings inside
// files that have no effect (context flags and capabilities, runlevels outside style sysv, legacy
// files shadowed by their successors).
std::vector<Problem> effect_warnings(const GuestConfig& cfg);

// The reference table of docs/configuration.md, as Markdown.
std::string items_markdown();

}  // namespace vs::config
