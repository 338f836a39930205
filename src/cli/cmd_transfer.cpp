// vserver NAME rename NEW, vserver NAME export FILE, vserver NEW import FILE.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/parse.hpp"
#include "provision/build.hpp"

namespace vs::cli {

int cmd_rename(const Globals& g, const std::string& name, const Args& args) {
  CLI::App app{
      "Give the stopped vserver NAME the name NEW: everything that names it changes together, or "
      "nothing does.",
      "vserver NAME rename"};
  app.footer(
      "Changed: the configuration directory; the root when it is the default VDIR_ROOT/NAME (and\n"
      "the vdir link); the name file and uts/nodename when they held NAME; when the guest's\n"
      "hostname was NAME, its /etc/hostname and the NAME entries of its /etc/hosts; NAME in\n"
      "other guests' apps/init/depends; the console log; stale run-time state. Refused while\n"
      "the guest runs and when NEW exists. The context id stays.\n\n"
      "Example:\n"
      "  vserver web rename www");
  std::string to;
  app.add_option("NEW", to, "the new name")->required();
  if (auto rc = parse_args(app, args, "rename")) return *rc;
  try {
    provision::rename_guest(g.roots, name, to);
  } catch (const provision::GuestNotFound& e) {
    print_error(e.what());
    return 5;
  }
  std::cout << "Renamed vserver '" << name << "' to '" << to << "'" << std::endl;
  return 0;
}

int cmd_export(const Globals& g, const std::string& name, const Args& args) {
  CLI::App app{
      "Write the stopped vserver NAME, its configuration and its root filesystem, into one "
      "archive FILE, for vserver NEW import FILE here or on another host.",
      "vserver NAME export"};
  app.footer(
      "FILE is a POSIX tar compressed by its suffix: .tar, .tar.gz (.tgz), .tar.xz (.txz),\n"
      ".tar.zst (.tzst). The first entry is vserver-export.json (name, context, hostname, date),\n"
      "then config/ (the configuration directory without its vdir, run and cache links), then\n"
      "root/ (the root filesystem). Owners are numeric; extended attributes (file capabilities),\n"
      "ACLs, hard links, device nodes and fifos are kept; sockets are left out, and so is any\n"
      "other filesystem mounted in the root. FILE appears only when complete.\n"
      "A unified guest exports its merged root, a guest kept in a disk image the image's files;\n"
      "either imports as a guest with a plain root (unify/base is not exported).\n\n"
      "Examples:\n"
      "  vserver web export /srv/backup/web.tar.zst\n"
      "  vserver web2 import /srv/backup/web.tar.zst\n"
      "  vserver web3 build -m template -- -t /srv/backup/web.tar.zst   # the root only");
  std::string file;
  app.add_option("FILE", file, "the archive to write")->required();
  if (auto rc = parse_args(app, args, "export")) return *rc;
  std::size_t n = 0;
  try {
    n = provision::export_guest(g.roots, name, file,
                                [](const std::string& line) { print_error("warning: " + line); });
  } catch (const provision::GuestNotFound& e) {
    print_error(e.what());
    return 5;
  }
  std::cout << "Exported vserver '" << name << "' (" << n << " entries) to " << file << std::endl;
  return 0;
}

int cmd_import(const Globals& g, const std::string& name, const Args& args) {
  CLI::App app{
      "Make the new vserver NAME from an archive written by vserver OLD export FILE: its "
      "configuration and its root filesystem.",
      "vserver NAME import"};
  app.footer(
      "NAME must not exist. The guest keeps the exported context id when no guest here uses it,\n"
      "else it gets a free one (from .defaults/context.next), or the one given with --context.\n"
      "The configuration is taken as exported (the name file follows NAME when it held the old\n"
      "name); the root goes to VDIR_ROOT/NAME. The archive is checked as the template method\n"
      "checks: absolute paths, \"..\", writes through symbolic links, block devices and unsafe\n"
      "character devices refuse the whole import, and a refused or failed import leaves\n"
      "nothing behind.\n\n"
      "Examples:\n"
      "  vserver web import /srv/backup/web.tar.zst\n"
      "  vserver web-test import --hostname web-test /srv/backup/web.tar.zst");
  std::string file;
  int context = 0;
  std::string hostname;
  app.add_option("FILE", file, "the archive")->required();
  auto* context_opt = app.add_option("--context", context, "the context id (2..49151)")
                          ->check(CLI::Range(2, 49151));
  auto* hostname_opt = app.add_option("--hostname", hostname, "uts/nodename");
  if (auto rc = parse_args(app, args, "import")) return *rc;
  provision::BuildOptions o;
  o.name = name;
  o.method = provision::Method::archive;
  o.archives = {file};
  o.import_config = true;
  if (context_opt->count() > 0) o.context = context;
  if (hostname_opt->count() > 0) o.hostname = hostname;
  o.progress = [](const std::string& line) { std::cout << line << std::endl; };
  o.warning = [](const std::string& line) { print_error("warning: " + line); };
  provision::build_guest(g.roots, o);
  return 0;
}

}  // namespace vs::cli
