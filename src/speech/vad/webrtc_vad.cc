#include "speech/vad/webrtc_vad.h"

#include <webrtc/modules/audio_processing/include/audio_processing.h>
#include <webrtc/modules/interface/module_common_types.h>

#include <string>

namespace chalkbot {
namespace {

class WebrtcVad final : public VoiceDetector {
 public:
  WebrtcVad(int sample_rate, std::unique_ptr<webrtc::AudioProcessing> apm)
      : sample_rate_(sample_rate), apm_(std::move(apm)) {}

  int sample_rate() const override { return sample_rate_; }
  std::size_t frame_samples() const override {
    return samples_per_ms(sample_rate_, kWebrtcVadFrameMs);
  }

  Result<bool> is_voiced(Samples frame) override {
    if (frame.size() != frame_samples()) {
      return make_error("webrtc vad: frame of " + std::to_string(frame.size()) +
                        " samples, expected " + std::to_string(frame_samples()));
    }
    frame_.UpdateFrame(0, 0, frame.data(), frame.size(), sample_rate_,
                       webrtc::AudioFrame::kNormalSpeech, webrtc::AudioFrame::kVadUnknown, 1);
    if (const int err = apm_->ProcessStream(&frame_); err != webrtc::AudioProcessing::kNoError) {
      return make_error("webrtc vad: ProcessStream failed (" + std::to_string(err) + ")");
    }
    return apm_->voice_detection()->stream_has_voice();
  }

 private:
  int sample_rate_;
  std::unique_ptr<webrtc::AudioProcessing> apm_;
  webrtc::AudioFrame frame_;  // ~7.7 KB; kept to avoid it on the stack every 10 ms
};

}  // namespace

Result<std::unique_ptr<VoiceDetector>> make_webrtc_vad(int sample_rate, int mode) {
  if (sample_rate != 8000 && sample_rate != 16000) {
    return make_error("webrtc vad: sample rate " + std::to_string(sample_rate) +
                      " Hz unsupported (8000 or 16000)");
  }
  if (mode < 0 || mode > 3) {
    return make_error("vad.mode: " + std::to_string(mode) + " is out of range 0..3");
  }
  std::unique_ptr<webrtc::AudioProcessing> apm(webrtc::AudioProcessing::Create());
  if (!apm) return make_error("webrtc vad: AudioProcessing::Create failed");
  if (apm->Initialize(sample_rate, sample_rate, sample_rate, webrtc::AudioProcessing::kMono,
                      webrtc::AudioProcessing::kMono,
                      webrtc::AudioProcessing::kMono) != webrtc::AudioProcessing::kNoError) {
    return make_error("webrtc vad: AudioProcessing::Initialize failed");
  }
  // The APM's likelihood runs opposite to WebRTC VAD modes: kHighLikelihood is mode 0.
  static constexpr webrtc::VoiceDetection::Likelihood kByMode[] = {
      webrtc::VoiceDetection::kHighLikelihood, webrtc::VoiceDetection::kModerateLikelihood,
      webrtc::VoiceDetection::kLowLikelihood, webrtc::VoiceDetection::kVeryLowLikelihood};
  webrtc::VoiceDetection* vd = apm->voice_detection();
  if (vd->Enable(true) != 0 || vd->set_likelihood(kByMode[mode]) != 0 ||
      vd->set_frame_size_ms(kWebrtcVadFrameMs) != 0) {
    return make_error("webrtc vad: configuring voice detection failed");
  }
  return std::unique_ptr<VoiceDetector>(std::make_unique<WebrtcVad>(sample_rate, std::move(apm)));
}

}  // namespace chalkbot
