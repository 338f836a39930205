// Unification: vserver NAME unify, vserver NAME make-base, and vserver-base (docs/storage.md).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/parse.hpp"
#include "config/parse.hpp"
#include "provision/base.hpp"
#include "provision/build.hpp"
#include "provision/remove_image.hpp"
#include "provision/unify.hpp"
#include "storage/base.hpp"
#include "storage/layout.hpp"
#include "storage/storage.hpp"
#include "sys/error.hpp"

namespace vs::cli {

namespace {

namespace fs = std::filesystem;

void print_line(const std::string& line) {
  std::cout << line << std::endl;
}

constexpr const char* kBaseUsage = R"(Usage: vserver-base list [--json]
       vserver-base create BASE -m METHOD [-- ARGS]
       vserver-base delete BASE
       vserver-base show BASE

Bases are shared read-only root filesystems in VDIR_ROOT/.bases/BASE. Unified guests are
layered on one with overlayfs: the base is their lower layer, never written through them, and
each keeps its own changes in VDIR_ROOT/.layers/NAME/upper.

Commands:
  list                      every base, its disk use and the guests on it
  show BASE                 one base: its directory, disk use and guests
  create BASE -m METHOD     make a base; METHOD and its ARGS (after --) as for vserver build:
                              template -t FILE [-t FILE]...   unpack archives
                              busybox [--busybox PATH]        a static busybox system
                              clone --source GUEST|DIR        copy a stopped guest or a tree
                                                              (reflinked where possible)
  delete BASE               remove a base; refused while a guest uses it

Guests on a base:
  vserver NAME build -m base -- --base BASE    a new guest layered on BASE
  vserver NAME unify [BASE]                    an existing guest turned into BASE + its delta
  vserver NAME make-base BASE                  a stopped guest's root becomes BASE, and the
                                               guest is layered on it

The roots come from VSERVER_CONFIG_ROOT, VSERVER_VDIR_ROOT and VSERVER_RUN_ROOT. See vserver(8)
and docs/storage.md.
)";

int base_list(const Globals& g, const Args& args) {
  CLI::App app{"List the bases.", "vserver-base list"};
  bool json = false;
  app.add_flag("--json", json, "one JSON array");
  if (auto rc = parse_args(app, args, "list")) return *rc;
  auto bases = storage::list_bases(g.roots);
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& b : bases) {
      fs::path dir = storage::base_dir(g.roots, b);
      out.push_back({{"name", b},
                     {"dir", dir.string()},
                     {"bytes", storage::disk_usage(dir)},
                     {"guests", storage::guests_on_base(g.roots, b)}});
    }
    std::cout << out.dump() << '\n';
    return 0;
  }
  std::cout << fmt::format("{:<20} {:>10} {:>6}  {}\n", "BASE", "SIZE", "GUESTS", "USED BY");
  for (const auto& b : bases) {
    auto guests = storage::guests_on_base(g.roots, b);
    std::string gl;
    for (const auto& x : guests) gl += (gl.empty() ? "" : " ") + x;
    std::cout << fmt::format(
        "{:<20} {:>10} {:>6}  {}\n", b,
        config::format_size(storage::disk_usage(storage::base_dir(g.roots, b))), guests.size(), gl);
  }
  return 0;
}

int base_show(const Globals& g, const Args& args) {
  CLI::App app{"Show one base.", "vserver-base show BASE"};
  std::string name;
  app.add_option("BASE", name, "the base")->required();
  if (auto rc = parse_args(app, args, "show")) return *rc;
  if (!storage::base_exists(g.roots, name)) {
    throw Error("base '" + name + "' does not exist (" + storage::base_dir(g.roots, name).string() +
                ")");
  }
  std::cout << "Base:       " << name << '\n'
            << "Directory:  " << storage::base_dir(g.roots, name).string() << '\n'
            << "Disk use:   "
            << config::format_size(storage::disk_usage(storage::base_dir(g.roots, name))) << '\n';
  auto guests = storage::guests_on_base(g.roots, name);
  std::cout << "Guests:     " << guests.size() << '\n';
  for (const auto& x : guests) {
    config::GuestConfig cfg;
    cfg.name = x;
    cfg.cfgdir = g.roots.guest_config_dir(x);
    cfg.base = name;
    std::cout << fmt::format(
        "  {:<20} delta {}\n", x,
        config::format_size(storage::disk_usage(storage::guest_data_dir(g.roots, cfg))));
  }
  return 0;
}

int base_create(const Globals& g, const Args& args) {
  auto dashes = std::find(args.begin(), args.end(), std::string("--"));
  Args opts(args.begin(), dashes);
  Args method_args = dashes == args.end() ? Args() : Args(dashes + 1, args.end());
  CLI::App app{"Make a base: a read-only root filesystem that unified guests share.",
               "vserver-base create BASE -m METHOD [-- ARGS]"};
  app.footer(
      "Methods and their arguments (after --):\n"
      "  template -t FILE [-t FILE]...   root-filesystem archives, unpacked in order\n"
      "  busybox [--busybox PATH]        a small system from a static busybox\n"
      "  clone --source GUEST|DIR        a copy of a stopped guest (its merged root when it is\n"
      "                                  unified) or of a directory; reflinks where possible\n\n"
      "Examples:\n"
      "  vserver-base create bookworm -m template -- -t /srv/images/bookworm.tar.zst\n"
      "  vserver-base create web-base -m clone -- --source web01");
  std::string name;
  std::string method;
  app.add_option("BASE", name, "the new base's name")->required();
  app.add_option("-m,--method", method, "template, busybox or clone")
      ->required()
      ->check(CLI::IsMember({"template", "busybox", "clone"}));
  if (auto rc = parse_args(app, opts, "create")) return *rc;

  provision::BuildOptions o;
  o.name = name;
  o.method = *provision::method_from_string(method);
  if (auto rc = parse_build_method_args(o.method, method_args, o)) return *rc;
  o.progress = print_line;
  o.warning = [](const std::string& line) { print_error("warning: " + line); };
  provision::create_base(g.roots, o);
  return 0;
}

int base_delete(const Globals& g, const Args& args) {
  CLI::App app{"Delete a base. Refused while any guest is layered on it.",
               "vserver-base delete BASE"};
  std::string name;
  app.add_option("BASE", name, "the base")->required();
  if (auto rc = parse_args(app, args, "delete")) return *rc;
  storage::delete_base(g.roots, name);
  std::cout << "Deleted base '" << name << "'\n";
  return 0;
}

}  // namespace

int base_main(const Globals& g, const Args& args) {
  if (args.empty()) {
    std::cerr << kBaseUsage;
    return 2;
  }
  const std::string& cmd = args[0];
  Args rest(args.begin() + 1, args.end());
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    std::cout << kBaseUsage;
    return 0;
  }
  if (cmd == "list") return base_list(g, rest);
  if (cmd == "show") return base_show(g, rest);
  if (cmd == "create") return base_create(g, rest);
  if (cmd == "delete") return base_delete(g, rest);
  print_error("unknown command '" + cmd + "' (see vserver-base --help)");
  return 2;
}

int cmd_unify(const Globals& g, const std::string& name, const Args& args) {
  CLI::App app{
      "Turn the stopped guest's full root into a base plus its own delta: files identical to the "
      "base's (content, mode, owner, extended attributes) are dropped, files that differ stay in "
      "the guest's upper layer, files it deleted become overlayfs whiteouts.",
      "vserver NAME unify"};
  app.footer(
      "Without BASE, every base is compared and the one with the most in common is used.\n"
      "An interrupted unify leaves the guest as it was. The bytes saved are reported.\n\n"
      "Examples:\n"
      "  vserver web01 unify bookworm\n"
      "  vserver web01 unify --dry-run");
  std::string base;
  bool dry_run = false;
  app.add_option("BASE", base, "the base (VDIR_ROOT/.bases/BASE)");
  app.add_flag("-n,--dry-run", dry_run, "compare and report only");
  if (auto rc = parse_args(app, args, "unify")) return *rc;
  provision::UnifyOptions o;
  o.base = base;
  o.dry_run = dry_run;
  o.progress = print_line;
  auto r = provision::unify_guest(g.roots, name, o);
  if (dry_run) {
    std::cout << fmt::format(
        "vserver '{}' on base '{}': {} entries identical, {} kept, {} whiteouts; {} → {}, {} "
        "would be saved\n",
        name, r.base, r.identical, r.kept, r.whiteouts, config::format_size(r.bytes_before),
        config::format_size(r.bytes_after), config::format_size(r.saved()));
  }
  return 0;
}

int cmd_make_base(const Globals& g, const std::string& name, const Args& args) {
  CLI::App app{
      "Make a base from the stopped guest's root (a copy, reflinked where the filesystem can), "
      "then layer the guest on it: its own delta starts empty.",
      "vserver NAME make-base"};
  app.footer(
      "Other guests can then be built on the base (vserver NEW build -m base -- --base BASE)\n"
      "or unified onto it (vserver OTHER unify BASE).\n\n"
      "Example:\n"
      "  vserver web01 make-base web-base");
  std::string base;
  app.add_option("BASE", base, "the new base's name")->required();
  if (auto rc = parse_args(app, args, "make-base")) return *rc;
  provision::make_base_from_guest(g.roots, name, base, print_line);
  return 0;
}

int cmd_remove_image(const Globals& g, const std::string& name, const Args& args) {
  CLI::App app{
      "Move the stopped guest's files out of its disk image (the image method of dlimits/) "
      "back into its directory, then remove the image.",
      "vserver NAME remove-image"};
  app.footer(
      "The inverse of the image method (util-vserver's vdlimit --remove). Remove dlimits/\n"
      "first, or keep the limit by a project quota (dlimits/method quota): otherwise the next\n"
      "start would make a new image. The host's filesystem needs room for the files.\n\n"
      "Example:\n"
      "  rm -r /etc/vservers/web/dlimits && vserver web remove-image");
  if (auto rc = parse_args(app, args, "remove-image")) return *rc;
  provision::remove_image(g.roots, name, print_line);
  return 0;
}

}  // namespace vs::cli
