// RFC 4733 telephone-events: a stream of packets, each [ssrc:4][timestamp:4][len:1][payload].
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "media/dtmf.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  chalkbot::DtmfReceiver receiver;
  while (size >= 9) {
    std::uint32_t ssrc = 0;
    std::uint32_t timestamp = 0;
    std::memcpy(&ssrc, data, 4);
    std::memcpy(&timestamp, data + 4, 4);
    const std::size_t len = data[8] % 16 <= size - 9 ? data[8] % 16 : size - 9;
    const auto digit = receiver.on_packet(ssrc & 3, timestamp & 0xffff, std::span(data + 9, len));
    if (digit && (*digit == '\0' || std::strchr("0123456789*#ABCD", *digit) == nullptr)) {
      __builtin_trap();
    }
    data += 9 + len;
    size -= 9 + len;
    if (size > 0 && data[0] == 0xff) receiver.reset();
  }
  return 0;
}
