#include "sys/report.hpp"

#include <unistd.h>

#include <string>
#include <utility>

namespace vs {

namespace {

thread_local ReportSink current_sink;

void write_stderr(std::string_view text) {
  std::string line(text);
  line += '\n';
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere left to say it
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

void report(Severity severity, std::string_view text) {
  if (current_sink) {
    current_sink(severity, text);
  } else {
    write_stderr(text);
  }
}

ReportSink report_sink() {
  return current_sink;
}

ScopedReportSink::ScopedReportSink(ReportSink sink)
    : previous_(std::exchange(current_sink, std::move(sink))) {}

ScopedReportSink::~ScopedReportSink() {
  current_sink = std::move(previous_);
}

}  // namespace vs
