#include "sys/debug.hpp"

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

namespace vs::debug {

namespace {

int g_fd = -1;
timespec g_start{};

}  // namespace

void enable(int fd) {
  ::clock_gettime(CLOCK_MONOTONIC, &g_start);
  g_fd = fd;
}

void set_fd(int fd) {
  g_fd = fd;
}

int fd() {
  return g_fd;
}

bool enabled() {
  return g_fd >= 0;
}

void step(std::string_view who, std::string_view what) {
  if (g_fd < 0) return;
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  double ms = static_cast<double>(now.tv_sec - g_start.tv_sec) * 1e3 +
              static_cast<double>(now.tv_nsec - g_start.tv_nsec) / 1e6;
  char head[64];
  int n = std::snprintf(head, sizeof head, ": debug: +%.3f ms ", ms);
  std::string line = "vserver ";
  line.append(who);
  line.append(head, n > 0 ? static_cast<std::size_t>(n) : 0);
  line.append(what);
  line += '\n';
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t w = ::write(g_fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    left -= static_cast<std::size_t>(w);
  }
}

}  // namespace vs::debug
