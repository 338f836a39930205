// vserver NAME du [--walk] [--json]: the guest's disk usage, as util-vserver's vdu.
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/parse.hpp"
#include "config/config.hpp"
#include "storage/layout.hpp"
#include "storage/storage.hpp"

namespace vs::cli {

namespace {

constexpr const char* kDuHelp = R"(Show the disk space and inodes a guest uses (util-vserver's vdu).

The figures come from the guest's project quota or from the filesystem of its image when it
has one (instant), otherwise from a walk over its data directory that counts every inode once
(hard links) by its allocated blocks, without crossing into other filesystems. --walk forces
the walk. Space is in KiB (1024-byte blocks), as vdu and du -k print it. See docs/storage.md.
)";

std::string total(const std::optional<std::uint64_t>& v) {
  return v ? std::to_string(*v) : std::string("-");
}

}  // namespace

int cmd_du(const Globals& g, const std::string& name, const Args& args) {
  CLI::App app{kDuHelp, "vserver NAME du"};
  app.formatter(std::make_shared<CLI::Formatter>());
  bool json = false;
  bool walk = false;
  bool script = false;
  app.add_flag("--json", json, "machine-readable output");
  app.add_flag("--walk", walk, "count by walking the tree even when counters exist");
  app.add_flag("--script", script, "print only \"SPACE INODES\" (vdu --script)");
  if (auto rc = parse_args(app, args)) return *rc;
  auto cfg = config::load_guest(g.roots, name);
  auto u = storage::disk_usage(g.roots, cfg, walk);
  if (json) {
    nlohmann::json j = {
        {"name", cfg.id()},
        {"directory", storage::guest_data_dir(g.roots, cfg).string()},
        {"space_kib", u.space_kib},
        {"inodes", u.inodes},
        {"space_total_kib", u.space_total_kib ? nlohmann::json(*u.space_total_kib) : nullptr},
        {"inodes_total", u.inodes_total ? nlohmann::json(*u.inodes_total) : nullptr},
        {"source", u.source},
    };
    std::cout << j.dump(2) << '\n';
  } else if (script) {
    std::cout << u.space_kib << ' ' << u.inodes << '\n';
  } else {
    std::cout << fmt::format("{:<10} {:>14} {:>14} {:>12} {:>12}  {}\n", "Name", "space (KiB)",
                             "limit (KiB)", "inodes", "limit", "source");
    std::cout << fmt::format("{:<10} {:>14} {:>14} {:>12} {:>12}  {}\n", cfg.id(), u.space_kib,
                             total(u.space_total_kib), u.inodes, total(u.inodes_total), u.source);
  }
  return 0;
}

}  // namespace vs::cli
