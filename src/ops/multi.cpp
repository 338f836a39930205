// One command in many guests, output prefixed with the guest's name.
#include "ops/multi.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>

#include "config/config.hpp"
#include "state/state.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"
#include "sys/process.hpp"

namespace vs::ops {

std::vector<std::string> running_guests(const config::Roots& roots, const std::string& mark) {
  std::vector<std::string> out;
  for (const auto& st : state::running_guests(roots)) {
    if (!mark.empty()) {
      config::GuestConfig cfg;
      try {
        config::check_guest(roots, st.name, cfg);
      } catch (const Error&) {
        continue;
      }
      if (cfg.init.mark != mark) continue;
    }
    out.push_back(st.name);
  }
  return out;
}

namespace {

// Copies complete lines from buffer to fd with the prefix; keeps the incomplete rest.
void emit_lines(std::string& buffer, const std::string& prefix, int fd, bool flush_rest) {
  std::size_t start = 0;
  for (;;) {
    std::size_t nl = buffer.find('\n', start);
    if (nl == std::string::npos) break;
    std::string line = prefix + buffer.substr(start, nl - start + 1);
    try {
      write_all(fd, line, "output");
    } catch (const Error&) {
      // The reader went away; the command still runs to its end.
    }
    start = nl + 1;
  }
  buffer.erase(0, start);
  if (flush_rest && !buffer.empty()) {
    try {
      write_all(fd, prefix + buffer + "\n", "output");
    } catch (const Error&) {
    }
    buffer.clear();
  }
}

}  // namespace

std::vector<GuestStatus> exec_each(const config::Roots& roots,
                                   const std::vector<std::string>& guests,
                                   const runtime::ExecOptions& opts, int out_fd, int err_fd) {
  std::vector<GuestStatus> results;
  for (const auto& name : guests) {
    GuestStatus r{name, 0, {}};
    config::GuestConfig cfg;
    try {
      cfg = config::load_guest(roots, name);
    } catch (const Error& e) {
      r.status = 1;
      r.error = e.what();
      results.push_back(r);
      continue;
    }
    std::array<int, 2> out{-1, -1};
    std::array<int, 2> err{-1, -1};
    if (::pipe2(out.data(), O_CLOEXEC) != 0) throw_errno("create pipe for", "vserver " + name);
    UniqueFd out_r(out[0]);
    UniqueFd out_w(out[1]);
    if (::pipe2(err.data(), O_CLOEXEC) != 0) throw_errno("create pipe for", "vserver " + name);
    UniqueFd err_r(err[0]);
    UniqueFd err_w(err[1]);
    require_single_threaded("running a command in every guest (ops::exec_each)");
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork", "for vserver " + name);
    if (pid == 0) {
      UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      if (!null || ::dup2(null.get(), 0) < 0 || ::dup2(out_w.get(), 1) < 0 ||
          ::dup2(err_w.get(), 2) < 0) {
        ::_exit(126);
      }
      int rc = 1;
      try {
        rc = runtime::exec(roots, cfg, opts);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
      }
      std::fflush(nullptr);
      ::_exit(rc & 0xff);
    }
    ChildProcess child(pid);  // killed and reaped if reading its output fails
    out_w.reset();
    err_w.reset();
    std::string prefix = name + ": ";
    std::array<std::string, 2> pending;
    std::array<bool, 2> open{true, true};
    std::array<char, 8192> buf{};
    while (open[0] || open[1]) {
      std::array<pollfd, 2> p{
          {{open[0] ? out_r.get() : -1, POLLIN, 0}, {open[1] ? err_r.get() : -1, POLLIN, 0}}};
      if (::poll(p.data(), 2, -1) < 0) {
        if (errno == EINTR) continue;
        throw_errno("wait for output of", "vserver " + name);
      }
      for (std::size_t i = 0; i < 2; ++i) {
        if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        ssize_t n = ::read(p[i].fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          open[i] = false;
          emit_lines(pending[i], prefix, i == 0 ? out_fd : err_fd, true);
          continue;
        }
        pending[i].append(buf.data(), static_cast<std::size_t>(n));
        emit_lines(pending[i], prefix, i == 0 ? out_fd : err_fd, false);
      }
    }
    r.status = child.wait("the command in vserver " + name);
    results.push_back(r);
  }
  return results;
}

}  // namespace vs::ops
