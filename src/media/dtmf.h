#pragma once
// RFC 4733 telephone-event receiver: turns the packets of each key press into exactly one digit.
// A key press is identified by its RTP timestamp (fixed for all packets of one event), so a
// missing marker, the repeated end packets and reordering all collapse to one digit, reported as
// soon as any packet of the press arrives. Not thread-safe: one owner (the media thread).
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace chalkbot {

// '0'-'9', '*', '#', 'A'-'D' for events 0..15; nullopt for anything else (flash, tones).
std::optional<char> dtmf_event_to_char(std::uint8_t event);

class DtmfReceiver {
 public:
  // Feeds one telephone-event payload with its RTP header fields. Returns the digit when this
  // packet starts a key press not seen before.
  std::optional<char> on_packet(std::uint32_t ssrc, std::uint32_t timestamp,
                                std::span<const std::uint8_t> payload);
  void reset();

 private:
  struct Seen {
    std::uint32_t timestamp = 0;
    std::uint32_t end_timestamp = 0;  // timestamp + longest duration seen (long-event segments)
    std::uint8_t event = 0;
    bool ended = false;
    bool used = false;
  };
  Seen* find(std::uint32_t timestamp);

  // Recent presses; a stale end packet of an older press still finds its entry here.
  std::array<Seen, 16> seen_{};
  std::size_t next_ = 0;
  std::uint32_t ssrc_ = 0;
  bool have_ssrc_ = false;
};

}  // namespace chalkbot
