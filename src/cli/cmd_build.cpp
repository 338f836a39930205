// vserver NAME build and vserver NAME delete (util-vserver.md §2.1).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/parse.hpp"
#include "config/interface_arg.hpp"
#include "config/model.hpp"
#include "provision/build.hpp"
#include "state/state.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::cli {

namespace {

const char* const kBuildFooter = R"(Methods and their arguments (after --):
  skeleton [-- CMD ARGS...]
      The configuration and an empty root with the standard directories, /etc/hostname and
      /etc/hosts. CMD runs afterwards on the host, in the new root, with VSERVER_VDIR (the new
      root), VSERVER_CFGDIR (its configuration) and VSERVER_NAME set; both directories are
      renamed into place when CMD has succeeded.
  template -t FILE [-t FILE]...
      Unpacks root-filesystem archives (.tar, .tar.gz, .tar.xz, .tar.zst, .tar.bz2) in order.
      Owners stay numeric. Archives with absolute paths, "..", writes through symbolic links,
      block devices or character devices other than null, zero, full, random, urandom, tty,
      console and ptmx are refused as a whole.
  clone --source GUEST|DIR
      Copies a stopped guest or a directory tree, preserving owners, modes, times, hard links,
      ACLs and other extended attributes. A guest's configuration is copied too, with the new
      name, context and hostname and without its interfaces (unless --interface is given).
  busybox [--busybox PATH]
      A small working guest from a statically linked busybox (default /bin/busybox, Debian's
      busybox-static): applet links, /etc/passwd, group, shadow, inittab, init.d/rcS, profile.
      Its init style is plain (busybox init as /sbin/init) unless --initstyle says otherwise.
  base --base BASE
      A unified guest: its root is the shared read-only base VDIR_ROOT/.bases/BASE (see
      vserver-base) with an overlayfs upper layer of its own in VDIR_ROOT/.layers/NAME, which
      starts with /etc/hostname, /etc/hosts and /etc/resolv.conf. The base is never written
      through the guest. A clone of a unified guest is unified on the same base.
  debootstrap -d SUITE [-m MIRROR] [-s SCRIPT] [--variant V] [-- DEBOOTSTRAP-OPTIONS...]
      Debian's debootstrap (package debootstrap) into the new root, plus the init system the
      init style needs (sysv: sysv-rc; plain: sysvinit-core; systemd: systemd, systemd-sysv).
      MIRROR defaults to NAME/apps/debootstrap/mirror, .distributions/SUITE/debootstrap.mirror,
      .defaults/apps/debootstrap/mirror, then the host's apt sources. Shows its progress. The
      root is then fitted for a container (no gettys, no services that touch the kernel, machine
      id emptied); the root password stays unset. See docs/debian.md.
  rsync --source [HOST:]PATH [--exclude PATTERN]... [-x] [-o OPT]... [-- RSYNC-OPTIONS...]
      Moves an existing server into the guest: rsync -aHAX --numeric-ids (package rsync) copies
      PATH/ (HOST:PATH/ over ssh) with owners, modes, hard links, ACLs and extended attributes,
      leaving out the contents of /proc, /sys, /dev, /run and /tmp and what --exclude names.
      Other filesystems mounted in the source (a separate /var or /home) are copied too unless
      -x (--one-file-system) is given. The copy keeps the server's identity (SSH host keys,
      machine id): the guest is the server, moved. Files that vanish during the copy of a running
      server are a warning; any other rsync failure fails the build with rsync's errors.
  -d DIST is accepted by skeleton, template, clone and rsync for util-vserver compatibility; there are
  no distribution-specific steps there.

--interface [NAME=][DEV:]IP[/PREFIX|/MASK], repeatable, creates interfaces/0, 1, ...
  DEV may be the word nodev; without DEV the address is marked nodev. IP is IPv4 or IPv6: when
  the text after NAME= is an address as a whole there is no DEV, otherwise DEV is what precedes
  the first ':' (eth0:2001:db8::1/64). Brackets make it explicit: eth0:[fe80::1]/64.
  Without PREFIX the address is a host address (/32, /128).

An empty VDIR_ROOT/NAME (a plain directory or a mount point) of a guest without a configuration
is built into in place; a failed build empties it again and keeps it.

Without --context the context id comes from .defaults/context.next (default 40000), skipping
ids in use. A failed or interrupted build leaves nothing behind. With --force an existing
guest is kept as NAME~EPOCH~ in both roots.

A new guest gets limits/processes 1024 (at most 1024 tasks) and sched/fill-rate 1,
sched/interval 4 (CPU weight 100), or the files of .defaults/limits/ and .defaults/sched/
instead (an empty file there: no default). A clone of a guest keeps its source's limits.

Examples:
  vserver web01 build -m busybox --hostname web01.example.org
  vserver web02 build -m template --context 40012 --interface eth0:192.0.2.10/24 \
      --initstyle sysv -- -t /srv/images/bookworm.tar.xz
  vserver web03 build -m clone --interface web=eth0:192.0.2.11/24 -- --source web02
  vserver web04 build -m base -- --base bookworm
  vserver sk build -m skeleton --interface nodev:192.0.2.12/32 -- -- sh -c 'echo hi > etc/motd'
  vserver deb1 build -m debootstrap --hostname deb1 -- -d bookworm --variant minbase
  vserver deb2 build -m debootstrap --initstyle systemd -- -d bookworm -- --include=less
  vserver old1 build -m rsync -- --source oldhost:/ --exclude /srv/backup/*)";

// Method arguments of skeleton: [-d DIST] [--] [CMD ARGS...].
std::optional<int> parse_skeleton_args(const Args& args, provision::BuildOptions& o) {
  std::size_t i = 0;
  while (i < args.size()) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      std::cout << "Usage: vserver NAME build -m skeleton [OPTIONS] -- [-d DIST] [-- CMD ARGS...]\n"
                   "CMD runs on the host in the new root, with VSERVER_VDIR, VSERVER_CFGDIR and "
                   "VSERVER_NAME set.\n";
      return 0;
    }
    if (a == "-d") {
      if (i + 1 >= args.size()) {
        print_error("build: -d needs a value (try --help)");
        return 2;
      }
      i += 2;
      continue;
    }
    if (a == "--")
      ++i;
    else if (!a.empty() && a[0] == '-') {
      print_error("build: skeleton: unknown option " + a + " (try --help)");
      return 2;
    }
    break;
  }
  o.command.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  return std::nullopt;
}

// Method arguments of debootstrap: -d SUITE [-m MIRROR] [-s SCRIPT] [--variant V]
// [-- DEBOOTSTRAP-OPTIONS...].
std::optional<int> parse_debootstrap_args(const Args& args, provision::BuildOptions& o) {
  std::size_t i = 0;
  while (i < args.size()) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      std::cout << "Usage: vserver NAME build -m debootstrap [OPTIONS] -- -d SUITE [-m MIRROR] "
                   "[-s SCRIPT] [--variant VARIANT] [-- DEBOOTSTRAP-OPTIONS...]\n"
                   "  -d SUITE         the Debian suite (bookworm, trixie, stable, ...)\n"
                   "  -m MIRROR        the archive; default: NAME/apps/debootstrap/mirror,\n"
                   "                   .distributions/SUITE/debootstrap.mirror,\n"
                   "                   .defaults/apps/debootstrap/mirror, then the host's apt "
                   "sources\n"
                   "  -s SCRIPT        debootstrap's suite script, when not the suite's own\n"
                   "  --variant V      minbase (the smallest), buildd, fakechroot\n"
                   "  -- OPTIONS       passed to debootstrap, e.g. --include=cron,less\n";
      return 0;
    }
    if (a == "--") {
      o.debootstrap_options.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    }
    std::string* target = nullptr;
    std::string value;
    bool has_value = false;
    if (a == "-d") target = &o.suite;
    if (a == "-m") target = &o.mirror;
    if (a == "-s") target = &o.script;
    if (a == "--variant") target = &o.variant;
    if (a.rfind("--variant=", 0) == 0) {
      target = &o.variant;
      value = a.substr(10);
      has_value = true;
    }
    if (target == nullptr) {
      print_error("build: debootstrap: unknown argument " + a + " (try --help)");
      return 2;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        print_error("build: debootstrap: " + a + " needs a value (try --help)");
        return 2;
      }
      value = args[++i];
    }
    *target = value;
    ++i;
  }
  if (o.suite.empty()) {
    print_error("build: debootstrap: -d SUITE is required (try --help)");
    return 2;
  }
  return std::nullopt;
}

// The progress of debootstrap: one line rewritten in place on a terminal, a line per stage
// otherwise.
class DebootstrapDisplay {
 public:
  DebootstrapDisplay() : tty_(::isatty(STDOUT_FILENO) == 1) {}
  DebootstrapDisplay(const DebootstrapDisplay&) = delete;
  DebootstrapDisplay& operator=(const DebootstrapDisplay&) = delete;
  ~DebootstrapDisplay() { finish(); }

  void update(const provision::DebootstrapProgress& p, std::int64_t elapsed_ms) {
    std::string line = provision::render_progress(p, elapsed_ms);
    if (tty_) {
      if (line == last_) return;
      std::cout << "\r\033[K" << line << std::flush;
      open_ = true;
    } else if (p.stage != stage_ || (p.action != action_ && !p.action.empty())) {
      std::cout << line << std::endl;
    }
    stage_ = p.stage;
    action_ = p.action;
    last_ = line;
  }
  // Ends the line in place before other output.
  void finish() {
    if (open_) std::cout << std::endl;
    open_ = false;
  }

 private:
  bool tty_;
  bool open_ = false;
  std::string stage_;
  std::string action_;
  std::string last_;
};

}  // namespace

std::optional<int> parse_build_method_args(provision::Method method, const Args& args,
                                           provision::BuildOptions& o) {
  std::string dist;
  switch (method) {
    case provision::Method::skeleton:
      return parse_skeleton_args(args, o);
    case provision::Method::archive: {
      CLI::App app{"Unpack root-filesystem archives into the new guest.",
                   "vserver NAME build -m template [OPTIONS] --"};
      std::vector<std::string> files;
      app.add_option("-t", files, "an archive: .tar, .tar.gz, .tar.xz, .tar.zst, .tar.bz2")
          ->required()
          ->allow_extra_args(false);
      app.add_option("-d", dist, "distribution (accepted for compatibility, unused)");
      auto done = parse_args(app, args, "build: template");
      for (const auto& f : files) o.archives.emplace_back(f);
      return done;
    }
    case provision::Method::clone: {
      CLI::App app{"Copy a stopped guest or a directory tree into the new guest.",
                   "vserver NAME build -m clone [OPTIONS] --"};
      app.add_option("--source", o.source, "the guest or directory to copy")->required();
      app.add_option("-d", dist, "distribution (accepted for compatibility, unused)");
      return parse_args(app, args, "build: clone");
    }
    case provision::Method::busybox: {
      CLI::App app{"Make a small working guest from a statically linked busybox.",
                   "vserver NAME build -m busybox [OPTIONS] --"};
      std::string path = o.busybox.string();
      app.add_option("--busybox", path, "the busybox executable (Debian's busybox-static)")
          ->capture_default_str();
      auto done = parse_args(app, args, "build: busybox");
      o.busybox = path;
      return done;
    }
    case provision::Method::base: {
      CLI::App app{"Layer the new guest on a shared read-only base.",
                   "vserver NAME build -m base [OPTIONS] --"};
      app.add_option("--base", o.base, "the base (see vserver-base list)")->required();
      return parse_args(app, args, "build: base");
    }
    case provision::Method::debootstrap:
      return parse_debootstrap_args(args, o);
    case provision::Method::rsync: {
      CLI::App app{"Copy an existing server's files into the new guest with rsync.",
                   "vserver NAME build -m rsync [OPTIONS] -- --source [HOST:]PATH "
                   "[--exclude PATTERN]... [-o RSYNC-OPTION]... [-- RSYNC-OPTIONS...]"};
      auto dashes = std::find(args.begin(), args.end(), std::string("--"));
      Args own(args.begin(), dashes);
      app.add_option("--source", o.source,
                     "the server's root: a directory here, or HOST:PATH read over ssh")
          ->required();
      app.add_option("--exclude", o.rsync_excludes,
                     "an rsync pattern to leave out, repeatable (/srv/cache/*)")
          ->allow_extra_args(false);
      app.add_flag("-x,--one-file-system", o.one_file_system,
                   "do not copy other filesystems mounted in the source (separate /var, /home)");
      app.add_option("-o", o.rsync_options, "one more rsync option, repeatable")
          ->allow_extra_args(false);
      app.add_option("-d", dist, "distribution (accepted for compatibility, unused)");
      auto done = parse_args(app, own, "build: rsync");
      if (dashes != args.end())
        o.rsync_options.insert(o.rsync_options.end(), dashes + 1, args.end());
      return done;
    }
  }
  return std::nullopt;
}

namespace {

std::vector<std::string> split_flags(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    std::string f(trim(std::string_view(text).substr(pos, comma - pos)));
    std::transform(f.begin(), f.end(), f.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!f.empty()) out.push_back(std::move(f));
    pos = comma + 1;
  }
  return out;
}

}  // namespace

int cmd_build(const Globals& g, const std::string& name, const Args& args) {
  auto dashes = std::find(args.begin(), args.end(), std::string("--"));
  Args opts(args.begin(), dashes);
  Args method_args = dashes == args.end() ? Args() : Args(dashes + 1, args.end());

  CLI::App app{"Build the vserver NAME: write its configuration and create its root filesystem.",
               "vserver NAME build"};
  app.footer(kBuildFooter);
  std::string method;
  int context = 0;
  std::string hostname;
  std::vector<std::string> interfaces;
  std::string initstyle;
  std::string flags;
  bool force = false;
  app.add_option("-m,--method", method,
                 "skeleton, template, clone, busybox, base, debootstrap or rsync")
      ->required()
      ->check(CLI::IsMember(
          {"skeleton", "template", "clone", "busybox", "base", "debootstrap", "rsync"}));
  auto* context_opt = app.add_option("--context", context, "the context id (2..49151)")
                          ->check(CLI::Range(2, 49151));
  auto* hostname_opt =
      app.add_option("--hostname", hostname, "uts/nodename (default: the guest name)");
  app.add_option("--interface", interfaces, "[NAME=][DEV:]IP[/PREFIX], repeatable (see below)")
      ->allow_extra_args(false);
  // The command style is chosen by writing apps/init/cmd.start after the build.
  auto* initstyle_opt = app.add_option("--initstyle", initstyle, "apps/init/style")
                            ->check(CLI::IsMember({"sysv", "plain", "minit", "systemd"}));
  auto* flags_opt = app.add_option("--flags", flags, "context flags for cflags, f1,f2,...");
  app.add_flag("--force", force, "replace an existing (stopped) guest, keeping it as NAME~EPOCH~");
  if (auto done = parse_args(app, opts, "build")) return *done;

  provision::BuildOptions o;
  o.name = name;
  o.method = *provision::method_from_string(method);
  if (context_opt->count() > 0) o.context = context;
  if (hostname_opt->count() > 0) o.hostname = hostname;
  for (std::size_t i = 0; i < interfaces.size(); ++i) {
    auto parsed = config::parse_interface(interfaces[i], std::to_string(i));
    if (parsed.nodev_defaulted) {
      std::cerr << "No device specified for interface '" << i << "'; setting 'nodev'\n";
    }
    o.interfaces.push_back(std::move(parsed.iface));
  }
  if (initstyle_opt->count() > 0) o.init_style = config::init_style_from_string(initstyle);
  if (flags_opt->count() > 0) {
    auto list = split_flags(flags);
    o.cflags = std::set<std::string>(list.begin(), list.end());
  }
  o.force = force;
  if (auto done = parse_build_method_args(o.method, method_args, o)) return *done;

  DebootstrapDisplay display;
  o.progress = [&display](const std::string& line) {
    display.finish();
    std::cout << line << std::endl;
  };
  o.warning = [&display](const std::string& line) {
    display.finish();
    print_error("warning: " + line);
  };
  o.debootstrap_progress = [&display](const provision::DebootstrapProgress& p, std::int64_t ms) {
    display.update(p, ms);
  };
  provision::build_guest(g.roots, o);
  return 0;
}

int cmd_delete(const Globals& g, const std::string& name, const Args& args) {
  CLI::App app{
      "Delete the vserver NAME: its root filesystem, its configuration and its run-time "
      "state. The guest must be stopped.",
      "vserver NAME delete"};
  app.footer(
      "The root removed is the target of NAME/vdir. Symbolic links inside it are not followed and\n"
      "filesystems mounted in it are not entered (the delete stops instead).\n\n"
      "Examples:\n"
      "  vserver web01 delete\n"
      "  vserver web01 delete --yes");
  bool yes = false;
  app.add_flag("-y,--yes", yes, "do not ask for confirmation (needed without a terminal)");
  if (auto done = parse_args(app, args, "delete")) return *done;

  if (!provision::guest_exists(g.roots, name) ||
      !std::filesystem::is_directory(g.roots.guest_config_dir(name))) {
    print_error("Can not find a vserver-setup at '" + g.roots.guest_config_dir(name).string() +
                "/'");
    return 5;
  }
  if (state::guest_running(g.roots, name)) {
    throw Error("vserver '" + name + "' is running; stop it first");
  }
  if (!yes) {
    if (::isatty(STDIN_FILENO) == 0) {
      throw Error("not deleting vserver '" + name +
                  "' without confirmation: standard input is not a terminal; use --yes");
    }
    std::cout << "Are you sure you want to delete the vserver " << name << " (y/N)? " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    std::string a(trim(answer));
    if (a != "y" && a != "Y" && a != "yes" && a != "YES" && a != "Yes") {
      std::cout << "vserver '" << name << "' not deleted" << std::endl;
      return 1;
    }
  }
  try {
    provision::delete_guest(g.roots, name);
  } catch (const provision::GuestNotFound& e) {
    print_error(e.what());
    return 5;
  }
  return 0;
}

}  // namespace vs::cli
