#include "speech/vad/voice_detector.h"

#include "core/settings.h"
#include "speech/vad/silero_vad.h"
#include "speech/vad/webrtc_vad.h"

namespace chalkbot {

Result<std::unique_ptr<VoiceDetector>> make_voice_detector(const VadSettings& vad,
                                                           int sample_rate) {
  if (vad.provider == "webrtc") return make_webrtc_vad(sample_rate, vad.mode);
  if (vad.provider == "silero") {
    auto silero = SileroVad::create(vad, sample_rate);
    if (!silero) return silero.error();
    return std::unique_ptr<VoiceDetector>(std::move(*silero));
  }
  return make_error("vad.provider: expected webrtc or silero, got '" + vad.provider + "'");
}

}  // namespace chalkbot
