#include "hostproc/proc.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <memory>

#include "hostproc/format.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::hostproc {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n';
}

std::vector<std::string_view> split_fields(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    std::size_t begin = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > begin) out.push_back(s.substr(begin, i - begin));
  }
  return out;
}

template <typename T>
std::optional<T> to_number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  T v{};
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// cutime and cstime are printed as signed longs; a negative value counts as none.
std::optional<std::uint64_t> to_ticks(std::string_view s) {
  auto v = to_number<long long>(s);
  if (!v) return std::nullopt;
  return static_cast<std::uint64_t>(std::max(*v, 0LL));
}

std::string proc_path(pid_t pid, std::string_view file) {
  return "/proc/" + std::to_string(pid) + "/" + std::string(file);
}

// The content of /proc/PID/FILE, or nullopt when the process is gone (the directory vanished,
// or the task exited while it was being read).
std::optional<std::string> read_proc_file(pid_t pid, std::string_view file) {
  try {
    return read_file_if_exists(proc_path(pid, file));
  } catch (const Error& e) {
    if (e.code() == ESRCH || e.code() == ENOENT) return std::nullopt;
    throw;
  }
}

}  // namespace

std::optional<ProcessStat> parse_stat(std::string_view text) {
  // "PID (COMM) S PPID ...": COMM is whatever the task named itself, spaces and parentheses
  // included, so it ends at the last ')'.
  std::size_t open = text.find(" (");
  std::size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open + 2)
    return std::nullopt;

  ProcessStat st;
  auto pid = parse_pid(text.substr(0, open));
  if (!pid) return std::nullopt;
  st.pid = *pid;
  st.comm = std::string(text.substr(open + 2, close - open - 2));

  std::string_view rest = text.substr(close + 1);
  if (rest.empty() || rest.front() != ' ') return std::nullopt;
  // Fields after COMM, counted from 0: state(3) ppid(4) ... utime(14) stime cutime cstime(17)
  // ... starttime(22) vsize rss(24), in proc(5) numbering.
  std::vector<std::string_view> f = split_fields(rest);
  if (f.size() < 22 || f[0].size() != 1) return std::nullopt;
  st.state = f[0][0];

  auto ppid = to_number<pid_t>(f[1]);
  auto utime = to_number<std::uint64_t>(f[11]);
  auto stime = to_number<std::uint64_t>(f[12]);
  auto cutime = to_ticks(f[13]);
  auto cstime = to_ticks(f[14]);
  auto starttime = to_number<std::uint64_t>(f[19]);
  auto vsize = to_number<std::uint64_t>(f[20]);
  auto rss = to_number<long long>(f[21]);
  if (!ppid || *ppid < 0 || !utime || !stime || !cutime || !cstime || !starttime || !vsize || !rss)
    return std::nullopt;
  st.ppid = *ppid;
  st.utime = *utime;
  st.stime = *stime;
  st.cutime = *cutime;
  st.cstime = *cstime;
  st.starttime = *starttime;
  st.vsize = *vsize;
  st.rss = static_cast<std::uint64_t>(std::max(*rss, 0LL));
  return st;
}

std::optional<ProcessStat> read_stat(pid_t pid) {
  std::optional<std::string> text = read_proc_file(pid, "stat");
  if (!text) return std::nullopt;
  std::optional<ProcessStat> st = parse_stat(*text);
  if (!st) throw Error("parse " + proc_path(pid, "stat") + ": unexpected format");
  return st;
}

std::vector<pid_t> list_pids() {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir("/proc"), ::closedir);
  if (!dir) throw_errno("open", "/proc");
  std::vector<pid_t> pids;
  for (;;) {
    errno = 0;
    const dirent* ent = ::readdir(dir.get());
    if (ent == nullptr) {
      if (errno != 0) throw_errno("read directory", "/proc");
      break;
    }
    if (auto pid = parse_pid(ent->d_name)) pids.push_back(*pid);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

std::optional<std::vector<pid_t>> parse_nspid(std::string_view status_text) {
  constexpr std::string_view kKey = "NSpid:";
  std::size_t pos = 0;
  while (pos < status_text.size()) {
    std::size_t eol = status_text.find('\n', pos);
    if (eol == std::string_view::npos) eol = status_text.size();
    std::string_view line = status_text.substr(pos, eol - pos);
    if (line.starts_with(kKey)) {
      std::vector<pid_t> pids;
      for (std::string_view field : split_fields(line.substr(kKey.size()))) {
        auto pid = parse_pid(field);
        if (!pid) return std::nullopt;
        pids.push_back(*pid);
      }
      if (pids.empty()) return std::nullopt;
      return pids;
    }
    pos = eol + 1;
  }
  return std::nullopt;
}

std::optional<std::vector<pid_t>> ns_pids(pid_t pid) {
  std::optional<std::string> text = read_proc_file(pid, "status");
  if (!text) return std::nullopt;
  if (auto pids = parse_nspid(*text)) return pids;
  // Kernels before 4.1 have no NSpid line: no pid namespaces to look through.
  if (text->find("\nNSpid:") == std::string::npos) return std::vector<pid_t>{pid};
  throw Error("parse " + proc_path(pid, "status") + ": malformed NSpid line");
}

std::optional<pid_t> innermost_pid(pid_t pid) {
  std::optional<std::vector<pid_t>> pids = ns_pids(pid);
  if (!pids) return std::nullopt;
  return pids->back();
}

double uptime_seconds() {
  std::string text = read_file("/proc/uptime");
  std::vector<std::string_view> f = split_fields(text);
  std::optional<double> up;
  if (!f.empty()) up = to_number<double>(f[0]);
  if (!up || *up < 0) throw Error("parse /proc/uptime: unexpected content \"" + text + "\"");
  return *up;
}

long clock_ticks_per_second() {
  long hz = ::sysconf(_SC_CLK_TCK);
  if (hz <= 0) throw_errno("sysconf", "_SC_CLK_TCK");
  return hz;
}

}  // namespace vs::hostproc
