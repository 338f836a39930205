// CPU shares from util-vserver's token bucket (sched/fill-rate, sched/interval, flag sched_hard),
// measured over several seconds. These tests run alone (RUN_SERIAL): a busy neighbour test would
// take CPU time the guests are entitled to.
#include <unistd.h>

#include <future>

#include "harness.hpp"
#include "sys/file.hpp"

namespace {

using it::Env;
using it::Result;

// CPU time / wall time of a burner that spins for `seconds` inside the guest.
double burn_share(const Env& env, const std::string& g, int seconds) {
  Result r = env.run({g, "exec", "/bin/probe", "burn", std::to_string(seconds)});
  EXPECT_EQ(r.rc, 0) << r;
  double cpu = 0;
  double wall = 0;
  if (std::sscanf(r.out.c_str(), "cpu %lf wall %lf", &cpu, &wall) != 2 || wall <= 0) {
    ADD_FAILURE() << "unexpected probe output: " << r;
    return 0;
  }
  return cpu / wall;
}

std::string sched_guest(Env& env, int fill_rate, int interval) {
  std::string g = env.busybox_guest();
  env.write_config(g, "sched/fill-rate", std::to_string(fill_rate) + "\n");
  env.write_config(g, "sched/interval", std::to_string(interval) + "\n");
  env.write_config(g, "cflags", "sched_hard\n");
  Result r = env.run({g, "start"});
  EXPECT_EQ(r.rc, 0) << r;
  return g;
}

// fill-rate 1, interval 4, sched_hard: a CPU burner gets 25% of one CPU.
TEST(CpuLimits, HardQuarterOfOneCpu) {
  REQUIRE_ROOT();
  Env env;
  std::string g = sched_guest(env, 1, 4);
  double share = burn_share(env, g, 6);
  EXPECT_GE(share, 0.22);
  EXPECT_LE(share, 0.28);
}

// Two guests at 1/4 and 1/2 running at the same time: each gets its own share.
TEST(CpuLimits, TwoGuestsFollowTheirShares) {
  REQUIRE_ROOT();
  Env env;
  std::string quarter = sched_guest(env, 1, 4);
  std::string half = sched_guest(env, 1, 2);
  auto a = std::async(std::launch::async, [&] { return burn_share(env, quarter, 6); });
  auto b = std::async(std::launch::async, [&] { return burn_share(env, half, 6); });
  double qa = a.get();
  double hb = b.get();
  EXPECT_GE(qa, 0.22);
  EXPECT_LE(qa, 0.28);
  EXPECT_GE(hb, 0.45);
  EXPECT_LE(hb, 0.55);
}

// Without limits a burner gets a whole CPU (the control for the tests above).
TEST(CpuLimits, UnlimitedGetsAWholeCpu) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  ASSERT_EQ(env.run({g, "start"}).rc, 0);
  EXPECT_GE(burn_share(env, g, 3), 0.8);
}

}  // namespace
