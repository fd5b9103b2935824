// RTP and RTCP parsing: whatever arrives on a media port.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "media/rtp_packet.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  chalkbot::RtpPacketView view;
  if (chalkbot::parse_rtp(bytes, view) == chalkbot::RtpError::kOk) {
    // What parsed must stay inside the input and survive a round trip through serialize.
    if (view.payload.size() > size || view.extension.size() > size) __builtin_trap();
    std::vector<std::uint8_t> out(size + 64);
    const std::size_t n = chalkbot::serialize_rtp(view.header, view.payload, out);
    chalkbot::RtpPacketView again;
    if (n == 0 || chalkbot::parse_rtp(std::span(out.data(), n), again) != chalkbot::RtpError::kOk ||
        again.header.sequence != view.header.sequence ||
        again.payload.size() != view.payload.size()) {
      __builtin_trap();
    }
  }
  (void)chalkbot::parse_rtp(bytes);
  (void)chalkbot::is_valid_rtcp(bytes);
  return 0;
}
