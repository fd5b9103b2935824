#pragma once
// Incremental Server-Sent-Events parser (WHATWG "event stream" rules): bytes arrive in any split
// (mid-line, between CR and LF) and complete events come out once their blank line arrived.
// Comments (":" lines) and unknown fields are ignored. Not thread-safe: one per stream.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace chalkbot {

struct SseEvent {
  std::string event;  // the "event:" field; empty means "message"
  std::string data;   // "data:" lines joined by '\n'
  std::string id;
};

class SseParser {
 public:
  // Lines longer than this are an error (a broken or hostile server must not eat memory).
  explicit SseParser(std::size_t max_line = 1 << 20) : max_line_(max_line) {}

  // Feeds bytes and returns the events they completed, in order.
  std::vector<SseEvent> feed(std::string_view bytes);
  // True once a line exceeded max_line; later input is ignored.
  bool overflowed() const { return overflowed_; }
  // True when bytes of an unfinished event are buffered (the stream was cut mid-event).
  bool has_partial() const { return !line_.empty() || has_data_ || !event_.event.empty(); }

 private:
  void take_line(std::vector<SseEvent>& out);

  std::size_t max_line_;
  std::string line_;
  SseEvent event_;
  bool has_data_ = false;
  bool after_cr_ = false;  // the last byte was CR: a following LF belongs to the same line end
  bool at_start_ = true;   // a UTF-8 BOM may open the stream
  bool overflowed_ = false;
};

}  // namespace chalkbot
