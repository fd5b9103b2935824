#include <gtest/gtest.h>

#include <string>

#include "core/settings.h"
#include "speech/vad/endpointer.h"

namespace chalkbot {
namespace {

EndpointerConfig test_config() {
  EndpointerConfig c;
  c.speech_start_ms = 60;
  c.end_silence_ms = 500;
  c.no_input_timeout_ms = 3000;
  c.max_utterance_ms = 2000;
  c.ignore_initial_ms = 200;
  c.pre_roll_ms = 300;
  return c;
}

// Feeds `ms` of one decision in 20 ms frames; returns the first non-none event and where it
// happened (position after the frame), or kNone.
struct Fed {
  EndpointEvent event = EndpointEvent::kNone;
  std::int64_t at_ms = -1;
};
Fed feed(Endpointer& ep, int ms, bool voiced, int frame_ms = 20) {
  Fed fed;
  for (int t = 0; t < ms; t += frame_ms) {
    const auto event = ep.push(frame_ms, voiced);
    if (event != EndpointEvent::kNone && fed.event == EndpointEvent::kNone) {
      fed = {event, ep.position_ms()};
    }
  }
  return fed;
}

TEST(Endpointer, StartsAfterSpeechStartMsOfVoicedAudio) {
  Endpointer ep(test_config());
  EXPECT_EQ(feed(ep, 1000, false).event, EndpointEvent::kNone);
  EXPECT_EQ(feed(ep, 40, true).event, EndpointEvent::kNone);  // 40 < 60 ms
  const Fed fed = feed(ep, 40, true);
  EXPECT_EQ(fed.event, EndpointEvent::kSpeechStarted);
  EXPECT_EQ(fed.at_ms, 1060);
  EXPECT_EQ(ep.times().onset_ms, 1000);
  EXPECT_EQ(ep.times().start_ms, 700);  // 300 ms pre-roll
  EXPECT_EQ(ep.times().started_at_ms, 1060);
}

TEST(Endpointer, ShortNoisesDoNotStart) {
  Endpointer ep(test_config());
  feed(ep, 400, false);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(feed(ep, 40, true).event, EndpointEvent::kNone);
    EXPECT_EQ(feed(ep, 20, false).event, EndpointEvent::kNone);
  }
  EXPECT_EQ(ep.state(), Endpointer::State::kWaiting);
}

TEST(Endpointer, IgnoresTheFirstFramesOfAStream) {
  Endpointer ep(test_config());
  // Voiced from the very start: the first 200 ms do not count, so speech starts at 260 ms.
  const Fed fed = feed(ep, 400, true);
  EXPECT_EQ(fed.event, EndpointEvent::kSpeechStarted);
  EXPECT_EQ(fed.at_ms, 260);
  EXPECT_EQ(ep.times().onset_ms, 200);
  EXPECT_EQ(ep.times().start_ms, 0);  // pre-roll clamped to the stream start
}

TEST(Endpointer, EndsAfterEndSilenceMs) {
  Endpointer ep(test_config());
  feed(ep, 300, false);
  ASSERT_EQ(feed(ep, 600, true).event, EndpointEvent::kSpeechStarted);
  // Pauses shorter than end_silence_ms keep the utterance going.
  EXPECT_EQ(feed(ep, 480, false).event, EndpointEvent::kNone);
  EXPECT_EQ(feed(ep, 200, true).event, EndpointEvent::kNone);
  const Fed fed = feed(ep, 1000, false);
  EXPECT_EQ(fed.event, EndpointEvent::kSpeechEnded);
  EXPECT_EQ(ep.times().speech_end_ms, 1580);
  EXPECT_EQ(fed.at_ms, 1580 + 500);
  EXPECT_EQ(ep.times().end_ms, 2080);
  EXPECT_EQ(ep.state(), Endpointer::State::kDone);
  EXPECT_EQ(feed(ep, 200, true).event, EndpointEvent::kNone);  // done until reset()
}

TEST(Endpointer, NoInputAfterTimeout) {
  Endpointer ep(test_config());
  const Fed fed = feed(ep, 5000, false);
  EXPECT_EQ(fed.event, EndpointEvent::kNoInput);
  EXPECT_EQ(fed.at_ms, 3000);
  // Short noises do not hold the timeout off.
  ep.reset();
  Fed again;
  for (int i = 0; i < 100 && again.event == EndpointEvent::kNone; ++i) {
    feed(ep, 20, true);
    again = feed(ep, 40, false);
  }
  EXPECT_EQ(again.event, EndpointEvent::kNoInput);
  EXPECT_LE(again.at_ms - 5000, 3040);
}

TEST(Endpointer, ZeroDisablesNoInputAndMaxUtterance) {
  EndpointerConfig c = test_config();
  c.no_input_timeout_ms = 0;
  c.max_utterance_ms = 0;
  Endpointer ep(c);
  EXPECT_EQ(feed(ep, 10000, false).event, EndpointEvent::kNone);
  EXPECT_EQ(feed(ep, 10000, true).event, EndpointEvent::kSpeechStarted);
  EXPECT_EQ(ep.state(), Endpointer::State::kInSpeech);
}

TEST(Endpointer, CutsAtMaxUtterance) {
  Endpointer ep(test_config());
  feed(ep, 400, false);
  const Fed fed = feed(ep, 5000, true);
  EXPECT_EQ(fed.event, EndpointEvent::kSpeechStarted);
  EXPECT_EQ(ep.state(), Endpointer::State::kDone);
  EXPECT_EQ(ep.times().end_ms - ep.times().onset_ms, 2000);
}

TEST(Endpointer, FinishEndsAnUtteranceInProgress) {
  Endpointer ep(test_config());
  EXPECT_EQ(ep.finish(), EndpointEvent::kNone);
  feed(ep, 300, false);
  feed(ep, 300, true);
  EXPECT_EQ(ep.finish(), EndpointEvent::kSpeechEnded);
  EXPECT_EQ(ep.times().end_ms, 600);
}

TEST(Endpointer, TenMillisecondFrames) {
  Endpointer ep(test_config());
  feed(ep, 500, false, 10);
  const Fed fed = feed(ep, 100, true, 10);
  EXPECT_EQ(fed.event, EndpointEvent::kSpeechStarted);
  EXPECT_EQ(fed.at_ms, 560);
}

TEST(Endpointer, ConfigFromSettings) {
  VadSettings vad;
  vad.speech_start_ms = 1;
  vad.end_silence_ms = 2;
  vad.no_input_timeout_ms = 3;
  vad.max_utterance_ms = 4;
  const auto c = EndpointerConfig::from(vad, 5, 6);
  EXPECT_EQ(c.speech_start_ms + c.end_silence_ms * 10 + c.no_input_timeout_ms * 100 +
                c.max_utterance_ms * 1000 + c.ignore_initial_ms * 10000 + c.pre_roll_ms * 100000,
            654321);
}

// Decisions by frame index; the audio's samples count up so the cut can be checked exactly.
class ScriptedVad final : public VoiceDetector {
 public:
  explicit ScriptedVad(std::string script) : script_(std::move(script)) {}
  int sample_rate() const override { return 8000; }
  std::size_t frame_samples() const override { return 80; }  // 10 ms
  Result<bool> is_voiced(Samples frame) override {
    if (frame.size() != 80) return make_error("bad frame");
    const bool voiced = frame_ < script_.size() && script_[frame_] == '#';
    ++frame_;
    return voiced;
  }

 private:
  std::string script_;
  std::size_t frame_ = 0;
};

std::vector<Sample> counting(std::size_t n) {
  std::vector<Sample> s(n);
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<Sample>(i % 30000);
  return s;
}

TEST(UtteranceDetector, HandsOverPreRollSpeechAndEndpoint) {
  // 10 ms frames: 100 silent, 50 voiced, 60 silent.
  const std::string script = std::string(100, '.') + std::string(50, '#') + std::string(60, '.');
  UtteranceDetector detector(std::make_unique<ScriptedVad>(script), test_config());
  const auto audio = counting(script.size() * 80);
  bool started = false;
  EndpointEvent final_event = EndpointEvent::kNone;
  // Odd chunk sizes: the detector must frame the audio itself.
  for (std::size_t i = 0; i < audio.size() && final_event == EndpointEvent::kNone; i += 173) {
    auto event = detector.push(Samples(audio).subspan(i, std::min<std::size_t>(173, audio.size() - i)));
    ASSERT_TRUE(event.ok());
    if (*event == EndpointEvent::kSpeechStarted) started = true;
    if (*event != EndpointEvent::kSpeechStarted) final_event = *event;
  }
  EXPECT_TRUE(started);
  ASSERT_EQ(final_event, EndpointEvent::kSpeechEnded);
  // Onset at 1000 ms -> the utterance starts 300 ms earlier, at sample 5600, and runs to the
  // endpoint (1500 ms speech end + 500 ms silence = 2000 ms, sample 16000).
  EXPECT_EQ(detector.utterance_first_sample(), 5600U);
  ASSERT_EQ(detector.utterance().size(), 16000U - 5600U);
  const std::vector<Sample> expected(audio.begin() + 5600, audio.begin() + 16000);
  EXPECT_EQ(detector.utterance(), expected);
}

TEST(UtteranceDetector, ResetListensForTheNextUtterance) {
  const std::string script = std::string(30, '.') + std::string(20, '#') + std::string(60, '.') +
                             std::string(20, '#') + std::string(60, '.');
  UtteranceDetector detector(std::make_unique<ScriptedVad>(script), test_config());
  const auto audio = counting(script.size() * 80);
  std::vector<std::size_t> firsts;
  for (std::size_t i = 0; i < audio.size(); i += 160) {
    auto event = detector.push(Samples(audio).subspan(i, 160));
    ASSERT_TRUE(event.ok());
    if (*event == EndpointEvent::kSpeechEnded) {
      firsts.push_back(detector.utterance_first_sample());
      detector.reset();
    }
  }
  ASSERT_EQ(firsts.size(), 2U);
  EXPECT_EQ(firsts[0], 0U);                    // onset 300 ms, pre-roll clamped to 0
  EXPECT_EQ(firsts[1], (1100U - 300U) * 8U);   // onset 1100 ms
}

}  // namespace
}  // namespace chalkbot

namespace chalkbot {
namespace {

TEST(Endpointer, HeldPauseWaitsForTheUnfinishedSilence) {
  EndpointerConfig config = test_config();
  config.end_silence_ms = 300;
  config.unfinished_silence_ms = 800;
  Endpointer ep(config);
  feed(ep, 400, false);
  ASSERT_EQ(feed(ep, 500, true).event, EndpointEvent::kSpeechStarted);  // speech ends at 900
  EXPECT_EQ(feed(ep, 200, false).event, EndpointEvent::kNone);
  ep.hold_end();  // "... and": a breath
  EXPECT_EQ(feed(ep, 400, false).event, EndpointEvent::kNone);  // 600 ms of silence: still held
  const Fed ended = feed(ep, 400, false);
  EXPECT_EQ(ended.event, EndpointEvent::kSpeechEnded);
  EXPECT_EQ(ended.at_ms, 900 + 800);
}

TEST(Endpointer, HastenedPauseEndsAtTheFinishedSilence) {
  EndpointerConfig config = test_config();
  config.end_silence_ms = 300;
  config.finished_silence_ms = 160;
  Endpointer ep(config);
  feed(ep, 400, false);
  ASSERT_EQ(feed(ep, 500, true).event, EndpointEvent::kSpeechStarted);  // speech ends at 900
  EXPECT_EQ(feed(ep, 100, false).event, EndpointEvent::kNone);
  ep.hasten_end();  // "... on Sunday?"
  const Fed ended = feed(ep, 200, false);
  EXPECT_EQ(ended.event, EndpointEvent::kSpeechEnded);
  EXPECT_EQ(ended.at_ms, 900 + 160);

  // The caller goes on after all: the next pause waits for the full end silence again.
  Endpointer again(config);
  feed(again, 400, false);
  feed(again, 500, true);
  feed(again, 100, false);
  again.hasten_end();
  feed(again, 40, true);
  const Fed later = feed(again, 400, false);
  EXPECT_EQ(later.at_ms, 900 + 100 + 40 + 300);
  // 0 = the words never end a turn sooner.
  config.finished_silence_ms = 0;
  Endpointer never(config);
  feed(never, 400, false);
  feed(never, 500, true);
  never.hasten_end();
  EXPECT_EQ(feed(never, 400, false).at_ms, 900 + 300);
}

TEST(Endpointer, HasteningAPauseAlreadyLongEnoughEndsTheUtteranceThere) {
  EndpointerConfig config = test_config();
  config.end_silence_ms = 300;
  config.finished_silence_ms = 160;
  Endpointer ep(config);
  feed(ep, 400, false);
  feed(ep, 500, true);  // speech ends at 900
  ASSERT_EQ(feed(ep, 160, false).event, EndpointEvent::kNone);  // judged only now
  EXPECT_EQ(ep.hasten_end(), EndpointEvent::kSpeechEnded);
  EXPECT_EQ(ep.state(), Endpointer::State::kDone);
  EXPECT_EQ(ep.times().end_ms, 900 + 160);
  EXPECT_EQ(ep.times().speech_end_ms, 900);
  // A shorter pause is only shortened: it ends when it reaches finished_silence_ms.
  Endpointer early(config);
  feed(early, 400, false);
  feed(early, 500, true);
  feed(early, 100, false);
  EXPECT_EQ(early.hasten_end(), EndpointEvent::kNone);
  EXPECT_EQ(early.state(), Endpointer::State::kInSpeech);
}

TEST(Endpointer, SpeechResumingReleasesTheHold) {
  EndpointerConfig config = test_config();
  config.end_silence_ms = 300;
  config.unfinished_silence_ms = 800;
  Endpointer ep(config);
  feed(ep, 400, false);
  ASSERT_EQ(feed(ep, 500, true).event, EndpointEvent::kSpeechStarted);
  feed(ep, 200, false);
  ep.hold_end();
  EXPECT_EQ(feed(ep, 400, false).event, EndpointEvent::kNone);
  EXPECT_EQ(feed(ep, 200, true).event, EndpointEvent::kNone);  // the caller goes on
  EXPECT_FALSE(ep.held());
  const Fed ended = feed(ep, 400, false);  // this pause is judged afresh: the short one
  EXPECT_EQ(ended.event, EndpointEvent::kSpeechEnded);
  EXPECT_EQ(ended.at_ms, 900 + 200 + 400 + 200 + 300);
}

}  // namespace
}  // namespace chalkbot

namespace chalkbot {
namespace {

// 8 kHz audio: `loud_ms` of a square wave at +-8000, then `soft_ms` at +-`soft`, then silence.
std::vector<Sample> voice_then(int loud_ms, int soft_ms, Sample soft, int silent_ms) {
  std::vector<Sample> audio;
  const auto add = [&](int ms, Sample level) {
    for (std::size_t i = 0; i < samples_per_ms(8000, ms); ++i) {
      audio.push_back(static_cast<Sample>(i % 2 == 0 ? level : -level));
    }
  };
  add(loud_ms, 8000);
  add(soft_ms, soft);
  add(silent_ms, 0);
  return audio;
}

TEST(VoiceEnd, IsTheLastStretchWithin30DbOfTheLoudest) {
  // 300 ms of voice, 100 ms 20 dB down (a soft word ending: still voice), then the VAD's
  // hangover in silence until its speech end at 500 ms.
  const auto audio = voice_then(300, 100, 800, 200);
  EXPECT_EQ(voice_end_ms(audio, 0, 8000, 500), 400);
  // 40 dB down is not voice: the voice ended at 300 ms.
  const auto quieter = voice_then(300, 100, 80, 200);
  EXPECT_EQ(voice_end_ms(quieter, 0, 8000, 500), 300);
}

TEST(VoiceEnd, CountsFromTheStreamStartAndFallsBackToTheVadsEnd) {
  const auto audio = voice_then(300, 0, 0, 200);
  // The utterance's first sample is 1 s into the stream.
  EXPECT_EQ(voice_end_ms(audio, 8000, 8000, 1500), 1300);
  // Nothing loud within 500 ms before the VAD's end (or no audio at all): the VAD's end stands.
  const auto late = voice_then(300, 0, 0, 900);
  EXPECT_EQ(voice_end_ms(late, 0, 8000, 1200), 1200);
  EXPECT_EQ(voice_end_ms({}, 0, 8000, 700), 700);
}

TEST(UtteranceDetector, ReportsWhereTheVoiceEndedBeforeTheVadsHangover) {
  // The scripted VAD says voiced for 50 frames (10 ms) from 1000 ms; the audio is loud only for
  // the first 30 of them: the voice ended at 1300 ms, the VAD's speech at 1500 ms.
  const std::string script = std::string(100, '.') + std::string(50, '#') + std::string(60, '.');
  UtteranceDetector detector(std::make_unique<ScriptedVad>(script), test_config());
  std::vector<Sample> audio(1000 * 8, 0);
  const auto voice = voice_then(300, 0, 0, 200 + 600);
  audio.insert(audio.end(), voice.begin(), voice.end());
  EndpointEvent final_event = EndpointEvent::kNone;
  for (std::size_t i = 0; i < audio.size() && final_event == EndpointEvent::kNone; i += 160) {
    auto event = detector.push(Samples(audio).subspan(i, 160));
    ASSERT_TRUE(event.ok());
    if (*event != EndpointEvent::kNone && *event != EndpointEvent::kSpeechStarted) final_event = *event;
  }
  ASSERT_EQ(final_event, EndpointEvent::kSpeechEnded);
  EXPECT_EQ(detector.endpointer().times().speech_end_ms, 1500);
  EXPECT_EQ(detector.endpointer().times().voice_end_ms, 1300);
}

}  // namespace
}  // namespace chalkbot
