// vserver-autostart: starting and stopping the guests of a mark (apps/init/mark) at host boot and
// shutdown, in the order of their apps/init/depends (util-vserver.md §1.10; util-vserver's
// start-vservers and vservers-default).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/roots.hpp"
#include "ops/order.hpp"

namespace vs::ops {

struct AutostartOptions {
  std::string mark = "default";
  int jobs = 6;  // guests started or stopped at the same time (-j of util-vserver)
  std::optional<int> stop_timeout;  // seconds for each graceful stop (default: each guest's own)
  // Lines about each guest as it is done ("web: started"); called from the guest's own child.
  std::function<void(const std::string&)> progress;
};

struct AutostartResult {
  Plan plan;
  std::vector<Outcome> outcomes;
  // Every guest planned was acted on successfully and nothing selected had a problem.
  [[nodiscard]] bool ok() const;
  // "web (exit status 1)", "db (not started: dependency 'web' failed)", and the plan's problems.
  [[nodiscard]] std::vector<std::string> failures() const;
};

// Starts the guests marked opts.mark and the guests they depend on, dependencies first; a guest
// whose dependency failed is not started. Guests already running count as started. The caller
// must be single-threaded (each guest is started in a forked child).
AutostartResult autostart_start(const config::Roots& roots, const AutostartOptions& opts);
// Stops the same guests, dependents first. Guests not running count as stopped.
AutostartResult autostart_stop(const config::Roots& roots, const AutostartOptions& opts);

}  // namespace vs::ops
