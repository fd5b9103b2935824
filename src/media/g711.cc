#include "media/g711.h"

#include <spandsp.h>

namespace chalkbot {

std::vector<std::uint8_t> g711_encode(G711Law law, Samples pcm) {
  std::vector<std::uint8_t> out(pcm.size());
  for (std::size_t i = 0; i < pcm.size(); ++i) {
    out[i] = law == G711Law::kMuLaw ? linear_to_ulaw(pcm[i]) : linear_to_alaw(pcm[i]);
  }
  return out;
}

std::vector<Sample> g711_decode(G711Law law, std::span<const std::uint8_t> bytes) {
  std::vector<Sample> out(bytes.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[i] = law == G711Law::kMuLaw ? ulaw_to_linear(bytes[i]) : alaw_to_linear(bytes[i]);
  }
  return out;
}

std::size_t g711_encode_into(G711Law law, Samples pcm, std::span<std::uint8_t> out) {
  const std::size_t n = pcm.size() < out.size() ? pcm.size() : out.size();
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = law == G711Law::kMuLaw ? linear_to_ulaw(pcm[i]) : linear_to_alaw(pcm[i]);
  }
  return n;
}

std::size_t g711_decode_into(G711Law law, std::span<const std::uint8_t> bytes,
                             std::span<Sample> out) {
  const std::size_t n = bytes.size() < out.size() ? bytes.size() : out.size();
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = law == G711Law::kMuLaw ? ulaw_to_linear(bytes[i]) : alaw_to_linear(bytes[i]);
  }
  return n;
}

Audio through_g711(G711Law law, const Audio& audio_8khz) {
  return Audio{audio_8khz.sample_rate, g711_decode(law, g711_encode(law, audio_8khz.samples))};
}

}  // namespace chalkbot
