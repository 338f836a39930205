// vserver [OPTIONS] NAME COMMAND [ARGS...] — util-vserver's front end.
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <map>

#include "cli/commands.hpp"
#include "cli/parse.hpp"
#include "config/capabilities.hpp"
#include "config/config.hpp"
#include "config/items.hpp"
#include "runtime/runtime.hpp"
#include "runtime/scripts.hpp"
#include "state/state.hpp"
#include "storage/layout.hpp"
#include "storage/storage.hpp"
#include "sys/debug.hpp"

namespace vs::cli {

namespace {

constexpr const char* kUsage = R"(Usage: vserver [OPTIONS] NAME COMMAND [ARGS...]
       vserver [OPTIONS] list [--json]
       vserver [OPTIONS] --all [--mark MARK] exec|apt-get ARGS...

Runs isolated Linux guests (virtual private servers) on this host, configured in
CONFIG_ROOT/NAME/ (util-vserver layout) with their root filesystem in VDIR_ROOT/NAME.

Commands:
  build -m METHOD ... -- ARGS   create a guest (methods: skeleton, template, clone, busybox,
                                debootstrap; base: layered on a shared read-only base)
  start [--foreground]          start the guest
  stop [--timeout S]            stop it: graceful per init style, then the kill sequence
  restart                       stop, then start
  status                        running at which context, processes, uptime (exit 3: stopped)
  running                       exit 0 if running, 1 if not; prints nothing
  enter [--user U]              a login shell inside (with a terminal when stdin is one)
  exec CMD [ARGS...]            run a command inside; its exit status is returned
  suexec USER CMD [ARGS...]     run a command inside as USER
  limit [show|set|unset|apply]  resource use and limits; change them while it runs
  du [--walk] [--json]          disk space and inodes used (vdu), against dlimits/
  apt-get [--] ARGS...          the guest's apt-get (also apt-cache, apt-config)
  rename NEW                    give a stopped guest another name, everywhere it is named
  export FILE                   configuration and root filesystem into one archive
  import FILE                   a new guest NAME from an export (no NAME must exist)
  check [--strict]              validate the configuration: problems, then warnings for files
                                without effect or unknown
  delete [--yes]                remove configuration and root filesystem (a base stays)
  unify [BASE]                  turn a stopped guest into a base plus its own delta
  make-base BASE                make a base of a stopped guest's root, layer the guest on it
  remove-image                  move a stopped guest's files out of its disk image (dlimits/)
                                back into its directory, and remove the image
  list [--json]                 all guests (no NAME)
  --all [--mark MARK] exec|apt-get ...
                                in every running guest (with MARK: marked MARK), output
                                prefixed with the guest's name; see vserver --all --help

Options:
  --config-root DIR   configuration root (env VSERVER_CONFIG_ROOT, default /etc/vservers)
  --vdir-root DIR     root filesystems (env VSERVER_VDIR_ROOT, default /var/lib/vservers)
  --run-root DIR      runtime state (env VSERVER_RUN_ROOT, default /run/vservers)
  --log-root DIR      console logs (env VSERVER_LOG_ROOT, default /var/log/vservers)
  --all               every running guest, for exec and apt-get (no NAME)
  --mark MARK         with --all: only the guests whose apps/init/mark is MARK
  --debug             print every step with the time since the command began (also
                      after the command: vserver NAME start --debug)
  -h, --help          this help; "vserver NAME COMMAND --help" for a command
  --version           print the version

NAME may also be a path to a configuration directory or a context id.
Bases: vserver-base list|show|create|delete (docs/storage.md).
See vserver(8), vserver-build(8), vserver-autostart(8), vserver-stat(8), vps(8), vkill(8).
)";

using Handler = int (*)(const Globals&, const std::string&, const Args&);

const std::map<std::string, Handler>& commands() {
  static const std::map<std::string, Handler> table = {
      {"build", cmd_build},
      {"delete", cmd_delete},
      {"check", cmd_check},
      {"start", cmd_start},
      {"stop", cmd_stop},
      {"restart", cmd_restart},
      {"status", cmd_status},
      {"running", cmd_running},
      {"enter", cmd_enter},
      {"exec", cmd_exec},
      {"suexec", cmd_suexec},
      {"limit", cmd_limit},
      {"unify", cmd_unify},
      {"make-base", cmd_make_base},
      {"du", cmd_du},
      {"rename", cmd_rename},
      {"export", cmd_export},
      {"import", cmd_import},
      {"remove-image", cmd_remove_image},
  };
  return table;
}

bool wants_help(const Args& args) {
  for (const auto& a : args) {
    if (a == "--") return false;
    if (a == "-h" || a == "--help") return true;
  }
  return false;
}

config::GuestConfig load(const Globals& g, const std::string& name) {
  return config::load_guest(g.roots, name);
}

}  // namespace

namespace {
std::string& program_name() {
  static std::string name = "vserver";
  return name;
}
}  // namespace

void set_program_name(const std::string& name) {
  program_name() = name;
}

void print_error(const std::string& message) {
  std::cerr << program_name() << ": " << message << '\n';
}

int cmd_check(const Globals& g, const std::string& name, const Args& args) {
  CLI::App app{
      "Check a guest's configuration and print every problem found, then a warning for "
      "every file without effect or unknown, and a note for every setting that cannot "
      "be applied as written.",
      "vserver NAME check"};
  bool strict = false;
  app.add_flag("--strict", strict,
               "warnings and notes about settings without effect are problems too (exit 1)");
  if (auto rc = parse_args(app, args)) return *rc;
  config::GuestConfig cfg;
  auto problems = config::check_guest(g.roots, name, cfg);
  auto warnings = config::effect_warnings(cfg);
  auto count = [&](std::size_t n, const char* what) {
    std::cerr << fmt::format("vserver {}: {} {}{} found\n", name, n, what, n == 1 ? "" : "s");
  };
  // A valid configuration that the guest's disk cannot take: a limit below its usage.
  std::vector<std::string> disk;
  if (problems.empty()) disk = storage::limit_problems(g.roots, cfg);
  if (!problems.empty() || !disk.empty()) {
    for (const auto& p : problems) std::cout << p.to_string() << '\n';
    for (const auto& p : disk) std::cout << p << '\n';
    for (const auto& w : warnings) std::cout << "warning: " << w.to_string() << '\n';
    count(problems.size() + disk.size(), "problem");
    return 1;
  }
  // Settings that are valid but cannot be expressed on this kernel's mechanisms.
  auto plan = cgroup::plan_limits(cfg, runtime::host_facts());
  if (strict && (!warnings.empty() || !plan.notes.empty())) {
    for (const auto& w : warnings) std::cout << w.to_string() << '\n';
    for (const auto& n : plan.notes) std::cout << (cfg.cfgdir / n).string() << '\n';
    count(warnings.size() + plan.notes.size(), "problem");
    return 1;
  }
  std::cout << fmt::format("{}: configuration is valid\n", g.roots.guest_config_dir(name).string());
  for (const auto& w : warnings) std::cout << "warning: " << w.to_string() << '\n';
  for (const auto& n : plan.notes) std::cout << "note: " << n << '\n';
  // Then what the guest lacks to be safe for the host.
  for (const auto& n : cgroup::safety_notes(cfg, plan)) std::cout << "note: " << n << '\n';
  for (const auto& n : runtime::scriptlet_notes(g.roots, cfg.cfgdir)) {
    std::cout << "note: " << n << '\n';
  }
  return 0;
}

int cmd_start(const Globals& g, const std::string& name, const Args& args) {
  CLI::App app{
      "Start a guest. Returns once its init runs; with --foreground, stays attached "
      "and returns the init's exit status.",
      "vserver NAME start"};
  bool foreground = false;
  app.add_flag("-f,--foreground", foreground, "keep the guest on this terminal");
  if (auto rc = parse_args(app, args)) return *rc;
  auto cfg = load(g, name);
  try {
    runtime::StartOptions o;
    o.foreground = foreground;
    return runtime::start(g.roots, cfg, o);
  } catch (const runtime::AlreadyRunning& e) {
    std::cerr << e.what() << '\n';
    return 0;
  }
}

int cmd_stop(const Globals& g, const std::string& name, const Args& args) {
  CLI::App app{
      "Stop a guest: the graceful stop of its init style, then after the timeout the kill "
      "sequence (apps/init/killseq) to every process left.",
      "vserver NAME stop"};
  std::optional<int> timeout;
  app.add_option("-t,--timeout", timeout,
                 "seconds for the graceful stop (default: "
                 "apps/vshelper/sync-timeout, 30)")
      ->check(CLI::Range(0, 86400));
  if (auto rc = parse_args(app, args)) return *rc;
  config::GuestConfig cfg;
  try {
    cfg = load(g, name);
  } catch (const config::ConfigError& e) {
    // A running guest must stay stoppable when its configuration broke meanwhile.
    print_error(std::string(e.what()) + "\nstopping with the default stop sequence");
    cfg = config::GuestConfig{};
    cfg.name = name;
    cfg.cfgdir = g.roots.guest_config_dir(name);
    cfg.bcapabilities = config::default_bounding_set();
    if (auto st = state::read_state(g.roots, name)) {
      cfg.vdir = st->vdir;
      if (auto style = config::init_style_from_string(st->init_style)) cfg.init.style = *style;
      if (st->network == "host") cfg.network = config::NetworkMode::host;
    }
  }
  runtime::StopOptions o;
  o.timeout = timeout;
  if (!runtime::stop(g.roots, cfg, o)) std::cerr << "vserver '" << name << "' is not running\n";
  return 0;
}

int cmd_restart(const Globals& g, const std::string& name, const Args& args) {
  CLI::App app{"Stop the guest if it runs, then start it.", "vserver NAME restart"};
  if (auto rc = parse_args(app, args)) return *rc;
  auto cfg = load(g, name);
  runtime::stop(g.roots, cfg, {});
  return runtime::start(g.roots, cfg, {});
}

int cmd_status(const Globals& g, const std::string& name, const Args& args) {
  CLI::App app{"Say whether the guest runs. Exit status 0 when running, 3 when stopped.",
               "vserver NAME status"};
  if (auto rc = parse_args(app, args)) return *rc;
  auto s = runtime::status(g.roots, name);
  if (!s.running) {
    std::cout << "Vserver '" << name << "' is stopped\n";
    return 3;
  }
  std::cout << fmt::format("Vserver '{}' is running at context '{}'\n", name, s.state.context);
  std::cout << fmt::format("Number of processes:  {}\n", s.processes);
  std::int64_t minutes = s.uptime_ms / 60000;
  std::int64_t days = minutes / (24LL * 60);
  std::int64_t hh = (minutes / 60) % 24;
  std::int64_t mm = minutes % 60;
  if (days > 0) {
    std::cout << fmt::format("Uptime:  {} day{}, {:02}:{:02}\n", days, days == 1 ? "" : "s", hh,
                             mm);
  } else {
    std::cout << fmt::format("Uptime:  {:02}:{:02}\n", hh, mm);
  }
  for (const auto& a : s.state.addresses) std::cout << "Address:  " << a << '\n';
  return 0;
}

int cmd_running(const Globals& g, const std::string& name, const Args& args) {
  if (!args.empty() && !wants_help(args)) {
    print_error("running takes no arguments");
    return 2;
  }
  if (wants_help(args)) {
    std::cout << "Usage: vserver NAME running\nExit status 0 if the guest runs, 1 if not.\n";
    return 0;
  }
  return runtime::status(g.roots, name).running ? 0 : 1;
}

namespace {

int run_in_guest(const Globals& g, const std::string& name, const std::string& command,
                 runtime::ExecOptions o) {
  auto cfg = load(g, name);
  // This process exits when the command ends: it joins the guest itself.
  o.join_caller = true;
  try {
    return runtime::exec(g.roots, cfg, o);
  } catch (const runtime::NotRunning&) {
    print_error(
        fmt::format("'vserver {} {}' is supported for running vservers only", name, command));
    return 1;
  }
}

void add_tty_options(CLI::App& app, bool& tty, bool& notty) {
  app.add_flag("-t,--tty", tty, "always give the command a pseudo-terminal");
  app.add_flag("-T,--no-tty", notty, "never give the command a pseudo-terminal");
}

runtime::Tty tty_mode(bool tty, bool notty, runtime::Tty dflt) {
  if (tty) return runtime::Tty::always;
  if (notty) return runtime::Tty::never;
  return dflt;
}

}  // namespace

namespace {

// exec and suexec: the same command, with the user given first for suexec.
int exec_command(const Globals& g, const std::string& name, const Args& args, bool with_user) {
  CLI::App app{with_user ? "Run a command inside the running guest as USER (a name or uid from the "
                           "guest's /etc/passwd)."
                         : "Run a command inside the running guest. stdin, stdout and stderr are "
                           "passed through and the command's exit status is returned.",
               with_user ? "vserver NAME suexec [-t|-T] USER CMD [ARGS...]"
                         : "vserver NAME exec [-t|-T] CMD [ARGS...]"};
  bool tty = false;
  bool notty = false;
  add_tty_options(app, tty, notty);
  app.prefix_command();
  if (auto rc = parse_args(app, args)) return *rc;
  std::vector<std::string> cmd = app.remaining();
  runtime::ExecOptions o;
  if (with_user && !cmd.empty()) {
    o.user = cmd.front();
    cmd.erase(cmd.begin());
  }
  if (cmd.empty()) {
    print_error(with_user ? "suexec needs a USER and a command" : "exec needs a command");
    return 2;
  }
  o.argv = cmd;
  o.tty = tty_mode(tty, notty, runtime::Tty::never);
  return run_in_guest(g, name, with_user ? "suexec" : "exec", o);
}

}  // namespace

int cmd_exec(const Globals& g, const std::string& name, const Args& args) {
  return exec_command(g, name, args, false);
}

int cmd_suexec(const Globals& g, const std::string& name, const Args& args) {
  return exec_command(g, name, args, true);
}

int cmd_enter(const Globals& g, const std::string& name, const Args& args) {
  CLI::App app{
      "A login shell inside the running guest, on a pseudo-terminal of the guest when "
      "stdin is a terminal. The shell is the guest's 'shell' setting, else the first of "
      "/bin/bash and /bin/sh that exists.",
      "vserver NAME enter"};
  std::string user = "root";
  bool tty = false;
  bool notty = false;
  app.add_option("-u,--user", user, "user to log in as (default root)");
  add_tty_options(app, tty, notty);
  if (auto rc = parse_args(app, args)) return *rc;
  auto cfg = load(g, name);
  std::string shell;
  if (cfg.shell) {
    shell = *cfg.shell;
  } else {
    for (const char* candidate : {"/bin/bash", "/bin/sh"}) {
      // A symlink in the guest points into the guest: check it without following it here.
      if (storage::exists_in_root(g.roots, cfg, candidate)) {
        shell = candidate;
        break;
      }
    }
    if (shell.empty()) shell = "/bin/sh";
  }
  runtime::ExecOptions o;
  o.argv = {shell};
  o.user = user;
  o.login = true;
  o.tty = tty_mode(tty, notty, runtime::Tty::automatic);
  return run_in_guest(g, name, "enter", o);
}

int vserver_main(int argc, char** argv) {
  Globals g;
  g.roots = config::Roots::from_environment();
  Args rest;
  bool all = false;
  std::string mark;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* opt) -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(std::string("option ") + opt + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (a == "--version") {
      std::cout << "vserver " << VSERVER_VERSION << '\n';
      return 0;
    }
    if (a == "--all") {
      all = true;
    } else if (a == "--debug") {
      debug::enable(STDERR_FILENO);
    } else if (a == "--mark") {
      mark = value("--mark");
    } else if (a == "--config-root") {
      g.roots.config = value("--config-root");
    } else if (a == "--vdir-root") {
      g.roots.vdir = value("--vdir-root");
    } else if (a == "--run-root") {
      g.roots.run = value("--run-root");
    } else if (a == "--log-root") {
      g.roots.log = value("--log-root");
    } else if (a == "--") {
      ++i;
      break;
    } else if (!a.empty() && a[0] == '-') {
      print_error("unknown option " + a + " (see vserver --help)");
      return 2;
    } else {
      break;
    }
  }
  for (; i < argc; ++i) rest.emplace_back(argv[i]);
  if (all) return cmd_all(g, mark, rest);
  if (!mark.empty()) {
    print_error("--mark selects guests for --all (see vserver --help)");
    return 2;
  }
  if (rest.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  if (rest[0] == "list") return cmd_list(g, Args(rest.begin() + 1, rest.end()));
  if (rest.size() < 2) {
    print_error("no command given for " + rest[0] + " (see vserver --help)");
    return 2;
  }
  const std::string& command = rest[1];
  auto it = commands().find(command);
  bool apt = command == "apt-get" || command == "apt-cache" || command == "apt-config";
  if (it == commands().end() && !apt) {
    print_error("unknown command '" + command + "' (see vserver --help)");
    return 2;
  }
  Args args(rest.begin() + 2, rest.end());
  // --debug after the command too: anywhere before "--", but for the commands whose arguments are
  // a command to run in the guest only right after the command.
  bool runs_a_command = apt || command == "exec" || command == "suexec";
  for (auto a = args.begin(); a != args.end() && *a != "--";) {
    if (*a == "--debug") {
      debug::enable(STDERR_FILENO);
      a = args.erase(a);
    } else if (runs_a_command) {
      break;
    } else {
      ++a;
    }
  }
  std::string name = rest[0];
  if (command != "build" && command != "import") {
    // util-vserver accepts a name, a path to the configuration directory or a context id.
    name = config::resolve_guest(g.roots, rest[0]);
    if (!wants_help(args) && !std::filesystem::is_directory(g.roots.guest_config_dir(name))) {
      print_error(fmt::format("Can not find a vserver-setup at '{}/'",
                              g.roots.guest_config_dir(name).string()));
      return 5;
    }
  }
  if (apt) return cmd_apt(g, name, command, args);
  return it->second(g, name, args);
}

}  // namespace vs::cli
