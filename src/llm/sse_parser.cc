#include "llm/sse_parser.h"

namespace chalkbot {

std::vector<SseEvent> SseParser::feed(std::string_view bytes) {
  std::vector<SseEvent> out;
  if (overflowed_) return out;
  if (at_start_ && !bytes.empty()) {
    // Skip a UTF-8 BOM, even when it arrives split (rare enough to only handle whole).
    if (bytes.starts_with("\xEF\xBB\xBF")) bytes.remove_prefix(3);
    at_start_ = bytes.empty();
  }
  for (char c : bytes) {
    if (c == '\n' && after_cr_) {
      after_cr_ = false;
      continue;
    }
    after_cr_ = c == '\r';
    if (c == '\r' || c == '\n') {
      take_line(out);
      continue;
    }
    if (line_.size() >= max_line_) {
      overflowed_ = true;
      return out;
    }
    line_.push_back(c);
  }
  return out;
}

void SseParser::take_line(std::vector<SseEvent>& out) {
  std::string_view line = line_;
  if (line.empty()) {
    // A blank line dispatches the event; one without data is dropped (the spec's rule).
    if (has_data_) {
      if (!event_.data.empty() && event_.data.back() == '\n') event_.data.pop_back();
      out.push_back(std::move(event_));
    }
    event_ = SseEvent{};
    has_data_ = false;
    return;
  }
  if (line.front() != ':') {
    std::string_view field = line;
    std::string_view value;
    if (auto colon = line.find(':'); colon != std::string_view::npos) {
      field = line.substr(0, colon);
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
      event_.data.append(value);
      event_.data.push_back('\n');
      has_data_ = true;
    } else if (field == "event") {
      event_.event.assign(value);
    } else if (field == "id") {
      event_.id.assign(value);
    }
    // "retry" and unknown fields: ignored.
  }
  line_.clear();
}

}  // namespace chalkbot
