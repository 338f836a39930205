// The helper process of start, stop and exec (runtime.hpp, Launcher): the request as the helper's
// arguments and its result as a JSON object on descriptor 3. Private to the runtime.
#pragma once

#include <string>
#include <vector>

#include "config/model.hpp"
#include "config/roots.hpp"
#include "runtime/runtime.hpp"

namespace vs::runtime::detail {

// What the helper is asked to do.
struct HelperRequest {
  enum class Action { start, stop, exec };
  Action action = Action::start;
  std::string guest;
  StartOptions start;
  StopOptions stop;
  ExecOptions exec;  // its descriptors are not part of the request: they are the helper's 0, 1, 2
};

// The helper's arguments for a request (without argv[0]), and back. parse_helper_args throws an
// Error naming what it cannot read.
std::vector<std::string> helper_args(const HelperRequest& request);
HelperRequest parse_helper_args(const std::vector<std::string>& args);

// Whether this call goes through the helper: always with Launcher::helper; with in_process when
// the command's descriptors are not 0, 1 and 2 (exec). in_process from a multi-threaded process
// is refused (an Error naming the thread count), as is a guest whose configuration is not the
// tree's.
bool use_helper(const ExecOptions* exec = nullptr);

int start_in_helper(const config::Roots& roots, const config::GuestConfig& cfg,
                    const StartOptions& opts);
bool stop_in_helper(const config::Roots& roots, const config::GuestConfig& cfg,
                    const StopOptions& opts);
int exec_in_helper(const config::Roots& roots, const config::GuestConfig& cfg,
                   const ExecOptions& opts);

}  // namespace vs::runtime::detail
