#include "cgroup/cgroup.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>
#include <cerrno>
#include <charconv>
#include <optional>
#include <set>
#include <system_error>

#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::cgroup {

namespace {

bool is_cgroup2(const fs::path& p) {
  struct statfs sfs {};
  return ::statfs(p.c_str(), &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

std::int64_t now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

Hierarchy Hierarchy::detect() {
  if (is_cgroup2("/sys/fs/cgroup")) return {"/sys/fs/cgroup", Layout::unified};
  if (is_cgroup2("/sys/fs/cgroup/unified")) return {"/sys/fs/cgroup/unified", Layout::hybrid};
  throw Error(
      "find cgroup2 hierarchy: neither /sys/fs/cgroup nor /sys/fs/cgroup/unified is a cgroup2 "
      "mount (mount one with: mount -t cgroup2 none /sys/fs/cgroup/unified)");
}

fs::path guest_cgroup_path(const Hierarchy& h, std::string_view name) {
  return h.root / kGuestParent / name;
}

GuestCgroup GuestCgroup::create(const Hierarchy& h, std::string_view name) {
  fs::path parent = h.root / kGuestParent;
  if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) {
    throw_errno("create cgroup", parent.string());
  }
  GuestCgroup cg(parent / name);
  if (::mkdir(cg.path_.c_str(), 0755) != 0) {
    if (errno != EEXIST) throw_errno("create cgroup", cg.path_.string());
    // A leftover of a guest that died without cleanup is reused only when empty.
    if (!cg.procs().empty()) {
      throw Error("create cgroup " + cg.path_.string() + ": exists and has processes", EEXIST);
    }
  }
  return cg;
}

bool GuestCgroup::exists() const {
  struct stat st {};
  return ::stat(path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void GuestCgroup::attach(pid_t pid) const {
  write_existing(path_ / "cgroup.procs", std::to_string(pid));
}

std::vector<pid_t> GuestCgroup::procs() const {
  std::vector<pid_t> out;
  std::optional<std::string> text;
  try {
    text = read_file_if_exists(path_ / "cgroup.procs");
  } catch (const Error& e) {
    // Removed between open and read (ENODEV): the cgroup is gone, and so are its processes.
    if (e.code() != ENODEV) throw;
  }
  if (!text) return out;
  for (const auto& line : split_lines(*text)) {
    pid_t pid = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
    if (ec == std::errc() && pid > 0) out.push_back(pid);
  }
  // Child cgroups (a guest may create its own with delegation) belong to the guest too.
  std::error_code ec;
  for (fs::directory_iterator it(path_, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory()) {
      auto sub = GuestCgroup(it->path()).procs();
      out.insert(out.end(), sub.begin(), sub.end());
    }
  }
  return out;
}

int GuestCgroup::signal_all(int sig) const {
  int n = 0;
  for (pid_t pid : procs()) {
    if (::kill(pid, sig) == 0) ++n;
  }
  return n;
}

bool GuestCgroup::kill_all(int timeout_ms) const {
  if (!exists()) return true;
  // cgroup.kill (Linux 5.14) kills atomically, including processes forking meanwhile.
  bool have_kill_file = ::access((path_ / "cgroup.kill").c_str(), W_OK) == 0;
  std::int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    if (procs().empty()) return true;
    if (have_kill_file) {
      try {
        write_existing(path_ / "cgroup.kill", "1");
      } catch (const Error&) {
        have_kill_file = false;
      }
    }
    if (!have_kill_file) signal_all(SIGKILL);
    if (now_ms() >= deadline) return procs().empty();
    ::poll(nullptr, 0, 10);
  }
}

void GuestCgroup::destroy() const {
  // Depth first: child cgroups the guest may have made.
  std::error_code ec;
  std::vector<fs::path> children;
  for (fs::directory_iterator it(path_, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory()) children.push_back(it->path());
  }
  for (const auto& c : children) GuestCgroup(c).destroy();
  // rmdir fails with EBUSY while killed tasks are still being released, which on a loaded host
  // can take a while: retry for up to 10 seconds.
  std::int64_t deadline = now_ms() + 10000;
  for (;;) {
    if (::rmdir(path_.c_str()) == 0 || errno == ENOENT) break;
    if (errno != EBUSY || now_ms() >= deadline) throw_errno("remove cgroup", path_.string());
    ::poll(nullptr, 0, 10);
  }
  // The shared parent goes when the last guest is gone; another guest may still use it.
  ::rmdir(path_.parent_path().c_str());
}

std::optional<std::string> guest_of_pid(pid_t pid) {
  auto text = read_file_if_exists("/proc/" + std::to_string(pid) + "/cgroup");
  if (!text) return std::nullopt;
  const std::string marker = "/" + std::string(kGuestParent) + "/";
  for (const auto& line : split_lines(*text)) {
    if (line.rfind("0::", 0) != 0) continue;
    size_t pos = line.find(marker);
    if (pos == std::string::npos) return std::nullopt;
    std::string rest = line.substr(pos + marker.size());
    size_t slash = rest.find('/');
    return slash == std::string::npos ? rest : rest.substr(0, slash);
  }
  return std::nullopt;
}

}  // namespace vs::cgroup
