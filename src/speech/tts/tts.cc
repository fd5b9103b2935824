#include "speech/tts/tts.h"

namespace chalkbot {

Result<Audio> synthesize_all(Tts& tts, std::string_view text, int sample_rate) {
  Audio audio{sample_rate, {}};
  const auto collect = [&audio](Samples chunk) {
    audio.samples.insert(audio.samples.end(), chunk.begin(), chunk.end());
    return true;
  };
  if (auto status = tts.synthesize(text, sample_rate, collect, CancelToken{}); !status) {
    return status.error();
  }
  return audio;
}

}  // namespace chalkbot
