#include "sys/interrupt.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>

#include "sys/error.hpp"

namespace vs {

namespace {

std::atomic<bool> g_interrupt{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");

void on_interrupt_signal(int /*sig*/) {
  g_interrupt.store(true);
}

}  // namespace

void request_interrupt() noexcept {
  g_interrupt.store(true);
}

bool interrupted() noexcept {
  return g_interrupt.load();
}

void clear_interrupt() noexcept {
  g_interrupt.store(false);
}

void check_interrupted() {
  if (interrupted()) throw Error("build interrupted");
}

InterruptScope::InterruptScope(bool install) {
  if (!install) return;
  struct sigaction sa {};
  sa.sa_handler = on_interrupt_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a wait for a child must notice the signal
  for (std::size_t i = 0; i < kInterruptSignals.size(); ++i) {
    if (::sigaction(kInterruptSignals[i], &sa, &old_[i]) != 0) {
      int err = errno;
      for (std::size_t j = 0; j < i; ++j) ::sigaction(kInterruptSignals[j], &old_[j], nullptr);
      throw_errno("install handler for", ::strsignal(kInterruptSignals[i]), err);
    }
  }
  installed_ = true;
}

InterruptScope::~InterruptScope() {
  if (!installed_) return;
  for (std::size_t i = 0; i < kInterruptSignals.size(); ++i) {
    ::sigaction(kInterruptSignals[i], &old_[i], nullptr);
  }
}

}  // namespace vs
