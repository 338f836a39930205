// Running one command in many guests (vserver --all exec, vserver --all apt-get: util-vserver's
// vapt-get / vsomething), each guest's output lines prefixed with its name.
#pragma once

#include <string>
#include <vector>

#include "config/roots.hpp"
#include "runtime/runtime.hpp"

namespace vs::ops {

// The running guests, sorted by name; with a mark, only those whose apps/init/mark is mark.
std::vector<std::string> running_guests(const config::Roots& roots,
                                        const std::string& mark = std::string());

struct GuestStatus {
  std::string guest;
  int status = 0;     // the command's exit status; 1 when it could not be run
  std::string error;  // why it could not be run ("vserver 'web' is not running")
};

// Runs opts in each guest in turn, with stdin from /dev/null. Every line the command writes to
// stdout (stderr) goes to out_fd (err_fd) as "NAME: line"; a last line without a newline gets
// one. Returns each guest's exit status. Forks for every guest: the caller must be
// single-threaded.
std::vector<GuestStatus> exec_each(const config::Roots& roots,
                                   const std::vector<std::string>& guests,
                                   const runtime::ExecOptions& opts, int out_fd, int err_fd);

}  // namespace vs::ops
