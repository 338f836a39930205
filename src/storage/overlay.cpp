#include "storage/overlay.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <string>
#include <thread>

#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/file.hpp"
#include "sys/process.hpp"
#include "sys/report.hpp"

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
  std::exception_ptr failure;
  ReportSink sink = report_sink();
  // A thread of its own: unsharing the mount namespace (with CLONE_FS, the root and working
  // directory it implies) changes the calling thread only, and no fork is needed, which a process
  // with threads could not follow with anything but async-signal-safe calls.
  std::thread worker([&] {
    ScopedReportSink same_sink(sink);
    try {
      if (::unshare(CLONE_FS | CLONE_NEWNS) != 0) {
        throw_errno("unshare", "mount namespace of the " + what);
      }
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        throw_errno("make mounts private in", "the mount namespace of the " + what);
      }
      fn();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  worker.join();
  if (failure) std::rethrow_exception(failure);
}

void run_in_merged_root(const Overlay& o, const fs::path& mountpoint,
                        const std::function<void()>& fn) {
  run_in_private_mounts("helper for the merged root of " + mountpoint.string(), [&] {
    mount_overlay(o, mountpoint, MS_NODEV);
    fn();
  });
}

}  // namespace vs::storage
