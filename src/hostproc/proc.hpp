// Reading processes from /proc: what vserver-stat, vps and vkill need.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vs::hostproc {

struct ProcessStat {
  pid_t pid = 0;
  std::string comm;
  char state = '?';
  pid_t ppid = 0;
  std::uint64_t utime = 0;  // clock ticks
  std::uint64_t stime = 0;
  std::uint64_t cutime = 0;
  std::uint64_t cstime = 0;
  std::uint64_t starttime = 0;  // clock ticks since boot
  std::uint64_t vsize = 0;      // bytes
  std::uint64_t rss = 0;        // pages
};

// Parses the text of /proc/PID/stat (comm may hold spaces and parentheses); nullopt if malformed.
std::optional<ProcessStat> parse_stat(std::string_view text);
// Reads /proc/PID/stat; nullopt if the process is gone.
std::optional<ProcessStat> read_stat(pid_t pid);
// All pids in /proc, ascending.
std::vector<pid_t> list_pids();
// The pid in the innermost PID namespace of a process (last field of NSpid in /proc/PID/status);
// nullopt if the process is gone.
std::optional<pid_t> innermost_pid(pid_t pid);
// The pids of a process in each PID namespace it belongs to, from the namespace of the /proc
// mount to its own (NSpid in /proc/PID/status; {pid} on kernels without NSpid); nullopt if the
// process is gone. Entry N is the pid in the namespace N levels below /proc's.
std::optional<std::vector<pid_t>> ns_pids(pid_t pid);
// The NSpid list from the text of /proc/PID/status; nullopt if there is no NSpid line or it is
// malformed.
std::optional<std::vector<pid_t>> parse_nspid(std::string_view status_text);
// Seconds since boot from /proc/uptime.
double uptime_seconds();
// sysconf(_SC_CLK_TCK).
long clock_ticks_per_second();

}  // namespace vs::hostproc
