#include "sys/process.hpp"

#include <signal.h>
#include <sys/wait.h>

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

int exit_status(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return 1;
}

}  // namespace vs
