// vserver-autostart [start|stop|list] [MARK]: the guests of a mark at host boot and shutdown
// (util-vserver.md §1.10: apps/init/mark and apps/init/depends).
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/parse.hpp"
#include "ops/autostart.hpp"

namespace vs::cli {

int autostart_main(const Globals& g, const Args& args) {
  CLI::App app{
      "Start or stop the guests whose apps/init/mark is MARK (default: default), and the guests "
      "they depend on (apps/init/depends): dependencies first when starting, dependents first "
      "when stopping, up to JOBS at a time where the order allows.",
      "vserver-autostart"};
  app.footer(
      "Actions:\n"
      "  start   start the guests (the default); running ones count as started\n"
      "  stop    stop them, each after the guests that depend on it\n"
      "  list    print the guests in start order with their dependencies; start nothing\n\n"
      "A guest whose dependency does not exist, is on a dependency cycle or failed to start is\n"
      "not started; the others are. Every failure is listed at the end and the exit status is 1.\n"
      "The roots come from VSERVER_CONFIG_ROOT, VSERVER_VDIR_ROOT, VSERVER_RUN_ROOT and\n"
      "VSERVER_LOG_ROOT, as for vserver.\n\n"
      "Examples:\n"
      "  vserver-autostart                  # start the guests marked default\n"
      "  vserver-autostart start web -j 2   # the guests marked web, two at a time\n"
      "  vserver-autostart stop             # stop the guests marked default\n"
      "  vserver-autostart list web");
  std::string action = "start";
  ops::AutostartOptions o;
  int timeout = -1;
  app.add_option("action", action, "start, stop or list")
      ->check(CLI::IsMember({"start", "stop", "list"}));
  app.add_option("mark", o.mark, "the mark (apps/init/mark) of the guests")->capture_default_str();
  app.add_option("-j,--jobs", o.jobs, "guests acted on at the same time")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("-t,--timeout", timeout,
                 "seconds for each graceful stop (default: each guest's apps/vshelper/"
                 "sync-timeout)")
      ->check(CLI::Range(0, 86400));
  if (auto rc = parse_args(app, args)) return *rc;
  if (timeout >= 0) o.stop_timeout = timeout;
  o.progress = [](const std::string& line) { std::cout << line << std::endl; };

  ops::AutostartResult r;
  if (action == "list") {
    r.plan = ops::plan_for_mark(ops::read_guests(g.roots), o.mark);
    for (const auto& n : r.plan.order) {
      std::cout << n;
      const auto& deps = r.plan.depends.at(n);
      if (!deps.empty()) {
        std::cout << "\tafter";
        for (const auto& d : deps) std::cout << ' ' << d;
      }
      std::cout << '\n';
    }
    for (const auto& p : r.plan.problems) {
      print_error(p.guest + ": cannot be started: " + p.reason);
    }
    return r.plan.problems.empty() ? 0 : 1;
  }
  r = action == "start" ? ops::autostart_start(g.roots, o) : ops::autostart_stop(g.roots, o);
  for (const auto& p : r.plan.problems) {
    print_error(p.guest + ": not " + (action == "start" ? "started" : "stopped") + ": " + p.reason);
  }
  for (const auto& out : r.outcomes) {
    if (!out.ok) print_error(out.guest + ": " + out.reason);
  }
  if (r.plan.order.empty() && r.plan.problems.empty()) {
    std::cout << "No vserver is marked '" << o.mark << "'\n";
    return 0;
  }
  auto failures = r.failures();
  if (failures.empty()) return 0;
  std::string list;
  for (const auto& f : failures) list += (list.empty() ? "" : ", ") + f;
  print_error(std::to_string(failures.size()) + " of " +
              std::to_string(r.plan.order.size() + r.plan.problems.size()) + " guests failed to " +
              action + ": " + list);
  return 1;
}

}  // namespace vs::cli
