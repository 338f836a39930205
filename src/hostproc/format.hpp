// Text formats of the process tools (vserver-stat, vps, vkill, vserver list): pure functions, no
// I/O, so that every format can be checked against util-vserver's output (util-vserver.md §2.2).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vs::hostproc {

// vserver-stat's memory format (util-vserver's shortenMem), input in bytes: below 1000 the number
// and a trailing space ("999 "); otherwise divided by 1024 per step with a suffix K, M, G, T, +
// and one truncated decimal digit when it is not zero ("0.9K" for 1000, "1.5K", "117.7M", "5G").
std::string shorten_mem(std::uint64_t bytes);

// vserver-stat's time format (util-vserver's shortenTime), input in milliseconds:
//   < 1 hour     MmSSsXX   "11m59s89" (XX: the milliseconds printed with at least two digits and
//                                      cut to two characters, so 890 and 89 ms both give "89")
//   < 1 day      HhMMmSS   "1h54m19"
//   <= 999 days  DdHHhMM   "232d11h34"
//   > 999 days   YyDDdHH   "3y10d05" (DD: day of the year, cut to two characters)
//   > 999*999 days         "INVALID"
std::string shorten_time(std::uint64_t ms);

// One line of vserver-stat.
struct StatRow {
  long context = 0;
  std::uint64_t processes = 0;
  std::uint64_t vsz_bytes = 0;
  std::uint64_t rss_bytes = 0;
  std::uint64_t user_ms = 0;
  std::uint64_t sys_ms = 0;
  std::uint64_t uptime_ms = 0;
  std::string name;
};

inline constexpr std::string_view kStatHeader =
    "CTX   PROC    VSZ    RSS  userTIME   sysTIME    UPTIME NAME";

// The row in util-vserver's columns: context from column 0, process count right-aligned ending
// at column 9, VSZ and RSS right-aligned in 7 columns (10-16, 17-23), the three times
// right-aligned in 10 columns (24-33, 34-43, 44-53), a space, the name from column 55 (at most
// 20 characters). No trailing newline.
std::string format_stat_row(const StatRow& row);

// vps: the 20-column CONTEXT field of one row: the context right-aligned in 5 characters (ERR
// when it is unknown), a space, the name; padded to 20 characters, or followed by one space when
// it is longer.
std::string context_label(std::optional<long> context, std::string_view name);

inline constexpr std::string_view kContextHeader = "CONTEXT             ";  // 20 characters

// vps: the GPID field that follows CONTEXT: a guest process's pid inside its guest (its PID
// namespace), right-aligned in 6 characters and a space; "-" for a host process or when unknown.
std::string guest_pid_field(std::optional<pid_t> guest_pid);
inline constexpr std::string_view kGuestPidHeader = "  GPID ";

// vps: inserts the CONTEXT column into ps output directly after its PID column (after the
// blank that follows it, as util-vserver does). The PID column is the header token "PID" (not
// PPID or TGID); ps right-aligns pids, so each row's pid is the number that ends where the
// header's "PID" ends, or the next token when a wider column pushed the row to the right (the
// field then goes after that pid). label(pid) gives the field for a row (see context_label); a
// row without a readable pid gets context_label(nullopt, ""). Trailing blanks are dropped when
// PID is the last column. Output that has no PID column (ps -o comm, --no-headers) is returned
// unchanged. Returns the header followed by the rows.
// header_field is the header of the inserted field (kContextHeader by default), unknown(), when
// given, the field of a row without a readable pid.
std::vector<std::string> insert_context_column(
    std::string_view header, const std::vector<std::string>& rows,
    const std::function<std::string(pid_t)>& label, std::string_view header_field = kContextHeader,
    const std::function<std::string()>& unknown = nullptr);

// Aligned columns: each cell padded to the widest cell of its column (right-aligned where
// right_align[i] is true), columns separated by two spaces, no trailing spaces.
std::vector<std::string> format_columns(const std::vector<std::vector<std::string>>& table,
                                        const std::vector<bool>& right_align);

// A signal given as a number (0..SIGRTMAX) or a name with or without the SIG prefix, in any
// case: TERM, SIGKILL, hup, RTMIN, RTMIN+3, RTMAX-1. nullopt if it is none of these.
std::optional<int> parse_signal(std::string_view s);

// A process id: a decimal number greater than 0 that fits pid_t; nullopt otherwise.
std::optional<pid_t> parse_pid(std::string_view s);

}  // namespace vs::hostproc
