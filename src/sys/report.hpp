// Messages from library code (warnings, progress, notes) go through a sink instead of being
// printed: the command line prints them on standard error, the daemon keeps them with the
// operation that caused them. The sink is per thread, so that two operations running at once in
// one process keep their messages apart; without one, messages go to standard error as they are.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace vs {

enum class Severity { info, warning };

// A message as the user reads it ("vserver web: warning: ..."), without the final newline.
using ReportSink = std::function<void(Severity, std::string_view)>;

// Sends a message to this thread's sink (standard error when there is none).
void report(Severity severity, std::string_view text);
inline void report_warning(std::string_view text) {
  report(Severity::warning, text);
}
inline void report_info(std::string_view text) {
  report(Severity::info, text);
}

// This thread's sink (empty: standard error), for a thread that works on its behalf.
ReportSink report_sink();

// Installs sink for the current thread while it lives; the previous one comes back after.
class ScopedReportSink {
 public:
  explicit ScopedReportSink(ReportSink sink);
  ScopedReportSink(const ScopedReportSink&) = delete;
  ScopedReportSink& operator=(const ScopedReportSink&) = delete;
  ~ScopedReportSink();

 private:
  ReportSink previous_;
};

}  // namespace vs
