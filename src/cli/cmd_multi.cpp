// vserver --all exec CMD..., vserver --all apt-get ARGS..., and vserver NAME apt-get ARGS...
// (util-vserver's vapt-get: package management inside the guests).
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/parse.hpp"
#include "config/config.hpp"
#include "ops/multi.hpp"

namespace vs::cli {

namespace {

bool is_apt(const std::string& command) {
  return command == "apt-get" || command == "apt-cache" || command == "apt-config";
}

// util-vserver's vapt-get takes the apt arguments after "--"; so do we, and without it too.
Args apt_args(const Args& args) {
  if (!args.empty() && args.front() == "--") return Args(args.begin() + 1, args.end());
  return args;
}

const char* const kAllHelp = R"(Usage: vserver [OPTIONS] --all [--mark MARK] exec CMD [ARGS...]
       vserver [OPTIONS] --all [--mark MARK] apt-get [--] ARGS...

Runs the command in every running guest (with --mark, in the running guests whose
apps/init/mark is MARK), one guest after the other, with stdin from /dev/null. Each line the
command writes is prefixed with the guest's name ("web: ..."), on stdout or stderr as written.
apt-get, apt-cache and apt-config run the guest's own tool (package management inside the
guest, as util-vserver's vapt-get) with DEBIAN_FRONTEND=noninteractive.

Exit status: 0 when the command succeeded in every guest; 1 otherwise, after a summary of the
guests where it failed and their exit statuses.

Examples:
  vserver --all exec uptime
  vserver --all --mark web exec /etc/init.d/nginx reload
  vserver --all apt-get -- update
)";

}  // namespace

int cmd_apt(const Globals& g, const std::string& name, const std::string& command,
            const Args& args) {
  if (!args.empty() && (args.front() == "-h" || args.front() == "--help")) {
    std::cout << fmt::format(
        "Usage: vserver NAME {0} [--] ARGS...\n"
        "Runs the guest's own {0} with ARGS inside the running guest (package management\n"
        "inside the guest, as util-vserver's vapt-get), on a terminal of the guest when stdin\n"
        "is one, else with DEBIAN_FRONTEND=noninteractive. Its exit status is returned.\n"
        "For every running guest: vserver --all {0} -- ARGS.\n\n"
        "Examples:\n"
        "  vserver web {0} -- update\n"
        "  vserver web apt-get install -y openssh-server\n",
        command);
    return 0;
  }
  auto cfg = config::load_guest(g.roots, name);
  runtime::ExecOptions o;
  o.argv = {command};
  for (const auto& a : apt_args(args)) o.argv.push_back(a);
  o.tty = runtime::Tty::automatic;
  if (::isatty(STDIN_FILENO) == 0) o.environment.emplace_back("DEBIAN_FRONTEND=noninteractive");
  o.join_caller = true;  // this process exits when the command ends
  try {
    return runtime::exec(g.roots, cfg, o);
  } catch (const runtime::NotRunning&) {
    print_error(
        fmt::format("'vserver {} {}' is supported for running vservers only", name, command));
    return 1;
  }
}

int cmd_all(const Globals& g, const std::string& mark, const Args& rest) {
  if (rest.empty() || rest.front() == "-h" || rest.front() == "--help") {
    std::cout << kAllHelp;
    return rest.empty() ? 2 : 0;
  }
  const std::string& command = rest.front();
  Args args(rest.begin() + 1, rest.end());
  runtime::ExecOptions o;
  if (command == "exec") {
    if (!args.empty() && args.front() == "--") args.erase(args.begin());
    if (args.empty()) {
      print_error("--all exec needs a command");
      return 2;
    }
    if (args.front() == "-h" || args.front() == "--help") {
      std::cout << kAllHelp;
      return 0;
    }
    o.argv = args;
  } else if (is_apt(command)) {
    o.argv = {command};
    for (const auto& a : apt_args(args)) o.argv.push_back(a);
    o.environment.emplace_back("DEBIAN_FRONTEND=noninteractive");
  } else {
    print_error("--all runs exec, apt-get, apt-cache or apt-config, not '" + command +
                "' (see vserver --all --help)");
    return 2;
  }
  auto guests = ops::running_guests(g.roots, mark);
  if (guests.empty()) {
    print_error(mark.empty() ? std::string("no vserver is running")
                             : "no running vserver is marked '" + mark + "'");
    return 0;
  }
  std::cout.flush();
  auto results = ops::exec_each(g.roots, guests, o, STDOUT_FILENO, STDERR_FILENO);
  std::string failed;
  std::size_t failures = 0;
  for (const auto& r : results) {
    if (!r.error.empty()) print_error(r.guest + ": " + r.error);
    if (r.status == 0) continue;
    ++failures;
    failed += fmt::format("{}{} (exit status {})", failed.empty() ? "" : ", ", r.guest, r.status);
  }
  if (failures == 0) return 0;
  print_error(
      fmt::format("{} failed in {} of {} guests: {}", command, failures, results.size(), failed));
  return 1;
}

}  // namespace vs::cli
