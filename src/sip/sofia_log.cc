#include "sip/sofia_log.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <mutex>

#include <spdlog/spdlog.h>

#include <sofia-sip/su_log.h>

namespace chalkbot::sip {

LogLineLimiter::LogLineLimiter(int per_second, Emit emit)
    : per_second_(per_second), emit_(std::move(emit)) {}

void LogLineLimiter::add(std::string_view piece, Clock::time_point now) {
  for (;;) {
    const auto newline = piece.find('\n');
    if (newline == std::string_view::npos) break;
    pending_.append(piece.substr(0, newline));
    complete_line(pending_, now);
    pending_.clear();
    piece.remove_prefix(newline + 1);
  }
  pending_.append(piece);
  constexpr std::size_t kLongestLine = 4096;  // a line never ended must not grow without end
  if (pending_.size() > kLongestLine) {
    complete_line(pending_, now);
    pending_.clear();
  }
}

void LogLineLimiter::complete_line(std::string_view text, Clock::time_point now) {
  // sofia indents the continuation of a message ("\treported by ...").
  while (!text.empty() && (text.front() == '\t' || text.front() == ' ')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  if (text.empty()) return;
  if (now - window_start_ >= std::chrono::seconds(1)) {
    window_start_ = now;
    in_window_ = 0;
  }
  if (in_window_ >= per_second_) {
    ++left_out_;
    return;
  }
  ++in_window_;
  if (left_out_ > 0) {
    emit_("(" + std::to_string(left_out_) + " lines left out) " + std::string(text));
    left_out_ = 0;
  } else {
    emit_(text);
  }
}

namespace {

std::mutex sofia_log_mutex;

// Whoever turned sofia's own debug output up (TPORT_LOG=1 prints every message) wants all of it.
bool sofia_debugging() {
  for (const char* name : {"SOFIA_DEBUG", "SU_DEBUG", "TPORT_DEBUG", "TPORT_LOG", "NTA_DEBUG",
                           "NUA_DEBUG", "SOA_DEBUG"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

LogLineLimiter& sofia_lines() {
  static LogLineLimiter limiter(
      sofia_debugging() ? std::numeric_limits<int>::max() : kSofiaLinesPerSecond,
      [](std::string_view line) {
        // What sofia prints at its default level is its warnings and errors.
        spdlog::warn("sofia: {}", line);
      });
  return limiter;
}

void log_sofia(void*, const char* format, va_list args) {
  char text[1024];
  const int n = std::vsnprintf(text, sizeof text, format, args);
  if (n < 0) return;
  const bool cut = static_cast<std::size_t>(n) >= sizeof text;
  const std::size_t length = cut ? sizeof text - 1 : static_cast<std::size_t>(n);
  const std::lock_guard lock(sofia_log_mutex);
  const auto now = LogLineLimiter::Clock::now();
  sofia_lines().add(std::string_view(text, length), now);
  if (cut) sofia_lines().add("\n", now);  // what follows must not run on from a cut line
}

}  // namespace

void route_sofia_logs() {
  static std::once_flag once;
  std::call_once(once, [] { su_log_redirect(su_log_default, log_sofia, nullptr); });
}

}  // namespace chalkbot::sip
