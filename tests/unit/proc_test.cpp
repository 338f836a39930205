#include "hostproc/proc.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

#include "sys/error.hpp"

namespace vs::hostproc {
namespace {

// A /proc/PID/stat line of a real process (Linux 6.x layout, 52 fields), with COMM replaced.
std::string stat_line(std::string_view pid, std::string_view comm) {
  return std::string(pid) + " (" + std::string(comm) +
         ") S 1 3934 3934 34816 4021 4194304 1254 8731 0 3 17 5 23 11 20 0 1 0 4242 "
         "9043968 1037 18446744073709551615 94283390808064 94283391716077 140730905522352 0 0 "
         "0 65536 3686404 1266761467 1 0 0 17 1 0 0 0 0 0 94283391950064 94283391998612 "
         "94283407036416 140730905529173 140730905529183 140730905529183 140730905530350 0\n";
}

TEST(ParseStat, PlainLine) {
  auto st = parse_stat(stat_line("3950", "bash"));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->pid, 3950);
  EXPECT_EQ(st->comm, "bash");
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 1);
  EXPECT_EQ(st->utime, 17U);
  EXPECT_EQ(st->stime, 5U);
  EXPECT_EQ(st->cutime, 23U);
  EXPECT_EQ(st->cstime, 11U);
  EXPECT_EQ(st->starttime, 4242U);
  EXPECT_EQ(st->vsize, 9043968U);
  EXPECT_EQ(st->rss, 1037U);
}

TEST(ParseStat, CommWithSpacesAndParentheses) {
  auto st = parse_stat(stat_line("12", "a b) (c"));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->comm, "a b) (c");
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 1);
  EXPECT_EQ(st->vsize, 9043968U);

  auto close_paren = parse_stat(stat_line("13", ")"));
  ASSERT_TRUE(close_paren);
  EXPECT_EQ(close_paren->comm, ")");
  auto looks_like_fields = parse_stat(stat_line("14", "x) R 99 1 2 3"));
  ASSERT_TRUE(looks_like_fields);
  EXPECT_EQ(looks_like_fields->comm, "x) R 99 1 2 3");
  EXPECT_EQ(looks_like_fields->ppid, 1);
  auto empty = parse_stat(stat_line("15", ""));
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->comm, "");
  auto newline = parse_stat(stat_line("16", "a\nb"));
  ASSERT_TRUE(newline);
  EXPECT_EQ(newline->comm, "a\nb");
}

TEST(ParseStat, WithoutTrailingNewline) {
  std::string line = stat_line("7", "x");
  line.pop_back();
  ASSERT_TRUE(parse_stat(line));
}

TEST(ParseStat, NegativeChildTimesCountAsZero) {
  std::string line = "5 (x) S 1 5 5 0 -1 0 0 0 0 0 7 8 -3 -4 20 0 1 0 99 100 -1";
  auto st = parse_stat(line);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->cutime, 0U);
  EXPECT_EQ(st->cstime, 0U);
  EXPECT_EQ(st->rss, 0U);
  EXPECT_EQ(st->vsize, 100U);
}

TEST(ParseStat, MalformedLines) {
  const std::string good = stat_line("3950", "bash");
  std::vector<std::string> bad{
      "",
      "3950",
      "3950 (bash",
      "3950 bash) S 1",
      "(bash) S 1 2 3",
      "x (bash) S 1 0 0 0 -1 0 0 0 0 0 7 8 3 4 20 0 1 0 99 100 1",
      "-5 (bash) S 1 0 0 0 -1 0 0 0 0 0 7 8 3 4 20 0 1 0 99 100 1",
      "0 (bash) S 1 0 0 0 -1 0 0 0 0 0 7 8 3 4 20 0 1 0 99 100 1",
      "3950 (bash)S 1 0 0 0 -1 0 0 0 0 0 7 8 3 4 20 0 1 0 99 100 1",
      "3950 (bash) SS 1 0 0 0 -1 0 0 0 0 0 7 8 3 4 20 0 1 0 99 100 1",
      "3950 (bash) S 1 0 0 0 -1 0 0 0 0 0 7 8 3 4 20 0 1 0 99 100",     // no rss
      "3950 (bash) S 1 0 0 0 -1 0 0 0 0 0 x 8 3 4 20 0 1 0 99 100 1",   // utime
      "3950 (bash) S -1 0 0 0 -1 0 0 0 0 0 7 8 3 4 20 0 1 0 99 100 1",  // ppid
      "3950 (bash) S 1 0 0 0 -1 0 0 0 0 0 7 8 3 4 20 0 1 0 -99 100 1",  // starttime
      "3950 (bash) S 1 0 0 0 -1 0 0 0 0 0 7 8 3 4 20 0 1 0 99 1e3 1",   // vsize
      "3950 (bash) S 1 0 0 0 -1 0 0 0 0 0 7 8 3 4 20 0 1 0 99 100 99999999999999999999",
      ") (bash S 1 0 0 0 -1 0 0 0 0 0 7 8 3 4 20 0 1 0 99 100 1",
  };
  ASSERT_TRUE(parse_stat(good));
  for (const std::string& line : bad) EXPECT_EQ(parse_stat(line), std::nullopt) << line;
}

TEST(ReadStat, OwnProcess) {
  auto st = read_stat(::getpid());
  ASSERT_TRUE(st);
  EXPECT_EQ(st->pid, ::getpid());
  EXPECT_EQ(st->ppid, ::getppid());
  EXPECT_EQ(st->state, 'R');
  EXPECT_GT(st->vsize, 0U);
  EXPECT_GT(st->rss, 0U);
  EXPECT_EQ(st->comm, std::string(program_invocation_short_name).substr(0, 15));
}

TEST(ReadStat, GoneProcessIsNullopt) {
  EXPECT_EQ(read_stat(INT_MAX), std::nullopt);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  EXPECT_EQ(read_stat(child), std::nullopt);
}

TEST(ListPids, ContainsSelfAndParentInOrder) {
  std::vector<pid_t> pids = list_pids();
  EXPECT_TRUE(std::is_sorted(pids.begin(), pids.end()));
  EXPECT_TRUE(std::binary_search(pids.begin(), pids.end(), ::getpid()));
  EXPECT_TRUE(std::binary_search(pids.begin(), pids.end(), ::getppid()));
  EXPECT_TRUE(std::all_of(pids.begin(), pids.end(), [](pid_t p) { return p > 0; }));
}

TEST(ParseNspid, Lists) {
  EXPECT_EQ(parse_nspid("Name:\tbash\nNSpid:\t4242\n"), (std::vector<pid_t>{4242}));
  EXPECT_EQ(parse_nspid("Name:\tinit\nNgid:\t0\nPid:\t4242\nNSpid:\t4242\t77\t1\nNSpgid:\t1\n"),
            (std::vector<pid_t>{4242, 77, 1}));
}

TEST(ParseNspid, Malformed) {
  EXPECT_EQ(parse_nspid(""), std::nullopt);
  EXPECT_EQ(parse_nspid("Name:\tbash\nPid:\t4242\n"), std::nullopt);
  EXPECT_EQ(parse_nspid("NSpid:\n"), std::nullopt);
  EXPECT_EQ(parse_nspid("NSpid:\t12a\t1\n"), std::nullopt);
  EXPECT_EQ(parse_nspid("NSpid:\t12\t0\n"), std::nullopt);
  EXPECT_EQ(parse_nspid("Name:\tNSpid:\t5\n"), std::nullopt);  // not at the start of a line
}

TEST(InnermostPid, OwnProcess) {
  EXPECT_EQ(innermost_pid(::getpid()), ::getpid());
  auto pids = ns_pids(::getpid());
  ASSERT_TRUE(pids);
  EXPECT_EQ(pids->back(), ::getpid());
}

TEST(InnermostPid, GoneProcess) {
  EXPECT_EQ(innermost_pid(INT_MAX), std::nullopt);
  EXPECT_EQ(ns_pids(INT_MAX), std::nullopt);
}

TEST(InnermostPid, ChildInNewPidNamespaceIsPidOne) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  // fork(2) into a new PID namespace; the child waits until the pipe is closed.
  long child = ::syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (child < 0) {
    int err = errno;
    ::close(p[0]);
    ::close(p[1]);
    if (err == EPERM || err == EINVAL) GTEST_SKIP() << "no permission to create a PID namespace";
    FAIL() << "clone: " << std::strerror(err);
  }
  if (child == 0) {
    ::close(p[1]);
    char c;
    while (::read(p[0], &c, 1) < 0 && errno == EINTR) {
    }
    ::_exit(::getpid() == 1 ? 0 : 1);
  }
  ::close(p[0]);
  auto pid = static_cast<pid_t>(child);
  std::optional<pid_t> inner = innermost_pid(pid);
  std::optional<std::vector<pid_t>> all = ns_pids(pid);
  std::optional<std::vector<pid_t>> mine = ns_pids(::getpid());
  ::close(p[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  EXPECT_EQ(inner, 1);
  ASSERT_TRUE(all && mine);
  ASSERT_EQ(all->size(), mine->size() + 1);
  EXPECT_EQ(all->front(), pid);
  EXPECT_EQ(all->back(), 1);
}

TEST(Uptime, IsPositiveAndGrows) {
  double a = uptime_seconds();
  EXPECT_GT(a, 0.0);
  EXPECT_GE(uptime_seconds(), a);
}

TEST(ClockTicks, IsPositive) {
  EXPECT_GT(clock_ticks_per_second(), 0);
}

}  // namespace
}  // namespace vs::hostproc
