// vserver-autostart: the guests of a mark, started and stopped in dependency order.
#include "ops/autostart.hpp"

#include "config/config.hpp"
#include "runtime/runtime.hpp"

namespace vs::ops {

bool AutostartResult::ok() const {
  if (!plan.problems.empty()) return false;
  for (const auto& o : outcomes) {
    if (!o.ok) return false;
  }
  return outcomes.size() == plan.order.size();
}

std::vector<std::string> AutostartResult::failures() const {
  std::vector<std::string> out;
  for (const auto& p : plan.problems) out.push_back(p.guest + " (" + p.reason + ")");
  for (const auto& o : outcomes) {
    if (!o.ok) out.push_back(o.guest + " (" + o.reason + ")");
  }
  return out;
}

namespace {

void say(const AutostartOptions& opts, const std::string& line) {
  if (opts.progress) opts.progress(line);
}

}  // namespace

AutostartResult autostart_start(const config::Roots& roots, const AutostartOptions& opts) {
  AutostartResult r;
  r.plan = plan_for_mark(read_guests(roots), opts.mark);
  r.outcomes = run_ordered(r.plan, Direction::forward, opts.jobs,
                           [&](const std::string& name) {
                             auto cfg = config::load_guest(roots, name);
                             try {
                               int rc = runtime::start(roots, cfg, {});
                               if (rc == 0) say(opts, name + ": started");
                               return rc;
                             } catch (const runtime::AlreadyRunning&) {
                               say(opts, name + ": already running");
                               return 0;
                             }
                           },
                           {});
  return r;
}

AutostartResult autostart_stop(const config::Roots& roots, const AutostartOptions& opts) {
  AutostartResult r;
  r.plan = plan_for_mark(read_guests(roots), opts.mark);
  r.outcomes = run_ordered(
      r.plan, Direction::reverse, opts.jobs,
      [&](const std::string& name) {
        auto cfg = config::load_guest(roots, name);
        runtime::StopOptions o;
        o.timeout = opts.stop_timeout;
        say(opts, name + (runtime::stop(roots, cfg, o) ? ": stopped" : ": was not running"));
        return 0;
      },
      {});
  return r;
}

}  // namespace vs::ops
