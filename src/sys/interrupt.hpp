// Stopping a long operation (a build, a copy, a unification) cleanly at the next safe point: a
// process-wide flag that signal handlers or request_interrupt() set and the operation checks.
#pragma once

#include <signal.h>

#include <array>

namespace vs {

// The signals InterruptScope catches.
inline constexpr std::array<int, 3> kInterruptSignals = {SIGINT, SIGTERM, SIGHUP};

// Asks the running operation to stop at its next check, as SIGINT does.
void request_interrupt() noexcept;
bool interrupted() noexcept;
void clear_interrupt() noexcept;
// Throws Error("build interrupted") when a signal or request_interrupt() asked to stop.
void check_interrupted();

// Installs SIGINT/SIGTERM/SIGHUP handlers that only set the interrupt flag (no SA_RESTART, so a
// blocking wait returns EINTR); restores the previous handlers on destruction.
class InterruptScope {
 public:
  explicit InterruptScope(bool install);
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
  ~InterruptScope();

 private:
  bool installed_ = false;
  std::array<struct sigaction, 3> old_{};
};

}  // namespace vs
