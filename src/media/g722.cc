#include "media/g722.h"

#include <spandsp.h>

#include <algorithm>

namespace chalkbot {

// spandsp's states, behind our own names so the header needs no spandsp include.
struct G722Encoder::State {
  g722_encode_state_t* g722;
};
struct G722Decoder::State {
  g722_decode_state_t* g722;
};

void G722Encoder::Free::operator()(State* state) const {
  g722_encode_free(state->g722);
  delete state;
}
void G722Decoder::Free::operator()(State* state) const {
  g722_decode_free(state->g722);
  delete state;
}

Result<G722Encoder> G722Encoder::create() {
  g722_encode_state_t* g722 = g722_encode_init(nullptr, 64000, 0);
  if (g722 == nullptr) return make_error("g722: encoder init failed");
  return G722Encoder(new State{g722});
}

Result<G722Decoder> G722Decoder::create() {
  g722_decode_state_t* g722 = g722_decode_init(nullptr, 64000, 0);
  if (g722 == nullptr) return make_error("g722: decoder init failed");
  return G722Decoder(new State{g722});
}

std::size_t G722Encoder::encode(Samples pcm_16k, std::span<std::uint8_t> out) {
  // Whole pairs only: spandsp reads two samples per byte and would read past an odd count.
  const std::size_t samples = std::min(pcm_16k.size(), out.size() * 2) & ~std::size_t{1};
  if (samples == 0) return 0;
  const int written =
      g722_encode(state_->g722, out.data(), pcm_16k.data(), static_cast<int>(samples));
  return written > 0 ? static_cast<std::size_t>(written) : 0;
}

std::size_t G722Decoder::decode(std::span<const std::uint8_t> bytes, std::span<Sample> out) {
  const std::size_t count = std::min(bytes.size(), out.size() / 2);
  if (count == 0) return 0;
  const int written = g722_decode(state_->g722, out.data(), bytes.data(), static_cast<int>(count));
  return written > 0 ? static_cast<std::size_t>(written) : 0;
}

Result<Audio> through_g722(const Audio& audio_16k) {
  if (audio_16k.sample_rate != kWidebandRate) return make_error("g722: audio is not 16 kHz");
  auto encoder = G722Encoder::create();
  if (!encoder) return encoder.error();
  auto decoder = G722Decoder::create();
  if (!decoder) return decoder.error();
  std::vector<Sample> even = audio_16k.samples;
  if (even.size() % 2 != 0) even.push_back(0);  // a whole last byte
  std::vector<std::uint8_t> bytes(even.size() / 2);
  bytes.resize(encoder->encode(even, bytes));
  Audio out{kWidebandRate, std::vector<Sample>(bytes.size() * 2)};
  out.samples.resize(decoder->decode(bytes, out.samples));
  out.samples.resize(audio_16k.samples.size());
  return out;
}

}  // namespace chalkbot
