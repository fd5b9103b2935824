// The call's turn-taking on a virtual clock: every behaviour of a call, in milliseconds, with a
// scripted voice detector (loud frames are voiced), a scripted recogniser and a scripted bot voice
// whose talking takes virtual time.
#include "agent/turn_machine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <deque>
#include <functional>

#include "agent/conversation.h"
#include "core/config.h"
#include "support/inline_executor.h"

namespace chalkbot {
namespace {

constexpr std::size_t kSamplesPerFrame = kTelephoneRate * kFrameMs / 1000;
constexpr std::int64_t kNetworkDelayMs = 60;  // said -> heard by the machine (RTP + jitter)

class VirtualClock final : public WallClock {
 public:
  std::int64_t now_ms() const override { return now_; }
  void advance(std::int64_t ms) { now_ += ms; }

 private:
  std::int64_t now_ = 1'800'000'000'000;
};

// Voiced when loud, and for `hangover_ms` after (as real VADs do, so as not to cut a soft word
// ending): the tests decide what the caller says frame by frame.
class LoudnessVad final : public VoiceDetector {
 public:
  explicit LoudnessVad(int hangover_ms) : hangover_frames_(hangover_ms / kFrameMs) {}
  int sample_rate() const override { return kTelephoneRate; }
  std::size_t frame_samples() const override { return kSamplesPerFrame; }
  Result<bool> is_voiced(Samples frame) override {
    const bool loud =
        std::any_of(frame.begin(), frame.end(), [](Sample s) { return s > 1000 || s < -1000; });
    frames_since_loud_ = loud ? 0 : frames_since_loud_ + 1;
    return frames_since_loud_ <= hangover_frames_;
  }

 private:
  int hangover_frames_;
  int frames_since_loud_ = 1 << 20;
};

// Hears whatever `words` says at the time it is asked (the test changes it as the caller talks).
struct ScriptedAsr final : Asr {
  std::string words;
  int open_failures = 0;    // the next opens fail (the engine is overloaded)
  int finish_failures = 0;  // the next finishes fail
  int opened = 0;
  int decodes_ahead = 0;
  int words_kept = 0;  // partial(): the words so far kept as decoded
  std::vector<std::int64_t> speculations;  // the clock at each
  std::size_t samples_heard = 0;

  struct Stream final : AsrStream {
    explicit Stream(ScriptedAsr& engine) : asr(engine) {}
    void accept(Samples samples) override { asr.samples_heard += samples.size(); }
    Status finish() override {
      if (asr.finish_failures > 0) {
        --asr.finish_failures;
        return make_error("the decoder failed");
      }
      return {};
    }
    std::string result() const override { return asr.words; }
    std::string partial() override {
      ++asr.words_kept;
      return asr.words;
    }
    void decode_ahead() override { ++asr.decodes_ahead; }
    std::string speculate() override {
      asr.speculations.push_back(asr.clock->now_ms());
      return asr.words;
    }
    ScriptedAsr& asr;
  };
  const WallClock* clock = nullptr;

  Result<std::unique_ptr<AsrStream>> open(int) override {
    if (open_failures > 0) {
      --open_failures;
      return make_error("every recognizer is busy");
    }
    ++opened;
    return std::unique_ptr<AsrStream>(std::make_unique<Stream>(*this));
  }
  std::string name() const override { return "scripted"; }
};

// The recogniser's results, handed to the machine by the call's thread (settle()) as CallAgent
// posts them: `delay_ms` after they were asked for, as a decode on a busy machine would take.
class ResultInbox final : public RecognitionResults {
 public:
  explicit ResultInbox(const VirtualClock& clock) : clock_(clock) {}
  void words_heard(std::uint64_t utterance, std::string words) override {
    add([=](TurnMachine& m) { m.words_heard(utterance, words); });
  }
  void recognized(std::uint64_t utterance, Result<std::string> words) override {
    add([=](TurnMachine& m) { m.recognized(utterance, words); });
  }
  // Delivers the results that are due, in order; false when none was.
  bool deliver(TurnMachine& machine) {
    bool delivered = false;
    while (!results_.empty() && results_.front().due <= clock_.now_ms()) {
      auto result = std::move(results_.front().deliver);
      results_.pop_front();
      result(machine);
      delivered = true;
    }
    return delivered;
  }
  std::int64_t delay_ms = 0;

 private:
  struct Pending {
    std::int64_t due;
    std::function<void(TurnMachine&)> deliver;
  };
  void add(std::function<void(TurnMachine&)> deliver) {
    results_.push_back({clock_.now_ms() + delay_ms, std::move(deliver)});
  }
  const VirtualClock& clock_;
  std::deque<Pending> results_;
};

// The bot's voice: what it is asked to do, and talking that takes virtual time (kMsPerWord per
// word of a prompt, kAnswerMs for an answer).
class ScriptedActions final : public CallActions {
 public:
  static constexpr std::int64_t kMsPerWord = 200;
  static constexpr std::int64_t kAnswerMs = 4000;

  struct Answered {
    std::string question;
    std::string continues;
    StageTimes times;
  };

  explicit ScriptedActions(const VirtualClock& clock) : clock_(clock) {}

  void say(const std::string& text, bool) override {
    said.push_back(text);
    talk(kMsPerWord * static_cast<std::int64_t>(words_of(text).size()));
  }
  void answer(std::string question, StageTimes times, std::string continues) override {
    last_answer_ = "The answer to " + question;
    answers.push_back({std::move(question), std::move(continues), times});
    talk(kAnswerMs);
  }
  void interrupt() override {
    ++interrupts;
    talking_until_ = std::min(talking_until_, clock_.now_ms());
  }
  bool quiet() const override { return clock_.now_ms() >= talking_until_; }
  std::uint64_t talk_spurts() const override { return spurts_; }
  std::string last_answer() const override { return last_answer_; }
  void prefetch(const std::string& likely_question) override {
    prefetches.push_back(likely_question);
  }
  void discard_prefetch() override { ++discards; }
  void store_caller_turn(const std::string& text, const StageTimes&) override {
    stored.push_back(text);
  }
  void provider_failed(const std::string& provider, const Error&) override {
    failures.push_back(provider);
  }
  void transfer(const std::string& target) override { transfers.push_back(target); }

  bool saying(const std::string& text) const {
    return std::find(said.begin(), said.end(), text) != said.end();
  }

  std::vector<std::string> said;
  std::vector<Answered> answers;
  std::vector<std::string> prefetches;
  std::vector<std::string> stored;
  std::vector<std::string> failures;
  std::vector<std::string> transfers;
  int interrupts = 0;
  int discards = 0;

 private:
  void talk(std::int64_t ms) {
    if (quiet()) ++spurts_;
    talking_until_ = std::max(talking_until_, clock_.now_ms()) + ms;
  }

  const VirtualClock& clock_;
  std::int64_t talking_until_ = 0;
  std::uint64_t spurts_ = 0;
  std::string last_answer_;
};

// Two moments on the millisecond timeline are within `tolerance` of each other.
::testing::AssertionResult within_ms(std::int64_t actual, std::int64_t expected,
                                     std::int64_t tolerance) {
  if (std::abs(actual - expected) <= tolerance) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << actual << " is not within " << tolerance << " ms of " << expected;
}

Settings default_settings() {
  ConfigSources sources;
  sources.env = [](const std::string&) { return std::optional<std::string>(); };
  auto settings = load_settings(sources);
  EXPECT_TRUE(settings.ok());
  return *settings;
}

class TurnMachineTest : public ::testing::Test {
 protected:
  void start() {
    auto parsed = CallFlow::from(settings.flow);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    flow = std::make_unique<CallFlow>(std::move(*parsed));
    asr.clock = &clock;
    machine = std::make_unique<TurnMachine>(
        TurnMachine::Services{settings, *flow, recognizer, actions, clock}, "call-1",
        std::make_unique<LoudnessVad>(vad_hangover_ms));
    machine->start();
  }
  // The decodes that are due run, and their results reach the machine.
  void settle() {
    while (compute.run_all() || inbox.deliver(*machine)) {
    }
  }

  // `ms` of the call as its thread lives it: each 20 ms the clock moves, the machine ticks and
  // hears one frame of the caller (voiced or silent).
  void frames(std::int64_t ms, bool voiced) {
    std::array<Sample, kSamplesPerFrame> frame{};
    if (voiced) frame.fill(8000);
    for (std::int64_t t = 0; t < ms && !machine->done(); t += kFrameMs) {
      clock.advance(kFrameMs);
      settle();
      machine->tick();
      machine->hear(frame, clock.now_ms() - kNetworkDelayMs);
      settle();
    }
  }
  void silence(std::int64_t ms) { frames(ms, false); }
  void speak(std::int64_t ms) { frames(ms, true); }
  // The caller says `words` (heard by the recogniser as such) for `ms`.
  void says(const std::string& words, std::int64_t ms = 800) {
    asr.words = words;
    speak(ms);
  }
  // Silence until the bot has stopped talking (bounded: a test that never gets quiet fails).
  void until_quiet() {
    for (int i = 0; i < 3000 && !actions.quiet() && !machine->done(); ++i) silence(kFrameMs);
    ASSERT_TRUE(actions.quiet());
  }
  // Greeted, and the greeting has been heard.
  void start_and_listen() {
    start();
    until_quiet();
    silence(100);
  }

  Settings settings = default_settings();
  int vad_hangover_ms = 0;
  VirtualClock clock;
  ScriptedAsr asr;
  testing::InlineExecutor compute;  // jobs run when the call's thread next looks (settle())
  ResultInbox inbox{clock};
  PooledRecognizer recognizer{asr, compute, inbox};
  ScriptedActions actions{clock};
  std::unique_ptr<CallFlow> flow;
  std::unique_ptr<TurnMachine> machine;
};

TEST_F(TurnMachineTest, GreetsAndAnswersAQuestionWithTheCallersTimes) {
  start();
  ASSERT_EQ(actions.said.size(), 1u);
  EXPECT_EQ(actions.said[0], settings.flow.greeting);
  until_quiet();
  silence(100);

  const std::int64_t speech_from = clock.now_ms();
  says("Can you book me a table for two", 1000);
  const std::int64_t voice_end = clock.now_ms() - kNetworkDelayMs;
  silence(400);
  ASSERT_EQ(actions.answers.size(), 1u);
  const auto& answer = actions.answers[0];
  EXPECT_EQ(answer.question, "Can you book me a table for two");
  EXPECT_TRUE(answer.continues.empty());
  // The stamps are when the caller said it, not when the machine heard it.
  ASSERT_TRUE(answer.times.speech_start && answer.times.speech_end && answer.times.endpoint);
  EXPECT_TRUE(within_ms(*answer.times.speech_start, speech_from - kNetworkDelayMs, kFrameMs));
  EXPECT_TRUE(within_ms(*answer.times.speech_end, voice_end, kFrameMs));
  // No question mark: the whole end-of-turn silence is waited for.
  EXPECT_TRUE(within_ms(*answer.times.endpoint - (voice_end + kNetworkDelayMs),
                        settings.vad.end_silence_ms, kFrameMs));
  EXPECT_FALSE(machine->done());
}

TEST_F(TurnMachineTest, AQuestionEndsItsTurnAtTheShorterPause) {
  start_and_listen();
  says("What time do you open on Sunday?");
  const std::int64_t heard_end = clock.now_ms();
  silence(400);
  ASSERT_EQ(actions.answers.size(), 1u);
  // The turn ends on the frame that makes the pause long enough, not one frame later.
  const std::int64_t waited = *actions.answers[0].times.endpoint - heard_end;
  EXPECT_GE(waited, settings.vad.finished_silence_ms);
  EXPECT_LT(waited, settings.vad.finished_silence_ms + kFrameMs);
}

// The pause is counted from the VAD's decision: its hangover is part of the wait (measured on
// real speech through u-law, Silero's "unvoiced" comes within a frame of where the voice falls
// 30 dB below its peak, so counting from the audio instead gained ~7 ms: not done).
TEST_F(TurnMachineTest, TheEndSilenceIsCountedFromTheVadsDecision) {
  vad_hangover_ms = 200;
  start_and_listen();
  says("I would like a table for two");
  const std::int64_t heard_end = clock.now_ms();
  silence(800);
  ASSERT_EQ(actions.answers.size(), 1u);
  EXPECT_TRUE(within_ms(*actions.answers[0].times.endpoint - heard_end,
                        vad_hangover_ms + settings.vad.end_silence_ms, kFrameMs));
}

TEST_F(TurnMachineTest, UnfinishedWordsWaitForTheCallerToGoOn) {
  start_and_listen();
  says("I would like to book a table and");
  silence(600);  // longer than vad.end_silence_ms, shorter than vad.unfinished_silence_ms
  EXPECT_TRUE(actions.answers.empty());
  says("I would like to book a table and a taxi", 600);
  silence(400);
  ASSERT_EQ(actions.answers.size(), 1u);
  EXPECT_EQ(actions.answers[0].question, "I would like to book a table and a taxi");
  EXPECT_EQ(asr.opened, 1);  // one utterance
}

TEST_F(TurnMachineTest, AGreetingThenABreathThenTheQuestionIsOneTurn) {
  start_and_listen();
  says("Hello.", 500);
  silence(500);
  EXPECT_TRUE(actions.answers.empty());
  says("Hello. What time do you open on Sunday?", 1200);
  silence(400);
  ASSERT_EQ(actions.answers.size(), 1u);
  EXPECT_EQ(actions.answers[0].question, "Hello. What time do you open on Sunday?");
}

TEST_F(TurnMachineTest, AnUnfinishedPauseStillEndsAtTheLongerSilence) {
  start_and_listen();
  says("I need um");
  silence(settings.vad.unfinished_silence_ms - 100);
  EXPECT_TRUE(actions.answers.empty());
  silence(200);
  ASSERT_EQ(actions.answers.size(), 1u);
}

TEST_F(TurnMachineTest, GoingOnAfterTheTurnEndedContinuesTheSameTurn) {
  start_and_listen();
  says("I need a taxi.");
  silence(400);  // the turn ends: the bot begins to answer
  ASSERT_EQ(actions.answers.size(), 1u);
  const int interrupts_before = actions.interrupts;
  says("To the airport tomorrow morning.", 800);     // within vad.continue_turn_ms
  EXPECT_GT(actions.interrupts, interrupts_before);  // the half answer is dropped
  silence(400);
  ASSERT_EQ(actions.answers.size(), 2u);
  EXPECT_EQ(actions.answers[1].continues, "I need a taxi.");
  EXPECT_EQ(actions.answers[1].question, "I need a taxi. To the airport tomorrow morning.");
  // The one turn began where the caller began.
  EXPECT_EQ(actions.answers[1].times.speech_start, actions.answers[0].times.speech_start);
}

TEST_F(TurnMachineTest, SpeakingAfterTheContinueWindowIsANewTurn) {
  start_and_listen();
  says("I need a taxi.");
  silence(400);
  silence(settings.vad.continue_turn_ms + 5000);  // the answer (4 s) is heard in full
  says("Thank you. And a hotel?");
  silence(400);
  ASSERT_EQ(actions.answers.size(), 2u);
  EXPECT_TRUE(actions.answers[1].continues.empty());
  EXPECT_EQ(actions.answers[1].question, "Thank you. And a hotel?");
}

TEST_F(TurnMachineTest, APrefetchGoesOutAtTheFirstPauseAndIsKeptWhenTheTurnEnds) {
  start_and_listen();
  says("What is the capital of France");
  silence(settings.llm.prefetch_pause_ms + kFrameMs);
  ASSERT_EQ(actions.prefetches.size(), 1u);
  EXPECT_EQ(actions.prefetches[0], "What is the capital of France");
  silence(400);
  ASSERT_EQ(actions.answers.size(), 1u);
  EXPECT_EQ(actions.answers[0].question, actions.prefetches[0]);
  EXPECT_EQ(actions.discards, 0);
}

TEST_F(TurnMachineTest, TheWordsAreDecodedEarlyInEachPauseThatMayEndTheTurn) {
  start_and_listen();
  says("What is the capital");
  silence(40);  // a gap inside the sentence: too short
  says("What is the capital of", 400);
  EXPECT_TRUE(asr.speculations.empty());
  silence(100);  // a pause: the words may be all
  ASSERT_EQ(asr.speculations.size(), 1u);
  says("What is the capital of France?", 400);  // ... they were not
  const std::int64_t voice_end = clock.now_ms();
  silence(400);
  ASSERT_EQ(asr.speculations.size(), 2u);
  EXPECT_TRUE(
      within_ms(asr.speculations[1] - voice_end, 60, kFrameMs));  // before the prefetch and the end
  ASSERT_EQ(actions.answers.size(), 1u);
}

TEST_F(TurnMachineTest, APrefetchIsDiscardedWhenTheCallerGoesOn) {
  start_and_listen();
  says("What is the capital");
  silence(settings.llm.prefetch_pause_ms + 60);  // a pause, but not the end of the turn
  says("What is the capital of France", 600);
  EXPECT_EQ(actions.discards, 1);
  silence(400);
  ASSERT_EQ(actions.prefetches.size(), 2u);
  ASSERT_EQ(actions.answers.size(), 1u);
  EXPECT_EQ(actions.answers[0].question, "What is the capital of France");
}

TEST_F(TurnMachineTest, NoPrefetchForUnfinishedWordsOrAGoodbye) {
  start_and_listen();
  says("Can you tell me about");
  silence(settings.llm.prefetch_pause_ms + 60);
  says("Okay, goodbye", 600);
  silence(settings.llm.prefetch_pause_ms + 60);
  EXPECT_TRUE(actions.prefetches.empty());
}

TEST_F(TurnMachineTest, LongSpeechIsDecodedAheadWhileTheCallerTalks) {
  start_and_listen();
  says("and then there was the long story of my holiday", 3500);
  EXPECT_EQ(asr.decodes_ahead, 3500 / settings.asr.decode_ahead_ms);
}

TEST_F(TurnMachineTest, TheCallerInterruptsTheBotAfterTheEchoGuard) {
  start_and_listen();
  says("Tell me a long story.");
  silence(400);
  ASSERT_EQ(actions.answers.size(), 1u);
  ASSERT_FALSE(actions.quiet());
  // The bot talks on past the window in which the caller would continue their turn.
  silence(settings.vad.end_silence_ms + settings.vad.continue_turn_ms + 100);
  const int interrupts_before = actions.interrupts;
  says("Stop. What time is it?", settings.flow.barge_in_min_ms + 100);
  EXPECT_EQ(actions.interrupts, interrupts_before + 1);
  EXPECT_TRUE(actions.quiet());
  silence(400);
  ASSERT_EQ(actions.answers.size(), 2u);
  EXPECT_EQ(actions.answers[1].question, "Stop. What time is it?");
}

TEST_F(TurnMachineTest, TheBotsOwnEchoRightAfterItStartsTalkingIsNotHeard) {
  start();  // the greeting is being said
  says("(echo of the greeting)", settings.flow.echo_guard_ms - 2 * kFrameMs);
  silence(1000);
  EXPECT_EQ(actions.interrupts, 0);
  EXPECT_EQ(asr.opened, 0);
}

TEST_F(TurnMachineTest, AShortNoiseOverTheBotIsNoInterruptionAndNoQuestion) {
  start_and_listen();
  says("Tell me a long story.");
  silence(settings.vad.end_silence_ms + settings.vad.continue_turn_ms + 100);
  says("(cough)", settings.vad.speech_start_ms + 20);  // shorter than flow.barge_in_min_ms
  silence(400);
  EXPECT_EQ(actions.interrupts, 0);
  EXPECT_EQ(actions.answers.size(), 1u);
}

TEST_F(TurnMachineTest, WithBargeInOffTheBotTalksOnAndTheWordsOverItAreDropped) {
  settings.flow.barge_in = false;
  start_and_listen();
  says("Tell me a long story.");
  silence(settings.vad.end_silence_ms + settings.vad.continue_turn_ms + 100);
  says("Stop, stop.", 600);
  silence(400);
  EXPECT_EQ(actions.interrupts, 0);
  EXPECT_EQ(actions.answers.size(), 1u);
}

TEST_F(TurnMachineTest, ASilentCallerIsRepromptedThenTheCallEnds) {
  start_and_listen();
  silence(settings.vad.no_input_timeout_ms + 100);
  EXPECT_TRUE(actions.saying(settings.flow.reprompt));
  for (int i = 0; i < settings.flow.max_silent_prompts + 2 && !machine->done(); ++i) {
    until_quiet();
    silence(settings.vad.no_input_timeout_ms + 100);
  }
  EXPECT_EQ(std::count(actions.said.begin(), actions.said.end(), settings.flow.reprompt),
            settings.flow.max_silent_prompts);
  EXPECT_EQ(machine->end_reason(), "silence");
  EXPECT_EQ(actions.said.back(), settings.flow.farewell);
  until_quiet();
  silence(kFrameMs);
  EXPECT_TRUE(machine->done());
  EXPECT_TRUE(machine->hang_up_wanted());
}

TEST_F(TurnMachineTest, AnAnsweredQuestionResetsTheSilentPrompts) {
  start_and_listen();
  for (int round = 0; round < 3; ++round) {
    silence(settings.vad.no_input_timeout_ms + 100);  // a reprompt
    until_quiet();
    says("What time is it?");
    silence(300);
    until_quiet();
  }
  EXPECT_FALSE(machine->done());
  EXPECT_EQ(actions.answers.size(), 3u);
}

TEST_F(TurnMachineTest, TheCallEndsAtItsMaximumDurationWithAFarewell) {
  settings.flow.max_call_s = 5;
  start_and_listen();
  says("Tell me a long story.");
  silence(5000);
  EXPECT_EQ(machine->end_reason(), "max_duration");
  EXPECT_TRUE(actions.saying(settings.flow.farewell));
  until_quiet();
  silence(kFrameMs);
  EXPECT_TRUE(machine->done());
}

TEST_F(TurnMachineTest, ARecognizerThatCannotBeHadGetsAnApologyAndTheCallGoesOn) {
  start_and_listen();
  asr.open_failures = 1;
  says("What time is it?");
  silence(400);
  EXPECT_EQ(actions.failures, std::vector<std::string>{"asr"});
  EXPECT_TRUE(actions.saying(kApology));
  EXPECT_TRUE(actions.answers.empty());
  until_quiet();
  says("What time is it?");
  silence(400);
  EXPECT_EQ(actions.answers.size(), 1u);
}

TEST_F(TurnMachineTest, ARecognizerThatFailsAtTheEndGetsAnApologyAndTheCallGoesOn) {
  start_and_listen();
  asr.finish_failures = 1;
  says("What time is it?");
  silence(400);
  EXPECT_EQ(actions.failures, std::vector<std::string>{"asr"});
  EXPECT_TRUE(actions.saying(kApology));
  until_quiet();
  says("What time is it?");
  silence(400);
  EXPECT_EQ(actions.answers.size(), 1u);
}

TEST_F(TurnMachineTest, NothingRecognisedIsNoQuestion) {
  start_and_listen();
  says("");
  silence(400);
  EXPECT_TRUE(actions.answers.empty());
  EXPECT_EQ(actions.said.size(), 1u);  // the greeting only
}

TEST_F(TurnMachineTest, AGoodbyeIsStoredAndEndsTheCallWithTheFarewell) {
  start_and_listen();
  says("Okay, goodbye.");
  silence(400);
  EXPECT_TRUE(actions.answers.empty());
  EXPECT_EQ(actions.stored, std::vector<std::string>{"Okay, goodbye."});
  EXPECT_EQ(machine->end_reason(), "caller_goodbye");
  EXPECT_FALSE(machine->listening());
  until_quiet();
  silence(kFrameMs);
  EXPECT_TRUE(machine->done());
  EXPECT_TRUE(machine->hang_up_wanted());
}

TEST_F(TurnMachineTest, KeysRepeatTheLastAnswerAndHangUp) {
  start_and_listen();
  machine->dtmf('0');  // nothing answered yet: nothing to repeat
  EXPECT_EQ(actions.said.size(), 1u);
  says("What time is it?");
  silence(400);
  machine->dtmf('0');
  EXPECT_EQ(actions.said.back(), "The answer to What time is it?");
  machine->dtmf('#');
  EXPECT_EQ(machine->end_reason(), "dtmf_hangup");
  EXPECT_EQ(actions.said.back(), settings.flow.farewell);
}

class TransferTest : public TurnMachineTest {
 protected:
  void SetUp() override {
    settings.flow.transfer_to = "sip:desk@example.com";
    start_and_listen();
  }
  // The caller asks for a person; the bot announces the transfer and asks for it.
  void asked_for_a_person() {
    says("Let me talk to a representative.");
    silence(400);
    EXPECT_EQ(actions.stored, std::vector<std::string>{"Let me talk to a representative."});
    EXPECT_TRUE(actions.saying(settings.flow.transfer_message));
    EXPECT_TRUE(actions.transfers.empty());  // not before the caller has heard the message
    until_quiet();
    silence(kFrameMs);
    EXPECT_EQ(actions.transfers, std::vector<std::string>{settings.flow.transfer_to});
  }
};

TEST_F(TransferTest, TheCallersPhoneHangingUpAfterAcceptingIsATransfer) {
  asked_for_a_person();
  says("(music on the line)", 1000);  // not listening while handed over
  EXPECT_EQ(asr.opened, 1);
  machine->transfer_news(TransferNews::kAccepted, "202 Accepted");
  silence(200);
  machine->remote_ended("remote-bye");
  EXPECT_TRUE(machine->done());
  EXPECT_EQ(machine->end_reason(), "transferred");
  EXPECT_FALSE(machine->hang_up_wanted());
}

TEST_F(TransferTest, SuccessNewsEndsTheCallWithoutAFarewell) {
  asked_for_a_person();
  machine->transfer_news(TransferNews::kSucceeded, "200 OK");
  silence(kFrameMs);
  EXPECT_TRUE(machine->done());
  EXPECT_EQ(machine->end_reason(), "transferred");
  EXPECT_TRUE(machine->hang_up_wanted());
  EXPECT_FALSE(actions.saying(settings.flow.farewell));
}

TEST_F(TransferTest, AFailedTransferIsSaidAndTheCallGoesOn) {
  asked_for_a_person();
  machine->transfer_news(TransferNews::kFailed, "603 Declined");
  silence(kFrameMs);
  EXPECT_TRUE(actions.saying(settings.flow.transfer_failed));
  EXPECT_TRUE(machine->listening());
  until_quiet();
  says("What time is it?");
  silence(400);
  EXPECT_EQ(actions.answers.size(), 1u);
}

TEST_F(TransferTest, NoNewsInTimeTakesTheCallBack) {
  asked_for_a_person();
  silence(29'000);
  EXPECT_FALSE(actions.saying(settings.flow.transfer_failed));
  silence(1'100);
  EXPECT_TRUE(actions.saying(settings.flow.transfer_failed));
  EXPECT_TRUE(machine->listening());
}

TEST_F(TurnMachineTest, AKeyAsksForTheTransferToo) {
  settings.flow.transfer_to = "sip:desk@example.com";
  settings.flow.dtmf_actions = "9=transfer";
  start_and_listen();
  machine->dtmf('9');
  EXPECT_TRUE(actions.saying(settings.flow.transfer_message));
  machine->dtmf('0');  // being handed over: ignored
  until_quiet();
  silence(kFrameMs);
  EXPECT_EQ(actions.transfers.size(), 1u);
}

// The model's tools decide too (agent/call_tools.h): its answer is heard out first, then the
// call is handed over or ended, as a caller's phrase or key would do it.
TEST_F(TransferTest, TheModelsTransferWaitsForItsWordsThenAsksForTheTransfer) {
  says("I have a problem with my bill.");
  silence(400);
  ASSERT_EQ(actions.answers.size(), 1u);  // the model answers, and while it talks asks for a person
  silence(1000);
  const int interrupts = actions.interrupts;
  machine->model_transfers("billing dispute", /*said_something=*/true);
  EXPECT_EQ(actions.interrupts, interrupts);  // its words are not cut
  EXPECT_FALSE(actions.saying(settings.flow.transfer_message));  // it said its own
  EXPECT_FALSE(machine->listening());
  silence(1000);
  EXPECT_TRUE(actions.transfers.empty());  // the answer is still being heard
  until_quiet();
  silence(kFrameMs);
  EXPECT_EQ(actions.transfers, std::vector<std::string>{settings.flow.transfer_to});
  machine->transfer_news(TransferNews::kSucceeded, "200 OK");
  silence(kFrameMs);
  EXPECT_EQ(machine->end_reason(), "transferred");
}

TEST_F(TransferTest, AModelThatSaidNothingHasTheTransferMessageSaid) {
  says("Put me through please.");
  silence(400);
  machine->model_transfers("", /*said_something=*/false);
  EXPECT_TRUE(actions.saying(settings.flow.transfer_message));
  until_quiet();
  silence(kFrameMs);
  EXPECT_EQ(actions.transfers.size(), 1u);
}

TEST_F(TurnMachineTest, TheModelEndsTheCallAfterItsGoodbyeIsHeard) {
  start_and_listen();
  says("That was all, thank you.");
  silence(400);
  ASSERT_EQ(actions.answers.size(), 1u);
  const int interrupts = actions.interrupts;
  machine->model_ends_call(/*said_goodbye=*/true);
  EXPECT_EQ(actions.interrupts, interrupts);
  EXPECT_FALSE(actions.saying(settings.flow.farewell));
  EXPECT_FALSE(machine->listening());
  silence(2000);
  EXPECT_FALSE(machine->done());  // the goodbye (the answer: 4 s) is still playing
  silence(2200);
  EXPECT_TRUE(machine->done());
  EXPECT_EQ(machine->end_reason(), "model_end_call");
  EXPECT_TRUE(machine->hang_up_wanted());
}

TEST_F(TurnMachineTest, AModelEndingTheCallWithoutAGoodbyeHasTheFarewellSaid) {
  start_and_listen();
  machine->model_ends_call(/*said_goodbye=*/false);
  EXPECT_EQ(actions.said.back(), settings.flow.farewell);
  until_quiet();
  silence(kFrameMs);
  EXPECT_TRUE(machine->done());
  EXPECT_TRUE(machine->hang_up_wanted());
}

// The far end hangs up in each state the call can be in: the call ends at once, without a
// farewell, and nothing more is asked of the bot.
enum class State {
  kGreeting,
  kCallerSpeaking,
  kPrefetched,
  kRecognizing,  // the turn ended, its words are still being decoded
  kAnswering,
  kTransferring,
  kFarewell
};

class HangUpTest : public TurnMachineTest, public ::testing::WithParamInterface<State> {};

TEST_P(HangUpTest, TheFarEndHangingUpEndsTheCallAtOnce) {
  settings.flow.transfer_to = "sip:desk@example.com";
  start();
  std::string reason = "remote-bye";
  switch (GetParam()) {
    case State::kGreeting:
      break;
    case State::kCallerSpeaking:
      until_quiet();
      says("What is the capital", 500);
      break;
    case State::kPrefetched:
      until_quiet();
      says("What is the capital", 500);
      silence(settings.llm.prefetch_pause_ms + kFrameMs);
      ASSERT_EQ(actions.prefetches.size(), 1u);
      break;
    case State::kRecognizing:
      until_quiet();
      says("What is the capital?");
      inbox.delay_ms = 5000;
      silence(400);
      ASSERT_TRUE(actions.answers.empty());
      break;
    case State::kAnswering:
      until_quiet();
      says("What is the capital?");
      silence(400);
      ASSERT_FALSE(actions.quiet());
      break;
    case State::kTransferring:
      until_quiet();
      says("Let me talk to a representative.");
      silence(400);
      ASSERT_FALSE(machine->listening());
      break;
    case State::kFarewell:
      until_quiet();
      says("Goodbye.");
      silence(400);
      ASSERT_FALSE(actions.quiet());
      reason = "caller_goodbye";  // the call was already ending for its own reason
      break;
  }
  const std::size_t said = actions.said.size();
  const std::size_t answers = actions.answers.size();
  machine->remote_ended("remote-bye");
  EXPECT_TRUE(machine->done());
  EXPECT_FALSE(machine->hang_up_wanted());
  EXPECT_EQ(machine->end_reason(), reason);
  says("What time is it?", 800);
  silence(6000);  // (long enough for a slow decode to come back)
  machine->dtmf('0');
  EXPECT_EQ(actions.said.size(), said);
  EXPECT_EQ(actions.answers.size(), answers);
  EXPECT_TRUE(actions.transfers.empty());
}

INSTANTIATE_TEST_SUITE_P(EveryState, HangUpTest,
                         ::testing::Values(State::kGreeting, State::kCallerSpeaking,
                                           State::kPrefetched, State::kRecognizing,
                                           State::kAnswering, State::kTransferring,
                                           State::kFarewell));

TEST_F(TurnMachineTest, MediaStoppingEndsTheCallWithoutAFarewell) {
  start_and_listen();
  machine->end("rtp_timeout", false);
  EXPECT_TRUE(machine->done());
  EXPECT_TRUE(machine->hang_up_wanted());
  EXPECT_EQ(machine->end_reason(), "rtp_timeout");
}

TEST_F(TurnMachineTest, ADrainLetsTheTurnInProgressFinishThenSaysTheFarewell) {
  start_and_listen();
  says("What is the capital of France", 500);
  machine->drain();
  says("What is the capital of France", 300);
  EXPECT_TRUE(machine->end_reason().empty());  // the caller is still talking
  silence(400);
  ASSERT_EQ(actions.answers.size(), 1u);  // the question is answered ...
  EXPECT_TRUE(machine->end_reason().empty());
  until_quiet();
  silence(kFrameMs);
  EXPECT_EQ(machine->end_reason(), "shutdown");  // ... then the call ends
  EXPECT_TRUE(actions.saying(settings.flow.farewell));
}

}  // namespace

// Decodes run on the compute pool: the machine goes on hearing frames while they run, and acts on
// the words when they come.

TEST_F(TurnMachineTest, ASlowDecodeEndsTheTurnWhenTheWordsCome) {
  start_and_listen();
  inbox.delay_ms = 200;  // the words of the pause come 200 ms after they were asked for
  says("What time do you open on Sunday?");
  const std::int64_t heard_end = clock.now_ms();
  silence(settings.vad.finished_silence_ms + kFrameMs);
  EXPECT_TRUE(actions.answers.empty());  // the words are not there to judge yet
  silence(600);
  ASSERT_EQ(actions.answers.size(), 1u);
  EXPECT_EQ(actions.answers[0].question, "What time do you open on Sunday?");
  // Asked at the speculation point (60 ms), back 200 ms later: the question ends its turn then
  // (before the plain end silence would have), and the final words took another decode.
  const std::int64_t judged = *actions.answers[0].times.endpoint - heard_end;
  EXPECT_TRUE(within_ms(judged, 60 + inbox.delay_ms, kFrameMs)) << judged;
  EXPECT_TRUE(within_ms(*actions.answers[0].times.asr_done - *actions.answers[0].times.endpoint,
                        inbox.delay_ms, kFrameMs));
}

TEST_F(TurnMachineTest, GoingOnWhileTheTurnIsStillRecognisedIsOneTurn) {
  settings.vad.finished_silence_ms = 0;  // the turn ends at the plain end silence
  start_and_listen();
  says("I need a taxi");
  inbox.delay_ms = 600;  // the final words take long
  silence(settings.vad.end_silence_ms + kFrameMs);  // the turn ended ...
  EXPECT_TRUE(actions.answers.empty());               // ... and is being recognised
  says("to the airport tomorrow morning", 800);       // the caller goes on meanwhile
  inbox.delay_ms = 0;
  silence(600);
  ASSERT_EQ(actions.answers.size(), 1u);  // one answer, to all of it
  EXPECT_EQ(actions.answers[0].question, "I need a taxi to the airport tomorrow morning");
  EXPECT_EQ(actions.answers[0].continues, "I need a taxi");
}

TEST_F(TurnMachineTest, WordsOfAnEarlierPauseAreNotTakenForThisOnes) {
  start_and_listen();
  inbox.delay_ms = 300;
  says("What is the capital");  // (words that could be a whole question)
  silence(80);                                  // the words are asked for at 60 ms ...
  says("What is the capital of France?", 100);  // ... the caller goes on ...
  silence(60 + kFrameMs);                       // ... and pauses again: asked again
  ASSERT_EQ(asr.speculations.size(), 2u);
  silence(200);  // the first pause's words come back now, in the second pause
  EXPECT_TRUE(actions.prefetches.empty()) << actions.prefetches[0];
  silence(600);
  ASSERT_EQ(actions.answers.size(), 1u);
  EXPECT_EQ(actions.answers[0].question, "What is the capital of France?");
}

TEST_F(TurnMachineTest, ADecodeForAnUtteranceGivenUpIsNotDelivered) {
  start_and_listen();
  inbox.delay_ms = 1000;
  says("What is the capital of France?");
  silence(300);  // the words of the pause are asked for
  machine->remote_ended("remote-bye");
  silence(2000);
  EXPECT_TRUE(actions.answers.empty());
  EXPECT_TRUE(actions.prefetches.empty());
}

}  // namespace chalkbot
