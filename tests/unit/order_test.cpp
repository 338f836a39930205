// Ordering guests by apps/init/depends, and running an action on each in that order.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

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

// The action runs in a child: it records start and end times in files of a scratch directory.
class RunOrdered : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vs-order-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static long now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  std::function<int(const std::string&)> recorder(std::set<std::string> failing = {}) {
    return [this, failing](const std::string& g) {
      std::ofstream(dir_ / (g + ".begin")) << now_us();
      std::this_thread::sleep_for(std::chrono::milliseconds(40));
      std::ofstream(dir_ / (g + ".end")) << now_us();
      return failing.count(g) != 0 ? 3 : 0;
    };
  }
  long at(const std::string& g, const char* what) {
    return std::stol(vs::read_file(dir_ / (g + "." + what)));
  }
  bool ran(const std::string& g) { return std::filesystem::exists(dir_ / (g + ".begin")); }

  std::filesystem::path dir_;
};

TEST_F(RunOrdered, ForwardWaitsForDependenciesAndRunsOthersInParallel) {
  std::vector<GuestInfo> all = {guest("app", "m", {"db"}), guest("db", "m"), guest("dns", "m"),
                                guest("ntp", "m")};
  Plan p = vs::ops::plan_for_mark(all, "m");
  auto out = vs::ops::run_ordered(p, Direction::forward, 4, recorder(), {});
  ASSERT_EQ(out.size(), 4U);
  for (const auto& o : out) EXPECT_TRUE(o.ok) << o.guest << ": " << o.reason;
  EXPECT_GE(at("app", "begin"), at("db", "end"));
  // Independent guests overlap.
  EXPECT_LT(at("dns", "begin"), at("ntp", "end"));
  EXPECT_LT(at("ntp", "begin"), at("dns", "end"));
}

TEST_F(RunOrdered, JobsBoundParallelism) {
  std::vector<GuestInfo> all = {guest("a", "m"), guest("b", "m"), guest("c", "m")};
  Plan p = vs::ops::plan_for_mark(all, "m");
  vs::ops::run_ordered(p, Direction::forward, 1, recorder(), {});
  EXPECT_GE(at("b", "begin"), at("a", "end"));
  EXPECT_GE(at("c", "begin"), at("b", "end"));
}

TEST_F(RunOrdered, ReverseStopsDependentsFirst) {
  std::vector<GuestInfo> all = {guest("app", "m", {"db"}), guest("db", "m"),
                                guest("web", "m", {"app"})};
  Plan p = vs::ops::plan_for_mark(all, "m");
  std::vector<std::string> reported;
  auto out = vs::ops::run_ordered(p, Direction::reverse, 4, recorder(),
                                  [&](const Outcome& o) { reported.push_back(o.guest); });
  EXPECT_EQ(reported, (std::vector<std::string>{"web", "app", "db"}));
  EXPECT_GE(at("db", "begin"), at("app", "end"));
  EXPECT_GE(at("app", "begin"), at("web", "end"));
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
