#pragma once
// Feeding an ASR engine as the call path does, for the ASR tests.
#include <algorithm>
#include <string>

#include "core/audio.h"
#include "core/result.h"
#include "speech/asr/asr.h"

namespace chalkbot::testing {

// One stream, the audio in 20 ms chunks, finish, the result.
inline Result<std::string> recognise(Asr& asr, const Audio& audio) {
  auto stream = asr.open(audio.sample_rate);
  if (!stream) return stream.error();
  const std::size_t chunk = samples_per_ms(audio.sample_rate, kFrameMs);
  const Samples all(audio.samples);
  for (std::size_t i = 0; i < all.size(); i += chunk) {
    (*stream)->accept(all.subspan(i, std::min(chunk, all.size() - i)));
  }
  if (auto done = (*stream)->finish(); !done) return done.error();
  return (*stream)->result();
}

}  // namespace chalkbot::testing
