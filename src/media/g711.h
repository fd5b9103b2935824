#pragma once
// G.711 u-law (PCMU, RTP payload type 0) and A-law (PCMA, 8) at 8 kHz, one byte per sample.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/audio.h"

namespace chalkbot {

enum class G711Law { kMuLaw, kALaw };

std::vector<std::uint8_t> g711_encode(G711Law law, Samples pcm);
std::vector<Sample> g711_decode(G711Law law, std::span<const std::uint8_t> bytes);

// Allocation-free forms for the media thread: out must be at least as long as the input; they
// return how many samples/bytes were written (min of both lengths).
std::size_t g711_encode_into(G711Law law, Samples pcm, std::span<std::uint8_t> out);
std::size_t g711_decode_into(G711Law law, std::span<const std::uint8_t> bytes,
                             std::span<Sample> out);

// Encodes then decodes: what audio sounds like after crossing a G.711 phone line.
Audio through_g711(G711Law law, const Audio& audio_8khz);

}  // namespace chalkbot
