// A replay (agent/replay.h) of real speech: three recorded sentences (pocketsphinx-testdata's
// LibriVox, at 8 kHz) with long pauses between them, through the configured VAD, Moonshine and
// flite, a scripted model standing in for the LLM. The turns it finds are the sentences, each
// ended in the pause after it; a second run finds the very same turns.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "agent/replay.h"
#include "media/wav.h"
#include "speech/wer.h"
#include "support/speech_edges.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

// Answers every question with the same short sentence (no network, no threads of its own).
class OkayModel final : public ChatModel {
 public:
  Result<ChatReply> stream(const std::vector<ChatMessage>& /*messages*/, const TokenSink& sink,
                           const CancelToken& /*cancel*/) override {
    const std::string text = "Okay.";
    sink(text);
    return ChatReply{text, false, 1};
  }
};

struct Sentence {
  std::string id;
  std::int64_t start_ms = 0;  // where it begins and ends in the replayed audio
  std::int64_t end_ms = 0;
  std::string reference;
};

constexpr std::int64_t kPauseMs = 3000;

std::int64_t length_ms(const Audio& audio) {
  return static_cast<std::int64_t>(audio.samples.size()) * 1000 / audio.sample_rate;
}

// Quiet line noise (not digital zero) between and around the sentences.
void add_noise(Audio& audio, std::int64_t ms) {
  const auto count = static_cast<std::size_t>(ms * kTelephoneRate / 1000);
  for (std::size_t i = 0; i < count; ++i) audio.samples.push_back(i % 2 == 0 ? 12 : -12);
}

class ReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_ = testing::default_settings();
    auto flow = CallFlow::from(settings_.flow);
    ASSERT_TRUE(flow.ok()) << flow.error().message;
    flow_ = std::move(*flow);
    auto asr = make_asr(settings_.asr);
    ASSERT_TRUE(asr.ok()) << asr.error().message;
    asr_ = std::move(*asr);
    auto tts = make_tts(settings_.tts);
    ASSERT_TRUE(tts.ok()) << tts.error().message;
    tts_ = std::move(*tts);

    const auto transcription =
        testing::read_transcription(testing::speech_data_dir() + "/librivox/transcription");
    const auto reference = [&](const std::string& id) {
      for (const auto& line : transcription) {
        if (line.id == id) return line.reference;
      }
      return std::string();
    };
    audio_.sample_rate = kTelephoneRate;
    add_noise(audio_, 1000);
    for (const char* id :
         {"sense_and_sensibility_01_austen_64kb-0880", "sense_and_sensibility_01_austen_64kb-0930",
          "sense_and_sensibility_01_austen_64kb-0890"}) {
      auto speech =
          read_wav(testing::speech_data_dir() + "/librivox/" + id + ".wav", kTelephoneRate);
      ASSERT_TRUE(speech.ok()) << speech.error().message;
      // Where the voice is, by energy (the files begin and end with some silence).
      const testing::SpeechEdges voice = testing::energy_edges(*speech);
      const std::int64_t offset = length_ms(audio_);
      const Sentence sentence{id, offset + std::llround(voice.start_ms),
                              offset + std::llround(voice.end_ms), reference(id)};
      audio_.samples.insert(audio_.samples.end(), speech->samples.begin(), speech->samples.end());
      sentences_.push_back(sentence);
      add_noise(audio_, kPauseMs);
    }
  }

  ReplayResult replay(const Settings& settings) {
    ReplayOptions options;
    options.greeting = false;  // the caller speaks first
    auto result = replay_audio({*asr_, *tts_, model_, settings, *flow_}, audio_, options);
    EXPECT_TRUE(result.ok()) << result.error().message;
    return result ? *result : ReplayResult{};
  }

  Settings settings_;
  std::optional<CallFlow> flow_;
  std::unique_ptr<Asr> asr_;
  std::unique_ptr<Tts> tts_;
  OkayModel model_;
  Audio audio_;
  std::vector<Sentence> sentences_;
};

// What must not change between two replays of the same audio (the real compute times may).
std::string decisions(const ReplayResult& result) {
  std::string out = result.end_reason + " " + std::to_string(result.audio_ms) + "\n";
  for (const ReplayTurn& turn : result.turns) {
    out += std::to_string(turn.speech_start_ms) + " " + std::to_string(turn.speech_end_ms) + " " +
           std::to_string(turn.endpoint_ms) + " " + std::to_string(turn.answer_audio_ms) + " " +
           (turn.interrupted ? "interrupted " : "") + turn.heard + " -> " + turn.answer + "\n";
  }
  return out;
}

TEST_F(ReplayTest, TurnsEndInThePausesBetweenSentences) {
  const ReplayResult result = replay(settings_);
  ASSERT_EQ(result.turns.size(), sentences_.size()) << decisions(result);
  for (std::size_t i = 0; i < sentences_.size(); ++i) {
    const ReplayTurn& turn = result.turns[i];
    const Sentence& sentence = sentences_[i];
    SCOPED_TRACE(sentence.id + ": " + decisions(result));
    // The turn holds the sentence and ends in the pause after it (not inside it, not later).
    EXPECT_NEAR(static_cast<double>(turn.speech_start_ms), static_cast<double>(sentence.start_ms),
                150);
    EXPECT_GE(turn.endpoint_ms, sentence.end_ms);
    EXPECT_LT(turn.endpoint_ms, sentence.end_ms + settings_.vad.unfinished_silence_ms + 200);
    EXPECT_EQ(turn.end_of_turn_wait_ms(), turn.endpoint_ms - turn.speech_end_ms);
    EXPECT_LT(word_error_rate(sentence.reference, turn.heard), 0.5) << turn.heard;
    EXPECT_TRUE(turn.answered);
    EXPECT_EQ(turn.answer, "Okay.");
    EXPECT_GT(turn.answer_audio_ms, 100);  // the bot's answer takes virtual time
    EXPECT_FALSE(turn.interrupted);
  }
  // Faster than real time (the whole replay, decodes and syntheses included).
  EXPECT_LT(result.wall_ms, static_cast<double>(result.audio_ms));
  std::printf("[ figures ] replay: %lld ms of audio in %.0f ms (%.1fx real time)\n",
              static_cast<long long>(result.audio_ms), result.wall_ms,
              static_cast<double>(result.audio_ms) / result.wall_ms);
}

TEST_F(ReplayTest, SameInputSameTurns) {
  const ReplayResult first = replay(settings_);
  const ReplayResult second = replay(settings_);
  EXPECT_EQ(first.turns.size(), sentences_.size()) << decisions(first);
  EXPECT_EQ(decisions(first), decisions(second));
}

TEST_F(ReplayTest, AnEndOfTurnSettingMovesTheTurnEnds) {
  // A turn now needs 1.5 s of silence whatever its words: each ends later than before.
  const ReplayResult before = replay(settings_);
  Settings slower = settings_;
  slower.vad.finished_silence_ms = 0;
  slower.vad.end_silence_ms = 1500;
  slower.vad.unfinished_silence_ms = 1500;
  const ReplayResult after = replay(slower);
  ASSERT_EQ(before.turns.size(), sentences_.size()) << decisions(before);
  ASSERT_EQ(after.turns.size(), sentences_.size()) << decisions(after);
  for (std::size_t i = 0; i < before.turns.size(); ++i) {
    EXPECT_GE(after.turns[i].end_of_turn_wait_ms(), 1500);
    EXPECT_GT(after.turns[i].endpoint_ms, before.turns[i].endpoint_ms);
  }
}

TEST(Replay, AudioNotAt8kHzIsAnError) {
  Settings settings = testing::default_settings();
  auto flow = CallFlow::from(settings.flow);
  ASSERT_TRUE(flow.ok());
  auto tts = make_tts(settings.tts);
  ASSERT_TRUE(tts.ok());
  OkayModel model;
  auto asr = make_asr(settings.asr);
  ASSERT_TRUE(asr.ok());
  const Audio wideband{16000, std::vector<Sample>(16000, 0)};
  auto result = replay_audio({**asr, **tts, model, settings, *flow}, wideband);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("8 kHz"), std::string::npos);
}

}  // namespace
}  // namespace chalkbot
