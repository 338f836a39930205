// util-vserver's scriptlets: the administrator's programs in scripts/ that run on the host at
// fixed points of a guest's start and stop (docs/running.md, "Scripts").
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/roots.hpp"

namespace vs::runtime {

namespace fs = std::filesystem;

// The flavours, in the order a start and a stop run them.
enum class Scriptlet {
  initialize,     // start: before anything is made for the guest (in its configuration directory)
  prepre_start,   // start: the context id is claimed, nothing mounted yet (configuration directory)
  pre_start,      // start: cgroup, mounts and network made, init not yet run (in the guest's root)
  post_start,     // start: the guest's init runs (in the guest's root)
  pre_stop,       // vserver stop: before the guest is asked to stop (in the guest's root)
  post_stop,      // the guest has ended and what it held on the host is released
  postpost_stop,  // after post-stop
};

inline constexpr Scriptlet kAllScriptlets[] = {
    Scriptlet::initialize, Scriptlet::prepre_start, Scriptlet::pre_start,    Scriptlet::post_start,
    Scriptlet::pre_stop,   Scriptlet::post_stop,    Scriptlet::postpost_stop};

// The flavour's name as the file is named ("pre-start").
std::string_view to_string(Scriptlet s);

// What the scripts are told about the guest: arguments and environment.
struct ScriptTarget {
  std::string name;            // $2 and VSERVER_NAME
  fs::path cfgdir;             // VSERVER_DIR
  fs::path vdir;               // VDIR
  std::optional<int> context;  // S_CONTEXT, once claimed
};

// The files that would run for a flavour: scripts/FLAVOUR, then scripts/FLAVOUR.d/* in name
// order, of the guest, else (none there) of .defaults. A sourced default runs after the guest's
// only when one of those sets DONT_SKIP_DEFAULTS, which only running them can tell: see
// run_scriptlets.
struct ScriptletFiles {
  std::vector<fs::path> guest;
  std::vector<fs::path> defaults;
};
ScriptletFiles find_scriptlets(const config::Roots& roots, const fs::path& cfgdir, Scriptlet s);

// Runs a flavour's scriptlets one after the other, each as util-vserver did: an executable file
// as FILE FLAVOUR NAME, another regular file sourced by /bin/sh with the positional parameters
// FLAVOUR NAME. The working directory is the configuration directory (initialize, prepre-start)
// or the guest's root (the others). Their standard output and error go to out_fd and err_fd
// (-1: this process's). Throws at the first that fails, naming it and its exit status; the
// caller decides whether that aborts what it is doing.
void run_scriptlets(const config::Roots& roots, const ScriptTarget& target, Scriptlet s,
                    int out_fd = -1, int err_fd = -1);

// Notes for vserver NAME check: files in scripts/ (the guest's and .defaults') that no flavour
// runs, such as a misspelt name.
std::vector<std::string> scriptlet_notes(const config::Roots& roots, const fs::path& cfgdir);

}  // namespace vs::runtime
