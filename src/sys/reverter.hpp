// Undo steps for a sequence of operations that must all succeed or leave nothing behind: each
// step that creates something adds how to take it away; on an early return or an exception the
// destructor runs the undo steps in reverse order; success() keeps everything.
//
//   Reverter revert;
//   make_link(name);
//   revert.add([&] { remove_link(name); });
//   move_into_namespace(name, pid);
//   revert.success();
#pragma once

#include <functional>
#include <utility>
#include <vector>

namespace vs {

class Reverter {
 public:
  Reverter() = default;
  Reverter(const Reverter&) = delete;
  Reverter& operator=(const Reverter&) = delete;
  Reverter(Reverter&& o) noexcept : steps_(std::exchange(o.steps_, {})) {}
  Reverter& operator=(Reverter&&) = delete;
  ~Reverter() { revert(); }

  // An undo step, run before the ones added earlier. An undo step must not throw: one that does
  // is ignored (the others still run), since it runs while another error is on its way.
  void add(std::function<void()> undo) { steps_.push_back(std::move(undo)); }
  // Everything went well: the undo steps are dropped.
  void success() noexcept { steps_.clear(); }
  // Runs the undo steps now, newest first, and drops them.
  void revert() noexcept {
    while (!steps_.empty()) {
      std::function<void()> step = std::move(steps_.back());
      steps_.pop_back();
      try {
        step();
      } catch (...) {  // NOLINT(bugprone-empty-catch): see add()
      }
    }
  }
  [[nodiscard]] bool empty() const noexcept { return steps_.empty(); }

 private:
  std::vector<std::function<void()>> steps_;
};

}  // namespace vs
