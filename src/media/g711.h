#pragma once
// G.711 u-law (PCMU, RTP payload type 0) and A-law (PCMA, 8) at 8 kHz, one byte per sample.
#include <cstdint>
#include <span>
#include <vector>

#include "core/audio.h"

namespace chalkbot {

enum class G711Law { kMuLaw, kALaw };

std::vector<std::uint8_t> g711_encode(G711Law law, Samples pcm);
std::vector<Sample> g711_decode(G711Law law, std::span<const std::uint8_t> bytes);

// Encodes then decodes: what audio sounds like after crossing a G.711 phone line.
Audio through_g711(G711Law law, const Audio& audio_8khz);

}  // namespace chalkbot
