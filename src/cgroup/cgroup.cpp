#include "cgroup/cgroup.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/xattr.h>

#include <fmt/format.h>
#include <linux/magic.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <limits>
#include <optional>
#include <set>
#include <system_error>

#include "sys/error.hpp"
#include "sys/fd.hpp"
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

// Controllers we give every guest a directory in on a hybrid host (those the host mounts).
constexpr std::array<std::string_view, 7> kV1Controllers = {
    "memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "blkio"};
// Controllers enabled for guests on pure v2 (those the host offers).
constexpr std::array<std::string_view, 5> kV2Controllers = {"cpuset", "cpu", "io", "memory",
                                                            "pids"};

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The caller's cgroup path in each v1 hierarchy ("memory" -> "/user.slice") and in v2 ("" -> ...).
std::map<std::string, std::string> own_cgroups() {
  std::map<std::string, std::string> out;
  auto text = read_file_if_exists("/proc/self/cgroup");
  if (!text) return out;
  for (const auto& line : split_lines(*text)) {
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string path = line.substr(b + 1);
    auto ctrls = line.substr(a + 1, b - a - 1);
    if (ctrls.empty()) {
      out[""] = path;
      continue;
    }
    for (auto& c : split(ctrls, ',')) out[c] = path;
  }
  return out;
}

fs::path relative(std::string_view p) {
  while (!p.empty() && p.front() == '/') p.remove_prefix(1);
  return fs::path(p);
}

bool has_delegate_xattr(const fs::path& p) {
  for (const char* attr : {"trusted.delegate", "user.delegate"}) {
    char buf[8];
    if (::getxattr(p.c_str(), attr, buf, sizeof buf) >= 0) return true;
  }
  return false;
}

std::optional<std::uint64_t> to_u64(std::string_view s) {
  s = trim(s);
  if (s == "max") return kMax;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// "key value" lines (memory.events, cpu.stat, memory.stat): the value of key.
std::optional<std::uint64_t> keyed(const std::optional<std::string>& text, std::string_view key) {
  if (!text) return std::nullopt;
  for (const auto& line : split_lines(*text)) {
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
        line[key.size()] == ' ') {
      return to_u64(std::string_view(line).substr(key.size() + 1));
    }
  }
  return std::nullopt;
}

// mkdir -p below an existing root; returns the directories it created, outermost first.
std::vector<fs::path> make_dirs(const fs::path& root, const fs::path& rel) {
  std::vector<fs::path> made;
  fs::path cur = root;
  for (const auto& part : rel) {
    cur /= part;
    if (::mkdir(cur.c_str(), 0755) == 0) {
      made.push_back(cur);
    } else if (errno != EEXIST) {
      int err = errno;
      for (auto it = made.rbegin(); it != made.rend(); ++it) ::rmdir(it->c_str());
      throw_errno("create cgroup", cur.string(), err);
    }
  }
  return made;
}

// A new v1 cpuset cgroup has no CPUs and memory nodes, and no task may join it until it has:
// give it its parent's.
void inherit_cpuset(const fs::path& dir) {
  for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
    auto mine = read_file_if_exists(dir / f);
    if (mine && !trim(*mine).empty()) continue;
    auto parent = read_file(dir.parent_path() / f);
    write_existing(dir / f, std::string(trim(parent)));
  }
}

// Enables the guest controllers in subtree_control of dir (pure v2), those not yet enabled.
void enable_controllers(const fs::path& dir) {
  auto available = split(trim(read_file_if_exists(dir / "cgroup.controllers").value_or("")), ' ');
  auto enabled = split(trim(read_file_if_exists(dir / "cgroup.subtree_control").value_or("")), ' ');
  for (auto c : kV2Controllers) {
    bool avail = std::find(available.begin(), available.end(), c) != available.end();
    bool on = std::find(enabled.begin(), enabled.end(), c) != enabled.end();
    if (!avail || on) continue;
    std::string v = fmt::format("+{}", c);
    UniqueFd fd = open_file(dir / "cgroup.subtree_control", O_WRONLY);
    ssize_t n = ::write(fd.get(), v.data(), v.size());
    int err = errno;
    fd.reset();
    if (n < 0) {
      throw Error(errno_message("enable controller " + v + " in",
                                (dir / "cgroup.subtree_control").string(), err) +
                      (err == EBUSY ? " (the cgroup has processes of its own; choose another "
                                      "cgroup/base)"
                                    : ""),
                  err);
    }
  }
}

// cgroup.events of a v2 directory: whether a process is in the cgroup or below, and a wait for
// that to change. The kernel wakes poll(2) with POLLPRI when the file changes, but notifies each
// file at most once per 10 ms (12 ms with HZ=250) and delivers a change within that interval by a
// timer: a wait also reads the file again after 1, 2, 4, 8 and 16 ms, so that a change right after
// the previous one is seen at once too.
class Events {
 public:
  explicit Events(const fs::path& dir) {
    fd_.reset(::open((dir / "cgroup.events").c_str(), O_RDONLY | O_CLOEXEC));
    // ENODEV: the cgroup is being removed (by the supervisor, at the same time as a stop).
    if (!fd_ && errno != ENOENT && errno != ENOTDIR && errno != ENODEV) {
      throw_errno("open", (dir / "cgroup.events").string());
    }
  }
  // False when the cgroup is gone or going (or, on v1, has no such file).
  [[nodiscard]] bool open() const { return fd_.valid(); }
  // "populated 1"; false too when the cgroup was removed meanwhile.
  [[nodiscard]] bool populated() const {
    std::array<char, 256> buf{};
    ssize_t n;
    do {
      n = ::pread(fd_.get(), buf.data(), buf.size() - 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == ENODEV || errno == ENOENT) return false;
      throw_errno("read", "cgroup.events");
    }
    std::string_view text(buf.data(), static_cast<size_t>(n));
    size_t pos = text.find("populated ");
    return pos != std::string_view::npos && pos + 10 < text.size() && text[pos + 10] == '1';
  }
  // Until the cgroup is empty or deadline_ms (monotonic) has passed; while processes remain,
  // calls tick() after each wake-up, which comes at least every tick_ms. True when empty.
  template <typename Tick>
  bool wait_empty(std::int64_t deadline_ms, int tick_ms, Tick tick) const {
    for (int round = 0;; ++round) {
      if (!populated()) return true;
      std::int64_t left = deadline_ms - now_ms();
      if (left <= 0) return false;
      int step = round < 5 ? std::min(1 << round, tick_ms) : tick_ms;
      pollfd p{fd_.get(), POLLPRI, 0};
      ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left, step)));
      tick();
    }
  }
  bool wait_empty(std::int64_t deadline_ms) const {
    return wait_empty(deadline_ms, std::numeric_limits<int>::max(), [] {});
  }

 private:
  UniqueFd fd_;
};

void remove_dir(const fs::path& dir, std::int64_t deadline);

// Removes the child cgroups of dir (a guest may make its own); false if it has none.
bool remove_children(const fs::path& dir, std::int64_t deadline) {
  std::error_code ec;
  std::vector<fs::path> children;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec)) children.push_back(it->path());
  }
  for (const auto& c : children) remove_dir(c, deadline);
  return !children.empty();
}

void remove_dir(const fs::path& dir, std::int64_t deadline) {
  for (;;) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
    int err = errno;
    // EBUSY: child cgroups, or killed processes that the kernel is still releasing (which on a
    // loaded host can take a while).
    if (err != EBUSY) throw_errno("remove cgroup", dir.string(), err);
    if (remove_children(dir, deadline)) continue;
    if (now_ms() >= deadline) throw_errno("remove cgroup", dir.string(), err);
    Events ev(dir);
    if (ev.open()) {
      ev.wait_empty(deadline);
    } else {
      ::poll(nullptr, 0, 1);  // a v1 directory: no cgroup.events
    }
  }
}

}  // namespace

Hierarchy Hierarchy::detect() {
  if (is_cgroup2("/sys/fs/cgroup")) return {"/sys/fs/cgroup", Layout::unified, {}};
  if (!is_cgroup2("/sys/fs/cgroup/unified")) {
    throw Error(
        "find cgroup2 hierarchy: neither /sys/fs/cgroup nor /sys/fs/cgroup/unified is a cgroup2 "
        "mount (mount one with: mount -t cgroup2 none /sys/fs/cgroup/unified)");
  }
  Hierarchy h{"/sys/fs/cgroup/unified", Layout::hybrid, {}};
  // v1 hierarchies from mountinfo: "... MOUNTPOINT OPTS ... - cgroup SOURCE rw,cpu,cpuacct".
  auto text = read_file("/proc/self/mountinfo");
  for (const auto& line : split_lines(text)) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    auto after = split(std::string_view(line).substr(dash + 3), ' ');
    if (after.size() < 3 || after[0] != "cgroup") continue;
    auto before = split(std::string_view(line).substr(0, dash), ' ');
    if (before.size() < 5) continue;
    std::string mnt = before[4];
    for (const auto& opt : split(after[2], ',')) {
      if (std::find(kV1Controllers.begin(), kV1Controllers.end(), opt) != kV1Controllers.end()) {
        h.v1.emplace(opt, mnt);
      }
    }
  }
  return h;
}

std::vector<std::string> Hierarchy::controllers() const {
  std::vector<std::string> out;
  if (layout == Layout::unified) {
    auto avail = split(trim(read_file_if_exists(root / "cgroup.controllers").value_or("")), ' ');
    for (auto c : kV2Controllers) {
      if (std::find(avail.begin(), avail.end(), c) != avail.end()) out.emplace_back(c);
    }
  } else {
    for (const auto& [c, mnt] : v1) out.push_back(c);
  }
  return out;
}

std::string default_base(const Hierarchy& h) {
  // Inside a cgroup that systemd delegated to us (Delegate=yes), guests go below it; the
  // delegated cgroup itself must be free of processes (no internal processes on v2).
  auto own = own_cgroups();
  auto it = own.find("");
  if (it != own.end() && it->second != "/") {
    fs::path rel = relative(it->second);
    for (fs::path p = rel; !p.empty() && p != "/"; p = p.parent_path()) {
      fs::path abs = h.root / p;
      if (!has_delegate_xattr(abs)) continue;
      auto procs = read_file_if_exists(abs / "cgroup.procs");
      if (procs && trim(*procs).empty()) return (p / kGuestParent).string();
      break;
    }
  }
  return std::string(kGuestParent);
}

fs::path guest_cgroup_path(const Hierarchy& h, std::string_view base, std::string_view name) {
  return h.root / relative(base) / name;
}

namespace {

// Each v1 controller's guest directory, relative to that controller's mount.
std::map<std::string, fs::path> guest_v1_relative(const Hierarchy& h, std::string_view base,
                                                  std::string_view name) {
  std::map<std::string, fs::path> out;
  auto own = own_cgroups();
  fs::path tail = relative(base) / name;
  for (const auto& [ctrl, mnt] : h.v1) {
    auto it = own.find(ctrl);
    fs::path rel = it == own.end() ? fs::path() : relative(it->second);
    out.emplace(ctrl, rel / tail);
  }
  return out;
}

}  // namespace

std::map<std::string, fs::path> guest_v1_paths(const Hierarchy& h, std::string_view base,
                                               std::string_view name) {
  std::map<std::string, fs::path> out;
  for (const auto& [ctrl, rel] : guest_v1_relative(h, base, name)) {
    out.emplace(ctrl, h.v1.at(ctrl) / rel);
  }
  return out;
}

GuestCgroup GuestCgroup::create(const Hierarchy& h, std::string_view base, std::string_view name) {
  fs::path rel_base = relative(base);
  for (const auto& part : rel_base) {
    if (part == ".." || part == ".") throw Error("create cgroup: bad base " + std::string(base));
  }
  std::vector<fs::path> created;  // to remove on failure, innermost last
  auto undo = [&] {
    for (auto it = created.rbegin(); it != created.rend(); ++it) ::rmdir(it->c_str());
  };
  GuestCgroup cg(h.root / rel_base / name);
  try {
    auto made = make_dirs(h.root, rel_base);
    created.insert(created.end(), made.begin(), made.end());
    if (h.layout == Layout::unified) {
      fs::path cur = h.root;
      enable_controllers(cur);
      for (const auto& part : rel_base) {
        cur /= part;
        enable_controllers(cur);
      }
    }
    if (::mkdir(cg.path_.c_str(), 0755) == 0) {
      created.push_back(cg.path_);
    } else {
      if (errno != EEXIST) throw_errno("create cgroup", cg.path_.string());
      // A leftover of a guest that died without cleanup is reused only when empty.
      if (!cg.procs().empty()) {
        throw Error("create cgroup " + cg.path_.string() + ": exists and has processes", EEXIST);
      }
    }
    if (h.layout == Layout::hybrid) {
      std::map<fs::path, bool> done;
      for (const auto& [ctrl, rel] : guest_v1_relative(h, base, name)) {
        const fs::path& mnt = h.v1.at(ctrl);
        fs::path dir = mnt / rel;
        cg.v1_dirs_.emplace(ctrl, dir);
        if (done.count(dir) != 0) continue;
        done[dir] = true;
        auto m = make_dirs(mnt, rel);
        created.insert(created.end(), m.begin(), m.end());
        if (ctrl == "cpuset") {
          // Every level we made, outermost first, needs CPUs and memory nodes.
          for (const auto& d : m) inherit_cpuset(d);
          inherit_cpuset(dir);
        }
      }
    }
  } catch (...) {
    undo();
    throw;
  }
  return cg;
}

std::vector<fs::path> GuestCgroup::all_dirs() const {
  std::vector<fs::path> out{path_};
  for (const auto& [ctrl, dir] : v1_dirs_) {
    if (std::find(out.begin(), out.end(), dir) == out.end()) out.push_back(dir);
  }
  return out;
}

std::optional<fs::path> GuestCgroup::v1_dir(std::string_view controller) const {
  auto it = v1_dirs_.find(std::string(controller));
  if (it == v1_dirs_.end()) return std::nullopt;
  return it->second;
}

bool GuestCgroup::exists() const {
  struct stat st {};
  return ::stat(path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void GuestCgroup::attach(pid_t pid) const {
  // v1 controllers first: the v2 directory is what marks a process as the guest's.
  auto dirs = all_dirs();
  std::rotate(dirs.begin(), dirs.begin() + 1, dirs.end());
  for (const auto& d : dirs) write_existing(d / "cgroup.procs", std::to_string(pid));
}

void GuestCgroup::attach_v1(pid_t pid) const {
  for (const auto& d : all_dirs()) {
    if (d != path_) write_existing(d / "cgroup.procs", std::to_string(pid));
  }
}

bool GuestCgroup::populated() const {
  Events ev(path_);
  return ev.open() && ev.populated();
}

bool GuestCgroup::wait_empty(int timeout_ms) const {
  Events ev(path_);
  return !ev.open() || ev.wait_empty(now_ms() + timeout_ms);
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
  Events ev(path_);
  if (!ev.open() || !ev.populated()) return true;
  std::int64_t deadline = now_ms() + timeout_ms;
  // cgroup.kill (Linux 5.14) kills atomically, including processes forking meanwhile. Repeated
  // while processes remain: one may have joined (exec) since.
  bool have_kill_file = true;
  auto kill = [&] {
    if (have_kill_file) {
      try {
        write_existing(path_ / "cgroup.kill", "1");
        return;
      } catch (const Error&) {
        have_kill_file = false;  // an older kernel, or the cgroup is gone (then procs is empty)
      }
    }
    signal_all(SIGKILL);
  };
  kill();
  // Without cgroup.kill, processes forked after the signals need another round now and then.
  return ev.wait_empty(deadline, have_kill_file ? std::numeric_limits<int>::max() : 10, kill);
}

void GuestCgroup::destroy() const {
  std::int64_t deadline = now_ms() + 10000;
  for (const auto& d : all_dirs()) {
    remove_dir(d, deadline);
    // The shared parent ("vservers") goes with the last guest: on a hybrid host it lies below the
    // caller's own cgroup in some hierarchies, which differs from one caller to the next, and kept
    // parents would pile up. Another guest still in it keeps it (EBUSY).
    ::rmdir(d.parent_path().c_str());
  }
}

void GuestCgroup::write(const CgroupWrite& w) const {
  fs::path dir = path_;
  if (version() == Version::v1) {
    std::string ctrl = w.controller.empty() ? w.file.substr(0, w.file.find('.')) : w.controller;
    auto d = v1_dir(ctrl);
    if (!d) {
      throw Error("set " + w.file + " of cgroup " + path_.string() +
                  ": the host has no cgroup v1 '" + ctrl + "' hierarchy for the guest");
    }
    dir = *d;
  }
  fs::path file = dir / w.file;
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) {
      throw Error("set " + w.file + " to " + w.value + ": " + file.string() +
                      " does not exist (no such cgroup file on this kernel)",
                  ENOENT);
    }
    throw_errno("open", file.string());
  }
  if (::write(fd.get(), w.value.data(), w.value.size()) < 0) {
    throw_errno("set " + w.file + " to " + w.value + " in", dir.string());
  }
}

void GuestCgroup::apply(const CgroupLimits& limits) const {
  for (const auto& w : cgroup_writes(limits, version())) write(w);
}

std::optional<std::string> GuestCgroup::read(std::string_view file) const {
  fs::path dir = path_;
  if (version() == Version::v1) {
    std::string f(file);
    auto d = v1_dir(f.substr(0, f.find('.')));
    if (!d) return std::nullopt;
    dir = *d;
  }
  try {
    return read_file_if_exists(dir / file);
  } catch (const Error& e) {
    // Removed meanwhile, or a file that cannot be read (EOPNOTSUPP): no value.
    return std::nullopt;
  }
}

Usage GuestCgroup::usage() const {
  Usage u;
  auto num = [&](std::string_view f) -> std::optional<std::uint64_t> {
    auto t = read(f);
    return t ? to_u64(*t) : std::nullopt;
  };
  if (version() == Version::v2) {
    u.memory_current = num("memory.current");
    u.memory_peak = num("memory.peak");
    u.memory_max = num("memory.max");
    auto events = read("memory.events");
    u.memory_hits = keyed(events, "max");
    u.oom_kills = keyed(events, "oom_kill");
    if (u.oom_kills && u.memory_hits) u.memory_hits = std::max(*u.memory_hits, *u.oom_kills);
    auto mstat = read("memory.stat");
    u.memory_file = keyed(mstat, "file");
    auto anon = keyed(mstat, "anon");
    auto mapped = keyed(mstat, "file_mapped");
    if (anon && mapped) u.memory_rss = *anon + *mapped;
    u.swap_current = num("memory.swap.current");
    u.swap_max = num("memory.swap.max");
    u.pids_current = num("pids.current");
    u.pids_peak = num("pids.peak");
    u.pids_max = num("pids.max");
    u.pids_hits = keyed(read("pids.events"), "max");
    auto stat = read("cpu.stat");
    u.cpu_usage_us = keyed(stat, "usage_usec");
    u.cpu_user_us = keyed(stat, "user_usec");
    u.cpu_system_us = keyed(stat, "system_usec");
    u.cpu_periods = keyed(stat, "nr_periods");
    u.cpu_throttled = keyed(stat, "nr_throttled");
    u.cpu_throttled_us = keyed(stat, "throttled_usec");
    if (auto t = read("cpu.max")) {
      auto parts = split(trim(*t), ' ');
      if (parts.size() == 2) {
        auto q = to_u64(parts[0]);
        auto p = to_u64(parts[1]);
        if (q && p) u.cpu_max = CpuMax{*q, *p};
      }
    }
    if (auto w = num("cpu.weight")) u.cpu_weight = static_cast<std::uint32_t>(*w);
    if (auto t = read("cpuset.cpus.effective")) u.cpus_effective = std::string(trim(*t));
    if (auto t = read("cpuset.mems.effective")) u.mems_effective = std::string(trim(*t));
    return u;
  }
  // v1: "unlimited" is a huge number, rounded down to the page size.
  auto v1max = [](std::optional<std::uint64_t> v) -> std::optional<std::uint64_t> {
    if (v && *v >= (std::uint64_t{1} << 62)) return kMax;
    return v;
  };
  u.memory_current = num("memory.usage_in_bytes");
  u.memory_peak = num("memory.max_usage_in_bytes");
  u.memory_max = v1max(num("memory.limit_in_bytes"));
  u.oom_kills = keyed(read("memory.oom_control"), "oom_kill");
  // Hitting the limit shows in failcnt of memory or of memory+swap, and always ends in reclaim or
  // an OOM kill: count the largest of them.
  for (const char* f : {"memory.failcnt", "memory.memsw.failcnt"}) {
    if (auto v = num(f)) u.memory_hits = std::max(u.memory_hits.value_or(0), *v);
  }
  if (u.oom_kills && u.memory_hits) u.memory_hits = std::max(*u.memory_hits, *u.oom_kills);
  auto mstat = read("memory.stat");
  u.memory_file = keyed(mstat, "total_cache");
  auto rss = keyed(mstat, "total_rss");
  auto mapped = keyed(mstat, "total_mapped_file");
  if (rss && mapped) u.memory_rss = *rss + *mapped;
  auto memsw = num("memory.memsw.usage_in_bytes");
  if (memsw && u.memory_current) {
    u.swap_current = *memsw > *u.memory_current ? *memsw - *u.memory_current : 0;
  }
  auto memsw_max = v1max(num("memory.memsw.limit_in_bytes"));
  if (memsw_max && u.memory_max) {
    u.swap_max = (*memsw_max == kMax || *u.memory_max == kMax) ? kMax
                 : *memsw_max > *u.memory_max                  ? *memsw_max - *u.memory_max
                                                               : 0;
  }
  u.pids_current = num("pids.current");
  u.pids_peak = num("pids.peak");
  u.pids_max = num("pids.max");
  u.pids_hits = keyed(read("pids.events"), "max");
  if (auto ns = num("cpuacct.usage")) u.cpu_usage_us = *ns / 1000;
  if (auto st = read("cpuacct.stat")) {
    long hz = ::sysconf(_SC_CLK_TCK);
    if (hz <= 0) hz = 100;
    auto us = [&](std::optional<std::uint64_t> ticks) -> std::optional<std::uint64_t> {
      if (!ticks) return std::nullopt;
      return *ticks * 1000000 / static_cast<std::uint64_t>(hz);
    };
    u.cpu_user_us = us(keyed(st, "user"));
    u.cpu_system_us = us(keyed(st, "system"));
  }
  auto stat = read("cpu.stat");
  u.cpu_periods = keyed(stat, "nr_periods");
  u.cpu_throttled = keyed(stat, "nr_throttled");
  if (auto ns = keyed(stat, "throttled_time")) u.cpu_throttled_us = *ns / 1000;
  if (auto t = read("cpu.cfs_quota_us")) {
    auto p = num("cpu.cfs_period_us");
    std::string q(trim(*t));
    if (p) u.cpu_max = CpuMax{q == "-1" ? kMax : to_u64(q).value_or(kMax), *p};
  }
  if (auto sh = num("cpu.shares")) u.cpu_weight = static_cast<std::uint32_t>(*sh * 100 / 1024);
  if (auto t = read("cpuset.effective_cpus")) u.cpus_effective = std::string(trim(*t));
  if (auto t = read("cpuset.effective_mems")) u.mems_effective = std::string(trim(*t));
  return u;
}

std::optional<std::string> guest_of_pid(pid_t pid) {
  std::optional<std::string> text;
  try {
    text = read_file_if_exists("/proc/" + std::to_string(pid) + "/cgroup");
  } catch (const Error& e) {
    // The process ended between the open and the read: it belongs to no guest any more.
    if (e.code() == ESRCH) return std::nullopt;
    throw;
  }
  if (!text) return std::nullopt;
  const std::string marker = fmt::format("/{}/", kGuestParent);
  // Guests are BASE/NAME with BASE ending in "vservers" (the default, or below a delegated
  // cgroup); the last such component names the guest.
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
