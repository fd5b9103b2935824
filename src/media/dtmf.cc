#include "media/dtmf.h"

namespace chalkbot {

std::optional<char> dtmf_event_to_char(std::uint8_t event) {
  static constexpr char kChars[] = "0123456789*#ABCD";
  if (event < 16) return kChars[event];
  return std::nullopt;
}

void DtmfReceiver::reset() {
  seen_ = {};
  next_ = 0;
  have_ssrc_ = false;
}

DtmfReceiver::Seen* DtmfReceiver::find(std::uint32_t timestamp) {
  for (auto& s : seen_) {
    if (s.used && s.timestamp == timestamp) return &s;
  }
  return nullptr;
}

std::optional<char> DtmfReceiver::on_packet(std::uint32_t ssrc, std::uint32_t timestamp,
                                            std::span<const std::uint8_t> payload) {
  if (payload.size() < 4) return std::nullopt;
  if (!have_ssrc_ || ssrc != ssrc_) {
    reset();
    ssrc_ = ssrc;
    have_ssrc_ = true;
  }
  const std::uint8_t event = payload[0];
  const bool end = (payload[1] & 0x80) != 0;
  const auto duration = static_cast<std::uint16_t>((payload[2] << 8) | payload[3]);
  const std::optional<char> digit = dtmf_event_to_char(event);
  if (!digit) return std::nullopt;

  if (Seen* s = find(timestamp)) {
    s->ended = s->ended || end;
    const std::uint32_t until = timestamp + duration;
    if (static_cast<std::int32_t>(until - s->end_timestamp) > 0) s->end_timestamp = until;
    return std::nullopt;
  }
  // A long press is sent as segments with new timestamps (RFC 4733 §2.5.1.3): a new timestamp
  // that starts where an unfinished press of the same key ends continues that press.
  bool continuation = false;
  for (auto& s : seen_) {
    if (s.used && !s.ended && s.event == event && s.end_timestamp == timestamp) {
      s.ended = true;  // the old segment is over; late packets of it still match its entry
      continuation = true;
    }
  }
  Seen& slot = seen_[next_];
  next_ = (next_ + 1) % seen_.size();
  slot = Seen{timestamp, timestamp + duration, event, end, true};
  if (continuation) return std::nullopt;
  return digit;
}

}  // namespace chalkbot
