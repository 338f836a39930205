// One multi-call binary: vserver, vserver-stat, vps, vkill, vtop, vserver-base and
// vserver-autostart are links to it.
#include <cstring>
#include <exception>
#include <string>

#include "cli/commands.hpp"
#include "runtime/runtime.hpp"

int main(int argc, char** argv) {
  vs::runtime::remember_argv(argc, argv);
  std::string prog = argc > 0 ? argv[0] : "vserver";
  if (auto slash = prog.rfind('/'); slash != std::string::npos) prog = prog.substr(slash + 1);
  vs::cli::set_program_name(prog);
  // The command line is the vserver binary, single-threaded: guests start in this process.
  vs::runtime::set_launcher(vs::runtime::Launcher::in_process);
  try {
    if (prog == "vserver-helper") return vs::runtime::helper_main(argc, argv);
    if (prog == "vserver") return vs::cli::vserver_main(argc, argv);
    if (prog == "vserver-supervisor") return vs::runtime::resume_supervision();
    vs::cli::Globals g;
    g.roots = vs::config::Roots::from_environment();
    vs::cli::Args args(argv + 1, argv + argc);
    if (prog == "vserver-stat") return vs::cli::stat_main(g, args);
    if (prog == "vps") return vs::cli::vps_main(g, args);
    if (prog == "vkill") return vs::cli::vkill_main(g, args);
    if (prog == "vtop") return vs::cli::vtop_main(g, args);
    if (prog == "vserver-base") return vs::cli::base_main(g, args);
    if (prog == "vserver-autostart") return vs::cli::autostart_main(g, args);
    return vs::cli::vserver_main(argc, argv);
  } catch (const std::exception& e) {
    vs::cli::print_error(e.what());
    return 1;
  }
}
