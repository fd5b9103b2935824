#pragma once
// WebRTC's VAD through libwebrtc-audio-processing 0.3 (AudioProcessing::voice_detection()).
// 10 ms frames at 8 or 16 kHz. One per stream: it keeps state and is not thread-safe.
#include <memory>

#include "speech/vad/voice_detector.h"

namespace chalkbot {

inline constexpr int kWebrtcVadFrameMs = 10;

// mode 0..3 as in WebRTC's own VAD: 0 lets the most through as speech, 3 is the most aggressive
// at calling frames non-speech.
Result<std::unique_ptr<VoiceDetector>> make_webrtc_vad(int sample_rate, int mode);

}  // namespace chalkbot
