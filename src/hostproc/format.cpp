#include "hostproc/format.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <csignal>
#include <utility>

#include <fmt/format.h>

namespace vs::hostproc {

namespace {

// util-vserver's fillUintZero(buf, v, 2): at least two digits, zero-padded, then cut to two
// characters (so 890 gives "89" and 364 gives "36").
std::string zero2(std::uint64_t v) {
  std::string s = std::to_string(v);
  if (s.size() < 2) s.insert(0, 2 - s.size(), '0');
  s.resize(2);
  return s;
}

// Copies text into line at column pos (the line is long enough by construction).
void put(std::string& line, std::size_t pos, std::string_view text) {
  line.replace(pos, text.size(), text);
}

// Right-aligns text so that it ends just before column end; text wider than the field spills
// to the left, as util-vserver's memcpy(buf+end-l, ...) does, but never before column 0.
void put_right(std::string& line, std::size_t end, std::string_view text) {
  std::size_t pos = text.size() > end ? 0 : end - text.size();
  put(line, pos, text.substr(0, end - pos));
}

bool blank(char c) {
  return c == ' ' || c == '\t';
}

std::string_view rstrip(std::string_view s) {
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

template <typename T>
std::optional<T> parse_unsigned(std::string_view s) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  T v{};
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// The signal names of Linux (signal(7)), without the SIG prefix, including the aliases that
// kill(1) accepts.
constexpr std::array<std::pair<std::string_view, int>, 34> kSignals{{
    {"HUP", SIGHUP},       {"INT", SIGINT},     {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT},   {"IOT", SIGIOT},   {"BUS", SIGBUS},
    {"FPE", SIGFPE},       {"KILL", SIGKILL},   {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE},   {"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},   {"CLD", SIGCHLD},  {"CONT", SIGCONT},
    {"STOP", SIGSTOP},     {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},
    {"URG", SIGURG},       {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF},     {"WINCH", SIGWINCH}, {"IO", SIGIO},     {"POLL", SIGPOLL},
    {"PWR", SIGPWR},       {"SYS", SIGSYS},
}};

}  // namespace

std::string shorten_mem(std::uint64_t bytes) {
  static constexpr std::array<std::string_view, 6> kSuffixes = {" ", "K", "M", "G", "T", "+"};
  std::uint64_t val = bytes;
  std::uint64_t mod = 0;
  std::string_view suffix = "+";
  for (std::string_view s : kSuffixes) {
    if (val < 1000) {
      suffix = s;
      break;
    }
    // The first decimal digit of this step, truncated (not rounded), as util-vserver does.
    mod = 10 * (val & 1023) / 1024;
    val >>= 10;
  }
  if (val > 9999) val = 9999;
  if (val >= 1000) mod = 0;

  std::string out = std::to_string(val);
  if (mod != 0) {
    out += '.';
    out += std::to_string(mod);
  }
  out += suffix;
  return out;
}

std::string shorten_time(std::uint64_t ms) {
  std::uint64_t t = ms;
  const std::uint64_t msec = t % 1000;
  t /= 1000;
  const std::uint64_t ss = t % 60;
  t /= 60;
  const std::uint64_t mm = t % 60;
  t /= 60;
  const std::uint64_t hh = t % 24;
  const std::uint64_t days = t / 24;

  if (days > 999ULL * 999) return "INVALID";
  if (days > 999) return std::to_string(days / 365) + 'y' + zero2(days % 365) + 'd' + zero2(hh);
  if (days > 0) return std::to_string(days) + 'd' + zero2(hh) + 'h' + zero2(mm);
  if (hh > 0) return std::to_string(hh) + 'h' + zero2(mm) + 'm' + zero2(ss);
  return std::to_string(mm) + 'm' + zero2(ss) + 's' + zero2(msec);
}

std::string format_stat_row(const StatRow& row) {
  constexpr std::size_t kNameColumn = 55;
  constexpr std::size_t kNameMax = 20;
  std::string line(kNameColumn + kNameMax, ' ');

  put(line, 0, std::to_string(row.context).substr(0, 10));
  put_right(line, 10, std::to_string(row.processes));
  put_right(line, 17, shorten_mem(row.vsz_bytes));
  put_right(line, 24, shorten_mem(row.rss_bytes));
  put_right(line, 34, shorten_time(row.user_ms));
  put_right(line, 44, shorten_time(row.sys_ms));
  put_right(line, 54, shorten_time(row.uptime_ms));

  std::string_view name = std::string_view(row.name).substr(0, kNameMax);
  put(line, kNameColumn, name);
  line.resize(kNameColumn + name.size());
  return line;
}

std::string context_label(std::optional<long> context, std::string_view name) {
  constexpr std::size_t kContextWidth = 5;
  constexpr std::size_t kFieldWidth = 20;
  std::string number = context ? std::to_string(*context) : "ERR";
  std::string out;
  if (number.size() < kContextWidth) out.assign(kContextWidth - number.size(), ' ');
  out += number;
  out += ' ';
  out += name;
  if (out.size() < kFieldWidth)
    out.resize(kFieldWidth, ' ');
  else
    out += ' ';
  return out;
}

std::string guest_pid_field(std::optional<pid_t> guest_pid) {
  return fmt::format("{:>6} ", guest_pid ? std::to_string(*guest_pid) : std::string("-"));
}

std::vector<std::string> insert_context_column(std::string_view header,
                                               const std::vector<std::string>& rows,
                                               const std::function<std::string(pid_t)>& label,
                                               std::string_view header_field,
                                               const std::function<std::string()>& unknown) {
  std::vector<std::string> out;
  out.reserve(rows.size() + 1);

  // Find the header token "PID" (not PPID, SPID, TGID...).
  std::size_t pid_end = std::string_view::npos;
  for (std::size_t i = 0; i < header.size();) {
    while (i < header.size() && blank(header[i])) ++i;
    std::size_t begin = i;
    while (i < header.size() && !blank(header[i])) ++i;
    if (header.substr(begin, i - begin) == "PID") {
      pid_end = i;
      break;
    }
  }
  if (pid_end == std::string_view::npos) {
    out.emplace_back(header);
    out.insert(out.end(), rows.begin(), rows.end());
    return out;
  }

  // Inserts field at column pos of line (padding a short line), dropping trailing blanks when
  // nothing follows the new column.
  auto splice = [](std::string_view line, std::size_t pos, std::string_view field) {
    std::string s(line.substr(0, pos));
    s.resize(pos, ' ');
    s += field;
    if (line.size() > pos)
      s += line.substr(pos);
    else
      s.resize(rstrip(s).size());
    return s;
  };

  // The new column starts after the PID column and the blank that separates it from the next.
  const std::size_t insert_at = pid_end + 1;
  out.push_back(splice(header, insert_at, header_field));

  for (const std::string& row : rows) {
    if (rstrip(row).empty()) {
      out.push_back(row);
      continue;
    }
    // The pid is right-aligned under "PID": the token covering the header's last column of
    // "PID". When a wider column pushed the row to the right, that token reaches past the
    // column: if it is not a number, it is the wide column and the pid is the next token. A
    // blank there means the row was pushed: the pid is the next token.
    std::string_view r = row;
    const std::size_t probe = pid_end - 1;
    std::optional<pid_t> pid;
    std::size_t at = insert_at;
    auto token_from = [&r](std::size_t i) {
      while (i < r.size() && blank(r[i])) ++i;
      std::size_t end = i;
      while (end < r.size() && !blank(r[end])) ++end;
      return std::pair{i, end};
    };
    if (probe < r.size()) {
      std::size_t begin = probe;
      while (begin > 0 && !blank(r[begin]) && !blank(r[begin - 1])) --begin;
      auto [b, e] = token_from(begin);
      pid = parse_pid(r.substr(b, e - b));
      if (!pid && b <= probe && e > pid_end) {
        auto [b2, e2] = token_from(e);
        if ((pid = parse_pid(r.substr(b2, e2 - b2)))) e = e2;
      }
      if (e > b) at = std::max(at, e + 1);
    }
    std::string field = pid ? label(*pid) : unknown ? unknown() : context_label(std::nullopt, "");
    out.push_back(splice(r, at, field));
  }
  return out;
}

std::vector<std::string> format_columns(const std::vector<std::vector<std::string>>& table,
                                        const std::vector<bool>& right_align) {
  std::vector<std::size_t> width;
  for (const auto& row : table) {
    if (row.size() > width.size()) width.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::vector<std::string> lines;
  lines.reserve(table.size());
  for (const auto& row : table) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i > 0) line += "  ";
      std::size_t pad = width[i] - row[i].size();
      bool right = i < right_align.size() && right_align[i];
      if (right) line.append(pad, ' ');
      line += row[i];
      if (!right) line.append(pad, ' ');
    }
    line.resize(rstrip(line).size());
    lines.push_back(std::move(line));
  }
  return lines;
}

std::optional<int> parse_signal(std::string_view s) {
  if (auto n = parse_unsigned<unsigned>(s)) {
    if (*n > static_cast<unsigned>(SIGRTMAX)) return std::nullopt;
    return static_cast<int>(*n);
  }
  std::string name;
  for (char c : s) name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string_view n = name;
  if (n.starts_with("SIG")) n.remove_prefix(3);
  if (n.empty()) return std::nullopt;

  for (const auto& [signame, number] : kSignals)
    if (n == signame) return number;

  // Real-time signals: RTMIN, RTMIN+N, RTMAX, RTMAX-N, within SIGRTMIN..SIGRTMAX.
  auto offset = [](std::string_view rest, char sign) -> std::optional<int> {
    if (rest.empty()) return 0;
    if (rest.front() != sign) return std::nullopt;
    auto v = parse_unsigned<unsigned>(rest.substr(1));
    if (!v || *v > static_cast<unsigned>(SIGRTMAX - SIGRTMIN)) return std::nullopt;
    return static_cast<int>(*v);
  };
  if (n.starts_with("RTMIN")) {
    if (auto o = offset(n.substr(5), '+')) return SIGRTMIN + *o;
  } else if (n.starts_with("RTMAX")) {
    if (auto o = offset(n.substr(5), '-')) return SIGRTMAX - *o;
  }
  return std::nullopt;
}

std::optional<pid_t> parse_pid(std::string_view s) {
  auto v = parse_unsigned<pid_t>(s);
  if (!v || *v <= 0) return std::nullopt;
  return v;
}

}  // namespace vs::hostproc
