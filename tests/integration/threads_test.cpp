// The library driven from many threads of one process at once, as the daemon drives it: start,
// exec and stop of 20 guests from 8 threads, through the vserver helper (runtime.hpp, Launcher).
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "harness.hpp"
#include "runtime/runtime.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/file.hpp"
#include "sys/report.hpp"

namespace {

using it::Env;

vs::config::Roots roots_of(const Env& env) {
  vs::config::Roots r;
  r.config = env.config_root();
  r.vdir = env.vdir_root();
  r.run = env.run_root();
  r.log = env.log_root();
  return r;
}

// The vserver binary the helper runs. A ThreadSanitizer build (VSERVER_TSAN) instruments the
// library in this test's process, where the threads are; its vserver binary would have TSan's own
// thread, and a multi-threaded process cannot join a guest's time namespace (setns: EUSERS): such
// a run points VSERVER_TEST_HELPER_BINARY at the binary of an uninstrumented build.
std::filesystem::path helper_binary() {
  const char* b = std::getenv("VSERVER_TEST_HELPER_BINARY");
  return b != nullptr && *b != '\0' ? std::filesystem::path(b)
                                    : std::filesystem::path(VSERVER_BINARY);
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// What one guest's run through start, exec and stop saw.
struct GuestRun {
  std::string name;
  int start_rc = -1;
  std::string hostname;  // what `hostname` printed inside
  int exec_rc = -1;
  bool stopped = false;
  std::string error;
  std::vector<std::string> messages;  // from this thread's report sink
  double start_ms = 0;
  double exec_ms = 0;
  double stop_ms = 0;
};

void run_guest(const vs::config::Roots& roots, GuestRun& run) {
  vs::ScopedReportSink sink(
      [&](vs::Severity, std::string_view text) { run.messages.emplace_back(text); });
  try {
    vs::config::GuestConfig cfg = vs::config::load_guest(roots, run.name);
    auto t0 = std::chrono::steady_clock::now();
    run.start_rc = vs::runtime::start(roots, cfg, {});
    run.start_ms = ms_since(t0);

    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw vs::Error("pipe");
    vs::UniqueFd out_read(p[0]);
    vs::UniqueFd out_write(p[1]);
    vs::UniqueFd null = vs::open_file("/dev/null", O_RDWR);
    vs::runtime::ExecOptions eo;
    eo.argv = {"hostname"};
    eo.stdin_fd = null.get();
    eo.stdout_fd = out_write.get();
    eo.stderr_fd = out_write.get();
    t0 = std::chrono::steady_clock::now();
    run.exec_rc = vs::runtime::exec(roots, cfg, eo);
    run.exec_ms = ms_since(t0);
    out_write.reset();
    run.hostname = vs::read_fd(out_read.get());

    t0 = std::chrono::steady_clock::now();
    vs::runtime::StopOptions so;
    so.timeout = 10;
    run.stopped = vs::runtime::stop(roots, cfg, so);
    run.stop_ms = ms_since(t0);
  } catch (const std::exception& e) {
    run.error = e.what();
  }
}

TEST(Threads, TwentyGuestsFromEightThreads) {
  REQUIRE_ROOT();
  Env env;
  constexpr int kGuests = 20;
  constexpr int kThreads = 8;
  std::vector<GuestRun> runs(kGuests);
  for (auto& r : runs) {
    r.name = env.busybox_guest();
    ASSERT_FALSE(HasFailure());
  }
  vs::config::Roots roots = roots_of(env);
  vs::runtime::set_launcher(vs::runtime::Launcher::helper, helper_binary());

  std::atomic<int> next{0};
  std::atomic<int> busy{0};
  std::atomic<int> most_busy{0};
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < kGuests; i = next++) {
        int now = ++busy;
        for (int m = most_busy.load(); now > m && !most_busy.compare_exchange_weak(m, now);) {
        }
        run_guest(roots, runs[static_cast<std::size_t>(i)]);
        --busy;
      }
    });
  }
  for (auto& t : threads) t.join();
  double total_ms = ms_since(t0);

  double start_sum = 0;
  double exec_sum = 0;
  double stop_sum = 0;
  for (const auto& r : runs) {
    SCOPED_TRACE(r.name);
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.start_rc, 0);
    EXPECT_EQ(r.exec_rc, 0);
    EXPECT_EQ(r.hostname, r.name + "\n");
    EXPECT_TRUE(r.stopped);
    for (const auto& m : r.messages) ADD_FAILURE() << "message: " << m;
    start_sum += r.start_ms;
    exec_sum += r.exec_ms;
    stop_sum += r.stop_ms;
    it::expect_nothing_left(env, r.name);
  }
  EXPECT_GE(most_busy.load(), 2) << "the guests never ran side by side";
  std::printf(
      "%d guests from %d threads (at most %d at once): %.0f ms in all; mean start %.1f ms, "
      "exec %.1f ms, stop %.1f ms\n",
      kGuests, kThreads, most_busy.load(), total_ms, start_sum / kGuests, exec_sum / kGuests,
      stop_sum / kGuests);
}

// A configuration the tree does not hold is refused, not silently replaced by the tree's.
TEST(Threads, HelperRefusesAConfigurationOtherThanTheTrees) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  vs::config::Roots roots = roots_of(env);
  vs::runtime::set_launcher(vs::runtime::Launcher::helper, helper_binary());
  vs::config::GuestConfig cfg = vs::config::load_guest(roots, g);
  cfg.uts.nodename = "elsewhere";
  try {
    vs::runtime::start(roots, cfg, {});
    ADD_FAILURE() << "started a configuration the tree does not hold";
  } catch (const vs::Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not the one in"), std::string::npos) << e.what();
  }
  it::expect_nothing_left(env, g);
}

// The helper's errors come back typed, with their errno: exec in a stopped guest is NotRunning,
// a second start is AlreadyRunning, a helper binary that does not exist names itself.
TEST(Threads, HelperErrorsKeepTheirKindAndErrno) {
  REQUIRE_ROOT();
  Env env;
  std::string g = env.busybox_guest();
  vs::config::Roots roots = roots_of(env);
  vs::runtime::set_launcher(vs::runtime::Launcher::helper, helper_binary());
  vs::config::GuestConfig cfg = vs::config::load_guest(roots, g);
  vs::runtime::ExecOptions eo;
  eo.argv = {"true"};
  EXPECT_THROW(vs::runtime::exec(roots, cfg, eo), vs::runtime::NotRunning);
  ASSERT_EQ(vs::runtime::start(roots, cfg, {}), 0);
  EXPECT_THROW(vs::runtime::start(roots, cfg, {}), vs::runtime::AlreadyRunning);
  EXPECT_TRUE(vs::runtime::stop(roots, cfg, {}));
  EXPECT_FALSE(vs::runtime::stop(roots, cfg, {}));

  vs::runtime::set_launcher(vs::runtime::Launcher::helper, "/nonexistent/vserver");
  try {
    vs::runtime::start(roots, cfg, {});
    ADD_FAILURE() << "started without a helper binary";
  } catch (const vs::Error& e) {
    EXPECT_EQ(e.code(), ENOENT) << e.what();
    EXPECT_NE(std::string(e.what()).find("/nonexistent/vserver"), std::string::npos) << e.what();
  }
  vs::runtime::set_launcher(vs::runtime::Launcher::helper, helper_binary());
  it::expect_nothing_left(env, g);
}

}  // namespace
