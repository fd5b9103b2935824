// Choosing the voice activity detector (vad.provider), its settings' errors, Silero's hysteresis
// and the endpointer's timings in Silero's 32 ms frames. The real model runs in
// tests/component/silero_vad_test.cc.
#include <gtest/gtest.h>

#include <vector>

#include "core/config.h"
#include "core/settings.h"
#include "speech/vad/endpointer.h"
#include "speech/vad/silero_vad.h"
#include "speech/vad/voice_detector.h"

namespace chalkbot {
namespace {

Result<Settings> settings_with(std::vector<std::pair<std::string, std::string>> sets) {
  ConfigSources sources;
  sources.env = [](const std::string&) { return std::optional<std::string>(); };
  sources.sets = std::move(sets);
  return load_settings(sources);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(VadConfig, ProviderThresholdAndModelFileAreValidated) {
  auto bad_provider = settings_with({{"vad.provider", "speex"}});
  ASSERT_FALSE(bad_provider.ok());
  EXPECT_TRUE(contains(bad_provider.error().message, "vad.provider")) << bad_provider.error().message;
  EXPECT_TRUE(contains(bad_provider.error().message, "webrtc, silero"));

  for (const char* threshold : {"1.2", "0.1", "half"}) {
    auto bad = settings_with({{"vad.threshold", threshold}});
    ASSERT_FALSE(bad.ok()) << threshold;
    EXPECT_TRUE(contains(bad.error().message, "vad.threshold")) << bad.error().message;
  }

  auto silero = settings_with({{"vad.provider", "silero"}, {"vad.threshold", "0.6"},
                               {"asr.onnxruntime_library", "/opt/ort/libonnxruntime.so"}});
  ASSERT_TRUE(silero.ok()) << silero.error().message;
  EXPECT_EQ(silero->vad.provider, "silero");
  EXPECT_DOUBLE_EQ(silero->vad.threshold, 0.6);
  EXPECT_TRUE(contains(silero->vad.model_file, "silero_vad.onnx"));
  // One ONNX Runtime per process: the VAD uses the ASR's.
  EXPECT_EQ(silero->vad.onnxruntime_library, "/opt/ort/libonnxruntime.so");
}

TEST(VoiceDetectorFactory, PicksTheProviderAndNamesTheKeyAtFault) {
  VadSettings vad;
  vad.provider = "webrtc";
  vad.mode = 2;
  auto webrtc = make_voice_detector(vad, 8000);
  ASSERT_TRUE(webrtc.ok()) << webrtc.error().message;
  EXPECT_EQ((*webrtc)->frame_samples(), 80U);  // 10 ms

  vad.mode = 9;
  auto bad_mode = make_voice_detector(vad, 8000);
  ASSERT_FALSE(bad_mode.ok());
  EXPECT_TRUE(contains(bad_mode.error().message, "vad.mode"));

  vad.provider = "";
  auto none = make_voice_detector(vad, 8000);
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(contains(none.error().message, "vad.provider"));

  vad.provider = "silero";
  vad.threshold = 0.5;
  vad.model_file = "/nonexistent/silero_vad.onnx";
  vad.onnxruntime_library = "/nonexistent/libonnxruntime.so";
  auto missing = make_voice_detector(vad, 8000);
  ASSERT_FALSE(missing.ok());
  const std::string& why = missing.error().message;
  EXPECT_TRUE(contains(why, "vad.model_file")) << why;
  EXPECT_TRUE(contains(why, "/nonexistent/silero_vad.onnx")) << why;
  EXPECT_TRUE(contains(why, "scripts/install-deps")) << why;

  vad.threshold = 0.1;  // below the hysteresis: speech could never end
  auto low = make_voice_detector(vad, 8000);
  ASSERT_FALSE(low.ok());
  EXPECT_TRUE(contains(low.error().message, "vad.threshold")) << low.error().message;

  vad.threshold = 0.5;
  auto bad_rate = make_voice_detector(vad, 44100);
  ASSERT_FALSE(bad_rate.ok());
  EXPECT_TRUE(contains(bad_rate.error().message, "44100")) << bad_rate.error().message;
}

TEST(SpeechHysteresis, StartsAtTheThresholdAndLastsDownToItMinus015) {
  SpeechHysteresis h(0.5);
  std::string decisions;
  for (const double p : {0.1, 0.49, 0.5, 0.4, 0.36, 0.34, 0.45, 0.49, 0.9, 0.36, 0.2}) {
    decisions += h.update(p) ? '#' : '.';
  }
  // 0.45 and 0.49 after silence do not start speech; 0.36 and 0.4 during speech keep it.
  EXPECT_EQ(decisions, "..###...##.");

  SpeechHysteresis strict(0.8);
  EXPECT_FALSE(strict.update(0.7));
  EXPECT_TRUE(strict.update(0.8));
  EXPECT_TRUE(strict.update(0.66));
  EXPECT_FALSE(strict.update(0.64));
}

TEST(VoiceDetectorFactory, OnlyWebrtcIgnoresTheFirstDecisions) {
  VadSettings vad;
  vad.provider = "webrtc";
  EXPECT_EQ(EndpointerConfig::from(vad).ignore_initial_ms, 200);
  vad.provider = "silero";
  EXPECT_EQ(EndpointerConfig::from(vad).ignore_initial_ms, 0);
  EXPECT_EQ(EndpointerConfig::from(vad, 40).ignore_initial_ms, 40);
}

// The default timings (speech_start 60 ms, end_silence 300 ms) in 32 ms frames: speech starts on
// the second voiced frame, from the very first frame of the stream, and ends after the tenth
// silent one (320 ms: the endpoint is at most one frame later than asked).
TEST(Endpointer, DefaultTimingsIn32msFrames) {
  VadSettings vad;
  vad.provider = "silero";
  vad.speech_start_ms = 60;
  vad.end_silence_ms = 300;
  Endpointer e(EndpointerConfig::from(vad));
  EXPECT_EQ(e.push(kSileroFrameMs, true), EndpointEvent::kNone);
  EXPECT_EQ(e.push(kSileroFrameMs, true), EndpointEvent::kSpeechStarted);
  EXPECT_EQ(e.times().onset_ms, 0);
  EXPECT_EQ(e.times().started_at_ms, 64);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(e.push(kSileroFrameMs, true), EndpointEvent::kNone);
  const std::int64_t speech_end = e.position_ms();
  int silent = 0;
  EndpointEvent event = EndpointEvent::kNone;
  while (event == EndpointEvent::kNone && silent < 50) {
    event = e.push(kSileroFrameMs, false);
    ++silent;
  }
  EXPECT_EQ(event, EndpointEvent::kSpeechEnded);
  EXPECT_EQ(silent, 10);
  EXPECT_EQ(e.times().speech_end_ms, speech_end);
  EXPECT_EQ(e.times().end_ms - speech_end, 320);
}

}  // namespace
}  // namespace chalkbot
