#pragma once
// A frame-by-frame voiced/unvoiced decision. The endpointer only sees this interface, so tests
// can script the decisions and other detectors can replace WebRTC's.
#include <cstddef>

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
};

}  // namespace chalkbot
