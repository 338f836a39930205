// The RAII toolkit of sys/: undo steps, the per-thread report sink, open_at, and posix_spawn with
// crossed descriptors.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/file.hpp"
#include "sys/process.hpp"
#include "sys/report.hpp"
#include "sys/reverter.hpp"

namespace vs {
namespace {

TEST(Reverter, UndoesNewestFirstUnlessSucceeded) {
  std::vector<int> undone;
  {
    Reverter r;
    r.add([&] { undone.push_back(1); });
    r.add([] { throw std::runtime_error("an undo step that fails"); });
    r.add([&] { undone.push_back(3); });
  }
  EXPECT_EQ(undone, (std::vector<int>{3, 1}));  // the failing step did not stop the others
  undone.clear();
  {
    Reverter r;
    r.add([&] { undone.push_back(1); });
    r.success();
  }
  EXPECT_TRUE(undone.empty());
}

TEST(ReportSink, PerThreadAndRestored) {
  std::vector<std::string> outer;
  std::vector<std::string> inner;
  std::vector<std::string> other;
  ScopedReportSink a([&](Severity, std::string_view t) { outer.emplace_back(t); });
  {
    ScopedReportSink b([&](Severity, std::string_view t) { inner.emplace_back(t); });
    report_warning("one");
    std::thread t([&] {
      ScopedReportSink c([&](Severity, std::string_view m) { other.emplace_back(m); });
      report_info("two");
    });
    t.join();
  }
  report_info("three");
  EXPECT_EQ(inner, std::vector<std::string>{"one"});
  EXPECT_EQ(other, std::vector<std::string>{"two"});
  EXPECT_EQ(outer, std::vector<std::string>{"three"});
}

TEST(OpenAt, NamesTheShownPathAndErrno) {
  UniqueFd dir = open_file("/", O_RDONLY | O_DIRECTORY);
  EXPECT_TRUE(open_at(dir.get(), "proc", O_RDONLY | O_DIRECTORY).valid());
  try {
    open_at(dir.get(), "no-such-file-here", O_RDONLY, 0, "/guest/no-such-file-here");
    ADD_FAILURE() << "opened a file that does not exist";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ENOENT);
    EXPECT_EQ(std::string(e.what()), "open /guest/no-such-file-here: No such file or directory");
  }
}

// Our pipe ends become the child's 1 and 2 (b to 1, a to 2), and nothing else of ours
// above them reaches the child.
TEST(SpawnProgram, MapsDescriptorsAndClosesTheRest) {
  int a[2];
  int b[2];
  ASSERT_EQ(::pipe2(a, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(b, O_CLOEXEC), 0);
  UniqueFd a_read(a[0]), a_write(a[1]), b_read(b[0]), b_write(b[1]);
  int leak = ::open("/dev/null", O_RDONLY);  // no close-on-exec: closefrom must close it
  ASSERT_GE(leak, 0);
  UniqueFd leak_owner(leak);
  std::string script = "echo out; echo err >&2; [ -e /proc/self/fd/" + std::to_string(leak) +
                       " ] && echo leaked >&2; exit 3";
  ChildProcess child = spawn_program("/bin/sh", {"sh", "-c", script}, {"PATH=/usr/bin:/bin"},
                                     {{b_write.get(), 1}, {a_write.get(), 2}}, "test shell");
  a_write.reset();
  b_write.reset();
  EXPECT_EQ(child.wait("test shell"), 3);
  EXPECT_EQ(read_fd(b_read.get()), "out\n");
  EXPECT_EQ(read_fd(a_read.get()), "err\n");
}

TEST(SpawnProgram, MissingProgramNamesItWithErrno) {
  try {
    spawn_program("/nonexistent/prog", {"prog"}, {}, {}, "a test");
    ADD_FAILURE() << "spawned a program that does not exist";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/prog"), std::string::npos) << e.what();
  }
}

// Work that forks and runs library code in the child refuses a process with threads, by name.
TEST(Toolkit, RequireSingleThreadedCountsTheThreads) {
  const int before = thread_count();
  EXPECT_NO_THROW(require_single_threaded("the work")) << before << " threads";
  std::atomic<bool> stop{false};
  std::thread other([&] {
    while (!stop) std::this_thread::yield();
  });
  EXPECT_EQ(thread_count(), before + 1);
  try {
    require_single_threaded("the work");
    ADD_FAILURE() << "not refused";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "the work runs in a child process of this one, which only a single-threaded "
              "process may fork; this one has 2 threads");
  }
  stop = true;
  other.join();
  EXPECT_NO_THROW(require_single_threaded("the work"));
}

}  // namespace
}  // namespace vs
