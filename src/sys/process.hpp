// Owner of a forked child process: killed (SIGKILL) and reaped unless waited for or released.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vs {

class ChildProcess {
 public:
  explicit ChildProcess(pid_t pid) noexcept : pid_(pid) {}
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ChildProcess(ChildProcess&& o) noexcept : pid_(o.release()) {}
  ChildProcess& operator=(ChildProcess&&) = delete;
  ~ChildProcess();

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  // Waits for the child (retrying on EINTR) and returns its raw wait status; throws naming what.
  int wait_status(std::string_view what);
  // As wait_status, as a shell would report it: the exit code, or 128+N when signal N ended it.
  int wait(std::string_view what);
  // Gives up ownership: the child is neither killed nor reaped.
  pid_t release() noexcept { return std::exchange(pid_, -1); }

 private:
  pid_t pid_;
};

// Runs the program at path with argv (argv[0] included) and the environment env (VAR=VALUE
// entries), with posix_spawn: safe from any thread of a multi-threaded process, since nothing
// but async-signal-safe calls runs between the child's creation and its execve. Each pair of fds
// is (descriptor of ours, number the child gets it as); every other descriptor above the highest
// of those numbers is closed in the child, whatever its close-on-exec flag. Throws naming what.
ChildProcess spawn_program(const std::filesystem::path& path, const std::vector<std::string>& argv,
                           const std::vector<std::string>& env,
                           const std::vector<std::pair<int, int>>& fds, std::string_view what);

// The number of threads of this process (1 where /proc is not mounted).
int thread_count();
// For work that forks and runs library code in the child, which only a single-threaded process
// may do (after a fork of a multi-threaded one, only async-signal-safe calls are allowed): throws
// naming what when this process has other threads.
void require_single_threaded(std::string_view what);

// A waitpid status as a shell reports it: the exit code, or 128+N when signal N ended the process.
int exit_status(int wstatus);

}  // namespace vs
