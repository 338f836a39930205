// The command-line front ends: one function per command, each a thin layer over the library. They
// parse their own arguments (CLI11), print, and return the process exit status.
#pragma once

#include <string>
#include <vector>

#include "config/roots.hpp"

namespace vs::cli {

struct Globals {
  config::Roots roots;
};

using Args = std::vector<std::string>;

// Multi-call entry points (chosen by argv[0]).
int vserver_main(int argc, char** argv);
int stat_main(const Globals& g, const Args& args);   // vserver-stat
int vps_main(const Globals& g, const Args& args);    // vps
int vkill_main(const Globals& g, const Args& args);  // vkill
int vtop_main(const Globals& g, const Args& args);   // vtop
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
// vserver list [--json] (no guest name).
int cmd_list(const Globals& g, const Args& args);

// The name this binary was called by (vserver, vkill, …), for messages.
void set_program_name(const std::string& name);
// Prints "PROG: message" to stderr.
void print_error(const std::string& message);

}  // namespace vs::cli
