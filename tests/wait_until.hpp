// Waiting for an event in tests, instead of sleeping for a time it usually takes: the one helper
// the unit, integration and security tests share. Included by relative path ("../wait_until.hpp"
// from tests/unit/, tests/integration/harness.hpp for the integration and security tests).
#pragma once

#include <algorithm>
#include <chrono>
#include <thread>

namespace testutil {

// Checks pred until it holds or timeout has passed; returns its last value. Checks soon at first
// (1 ms), then less often (up to every 100 ms), so that a quick event is seen at once and a slow
// predicate (one that runs a command) is not run back to back. The timeout only bounds a wait
// for something that does not happen: it is a failure, never the expected way out.
template <typename Pred>
bool wait_until(Pred&& pred, std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    if (pred()) return true;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
}

}  // namespace testutil
