// The command-line front ends: one function per command, each a thin layer over the library. They
// parse their own arguments (CLI11), print, and return the process exit status.
#pragma once

#include <string>
#include <vector>

#include <optional>

#include "config/roots.hpp"
#include "provision/build.hpp"

namespace vs::cli {

struct Globals {
  config::Roots roots;
};

using Args = std::vector<std::string>;

// Multi-call entry points (chosen by argv[0]).
int vserver_main(int argc, char** argv);
int stat_main(const Globals& g, const Args& args);       // vserver-stat
int vps_main(const Globals& g, const Args& args);        // vps
int vkill_main(const Globals& g, const Args& args);      // vkill
int vtop_main(const Globals& g, const Args& args);       // vtop
int base_main(const Globals& g, const Args& args);       // vserver-base
int autostart_main(const Globals& g, const Args& args);  // vserver-autostart

// vserver NAME COMMAND ARGS... — args excludes NAME and COMMAND.
int cmd_build(const Globals& g, const std::string& name, const Args& args);
int cmd_delete(const Globals& g, const std::string& name, const Args& args);
int cmd_check(const Globals& g, const std::string& name, const Args& args);
int cmd_start(const Globals& g, const std::string& name, const Args& args);
int cmd_stop(const Globals& g, const std::string& name, const Args& args);
int cmd_restart(const Globals& g, const std::string& name, const Args& args);
int cmd_status(const Globals& g, const std::string& name, const Args& args);
int cmd_running(const Globals& g, const std::string& name, const Args& args);
int cmd_enter(const Globals& g, const std::string& name, const Args& args);
int cmd_exec(const Globals& g, const std::string& name, const Args& args);
int cmd_suexec(const Globals& g, const std::string& name, const Args& args);
int cmd_limit(const Globals& g, const std::string& name, const Args& args);
int cmd_du(const Globals& g, const std::string& name, const Args& args);
int cmd_unify(const Globals& g, const std::string& name, const Args& args);
int cmd_make_base(const Globals& g, const std::string& name, const Args& args);
int cmd_remove_image(const Globals& g, const std::string& name, const Args& args);
int cmd_rename(const Globals& g, const std::string& name, const Args& args);
int cmd_export(const Globals& g, const std::string& name, const Args& args);
int cmd_import(const Globals& g, const std::string& name, const Args& args);
// vserver NAME apt-get|apt-cache|apt-config ARGS...
int cmd_apt(const Globals& g, const std::string& name, const std::string& command,
            const Args& args);
// vserver --all [--mark MARK] exec|apt-get ... (rest starts with the command).
int cmd_all(const Globals& g, const std::string& mark, const Args& rest);
// vserver list [--json] (no guest name).
int cmd_list(const Globals& g, const Args& args);

// Parses the method arguments of build (after --) into o; returns the exit status when the
// command is done (--help, usage error) or nullopt to go on. Shared by vserver-base create.
std::optional<int> parse_build_method_args(provision::Method method, const Args& args,
                                           provision::BuildOptions& o);

// The name this binary was called by (vserver, vkill, …), for messages.
void set_program_name(const std::string& name);
// Prints "PROG: message" to stderr.
void print_error(const std::string& message);

}  // namespace vs::cli
