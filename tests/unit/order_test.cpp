// Ordering guests by apps/init/depends, and running an action on each in that order.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <new>
#include <set>
#include <sstream>

#include "../wait_until.hpp"
#include "ops/order.hpp"
#include "sys/file.hpp"

namespace {

using vs::ops::Direction;
using vs::ops::GuestInfo;
using vs::ops::Outcome;
using vs::ops::Plan;

GuestInfo guest(const std::string& name, const std::string& mark,
                std::vector<std::string> depends = {}) {
  GuestInfo g;
  g.name = name;
  if (!mark.empty()) g.mark = mark;
  g.depends = std::move(depends);
  return g;
}

std::size_t pos(const std::vector<std::string>& v, const std::string& x) {
  return static_cast<std::size_t>(std::find(v.begin(), v.end(), x) - v.begin());
}

std::string reason(const Plan& p, const std::string& g) {
  for (const auto& pr : p.problems) {
    if (pr.guest == g) return pr.reason;
  }
  return "";
}

TEST(Order, MarkSelectsGuestsAndTheirDependencies) {
  std::vector<GuestInfo> all = {guest("web", "default", {"db"}), guest("db", ""),
                                guest("mail", "other"), guest("dns", "default"),
                                guest("cache", "", {"dns"})};
  Plan p = vs::ops::plan_for_mark(all, "default");
  EXPECT_EQ(p.order.size(), 3U);
  EXPECT_LT(pos(p.order, "db"), pos(p.order, "web"));  // an unmarked dependency comes along
  EXPECT_NE(pos(p.order, "dns"), p.order.size());
  EXPECT_EQ(pos(p.order, "mail"), p.order.size());   // another mark
  EXPECT_EQ(pos(p.order, "cache"), p.order.size());  // depends on a marked one, not marked
  EXPECT_TRUE(p.problems.empty());
}

TEST(Order, ChainsAndDiamondsAreOrdered) {
  std::vector<GuestInfo> all = {guest("a", "m", {"b", "c"}), guest("b", "m", {"d"}),
                                guest("c", "m", {"d"}), guest("d", "m")};
  Plan p = vs::ops::plan_for_mark(all, "m");
  ASSERT_EQ(p.order.size(), 4U);
  EXPECT_EQ(p.order.front(), "d");
  EXPECT_EQ(p.order.back(), "a");
}

TEST(Order, MissingDependencyIsReportedAndSpreads) {
  std::vector<GuestInfo> all = {guest("web", "m", {"nosuch"}), guest("app", "m", {"web"}),
                                guest("ok", "m")};
  Plan p = vs::ops::plan_for_mark(all, "m");
  EXPECT_EQ(p.order, std::vector<std::string>{"ok"});
  EXPECT_EQ(reason(p, "web"), "depends on 'nosuch', which does not exist");
  EXPECT_EQ(reason(p, "app"), "depends on 'web', which cannot be started");
}

TEST(Order, CycleIsNamedTheSameForEachMember) {
  std::vector<GuestInfo> all = {guest("a", "m", {"b"}), guest("b", "m", {"c"}),
                                guest("c", "m", {"a"}), guest("d", "m", {"c"}), guest("e", "m")};
  Plan p = vs::ops::plan_for_mark(all, "m");
  EXPECT_EQ(p.order, std::vector<std::string>{"e"});
  EXPECT_EQ(reason(p, "a"), "dependency cycle: a -> b -> c -> a");
  EXPECT_EQ(reason(p, "b"), "dependency cycle: a -> b -> c -> a");
  EXPECT_EQ(reason(p, "c"), "dependency cycle: a -> b -> c -> a");
  EXPECT_EQ(reason(p, "d"), "depends on 'c', which cannot be started");
}

// The action runs in a forked child of run_ordered: it records when it began and ended in files
// of a scratch directory, as numbers of a sequence all the children share (a counter in shared
// memory), so that the order is read from the events themselves, never from a clock. Once begun,
// an action holds until every action started alongside it has begun too (run_ordered waits for a
// child, and each of its live children has begun): actions run together are seen to overlap, and
// one started too early begins before the end of the one it must follow.
class RunOrdered : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vs-order-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    void* shared = ::mmap(nullptr, sizeof(std::atomic<long>), PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(shared, MAP_FAILED);
    seq_ = new (shared) std::atomic<long>(0);
    ASSERT_TRUE(seq_->is_lock_free());
    others_ = live_children(::getpid());  // not run_ordered's
  }
  void TearDown() override {
    // An action that waited in vain (see recorder) left a file saying so.
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
      auto ext = e.path().extension();
      EXPECT_TRUE(ext != ".alone" && ext != ".stuck") << e.path().filename();
    }
    if (seq_ != nullptr) ::munmap(seq_, sizeof(std::atomic<long>));
    std::filesystem::remove_all(dir_);
  }

  // /proc/PID/stat, or "" once PID is gone: a process that exits between the listing of /proc
  // and the read makes read() fail with ESRCH, which must not end the action.
  static std::string proc_stat(const std::string& pid) {
    try {
      return vs::read_file_if_exists("/proc/" + pid + "/stat").value_or("");
    } catch (const std::exception&) {
      return "";
    }
  }
  // The live (not zombie) children of pid.
  static std::set<pid_t> live_children(pid_t pid) {
    std::set<pid_t> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
      std::string name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::string stat = proc_stat(name);
      auto paren = stat.rfind(')');
      if (paren == std::string::npos) continue;
      std::istringstream fields(stat.substr(paren + 1));
      char state = 0;
      pid_t parent = 0;
      if (fields >> state >> parent && parent == pid && state != 'Z') out.insert(std::stoi(name));
    }
    return out;
  }
  // In an action: run_ordered (the parent) waits for its children, all of which have begun.
  bool all_started() const {
    pid_t parent = ::getppid();
    std::string stat = proc_stat(std::to_string(parent));
    auto paren = stat.rfind(')');
    if (paren == std::string::npos || stat.substr(paren + 1, 3) != " S ") return false;
    for (pid_t child : live_children(parent)) {
      if (others_.count(child) == 0 &&
          !std::filesystem::exists(dir_ / ("pid." + std::to_string(child)))) {
        return false;
      }
    }
    return true;
  }
  // The action: records its beginning, waits for the guest meet names (if any) to have begun,
  // which it can only when both run at once, then for all_started; records its end. A wait in
  // vain (10 s) leaves GUEST.alone or GUEST.stuck, and the action fails.
  std::function<int(const std::string&)> recorder(std::set<std::string> failing = {},
                                                  std::map<std::string, std::string> meet = {}) {
    return [this, failing, meet](const std::string& g) {
      std::ofstream(dir_ / (g + ".begin")) << ++*seq_;
      std::ofstream(dir_ / ("pid." + std::to_string(::getpid()))).close();
      auto other = meet.find(g);
      if (other != meet.end() &&
          !testutil::wait_until(
              [&] { return std::filesystem::exists(dir_ / (other->second + ".begin")); },
              std::chrono::seconds(10))) {
        std::ofstream(dir_ / (g + ".alone")).close();
        return 4;
      }
      if (!testutil::wait_until([&] { return all_started(); }, std::chrono::seconds(10))) {
        std::ofstream(dir_ / (g + ".stuck")).close();
        return 5;
      }
      std::ofstream(dir_ / (g + ".end")) << ++*seq_;
      return failing.count(g) != 0 ? 3 : 0;
    };
  }
  // The sequence number of g's "begin" or "end".
  long at(const std::string& g, const char* what) {
    return std::stol(vs::read_file(dir_ / (g + "." + what)));
  }
  bool ran(const std::string& g) { return std::filesystem::exists(dir_ / (g + ".begin")); }

  std::filesystem::path dir_;
  std::atomic<long>* seq_ = nullptr;
  std::set<pid_t> others_;
};

TEST_F(RunOrdered, ForwardWaitsForDependenciesAndRunsOthersInParallel) {
  std::vector<GuestInfo> all = {guest("app", "m", {"db"}), guest("db", "m"), guest("dns", "m"),
                                guest("ntp", "m")};
  Plan p = vs::ops::plan_for_mark(all, "m");
  // dns and ntp each wait for the other to have begun: both succeed only if they run at once.
  auto out = vs::ops::run_ordered(p, Direction::forward, 4,
                                  recorder({}, {{"dns", "ntp"}, {"ntp", "dns"}}), {});
  ASSERT_EQ(out.size(), 4U);
  for (const auto& o : out) EXPECT_TRUE(o.ok) << o.guest << ": " << o.reason;
  EXPECT_GT(at("app", "begin"), at("db", "end"));
  // Independent guests overlap.
  EXPECT_LT(at("dns", "begin"), at("ntp", "end"));
  EXPECT_LT(at("ntp", "begin"), at("dns", "end"));
}

TEST_F(RunOrdered, JobsBoundParallelism) {
  std::vector<GuestInfo> all = {guest("a", "m"), guest("b", "m"), guest("c", "m")};
  Plan p = vs::ops::plan_for_mark(all, "m");
  vs::ops::run_ordered(p, Direction::forward, 1, recorder(), {});
  EXPECT_GT(at("b", "begin"), at("a", "end"));
  EXPECT_GT(at("c", "begin"), at("b", "end"));
}

TEST_F(RunOrdered, ReverseStopsDependentsFirst) {
  std::vector<GuestInfo> all = {guest("app", "m", {"db"}), guest("db", "m"),
                                guest("web", "m", {"app"})};
  Plan p = vs::ops::plan_for_mark(all, "m");
  std::vector<std::string> reported;
  auto out = vs::ops::run_ordered(p, Direction::reverse, 4, recorder(),
                                  [&](const Outcome& o) { reported.push_back(o.guest); });
  EXPECT_EQ(reported, (std::vector<std::string>{"web", "app", "db"}));
  EXPECT_GT(at("db", "begin"), at("app", "end"));
  EXPECT_GT(at("app", "begin"), at("web", "end"));
}

TEST_F(RunOrdered, FailedDependencySkipsDependentsNotOthers) {
  std::vector<GuestInfo> all = {guest("db", "m"), guest("app", "m", {"db"}),
                                guest("web", "m", {"app"}), guest("dns", "m")};
  Plan p = vs::ops::plan_for_mark(all, "m");
  auto out = vs::ops::run_ordered(p, Direction::forward, 2, recorder({"db"}), {});
  ASSERT_EQ(out.size(), 4U);
  std::map<std::string, Outcome> by;
  for (const auto& o : out) by[o.guest] = o;
  EXPECT_FALSE(by["db"].ok);
  EXPECT_EQ(by["db"].status, 3);
  EXPECT_EQ(by["db"].reason, "exit status 3");
  EXPECT_EQ(by["app"].reason, "not started: dependency 'db' failed");
  EXPECT_EQ(by["web"].reason, "not started: dependency 'app' failed");
  EXPECT_TRUE(by["dns"].ok);
  EXPECT_FALSE(ran("app"));
  EXPECT_FALSE(ran("web"));
  EXPECT_TRUE(ran("dns"));
}

TEST_F(RunOrdered, ReverseGoesOnAfterAFailure) {
  std::vector<GuestInfo> all = {guest("db", "m"), guest("app", "m", {"db"})};
  Plan p = vs::ops::plan_for_mark(all, "m");
  auto out = vs::ops::run_ordered(p, Direction::reverse, 2, recorder({"app"}), {});
  ASSERT_EQ(out.size(), 2U);
  EXPECT_FALSE(out[0].ok);
  EXPECT_EQ(out[1].guest, "db");
  EXPECT_TRUE(out[1].ok);
}

TEST_F(RunOrdered, ExceptionInActionIsAFailure) {
  std::vector<GuestInfo> all = {guest("a", "m")};
  Plan p = vs::ops::plan_for_mark(all, "m");
  auto out = vs::ops::run_ordered(
      p, Direction::forward, 1,
      [](const std::string&) -> int { throw std::runtime_error("no config"); }, {});
  ASSERT_EQ(out.size(), 1U);
  EXPECT_FALSE(out[0].ok);
  EXPECT_EQ(out[0].reason, "exit status 1");
}

}  // namespace
