#pragma once
// sofia-sip prints its own diagnostics (a transport error for each retransmission to a peer that
// went away, protocol warnings) with printf to stderr: no time, no level, a line in pieces.
// route_sofia_logs() sends them into our log instead, one entry per line ("sofia: ..."), and a
// vanished peer cannot flood it: at most kSofiaLinesPerSecond lines a second get through, and
// the next line that does says how many were left out (no limit when one of sofia's own debug
// variables, such as TPORT_LOG, is set).
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace chalkbot::sip {

inline constexpr int kSofiaLinesPerSecond = 20;

// Joins printf pieces into lines and lets at most `per_second` of them through in each second.
// Not thread-safe.
class LogLineLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  using Emit = std::function<void(std::string_view line)>;

  LogLineLimiter(int per_second, Emit emit);
  // Text as printed: part of a line, a line, or several.
  void add(std::string_view piece, Clock::time_point now);

 private:
  void complete_line(std::string_view text, Clock::time_point now);

  int per_second_;
  Emit emit_;
  std::string pending_;  // the start of a line not finished yet
  Clock::time_point window_start_{};
  int in_window_ = 0;
  long left_out_ = 0;
};

// Points sofia-sip's default log (which every module without its own redirect uses) at spdlog.
// Once per process; later calls do nothing.
void route_sofia_logs();

}  // namespace chalkbot::sip
