// --debug: every step of a command, with the time since the command began, as util-vserver's
// vserver --debug printed them. Off unless enabled; writes with write(2) only, so that a forked
// process (the supervisor, the guest's first process before its execve) can report too.
#pragma once

#include <string_view>

namespace vs::debug {

// Turns the steps on, written to fd (the command's standard error), timed from now.
void enable(int fd);
// Where steps go from now on (a forked process that must not keep the caller's descriptor: -1
// turns them off there); the start time stays.
void set_fd(int fd);
// The descriptor steps go to, -1 when off.
int fd();
[[nodiscard]] bool enabled();

// "vserver WHO: debug: +12.345 ms WHAT" when enabled.
void step(std::string_view who, std::string_view what);

}  // namespace vs::debug
