// Ordering guests by apps/init/depends and running an action on each, in parallel where the
// order allows.
#include "ops/order.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <list>
#include <set>

#include "config/config.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/process.hpp"

namespace vs::ops {

std::vector<GuestInfo> read_guests(const config::Roots& roots) {
  std::vector<GuestInfo> out;
  for (const auto& name : config::list_guests(roots)) {
    config::GuestConfig cfg;
    try {
      config::check_guest(roots, name, cfg);  // what can be read; start reports the rest
    } catch (const Error&) {
      continue;  // removed meanwhile
    }
    out.push_back({name, cfg.init.mark, cfg.init.depends});
  }
  return out;
}

namespace {

std::string join_path(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) {
    if (!s.empty()) s += " -> ";
    s += n;
  }
  return s;
}

}  // namespace

Plan plan_for(const std::vector<GuestInfo>& guests, const std::vector<std::string>& selected) {
  std::map<std::string, const GuestInfo*> by_name;
  for (const auto& g : guests) by_name.emplace(g.name, &g);

  // The selected guests and everything they need.
  std::set<std::string> wanted;
  std::map<std::string, std::string> missing;  // guest → the dependency that does not exist
  std::deque<std::string> todo(selected.begin(), selected.end());
  while (!todo.empty()) {
    std::string n = todo.front();
    todo.pop_front();
    if (!wanted.insert(n).second) continue;
    auto it = by_name.find(n);
    if (it == by_name.end()) continue;  // reported below
    for (const auto& d : it->second->depends) {
      if (by_name.count(d) == 0) {
        missing.emplace(n, d);
      } else {
        todo.push_back(d);
      }
    }
  }

  Plan plan;
  std::map<std::string, std::string> bad;  // guest → reason
  for (const auto& n : wanted) {
    if (by_name.count(n) == 0) bad.emplace(n, "no such vserver");
  }
  for (const auto& [g, d] : missing) {
    bad.emplace(g, "depends on '" + d + "', which does not exist");
  }

  // Kahn's algorithm over the wanted guests that are not bad; the names are visited sorted so
  // that the order is reproducible.
  std::map<std::string, std::set<std::string>> deps;  // guest → its unfinished dependencies
  std::map<std::string, std::vector<std::string>> dependents;
  for (const auto& n : wanted) {
    auto it = by_name.find(n);
    if (it == by_name.end()) continue;
    auto& ds = deps[n];
    for (const auto& d : it->second->depends) {
      if (by_name.count(d) == 0) continue;
      ds.insert(d);
      dependents[d].push_back(n);
    }
  }
  std::set<std::string> ready;
  for (const auto& [n, ds] : deps) {
    if (ds.empty()) ready.insert(n);
  }
  std::vector<std::string> order;
  while (!ready.empty()) {
    std::string n = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(n);
    for (const auto& dep : dependents[n]) {
      auto& ds = deps[dep];
      ds.erase(n);
      if (ds.empty()) ready.insert(dep);
    }
  }

  // What is left waits on a cycle: name the cycle for the guests on it.
  std::set<std::string> placed(order.begin(), order.end());
  std::set<std::string> left;
  for (const auto& [n, ds] : deps) {
    if (placed.count(n) == 0) left.insert(n);
  }
  for (const auto& start : left) {
    if (bad.count(start) != 0) continue;
    // Follow unfinished dependencies from start until a guest repeats.
    std::vector<std::string> path;
    std::map<std::string, std::size_t> seen;
    std::string cur = start;
    while (seen.count(cur) == 0) {
      seen.emplace(cur, path.size());
      path.push_back(cur);
      cur = *deps[cur].begin();
    }
    std::vector<std::string> cycle(path.begin() + static_cast<std::ptrdiff_t>(seen[cur]),
                                   path.end());
    if (std::find(cycle.begin(), cycle.end(), start) == cycle.end()) continue;
    // Rotated so that the message is the same for every guest on the cycle: from its least name.
    std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
    cycle.push_back(cycle.front());
    bad.emplace(start, "dependency cycle: " + join_path(cycle));
  }

  // A guest that needs a bad one is bad too, and so are the guests that need it.
  bool changed = true;
  while (changed) {
    changed = false;
    for (const auto& n : wanted) {
      if (bad.count(n) != 0) continue;
      auto it = by_name.find(n);
      if (it == by_name.end()) continue;
      for (const auto& d : it->second->depends) {
        if (bad.count(d) != 0) {
          bad.emplace(n, "depends on '" + d + "', which cannot be started");
          changed = true;
          break;
        }
      }
    }
  }

  for (const auto& n : order) {
    if (bad.count(n) != 0) continue;
    plan.order.push_back(n);
    plan.depends[n] = by_name.at(n)->depends;
  }
  for (const auto& [g, why] : bad) plan.problems.push_back({g, why});
  return plan;
}

Plan plan_for_mark(const std::vector<GuestInfo>& guests, const std::string& mark) {
  std::vector<std::string> selected;
  for (const auto& g : guests) {
    if (g.mark && *g.mark == mark) selected.push_back(g.name);
  }
  return plan_for(guests, selected);
}

namespace {

std::string status_text(int wstatus) {
  if (WIFEXITED(wstatus)) return "exit status " + std::to_string(WEXITSTATUS(wstatus));
  if (WIFSIGNALED(wstatus))
    return std::string("killed by signal ") + ::strsignal(WTERMSIG(wstatus));
  return "ended";
}

}  // namespace

std::vector<Outcome> run_ordered(const Plan& plan, Direction direction, int jobs,
                                 const std::function<int(const std::string&)>& action,
                                 const std::function<void(const Outcome&)>& report) {
  if (jobs < 1) jobs = 1;
  // waits_for[g]: the guests that must finish before g runs.
  std::map<std::string, std::set<std::string>> waits_for;
  std::map<std::string, std::vector<std::string>> release;  // finished guest → who it unblocks
  for (const auto& g : plan.order) waits_for[g];
  for (const auto& [g, ds] : plan.depends) {
    for (const auto& d : ds) {
      if (waits_for.count(d) == 0) continue;
      if (direction == Direction::forward) {
        waits_for[g].insert(d);
        release[d].push_back(g);
      } else {
        waits_for[d].insert(g);
        release[g].push_back(d);
      }
    }
  }
  std::vector<std::string> queue;  // runnable, in plan order
  auto plan_index = [&](const std::string& g) {
    return std::find(plan.order.begin(), plan.order.end(), g) - plan.order.begin();
  };
  auto enqueue = [&](const std::string& g) {
    queue.push_back(g);
    std::sort(queue.begin(), queue.end(), [&](const std::string& a, const std::string& b) {
      return direction == Direction::forward ? plan_index(a) < plan_index(b)
                                             : plan_index(a) > plan_index(b);
    });
  };
  for (const auto& [g, w] : waits_for) {
    if (w.empty()) enqueue(g);
  }

  std::vector<Outcome> outcomes;
  std::set<std::string> failed;
  // The process of each guest in progress, owned (killed and reaped if an error ends the run) and
  // watched through a pidfd: waitpid(-1) would reap another part of the process's children.
  struct Running {
    ChildProcess child;
    UniqueFd pidfd;
    std::string guest;
  };
  std::list<Running> running;
  // A guest whose dependency failed is taken from the queue like the others and finished at
  // once, as failed, which releases its own dependents in turn.
  auto finish = [&](Outcome o) {
    if (!o.ok) failed.insert(o.guest);
    for (const auto& next : release[o.guest]) {
      auto& w = waits_for[next];
      w.erase(o.guest);
      if (w.empty()) enqueue(next);
    }
    outcomes.push_back(std::move(o));
    if (report) report(outcomes.back());
  };

  while (!queue.empty() || !running.empty()) {
    while (!queue.empty() && static_cast<int>(running.size()) < jobs) {
      std::string g = queue.front();
      queue.erase(queue.begin());
      if (direction == Direction::forward) {
        std::string why;
        for (const auto& d : plan.depends.at(g)) {
          if (failed.count(d) != 0) {
            why = "not started: dependency '" + d + "' failed";
            break;
          }
        }
        if (!why.empty()) {
          finish({g, false, -1, why});
          continue;
        }
      }
      require_single_threaded("starting or stopping guests in their order (ops::run_ordered)");
      std::fflush(nullptr);
      pid_t pid = ::fork();
      if (pid < 0) {
        finish({g, false, -1, errno_message("fork", "for vserver '" + g + "'", errno)});
        continue;
      }
      if (pid == 0) {
        int rc = 1;
        try {
          rc = action(g);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "%s: %s\n", g.c_str(), e.what());
        }
        std::fflush(nullptr);
        ::_exit(rc & 0xff);
      }
      ChildProcess child(pid);
      int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
      if (fd < 0) throw_errno("pidfd_open", "process for vserver '" + g + "'");
      running.push_back({std::move(child), UniqueFd(fd), g});
    }
    if (running.empty()) continue;
    std::vector<pollfd> fds;
    for (const auto& r : running) fds.push_back({r.pidfd.get(), POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("wait for", "the guests' processes");
    }
    auto it = running.begin();
    for (const auto& p : fds) {
      if ((p.revents & POLLIN) != 0) break;
      ++it;
    }
    if (it == running.end()) continue;
    std::string g = it->guest;
    int wstatus = it->child.wait_status("the process for vserver '" + g + "'");
    running.erase(it);
    bool ok = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
    int status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    finish({g, ok, status, ok ? std::string() : status_text(wstatus)});
  }
  return outcomes;
}

}  // namespace vs::ops
