#include "sys/process.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "sys/error.hpp"

namespace vs {

ChildProcess::~ChildProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

int ChildProcess::wait_status(std::string_view what) {
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) throw_errno("wait for", what);
  }
  pid_ = -1;
  return status;
}

int ChildProcess::wait(std::string_view what) {
  return exit_status(wait_status(what));
}

ChildProcess spawn_program(const std::filesystem::path& path, const std::vector<std::string>& argv,
                           const std::vector<std::string>& env,
                           const std::vector<std::pair<int, int>>& fds, std::string_view what) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  if (int err = ::posix_spawn_file_actions_init(&actions); err != 0) {
    throw_errno("posix_spawn_file_actions_init", what, err);
  }
  struct Actions {
    posix_spawn_file_actions_t* a;
    ~Actions() { ::posix_spawn_file_actions_destroy(a); }
  } destroy{&actions};
  // The dup2 calls run in order, and a target may be another pair's source ("0 → 1, 1 → 0"): every
  // source goes first to a spare number above all sources and targets, then to its target.
  int highest = 2;
  for (const auto& [from, to] : fds) highest = std::max({highest, from, to});
  int spare = highest + 1;
  int err = 0;
  for (std::size_t i = 0; i < fds.size() && err == 0; ++i) {
    err = ::posix_spawn_file_actions_adddup2(&actions, fds[i].first, spare + static_cast<int>(i));
  }
  for (std::size_t i = 0; i < fds.size() && err == 0; ++i) {
    err = ::posix_spawn_file_actions_adddup2(&actions, spare + static_cast<int>(i), fds[i].second);
  }
  int top = 2;
  for (const auto& [from, to] : fds) top = std::max(top, to);
  if (err == 0) err = ::posix_spawn_file_actions_addclosefrom_np(&actions, top + 1);
  if (err != 0) throw_errno("posix_spawn_file_actions", what, err);

  posix_spawnattr_t attr;
  if (int e = ::posix_spawnattr_init(&attr); e != 0) throw_errno("posix_spawnattr_init", what, e);
  struct Attr {
    posix_spawnattr_t* a;
    ~Attr() { ::posix_spawnattr_destroy(a); }
  } destroy_attr{&attr};
  // The child starts with default signal dispositions and an empty mask, whatever this thread's.
  sigset_t all;
  sigset_t none;
  sigfillset(&all);
  sigemptyset(&none);
  ::posix_spawnattr_setsigdefault(&attr, &all);
  ::posix_spawnattr_setsigmask(&attr, &none);
  ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  pid_t pid = -1;
  err = ::posix_spawn(&pid, path.c_str(), &actions, &attr, args.data(), envp.data());
  if (err != 0) throw_errno("run " + path.string() + " for", what, err);
  return ChildProcess(pid);
}

int thread_count() {
  // /proc/self/task has one link per thread besides "." and "..".
  struct stat st {};
  if (::stat("/proc/self/task", &st) != 0 || st.st_nlink < 3) return 1;
  return static_cast<int>(st.st_nlink) - 2;
}

void require_single_threaded(std::string_view what) {
  int n = thread_count();
  if (n > 1) {
    throw Error(std::string(what) + " runs in a child process of this one, which only a " +
                "single-threaded process may fork; this one has " + std::to_string(n) + " threads");
  }
}

int exit_status(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return 1;
}

}  // namespace vs
