#pragma once
// A frame-by-frame voiced/unvoiced decision. The endpointer only sees this interface, so tests
// can script the decisions; make_voice_detector() picks WebRTC's or Silero's by configuration.
#include <cstddef>
#include <memory>

#include "core/audio.h"
#include "core/result.h"

namespace chalkbot {

class VoiceDetector {
 public:
  virtual ~VoiceDetector() = default;
  virtual int sample_rate() const = 0;
  // Every frame passed to is_voiced() has exactly this many samples.
  virtual std::size_t frame_samples() const = 0;
  virtual Result<bool> is_voiced(Samples frame) = 0;
  // `frame` is the one is_voiced() will most likely be asked about next: a detector that computes
  // many streams at once (Silero in a SileroBatch) may compute it ahead. Nothing changes if it
  // is not asked about after all.
  virtual void look_ahead(Samples frame) { (void)frame; }
};

struct VadSettings;

// A detector of vad.provider's kind for one stream at `sample_rate` (8000 or 16000): webrtc
// (10 ms frames, vad.mode) or silero (32 ms frames, vad.threshold; its model is loaded once per
// process). Errors name the setting at fault.
Result<std::unique_ptr<VoiceDetector>> make_voice_detector(const VadSettings& vad,
                                                           int sample_rate);

}  // namespace chalkbot
