// Acting on many guests at once: which guests a mark selects (apps/init/mark), the order their
// apps/init/depends impose, and running an action on each in that order, in parallel where the
// order allows (util-vserver.md §1.10: start-vservers turns depends into a makefile and runs
// make -j).
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/roots.hpp"

namespace vs::ops {

// What the ordering needs to know of one guest.
struct GuestInfo {
  std::string name;
  std::optional<std::string> mark;   // apps/init/mark
  std::vector<std::string> depends;  // apps/init/depends: guests that must run first
};

// The guests of the configuration root with their mark and dependencies. A guest whose
// configuration has problems is listed with what could be read of it.
std::vector<GuestInfo> read_guests(const config::Roots& roots);

// A guest that cannot be acted on, and why ("dependency cycle: a -> b -> a").
struct Problem {
  std::string guest;
  std::string reason;
};

struct Plan {
  // The guests to act on, in an order where every guest comes after its dependencies.
  std::vector<std::string> order;
  // For each guest of order, its dependencies (all of them in order too).
  std::map<std::string, std::vector<std::string>> depends;
  // Guests selected (or needed) that cannot be ordered: a dependency that does not exist, a
  // cycle, or a dependency that is itself one of these. Sorted by name.
  std::vector<Problem> problems;
};

// The guests whose mark is `mark`, plus every guest they depend on (directly or not, marked or
// not), ordered by their dependencies.
Plan plan_for_mark(const std::vector<GuestInfo>& guests, const std::string& mark);
// The same for an explicit list of guest names.
Plan plan_for(const std::vector<GuestInfo>& guests, const std::vector<std::string>& selected);

enum class Direction {
  forward,  // dependencies first (start)
  reverse,  // dependents first (stop)
};

struct Outcome {
  std::string guest;
  bool ok = false;
  int status = 0;      // exit status of the action (0 for ok); -1 when it did not run
  std::string reason;  // for failures: "exit status 1", "not started: dependency web failed"
};

// Runs action(guest) for every guest of plan, each in a forked child of its own, at most `jobs`
// at a time (jobs >= 1), a guest only after those it must follow have finished. Forward: after
// its dependencies, and not at all when one of them failed. Reverse: after the guests that depend
// on it, whatever their outcome (stopping goes on). report is called in the parent as each guest
// finishes. The caller must be single-threaded (the children run action after fork).
// Returns the outcomes in the order they finished.
std::vector<Outcome> run_ordered(const Plan& plan, Direction direction, int jobs,
                                 const std::function<int(const std::string&)>& action,
                                 const std::function<void(const Outcome&)>& report);

}  // namespace vs::ops
