// storage::run_in_private_mounts: the work runs on a thread with a mount namespace of its own,
// also when the caller has other threads (the daemon), and reports to the caller's sink.
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "storage/overlay.hpp"
#include "sys/error.hpp"
#include "sys/report.hpp"
#include "sys/tree.hpp"

namespace {

bool is_tmpfs(const std::string& dir) {
  struct statfs st {};
  return ::statfs(dir.c_str(), &st) == 0 && st.f_type == TMPFS_MAGIC;
}

TEST(PrivateMounts, MountsStayInsideAndMessagesReachTheCallersSink) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  char tmpl[] = "/tmp/vs-private-mounts-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  vs::TempDir dir{std::string(tmpl)};
  const std::string target = tmpl;
  // Other threads in the process, as in the daemon.
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int i = 0; i < 3; ++i) {
    busy.emplace_back([&] {
      while (!stop) std::this_thread::yield();
    });
  }
  std::vector<std::string> messages;
  {
    vs::ScopedReportSink sink([&](vs::Severity, std::string_view m) { messages.emplace_back(m); });
    bool inside = false;
    vs::storage::run_in_private_mounts("test", [&] {
      if (::mount("none", target.c_str(), "tmpfs", 0, "size=1m") != 0) {
        vs::throw_errno("mount tmpfs on", target);
      }
      inside = is_tmpfs(target);
      vs::report_warning("from the private namespace");
    });
    EXPECT_TRUE(inside);
  }
  EXPECT_FALSE(is_tmpfs(target)) << "the mount showed outside";
  EXPECT_EQ(messages, std::vector<std::string>{"from the private namespace"});
  // An error inside comes back as it was thrown, errno included.
  try {
    vs::storage::run_in_private_mounts("test", [] { throw vs::Error("inside", EIO); });
    ADD_FAILURE() << "no exception";
  } catch (const vs::Error& e) {
    EXPECT_STREQ(e.what(), "inside");
    EXPECT_EQ(e.code(), EIO);
  }
  stop = true;
  for (auto& t : busy) t.join();
}

}  // namespace
