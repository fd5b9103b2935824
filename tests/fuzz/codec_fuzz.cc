// Wideband codecs on hostile payloads: a stream of packets, each [flag+len:2 big-endian][payload]
// (len: the low 15 bits), decoded as Opus (with the top bit set the packet before it is called
// lost and rebuilt from this one's FEC) and as G.722. Nothing may be written past the output,
// nothing may crash.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "media/g722.h"
#include "media/opus_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto opus = chalkbot::OpusFrameDecoder::create();
  static auto g722 = chalkbot::G722Decoder::create();
  if (!opus || !g722) __builtin_trap();
  std::array<chalkbot::Sample, chalkbot::OpusRtp::kMaxPacketSamples> pcm{};
  while (size >= 2) {
    const std::size_t wanted = (std::size_t{data[0] & 0x7fU} << 8) | data[1];
    const bool lost_before = (data[0] & 0x80U) != 0;
    const std::size_t len = wanted <= size - 2 ? wanted : size - 2;
    const std::span<const std::uint8_t> payload(data + 2, len);
    if (lost_before) {
      const auto rebuilt = opus->conceal(payload, pcm);
      if (rebuilt && *rebuilt != chalkbot::OpusRtp::kSamplesPer20Ms) __builtin_trap();
    }
    const auto decoded = opus->decode(payload, pcm);
    if (decoded && *decoded > pcm.size()) __builtin_trap();
    if (g722->decode(payload, std::span(pcm).first(640)) > 640) __builtin_trap();
    data += 2 + len;
    size -= 2 + len;
  }
  return 0;
}
