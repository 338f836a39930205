#include "hostproc/format.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace vs::hostproc {
namespace {

constexpr std::uint64_t kSec = 1000;
constexpr std::uint64_t kMin = 60 * kSec;
constexpr std::uint64_t kHour = 60 * kMin;
constexpr std::uint64_t kDay = 24 * kHour;
constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::uint64_t GiB = 1024 * MiB;
constexpr std::uint64_t TiB = 1024 * GiB;

// ---- shorten_mem (util-vserver.md §2.2, "Memory formatting") ----

TEST(ShortenMem, BelowThousandHasTrailingSpace) {
  EXPECT_EQ(shorten_mem(0), "0 ");
  EXPECT_EQ(shorten_mem(1), "1 ");
  EXPECT_EQ(shorten_mem(999), "999 ");
}

TEST(ShortenMem, ThousandBytesIsPointNineK) {
  EXPECT_EQ(shorten_mem(1000), "0.9K");
  EXPECT_EQ(shorten_mem(1023), "0.9K");
}

TEST(ShortenMem, WholeUnitsHaveNoDecimal) {
  EXPECT_EQ(shorten_mem(1024), "1K");
  EXPECT_EQ(shorten_mem(5 * GiB), "5G");
  EXPECT_EQ(shorten_mem(2 * TiB), "2T");
}

TEST(ShortenMem, ReferenceExamples) {
  EXPECT_EQ(shorten_mem(1536), "1.5K");
  EXPECT_EQ(shorten_mem(117 * MiB + 717 * KiB), "117.7M");
  EXPECT_EQ(shorten_mem(1 * GiB + 200 * MiB), "1.1G");
  EXPECT_EQ(shorten_mem(234 * MiB + 350 * KiB), "234.3M");
  EXPECT_EQ(shorten_mem(941 * MiB + 1000 * KiB), "941.9M");
  EXPECT_EQ(shorten_mem(117 * MiB + 110 * KiB), "117.1M");
}

TEST(ShortenMem, DecimalIsTruncatedNotRounded) {
  // 1.99K stays 1.9K; 1.0xK (below a tenth) shows no decimal at all.
  EXPECT_EQ(shorten_mem(1024 + 1023), "1.9K");
  EXPECT_EQ(shorten_mem(1024 + 100), "1K");
  EXPECT_EQ(shorten_mem(1024 + 103), "1.1K");
}

TEST(ShortenMem, StepBoundaries) {
  EXPECT_EQ(shorten_mem(999 * KiB + 1000), "999.9K");
  EXPECT_EQ(shorten_mem(1000 * KiB), "0.9M");
  EXPECT_EQ(shorten_mem(999 * TiB), "999T");
  EXPECT_EQ(shorten_mem(1000 * TiB), "0.9+");
  EXPECT_EQ(shorten_mem(std::numeric_limits<std::uint64_t>::max()), "15.9+");
}

// ---- shorten_time (util-vserver.md §2.2, "Time formatting") ----

TEST(ShortenTime, MinutesForm) {
  EXPECT_EQ(shorten_time(0), "0m00s00");
  EXPECT_EQ(shorten_time(11 * kMin + 59 * kSec + 890), "11m59s89");
  EXPECT_EQ(shorten_time(59 * kMin + 59 * kSec + 999), "59m59s99");
  EXPECT_EQ(shorten_time(1 * kSec), "0m01s00");
}

TEST(ShortenTime, MillisecondsArePrintedWithTwoDigitsThenCut) {
  // The quirk: 890 ms and 89 ms both print 89, 5 ms prints 05, 100 ms prints 10.
  EXPECT_EQ(shorten_time(890), "0m00s89");
  EXPECT_EQ(shorten_time(89), "0m00s89");
  EXPECT_EQ(shorten_time(5), "0m00s05");
  EXPECT_EQ(shorten_time(100), "0m00s10");
  EXPECT_EQ(shorten_time(10), "0m00s10");
}

TEST(ShortenTime, HoursForm) {
  EXPECT_EQ(shorten_time(1 * kHour), "1h00m00");
  EXPECT_EQ(shorten_time(1 * kHour + 54 * kMin + 19 * kSec + 999), "1h54m19");
  EXPECT_EQ(shorten_time(5 * kHour + 1 * kMin), "5h01m00");
  EXPECT_EQ(shorten_time(23 * kHour + 59 * kMin + 59 * kSec + 999), "23h59m59");
}

TEST(ShortenTime, DaysForm) {
  EXPECT_EQ(shorten_time(1 * kDay), "1d00h00");
  EXPECT_EQ(shorten_time(2 * kDay + 3 * kHour + 59 * kSec), "2d03h00");
  EXPECT_EQ(shorten_time(3 * kDay), "3d00h00");
  EXPECT_EQ(shorten_time(232 * kDay + 11 * kHour + 34 * kMin + 59 * kSec), "232d11h34");
  EXPECT_EQ(shorten_time(999 * kDay + 23 * kHour + 59 * kMin), "999d23h59");
}

TEST(ShortenTime, YearFormAfter999Days) {
  EXPECT_EQ(shorten_time(1000 * kDay), "2y27d00");  // day 270 of the year, cut to "27"
  EXPECT_EQ(shorten_time(1200 * kDay + 5 * kHour), "3y10d05");
  EXPECT_EQ(shorten_time((3 * 365 + 2) * kDay + 7 * kHour), "3y02d07");
  EXPECT_EQ(shorten_time(999ULL * 999 * kDay), "2734y91d00");
}

TEST(ShortenTime, InvalidBeyond999Times999Days) {
  EXPECT_EQ(shorten_time((999ULL * 999 + 1) * kDay), "INVALID");
  EXPECT_EQ(shorten_time(std::numeric_limits<std::uint64_t>::max()), "INVALID");
}

// ---- vserver-stat rows ----

TEST(StatRow, HeaderIsUtilVservers) {
  EXPECT_EQ(kStatHeader, "CTX   PROC    VSZ    RSS  userTIME   sysTIME    UPTIME NAME");
}

StatRow host_sample() {
  StatRow r;
  r.context = 0;
  r.processes = 85;
  r.vsz_bytes = 1 * GiB + 200 * MiB;
  r.rss_bytes = 234 * MiB + 350 * KiB;
  r.user_ms = 2 * kDay + 3 * kHour + 12 * kSec;
  r.sys_ms = 5 * kHour + 1 * kMin + 500;
  r.uptime_ms = 232 * kDay + 11 * kHour + 34 * kMin + 7 * kSec;
  r.name = "root server";
  return r;
}

StatRow guest_sample() {
  StatRow r;
  r.context = 40012;
  r.processes = 17;
  r.vsz_bytes = 941 * MiB + 1000 * KiB;
  r.rss_bytes = 117 * MiB + 110 * KiB;
  r.user_ms = 1 * kHour + 54 * kMin + 19 * kSec;
  r.sys_ms = 11 * kMin + 59 * kSec + 890;
  r.uptime_ms = 3 * kDay + 30 * kSec;
  r.name = "web01";
  return r;
}

TEST(StatRow, ReferenceSampleTable) {
  EXPECT_EQ(format_stat_row(host_sample()),
            "0       85   1.1G 234.3M   2d03h00   5h01m00 232d11h34 root server");
  EXPECT_EQ(format_stat_row(guest_sample()),
            "40012   17 941.9M 117.1M   1h54m19  11m59s89   3d00h00 web01");
}

TEST(StatRow, ColumnsLineUpWithTheHeader) {
  std::string row = format_stat_row(guest_sample());
  std::string_view header = kStatHeader;
  // Each right-aligned field ends where its header title ends.
  for (std::string_view title : {"PROC", "VSZ", "RSS", "userTIME", "sysTIME", "UPTIME"}) {
    std::size_t end = header.find(title) + title.size();
    ASSERT_LT(end, row.size());
    EXPECT_NE(row[end - 1], ' ') << title;
    EXPECT_EQ(row[end], ' ') << title;
  }
  EXPECT_EQ(row.substr(header.find("NAME")), "web01");
}

// Below 1000 bytes the memory value keeps its trailing space (the empty unit), as in
// util-vserver.
TEST(StatRow, SmallValuesAreRightAligned) {
  StatRow r;
  r.context = 2;
  r.processes = 1;
  r.vsz_bytes = 999;
  r.rss_bytes = 0;
  r.name = "a";
  EXPECT_EQ(format_stat_row(r), "2        1   999      0    0m00s00   0m00s00   0m00s00 a");
}

TEST(StatRow, NameIsCutToTwentyCharacters) {
  StatRow r = guest_sample();
  r.name = "abcdefghijklmnopqrstuvwxyz";
  std::string row = format_stat_row(r);
  EXPECT_EQ(row.substr(55), "abcdefghijklmnopqrst");
  EXPECT_EQ(row.size(), 75U);
}

TEST(StatRow, EmptyNameEndsAtNameColumn) {
  StatRow r = guest_sample();
  r.name.clear();
  EXPECT_EQ(format_stat_row(r).size(), 55U);
}

TEST(StatRow, InvalidUptimeStaysInItsField) {
  StatRow r = guest_sample();
  r.uptime_ms = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(format_stat_row(r).substr(44, 11), "   INVALID ");
}

// ---- vps ----

TEST(ContextLabel, HostGuestAndError) {
  EXPECT_EQ(context_label(0, "MAIN"), "    0 MAIN          ");
  EXPECT_EQ(context_label(40012, "web01"), "40012 web01         ");
  EXPECT_EQ(context_label(std::nullopt, ""), "  ERR               ");
  EXPECT_EQ(kContextHeader.size(), 20U);
  EXPECT_EQ(context_label(0, "MAIN").size(), 20U);
}

TEST(ContextLabel, LongNamesKeepOneBlankBeforeTheNextColumn) {
  EXPECT_EQ(context_label(40001, "abcdefghijklm"), "40001 abcdefghijklm ");  // 20
  EXPECT_EQ(context_label(40001, "abcdefghijklmn"), "40001 abcdefghijklmn ");
  EXPECT_EQ(context_label(123456, "x"), "123456 x            ");
}

// A labeller that records the pids it was asked about.
struct Labels {
  std::map<pid_t, std::string> table;
  std::vector<pid_t> asked;
  std::function<std::string(pid_t)> fn() {
    return [this](pid_t pid) {
      asked.push_back(pid);
      auto it = table.find(pid);
      return it == table.end() ? context_label(std::nullopt, "") : it->second;
    };
  }
};

Labels sample_labels() {
  Labels l;
  l.table[1] = context_label(0, "MAIN");
  l.table[2] = context_label(0, "MAIN");
  l.table[4242] = context_label(40012, "web01");
  return l;
}

TEST(InsertContext, DefaultPsOutput) {
  Labels l = sample_labels();
  auto out = insert_context_column(
      "  PID TTY          TIME CMD",
      {"    1 ?        00:00:01 process_api", " 4242 pts/0    00:00:00 bash"}, l.fn());
  std::vector<std::string> want{
      "  PID CONTEXT             TTY          TIME CMD",
      "    1     0 MAIN          ?        00:00:01 process_api",
      " 4242 40012 web01         pts/0    00:00:00 bash",
  };
  EXPECT_EQ(out, want);
  EXPECT_EQ(l.asked, (std::vector<pid_t>{1, 4242}));
}

TEST(InsertContext, PsAuxPidAfterUser) {
  Labels l = sample_labels();
  auto out = insert_context_column(
      "USER       PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND",
      {"root         1  0.4  0.0  42004 12520 ?        SLl  06:32   0:01 /process_api",
       "root         2  0.0  0.0      0     0 ?        S    06:32   0:00 [kthreadd]"},
      l.fn());
  std::vector<std::string> want{
      "USER       PID CONTEXT             %CPU %MEM    VSZ   RSS TTY      STAT START   TIME "
      "COMMAND",
      "root         1     0 MAIN           0.4  0.0  42004 12520 ?        SLl  06:32   0:01 "
      "/process_api",
      "root         2     0 MAIN           0.0  0.0      0     0 ?        S    06:32   0:00 "
      "[kthreadd]",
  };
  EXPECT_EQ(out, want);
}

TEST(InsertContext, PpidBeforePidIsNotMistakenForIt) {
  Labels l = sample_labels();
  auto out = insert_context_column(" PPID   PID COMMAND", {"    2  4242 bash"}, l.fn());
  std::vector<std::string> want{
      " PPID   PID CONTEXT             COMMAND",
      "    2  4242 40012 web01         bash",
  };
  EXPECT_EQ(out, want);
  EXPECT_EQ(l.asked, (std::vector<pid_t>{4242}));
}

TEST(InsertContext, PsEfAndPsJ) {
  Labels l = sample_labels();
  auto ef = insert_context_column("UID        PID  PPID  C STIME TTY          TIME CMD",
                                  {"root      4242     1  0 06:32 ?        00:00:01 init"}, l.fn());
  EXPECT_EQ(ef[1], "root      4242 40012 web01             1  0 06:32 ?        00:00:01 init");
  auto j = insert_context_column(
      " PPID   PID  PGID   SID TTY      TPGID STAT   UID   TIME COMMAND",
      {"    0     1     0     0 ?           -1 SLl      0   0:02 /process_api"}, l.fn());
  EXPECT_EQ(j[0],
            " PPID   PID CONTEXT              PGID   SID TTY      TPGID STAT   UID   TIME "
            "COMMAND");
  EXPECT_EQ(j[1],
            "    0     1     0 MAIN              0     0 ?           -1 SLl      0   0:02 "
            "/process_api");
}

TEST(InsertContext, PidAsLastColumnLeavesNoTrailingBlanks) {
  Labels l = sample_labels();
  auto out = insert_context_column("COMMAND           PID",
                                   {"process_api         1", "bash             4242"}, l.fn());
  std::vector<std::string> want{
      "COMMAND           PID CONTEXT",
      "process_api         1     0 MAIN",
      "bash             4242 40012 web01",
  };
  EXPECT_EQ(out, want);
}

TEST(InsertContext, SevenDigitPids) {
  Labels l;
  l.table[1234567] = context_label(40001, "db");
  auto out = insert_context_column("    PID TTY          TIME CMD",
                                   {"1234567 pts/0    00:00:00 postgres"}, l.fn());
  EXPECT_EQ(out[1], "1234567 40001 db            pts/0    00:00:00 postgres");
}

TEST(InsertContext, PidPushedRightByAWideColumn) {
  Labels l = sample_labels();
  // A user name wider than its column shifts the pid to the right.
  auto out =
      insert_context_column("USER       PID COMMAND", {"averyverylonguser 4242 bash"}, l.fn());
  EXPECT_EQ(l.asked, (std::vector<pid_t>{4242}));
  EXPECT_EQ(out[1], "averyverylonguser 4242 40012 web01         bash");
}

TEST(InsertContext, PidWiderThanItsColumn) {
  Labels l;
  l.table[123456] = context_label(40012, "web01");
  auto out = insert_context_column("  PID TTY          TIME CMD", {"123456 pts/0    00:00:00 bash"},
                                   l.fn());
  EXPECT_EQ(l.asked, (std::vector<pid_t>{123456}));
  EXPECT_EQ(out[1], "123456 40012 web01         pts/0    00:00:00 bash");
}

TEST(InsertContext, UnreadablePidGetsErr) {
  Labels l = sample_labels();
  auto out = insert_context_column("  PID TTY          TIME CMD",
                                   {"  abc ?        00:00:00 x", "short"}, l.fn());
  EXPECT_EQ(out[1], "  abc   ERR               ?        00:00:00 x");
  EXPECT_EQ(out[2], "short   ERR");
  EXPECT_TRUE(l.asked.empty());
}

TEST(InsertContext, UnknownPidGetsWhatTheLabellerSays) {
  Labels l = sample_labels();
  auto out = insert_context_column("  PID CMD", {"  999 ps"}, l.fn());
  EXPECT_EQ(out[1], "  999   ERR               ps");
}

TEST(InsertContext, NoPidColumnLeavesOutputUnchanged) {
  Labels l = sample_labels();
  std::vector<std::string> rows{"process_api", "kthreadd"};
  auto out = insert_context_column("COMMAND", rows, l.fn());
  EXPECT_EQ(out, (std::vector<std::string>{"COMMAND", "process_api", "kthreadd"}));
  // --no-headers: the first line is a row, which has no PID token.
  auto bare = insert_context_column("    1 ?        00:00:01 process_api", {}, l.fn());
  EXPECT_EQ(bare, (std::vector<std::string>{"    1 ?        00:00:01 process_api"}));
  // Only the exact token counts.
  auto tgid = insert_context_column(" TGID PPID CMD", {"    1    0 x"}, l.fn());
  EXPECT_EQ(tgid[1], "    1    0 x");
  EXPECT_TRUE(l.asked.empty());
}

TEST(InsertContext, HeaderOnlyAndBlankRows) {
  Labels l = sample_labels();
  auto out = insert_context_column("  PID TTY          TIME CMD", {""}, l.fn());
  EXPECT_EQ(out, (std::vector<std::string>{"  PID CONTEXT             TTY          TIME CMD", ""}));
}

// ---- columns ----

TEST(FormatColumns, AlignsAndTrims) {
  auto lines = format_columns(
      {{"NAME", "CONTEXT", "VDIR"}, {"web01", "40012", "/var/lib/vservers/web01"}, {"a", "-", ""}},
      {false, true, false});
  std::vector<std::string> want{
      "NAME   CONTEXT  VDIR",
      "web01    40012  /var/lib/vservers/web01",
      "a            -",
  };
  EXPECT_EQ(lines, want);
}

TEST(FormatColumns, RaggedRowsAndEmptyTable) {
  EXPECT_TRUE(format_columns({}, {}).empty());
  auto lines = format_columns({{"x", "yy"}, {"long"}}, {});
  EXPECT_EQ(lines, (std::vector<std::string>{"x     yy", "long"}));
}

// ---- signals and pids ----

TEST(ParseSignal, NamesAndNumbers) {
  EXPECT_EQ(parse_signal("TERM"), SIGTERM);
  EXPECT_EQ(parse_signal("SIGTERM"), SIGTERM);
  EXPECT_EQ(parse_signal("term"), SIGTERM);
  EXPECT_EQ(parse_signal("sigKill"), SIGKILL);
  EXPECT_EQ(parse_signal("HUP"), SIGHUP);
  EXPECT_EQ(parse_signal("INT"), SIGINT);
  EXPECT_EQ(parse_signal("USR1"), SIGUSR1);
  EXPECT_EQ(parse_signal("CHLD"), SIGCHLD);
  EXPECT_EQ(parse_signal("CLD"), SIGCHLD);
  EXPECT_EQ(parse_signal("IOT"), SIGABRT);
  EXPECT_EQ(parse_signal("PWR"), SIGPWR);
  EXPECT_EQ(parse_signal("9"), 9);
  EXPECT_EQ(parse_signal("0"), 0);
  EXPECT_EQ(parse_signal(std::to_string(SIGRTMAX)), SIGRTMAX);
}

TEST(ParseSignal, RealTimeSignals) {
  EXPECT_EQ(parse_signal("RTMIN"), SIGRTMIN);
  EXPECT_EQ(parse_signal("SIGRTMIN+3"), SIGRTMIN + 3);
  EXPECT_EQ(parse_signal("rtmax-1"), SIGRTMAX - 1);
  EXPECT_EQ(parse_signal("RTMAX"), SIGRTMAX);
  EXPECT_EQ(parse_signal("RTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN)), SIGRTMAX);
}

TEST(ParseSignal, Rejects) {
  for (std::string bad : {"", "SIG", "FOO", "SIGFOO", "-9", "9x", " 9", "TERM ", "RTMIN-1",
                          "RTMAX+1", "RTMIN+", "RTMIN3"})
    EXPECT_EQ(parse_signal(bad), std::nullopt) << '"' << bad << '"';
  EXPECT_EQ(parse_signal(std::to_string(SIGRTMAX + 1)), std::nullopt);
  EXPECT_EQ(parse_signal("RTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN + 1)), std::nullopt);
  EXPECT_EQ(parse_signal("99999999999999999999"), std::nullopt);
}

TEST(ParsePid, AcceptsPositiveDecimal) {
  EXPECT_EQ(parse_pid("1"), 1);
  EXPECT_EQ(parse_pid("4242"), 4242);
  EXPECT_EQ(parse_pid("2147483647"), 2147483647);
}

TEST(ParsePid, Rejects) {
  for (std::string bad : {"", "0", "-1", "+5", " 5", "5 ", "12a", "0x10", "2147483648"})
    EXPECT_EQ(parse_pid(bad), std::nullopt) << '"' << bad << '"';
}

TEST(InsertContext, GuestPidColumn) {
  EXPECT_EQ(guest_pid_field(1), "     1 ");
  EXPECT_EQ(guest_pid_field(std::nullopt), "     - ");
  std::string header = std::string(kContextHeader) + std::string(kGuestPidHeader);
  auto out = insert_context_column(
      "  PID CMD", {"    1 init", " 4242 sh"},
      [](pid_t pid) {
        return context_label(pid == 1 ? 0 : 40012, pid == 1 ? "MAIN" : "web01") +
               guest_pid_field(pid == 1 ? std::nullopt : std::optional<pid_t>(7));
      },
      header, [] { return context_label(std::nullopt, "") + guest_pid_field({}); });
  std::vector<std::string> want{
      "  PID CONTEXT               GPID CMD",
      "    1     0 MAIN               - init",
      " 4242 40012 web01              7 sh",
  };
  EXPECT_EQ(out, want);
}

}  // namespace
}  // namespace vs::hostproc
