// A call's voice without a thread: prompts from the cache, sentences synthesized on the compute
// pool (here: when the test runs its jobs) and moved to the playback queue by step(), a few
// seconds ahead and no more, barge-in dropping everything, a synthesis failure giving up the
// rest of an utterance with an apology.
#include "agent/voice.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "support/inline_executor.h"

namespace chalkbot {
namespace {

constexpr Sample kLoud = 1000;
constexpr std::size_t kLeadInSilence = 1600;  // 200 ms of silence before every utterance
constexpr std::size_t kPerChar = 80;          // 10 ms of sound per character

// Speaks `text` as kLeadInSilence zeros then kPerChar loud samples per character, in 400-sample
// chunks; a text containing "fail" fails without a sound.
class ToneTts final : public Tts {
 public:
  Status synthesize(std::string_view text, int, const AudioSink& sink,
                    const CancelToken& cancel) override {
    ++calls;
    spoken.emplace_back(text);
    if (text.find("fail") != std::string_view::npos) return make_error("no voice for that");
    std::vector<Sample> audio(kLeadInSilence, 0);
    audio.resize(kLeadInSilence + kPerChar * text.size(), kLoud);
    for (std::size_t at = 0; at < audio.size(); at += 400) {
      if (cancel.cancelled()) return {};
      const std::size_t n = std::min<std::size_t>(400, audio.size() - at);
      if (!sink(Samples(audio).subspan(at, n))) return {};
    }
    return {};
  }
  std::string name() const override { return "tone"; }
  int calls = 0;
  std::vector<std::string> spoken;
};

// The playback queue: holds up to capacity_ms, plays when the test says so.
class QueueOut final : public AudioOut {
 public:
  std::size_t enqueue(Samples audio) override {
    const std::size_t room = capacity - queued.size();
    const std::size_t n = std::min(room, audio.size());
    queued.insert(queued.end(), audio.begin(), audio.begin() + static_cast<std::ptrdiff_t>(n));
    return n;
  }
  bool flush() override {
    ++flushes;
    return true;
  }
  void clear() override {
    ++clears;
    queued.clear();
  }
  int queued_ms() const override { return static_cast<int>(queued.size() / 8); }
  void play_ms(int ms) {
    const std::size_t n = std::min(queued.size(), static_cast<std::size_t>(ms) * 8);
    queued.erase(queued.begin(), queued.begin() + static_cast<std::ptrdiff_t>(n));
  }
  std::size_t loud() const {
    return static_cast<std::size_t>(std::count(queued.begin(), queued.end(), kLoud));
  }

  std::size_t capacity = 8 * 2560;  // 2.56 s, as a media session's
  std::vector<Sample> queued;
  int flushes = 0;
  int clears = 0;
};

class CountingTap final : public PlaybackTap {
 public:
  void queued(Samples audio) override { tapped += audio.size(); }
  void cleared() override { ++clears; }
  std::size_t tapped = 0;
  int clears = 0;
};

constexpr const char* kTestApology = "sorry";

struct VoiceTest : ::testing::Test {
  ToneTts tts;
  const PromptCache prompts{tts, {"hello", kTestApology}};
  QueueOut out;
  testing::InlineExecutor compute;
  CountingTap tap;
  int wakes = 0;
  std::vector<std::string> failures;
  Voice voice{out,
              tts,
              compute,
              prompts,
              [this] { ++wakes; },
              &tap,
              [this](const Error& cause) { failures.push_back(cause.message); },
              kTestApology};
  const int cached_calls = tts.calls;  // the prompt cache's own syntheses

  // The call's step after every job the compute pool had.
  void settle() {
    voice.step();
    while (compute.run_all()) voice.step();
  }
};

TEST_F(VoiceTest, CachedPromptIsQueuedAtTheStepWithoutSynthesis) {
  voice.say("hello");
  EXPECT_TRUE(out.queued.empty());  // nothing happens until the call's step
  voice.step();
  EXPECT_EQ(out.loud(), kPerChar * 5);
  EXPECT_EQ(compute.waiting(), 0u);
  EXPECT_EQ(tts.calls, cached_calls);
  EXPECT_EQ(tap.tapped, out.queued.size());
  EXPECT_EQ(out.flushes, 1);
  EXPECT_FALSE(voice.busy());
  EXPECT_FALSE(voice.quiet());  // still playing
  out.play_ms(10000);
  EXPECT_TRUE(voice.quiet());
}

TEST_F(VoiceTest, SynthesisRunsOnTheComputePoolAndItsLeadInSilenceIsCut) {
  voice.say("good day");
  voice.step();
  EXPECT_TRUE(out.queued.empty());
  ASSERT_EQ(compute.waiting(), 1u);
  compute.run_all();
  EXPECT_GE(wakes, 1);  // the first audio asks for a step at once
  voice.step();
  EXPECT_EQ(out.loud(), kPerChar * 8);
  // Nothing was playing: the engine's lead-in is cut to 40 ms before the first sound.
  EXPECT_EQ(out.queued.size() - out.loud(), 320u);
  EXPECT_FALSE(voice.busy());
}

TEST_F(VoiceTest, StreamedSentencesAreSaidInOrderAndTheUtteranceEndsAtItsClose) {
  int first_audio = 0;
  const auto id = voice.open({.first_audio = [&] {
                                ++first_audio;
                                EXPECT_TRUE(out.queued.empty());  // told before it is queued
                              },
                              .gave_up = {}});
  voice.say("hello");  // waits for the open utterance
  settle();
  EXPECT_TRUE(voice.has(id));
  EXPECT_TRUE(out.queued.empty());
  voice.add(id, "one");
  settle();
  voice.add(id, "three");
  settle();
  EXPECT_EQ(first_audio, 1);
  EXPECT_EQ(out.loud(), kPerChar * 8);
  EXPECT_EQ(out.flushes, 0);  // its end is not known yet
  voice.close(id);
  settle();
  EXPECT_FALSE(voice.has(id));
  EXPECT_EQ(out.loud(), kPerChar * (8 + 5));  // then the greeting that waited
  EXPECT_EQ(tts.spoken, (std::vector<std::string>{"hello", "sorry", "one", "three"}));
  voice.add(id, "late");  // an utterance no longer queued takes nothing
  settle();
  EXPECT_EQ(out.loud(), kPerChar * 13);
}

TEST_F(VoiceTest, SynthesisAndQueueStayOnlyASecondAndAHalfAheadOfPlayback) {
  const auto id = voice.open({});
  const std::string long_sentence(100, 'a');  // 1 s of sound each
  for (int i = 0; i < 8; ++i) voice.add(id, long_sentence);
  voice.close(id);
  settle();
  EXPECT_EQ(out.queued_ms(), 1500);  // not all 8 s
  const int synthesized = tts.calls - cached_calls;
  EXPECT_EQ(synthesized, 2);  // the second sentence began once the first was all queued
  for (int played = 0; played < 3000; played += 20) {  // the media tick's pace, a step each
    out.play_ms(20);
    settle();
    EXPECT_GE(out.queued_ms(), 1480);  // never runs dry while there is more to say
  }
  EXPECT_GT(tts.calls - cached_calls, synthesized);  // more once it has played
  EXPECT_LT(tts.calls - cached_calls, 6);            // and no more than 1.5 s ahead of it
}

// A long cached prompt goes into the playback queue as it plays, not copied in whole.
TEST_F(VoiceTest, ALongPromptIsQueuedAsItPlays) {
  const std::string long_prompt(400, 'a');  // 4 s
  const PromptCache long_prompts{tts, {long_prompt}};
  Voice prompt_voice{out, tts, compute, long_prompts, [] {}, &tap, {}, kTestApology};
  prompt_voice.say(long_prompt);
  prompt_voice.step();
  EXPECT_EQ(out.queued_ms(), 1500);
  EXPECT_EQ(tap.tapped, 8U * 1500);
  for (int played = 0; played < 4000; played += 20) {
    out.play_ms(20);
    prompt_voice.step();
  }
  EXPECT_EQ(tap.tapped, long_prompts.find(long_prompt)->samples.size());  // each sample once
  EXPECT_FALSE(prompt_voice.busy());
}

TEST_F(VoiceTest, AFullPlaybackQueueKeepsTheRestUntilItHasPlayed) {
  out.capacity = 800;  // 100 ms
  voice.say("abcdefghijklmnopqrst");  // 200 ms of sound
  settle();
  EXPECT_EQ(out.queued.size(), 800u);
  EXPECT_TRUE(voice.busy());
  out.play_ms(100);
  voice.step();
  out.play_ms(100);
  voice.step();
  EXPECT_FALSE(voice.busy());
  EXPECT_EQ(tap.tapped, 320u + kPerChar * 20);  // every sample queued once
}

TEST_F(VoiceTest, BargeInDropsEverythingAndALateSynthesisDeliversNothing) {
  voice.say("hello");
  voice.say("a long answer");
  voice.step();
  ASSERT_EQ(compute.waiting(), 1u);  // the second is being synthesized
  voice.interrupt();
  EXPECT_TRUE(out.queued.empty());
  EXPECT_EQ(out.clears, 1);
  EXPECT_EQ(tap.clears, 1);
  EXPECT_TRUE(voice.quiet());
  const int wakes_before = wakes;
  compute.run_all();  // the job finds itself dropped
  EXPECT_EQ(wakes, wakes_before);
  voice.step();
  EXPECT_TRUE(out.queued.empty());
}

TEST_F(VoiceTest, ASynthesisFailureGivesUpTheRestWithAnApology) {
  int gave_up = 0;
  const auto id = voice.open({.first_audio = {}, .gave_up = [&] { ++gave_up; }});
  voice.add(id, "this will fail");
  voice.add(id, "never said");
  settle();
  EXPECT_EQ(gave_up, 1);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0], "no voice for that");
  EXPECT_EQ(out.loud(), kPerChar * 5);  // the cached apology
  voice.add(id, "also never said");
  settle();
  EXPECT_FALSE(voice.has(id));
  EXPECT_EQ(std::count(tts.spoken.begin(), tts.spoken.end(), "never said"), 0);
  EXPECT_EQ(std::count(tts.spoken.begin(), tts.spoken.end(), "also never said"), 0);
}

TEST_F(VoiceTest, UntilPlayedHoldsWhatFollowsUntilItWasHeard) {
  voice.say("hello", true);
  voice.say("sorry");
  settle();
  EXPECT_EQ(out.loud(), kPerChar * 5);  // only the first
  out.play_ms(10000);
  settle();
  EXPECT_EQ(out.loud(), kPerChar * 5);  // then the second
  EXPECT_FALSE(voice.busy());
}

}  // namespace
}  // namespace chalkbot
