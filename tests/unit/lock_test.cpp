// The guest lock: exclusive, and still exclusive when its holder removes its file (delete).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "../wait_until.hpp"
#include "config/roots.hpp"
#include "state/state.hpp"
#include "sys/file.hpp"

namespace {

namespace fs = std::filesystem;

class GuestLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vs-lock-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    roots_.run = dir_;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  vs::config::Roots roots_;
};

// Whether thread tid of this process is blocked in flock(2) (its /proc syscall file names the
// call it sleeps in).
bool in_flock(pid_t tid) {
  if (tid == 0) return false;
  auto text = vs::read_file_if_exists("/proc/self/task/" + std::to_string(tid) + "/syscall");
  return text && text->rfind(fmt::format("{} ", SYS_flock), 0) == 0;
}

// Whether some process waits for a flock on file (a "->" line of /proc/locks with its inode).
bool someone_waits_on(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return false;
  std::string inode = fmt::format(":{} ", st.st_ino);
  std::string locks = vs::read_file("/proc/locks");
  std::size_t pos = 0;
  while ((pos = locks.find("-> FLOCK", pos)) != std::string::npos) {
    std::size_t end = locks.find('\n', pos);
    if (locks.substr(pos, end - pos).find(inode) != std::string::npos) return true;
    pos = end;
  }
  return false;
}

// delete removes the lock's file while it holds the lock. A taker that waited on the old file
// must not then hold the guest together with one that locked the new file.
TEST_F(GuestLockTest, RemovingTheFileWhileHeldKeepsTheLockExclusive) {
  fs::path file = dir_ / ".lock/g";
  auto first = std::make_unique<vs::state::GuestLock>(roots_, "g");
  // The second taker opens the file and waits on it.
  std::atomic<pid_t> second_tid{0};
  std::atomic<bool> second_holds{false};
  std::unique_ptr<vs::state::GuestLock> second;
  std::thread waiter([&] {
    second_tid = ::gettid();
    second = std::make_unique<vs::state::GuestLock>(roots_, "g");
    second_holds = true;
  });
  ASSERT_TRUE(testutil::wait_until([&] { return in_flock(second_tid); }));
  // The holder removes the file (as delete does); a third taker makes a new one and holds it.
  first->remove_file();
  auto third = std::make_unique<vs::state::GuestLock>(roots_, "g");
  // The first lets go: the second wakes on the removed file and must wait for the third.
  first.reset();
  ASSERT_TRUE(testutil::wait_until([&] { return second_holds || someone_waits_on(file); }));
  EXPECT_FALSE(second_holds);
  third.reset();
  waiter.join();
  EXPECT_TRUE(second_holds);
}

}  // namespace
