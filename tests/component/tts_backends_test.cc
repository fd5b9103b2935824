// The embedded TTS backends on real synthesis: the same contract checked for each.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <ostream>
#include <string>
#include <thread>

#include "component/tts_test_util.h"
#include "core/build_config.h"
#include "core/settings.h"
#include "speech/tts/backends.h"

namespace chalkbot {
namespace {

using testing::rms;
using testing::timed_synthesis;

struct Backend {
  std::string name;
  std::function<Result<std::unique_ptr<Tts>>(const std::string& voice)> make;
  std::string voice;        // a valid voice
  std::string other_voice;  // a second valid voice ("" when the backend has only one)
};

void PrintTo(const Backend& backend, std::ostream* os) { *os << backend.name; }

Backend flite_backend() {
  return {"flite",
          [](const std::string& voice) {
            TtsSettings s;
            s.provider = "flite";
            s.voice = voice;
            return make_flite_tts(s);
          },
          "slt", ""};
}

#if CHALKBOT_WITH_ESPEAK
Backend espeak_backend() {
  return {"espeak",
          [](const std::string& voice) {
            TtsSettings s;
            s.provider = "espeak";
            s.voice = voice;
            return make_espeak_tts(s);
          },
          "en-us", "de"};
}
#endif

// Twelve words in three sentences.
constexpr const char* kText = "Hello there. How can I help you today? Tell me what you need.";
constexpr int kWords = 12;

class TtsBackendTest : public ::testing::TestWithParam<Backend> {
 protected:
  std::unique_ptr<Tts> make(const std::string& voice) {
    auto tts = GetParam().make(voice);
    EXPECT_TRUE(tts.ok()) << (tts.ok() ? "" : tts.error().message);
    return tts.ok() ? std::move(tts).value() : nullptr;
  }
};

TEST_P(TtsBackendTest, EmptyOrWhitespaceTextGivesNoAudio) {
  auto tts = make(GetParam().voice);
  ASSERT_TRUE(tts);
  for (const char* text : {"", "   ", " \n\t "}) {
    int calls = 0;
    const auto status = tts->synthesize(
        text, 8000, [&calls](Samples) { return ++calls, true; }, CancelToken{});
    EXPECT_TRUE(status.ok());
    EXPECT_EQ(calls, 0) << "text '" << text << "'";
  }
}

TEST_P(TtsBackendTest, TelephoneRateSpeechHasPlausibleDurationAndEnergy) {
  auto tts = make(GetParam().voice);
  ASSERT_TRUE(tts);
  const auto t = timed_synthesis(*tts, kText, 8000);
  ASSERT_TRUE(t.ok);
  const double seconds = static_cast<double>(t.samples.size()) / 8000.0;
  EXPECT_GT(seconds, 0.2 * kWords);
  EXPECT_LT(seconds, 0.6 * kWords);
  EXPECT_GT(rms(t.samples), 500.0);  // speech, not silence
  std::printf("[ figures  ] %s: %.2f s of audio, first audio %.1f ms, total %.1f ms, RTF %.4f\n",
              GetParam().name.c_str(), seconds, t.first_ms, t.total_ms,
              t.total_ms / 1000.0 / seconds);
}

TEST_P(TtsBackendTest, RateFollowsTheRequest) {
  auto tts = make(GetParam().voice);
  ASSERT_TRUE(tts);
  const auto narrow = timed_synthesis(*tts, kText, 8000);
  const auto wide = timed_synthesis(*tts, kText, 16000);
  ASSERT_TRUE(narrow.ok && wide.ok);
  // espeak's own output length varies by up to ~1% run to run.
  EXPECT_NEAR(static_cast<double>(wide.samples.size()),
              2.0 * static_cast<double>(narrow.samples.size()),
              0.02 * static_cast<double>(wide.samples.size()));
}

TEST_P(TtsBackendTest, FirstAudioArrivesLongBeforeSynthesisEnds) {
  auto tts = make(GetParam().voice);
  ASSERT_TRUE(tts);
  // Long enough that whole-text synthesis would take a while.
  std::string text;
  for (int i = 0; i < 6; ++i) text += "This sentence is here so that the answer takes some time. ";
  const auto t = timed_synthesis(*tts, text, 8000);
  ASSERT_TRUE(t.ok);
  EXPECT_GT(t.chunks, 10U);
  EXPECT_LT(t.first_ms, 0.5 * t.total_ms);
  std::printf("[ figures  ] %s long text: first audio %.2f ms of %.2f ms total, %zu chunks\n",
              GetParam().name.c_str(), t.first_ms, t.total_ms, t.chunks);
}

TEST_P(TtsBackendTest, SinkReturningFalseStopsEarly) {
  auto tts = make(GetParam().voice);
  ASSERT_TRUE(tts);
  const auto full = timed_synthesis(*tts, kText, 8000);
  std::size_t received = 0;
  int calls_after_stop = 0;
  bool stopped = false;
  const auto status = tts->synthesize(
      kText, 8000,
      [&](Samples chunk) {
        if (stopped) ++calls_after_stop;
        received += chunk.size();
        stopped = true;
        return false;
      },
      CancelToken{});
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(calls_after_stop, 0);
  EXPECT_GT(received, 0U);
  EXPECT_LT(received, full.samples.size() / 4);
}

TEST_P(TtsBackendTest, CancelStopsSynthesis) {
  auto tts = make(GetParam().voice);
  ASSERT_TRUE(tts);
  // Already cancelled: nothing at all.
  CancelToken cancelled;
  cancelled.cancel();
  int calls = 0;
  EXPECT_TRUE(tts->synthesize(kText, 8000, [&calls](Samples) { return ++calls, true; }, cancelled)
                  .ok());
  EXPECT_EQ(calls, 0);

  // Cancelled from another thread mid-way (the sink waits until the other thread has set it).
  CancelToken cancel;
  std::atomic<bool> first{false};
  std::atomic<bool> cancelled_now{false};
  std::thread canceller([&] {
    while (!first.load()) std::this_thread::yield();
    cancel.cancel();
    cancelled_now.store(true);
  });
  int after_cancel = 0;
  const auto status = tts->synthesize(
      kText, 8000,
      [&](Samples) {
        if (cancel.cancelled()) ++after_cancel;
        first.store(true);
        while (!cancelled_now.load()) std::this_thread::yield();
        return true;
      },
      cancel);
  canceller.join();
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(after_cancel, 0);
}

// Neither engine is bit-exact run to run (flite's excitation noise is random; espeak's length
// varies by a few samples), so "the same speech" is the same length within 0.5% and level.
void expect_same_speech(const std::vector<Sample>& got, const std::vector<Sample>& want) {
  EXPECT_NEAR(static_cast<double>(got.size()), static_cast<double>(want.size()),
              0.005 * static_cast<double>(want.size()));
  EXPECT_NEAR(rms(got), rms(want), 0.15 * rms(want));
}

TEST_P(TtsBackendTest, ConcurrentSynthesisMatchesSerial) {
  const std::string other = GetParam().other_voice.empty() ? GetParam().voice
                                                           : GetParam().other_voice;
  auto a = make(GetParam().voice);
  auto b = make(other);
  ASSERT_TRUE(a && b);
  const char* text_a = "The first caller hears this answer. It has two sentences.";
  const char* text_b = "Der zweite Anrufer hört eine andere Antwort.";
  const auto serial_a = timed_synthesis(*a, text_a, 8000).samples;
  const auto serial_b = timed_synthesis(*b, text_b, 8000).samples;
  ASSERT_FALSE(serial_a.empty() || serial_b.empty());
  for (int round = 0; round < 3; ++round) {
    std::vector<Sample> got_a;
    std::vector<Sample> got_b;
    std::thread ta([&] { got_a = timed_synthesis(*a, text_a, 8000).samples; });
    std::thread tb([&] { got_b = timed_synthesis(*b, text_b, 8000).samples; });
    ta.join();
    tb.join();
    expect_same_speech(got_a, serial_a);
    expect_same_speech(got_b, serial_b);
  }
}

INSTANTIATE_TEST_SUITE_P(Flite, TtsBackendTest, ::testing::Values(flite_backend()),
                         [](const auto& param_info) { return param_info.param.name; });
#if CHALKBOT_WITH_ESPEAK
INSTANTIATE_TEST_SUITE_P(Espeak, TtsBackendTest, ::testing::Values(espeak_backend()),
                         [](const auto& param_info) { return param_info.param.name; });
#endif

TEST(FliteTts, UnknownVoiceIsAClearError) {
  TtsSettings s;
  s.provider = "flite";
  s.voice = "kal";
  auto tts = make_flite_tts(s);
  ASSERT_FALSE(tts.ok());
  EXPECT_NE(tts.error().message.find("tts.voice"), std::string::npos);
  EXPECT_NE(tts.error().message.find("kal"), std::string::npos);
  s.voice = "";  // empty means the one built-in voice
  EXPECT_TRUE(make_flite_tts(s).ok());
}

#if CHALKBOT_WITH_ESPEAK
TEST(EspeakTts, UnknownVoiceIsAClearErrorAndLanguagesDiffer) {
  TtsSettings s;
  s.provider = "espeak";
  s.voice = "no-such-voice";
  auto bad = make_espeak_tts(s);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("no-such-voice"), std::string::npos);

  // The voice setting really selects the language: the same text sounds different.
  s.voice = "en";
  auto en = make_espeak_tts(s);
  s.voice = "de";
  auto de = make_espeak_tts(s);
  ASSERT_TRUE(en.ok() && de.ok());
  EXPECT_NE(timed_synthesis(**en, "Good morning", 8000).samples,
            timed_synthesis(**de, "Good morning", 8000).samples);
}
#endif

}  // namespace
}  // namespace chalkbot
