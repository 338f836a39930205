#include "storage/overlay.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/file.hpp"
#include "sys/process.hpp"

namespace vs::storage {

namespace {

UniqueFd open_layer(const fs::path& p, const char* what) {
  UniqueFd fd(::open(p.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw_errno(std::string("open ") + what, p.string());
  return fd;
}

std::string fd_path(const UniqueFd& fd) {
  return "/proc/self/fd/" + std::to_string(fd.get());
}

}  // namespace

void mount_overlay(const Overlay& o, const fs::path& target, unsigned long flags) {
  UniqueFd lower = open_layer(o.lower, "base");
  UniqueFd upper = open_layer(o.upper, "upper layer");
  UniqueFd work = open_layer(o.work, "work directory");
  // index=off: the layers may be mounted again at once by the next start, and unify writes the
  // upper layer offline; nothing here needs the inode index.
  std::string data = "lowerdir=" + fd_path(lower) + ",upperdir=" + fd_path(upper) +
                     ",workdir=" + fd_path(work) + ",index=off";
  if (::mount("overlay", target.c_str(), "overlay", flags, data.c_str()) != 0) {
    throw_errno("mount overlay (base " + o.lower.string() + ", upper " + o.upper.string() + ") on",
                target.string());
  }
}

void run_in_private_mounts(const std::string& what, const std::function<void()>& fn) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw_errno("pipe", "for the " + what);
  UniqueFd rd(p[0]);
  UniqueFd wr(p[1]);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", "the " + what);
  if (pid == 0) {
    rd.reset();
    int rc = 0;
    try {
      if (::unshare(CLONE_NEWNS) != 0) throw_errno("unshare", "mount namespace");
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        throw_errno("make mounts private in", "the helper's mount namespace");
      }
      fn();
    } catch (const Error& e) {
      std::string m = std::to_string(e.code()) + " " + e.what();
      (void)::write(wr.get(), m.data(), m.size());
      rc = 1;
    } catch (const std::exception& e) {
      std::string m = std::string("0 ") + e.what();
      (void)::write(wr.get(), m.data(), m.size());
      rc = 1;
    }
    std::fflush(nullptr);
    ::_exit(rc);
  }
  ChildProcess child(pid);
  wr.reset();
  std::string report = read_fd(rd.get());
  int status = child.wait("the " + what);
  if (!report.empty()) {
    std::size_t sp = report.find(' ');
    int code = 0;
    try {
      code = std::stoi(report.substr(0, sp));
    } catch (const std::exception&) {
      code = 0;
    }
    throw Error(sp == std::string::npos ? report : report.substr(sp + 1), code);
  }
  if (status != 0) throw Error("the " + what + " ended with status " + std::to_string(status));
}

void run_in_merged_root(const Overlay& o, const fs::path& mountpoint,
                        const std::function<void()>& fn) {
  run_in_private_mounts("helper for the merged root of " + mountpoint.string(), [&] {
    mount_overlay(o, mountpoint, MS_NODEV);
    fn();
  });
}

}  // namespace vs::storage
