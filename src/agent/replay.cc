#include "agent/replay.h"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <mutex>
#include <utility>

#include "agent/conversation.h"
#include "agent/provider_failure.h"
#include "agent/recognition.h"
#include "agent/turn_machine.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/queued_executor.h"
#include "media/media_engine.h"
#include "speech/vad/voice_detector.h"

namespace chalkbot {
namespace {

// Virtual wall time at the start of the audio: any fixed value (only differences are reported).
constexpr std::int64_t kReplayEpochMs = 1'000'000'000'000;

class VirtualClock final : public WallClock {
 public:
  std::int64_t now_ms() const override { return now_; }
  void advance(std::int64_t ms) { now_ += ms; }

 private:
  std::int64_t now_ = kReplayEpochMs;
};

// The replayed conversation's turns, kept in memory only: a replay writes to no real store.
class ReplayStore final : public ConversationStore {
 public:
  Status begin_call(const CallRecord& call) override {
    std::lock_guard lock(mutex_);
    call_ = call;
    return {};
  }
  Status end_call(const std::string& /*call_id*/, std::int64_t ended_ms,
                  const std::string& reason) override {
    std::lock_guard lock(mutex_);
    call_.ended_ms = ended_ms;
    call_.end_reason = reason;
    return {};
  }
  Result<int> append_turn(const TurnRecord& turn) override {
    std::lock_guard lock(mutex_);
    turns_.push_back(turn);
    turns_.back().index = static_cast<int>(turns_.size()) - 1;
    return turns_.back().index;
  }
  Result<std::optional<CallRecord>> call(const std::string& call_id) override {
    std::lock_guard lock(mutex_);
    if (call_id != call_.id) return std::optional<CallRecord>();
    return std::optional<CallRecord>(call_);
  }
  Result<std::vector<CallRecord>> recent_calls(int /*limit*/) override {
    std::lock_guard lock(mutex_);
    return std::vector<CallRecord>{call_};
  }
  Result<std::vector<TurnRecord>> turns(const std::string& call_id) override {
    std::lock_guard lock(mutex_);
    if (call_id != call_.id) return std::vector<TurnRecord>();
    return turns_;
  }

 private:
  std::mutex mutex_;  // the model's threads may store while the replay reads
  CallRecord call_;
  std::vector<TurnRecord> turns_;
};

// The recogniser's results, held until the drain that produced them is over: they are handed to
// the machine outside the recognition's jobs (which hold the recognition's lock, and the machine
// may drop the recognition when it takes them).
class HeldResults final : public RecognitionResults {
 public:
  using Event = std::function<void(TurnMachine&)>;
  void words_heard(std::uint64_t utterance, std::string words) override {
    events_.push_back([utterance, words = std::move(words)](TurnMachine& machine) {
      machine.words_heard(utterance, words);
    });
  }
  void recognized(std::uint64_t utterance, Result<std::string> words) override {
    events_.push_back([utterance, words = std::move(words)](TurnMachine& machine) {
      machine.recognized(utterance, words);
    });
  }
  void drained(double ms) { decode_ms_ += ms; }
  std::vector<Event> take() { return std::exchange(events_, {}); }
  // The real time of the decodes since the last turn was taken (speculative ones at pauses
  // included: the final one often reuses them), then counting afresh.
  double take_decode_ms() { return std::exchange(decode_ms_, 0.0); }

 private:
  std::vector<Event> events_;
  double decode_ms_ = 0;
};

// The machine's actions in a replay: the model is asked for real (blocking), the answer is
// synthesized for real, and the bot then "speaks" for the virtual length of that audio.
class ReplayActions final : public CallActions {
 public:
  ReplayActions(const ReplayEngines& engines, Conversation& conversation, ConversationStore& store,
                const VirtualClock& clock, HeldResults& asr, ReplayResult& result)
      : engines_(engines),
        conversation_(conversation),
        store_(store),
        clock_(clock),
        asr_(asr),
        result_(result) {}

  void say(const std::string& text, bool /*until_played*/) override {
    speak(audio_ms(text, nullptr));
  }

  void answer(std::string question, StageTimes times, std::string continues) override {
    ReplayTurn turn = turn_from(question, times);
    turn.answered = true;
    const auto asked_at = SteadyClock::now();
    std::string first_sentence;
    AnswerCallbacks callbacks;
    callbacks.on_token = [&](std::string_view delta) {
      if (!turn.model_first_token_ms && !delta.empty()) {
        turn.model_first_token_ms = elapsed_ms(asked_at);
      }
    };
    callbacks.on_sentence = [&](const std::string& sentence) {
      if (first_sentence.empty()) first_sentence = sentence;
      return true;
    };
    CancelToken never_cancelled;
    auto answered = conversation_.answer(question, times, callbacks, never_cancelled, continues);
    if (!answered) {
      provider_failed("llm", answered.error());
    } else {
      if (answered->model_failed) provider_failed("llm", answered->error);
      turn.answer = answered->text;
    }
    double first_audio_ms = 0;
    if (!first_sentence.empty()) {
      (void)audio_ms(first_sentence, &first_audio_ms);
      turn.tts_first_audio_ms = first_audio_ms;
    }
    turn.answer_audio_ms = audio_ms(turn.answer, nullptr);
    last_answer_ = turn.answer;
    result_.turns.push_back(std::move(turn));
    answer_index_ = result_.turns.size() - 1;
    speak(result_.turns.back().answer_audio_ms);
  }

  void interrupt() override {
    if (!quiet() && answer_index_) result_.turns[*answer_index_].interrupted = true;
    speaking_until_ = clock_.now_ms();
    answer_index_.reset();
  }
  bool quiet() const override { return clock_.now_ms() >= speaking_until_; }
  std::uint64_t talk_spurts() const override { return spurts_; }
  std::string last_answer() const override { return last_answer_; }
  void prefetch(const std::string& likely_question) override {
    conversation_.prefetch(likely_question);
  }
  void discard_prefetch() override { conversation_.discard_prefetch(); }
  void store_caller_turn(const std::string& text, const StageTimes& times) override {
    (void)store_.append_turn(TurnRecord{conversation_.call_id(), 0, "user", text, false, times});
    result_.turns.push_back(turn_from(text, times));
  }
  void provider_failed(const std::string& provider, const Error& cause) override {
    ++result_.provider_failures;
    report_provider_failure({}, conversation_.call_id(), provider, cause);
  }
  // No phone to hand over: the transfer is taken as done (the call ends "transferred").
  void transfer(const std::string& /*target*/) override { transfer_asked_ = true; }
  bool take_transfer() { return std::exchange(transfer_asked_, false); }

 private:
  ReplayTurn turn_from(const std::string& heard, const StageTimes& times) {
    ReplayTurn turn;
    turn.heard = heard;
    turn.asr_ms = asr_.take_decode_ms();
    turn.speech_start_ms = times.speech_start.value_or(kReplayEpochMs) - kReplayEpochMs;
    turn.speech_end_ms = times.speech_end.value_or(kReplayEpochMs) - kReplayEpochMs;
    turn.endpoint_ms = times.endpoint.value_or(kReplayEpochMs) - kReplayEpochMs;
    return turn;
  }

  // The bot starts talking now (or after what it is still saying) for `ms`.
  void speak(std::int64_t ms) {
    if (ms <= 0) return;
    if (quiet()) {
      ++spurts_;
      speaking_until_ = clock_.now_ms();
    }
    speaking_until_ += ms;
  }

  // The length of `text` spoken (synthesized once per text: prompts repeat); the synthesis time
  // goes to `synthesis_ms` when asked for.
  std::int64_t audio_ms(const std::string& text, double* synthesis_ms) {
    if (text.empty()) return 0;
    if (auto known = lengths_.find(text); known != lengths_.end() && !synthesis_ms) {
      return known->second;
    }
    const auto started = SteadyClock::now();
    auto audio = synthesize_all(engines_.tts, text, kTelephoneRate);
    if (synthesis_ms) *synthesis_ms = elapsed_ms(started);
    if (!audio) {
      provider_failed("tts", audio.error());
      return 0;
    }
    const auto ms = static_cast<std::int64_t>(audio->samples.size() * 1000 / kTelephoneRate);
    lengths_[text] = ms;
    return ms;
  }

  const ReplayEngines& engines_;
  Conversation& conversation_;
  ConversationStore& store_;
  const VirtualClock& clock_;
  HeldResults& asr_;
  ReplayResult& result_;
  std::map<std::string, std::int64_t> lengths_;
  std::int64_t speaking_until_ = kReplayEpochMs;
  std::uint64_t spurts_ = 0;
  std::string last_answer_;
  std::optional<std::size_t> answer_index_;  // the turn whose answer is being spoken
  bool transfer_asked_ = false;
};

}  // namespace

Result<ReplayResult> replay_audio(const ReplayEngines& engines, const Audio& caller_8k,
                                  const ReplayOptions& options) {
  if (caller_8k.sample_rate != kTelephoneRate) {
    return make_error("replay: the caller's audio must be 8 kHz, not " +
                      std::to_string(caller_8k.sample_rate) + " Hz");
  }
  const Settings& settings = engines.settings;
  auto vad = make_voice_detector(settings.vad, kTelephoneRate);
  if (!vad) return vad.error();
  ReplayStore store;
  const std::string call_id = "replay";
  (void)store.begin_call(CallRecord{call_id, "replay", "replay", kReplayEpochMs, {}, "", ""});

  const auto started = SteadyClock::now();
  ReplayResult result;
  VirtualClock clock;
  QueuedExecutor compute;  // each decode finishes before the next frame is heard
  HeldResults results;
  PooledRecognizer recognizer(engines.asr, compute, results);
  Conversation conversation(engines.model, store, settings, call_id,
                            Conversation::History::kNewCall);
  ReplayActions actions(engines, conversation, store, clock, results, result);
  TurnMachine machine({settings, engines.flow, recognizer, actions, clock}, call_id,
                      std::move(*vad));

  // Runs the decodes asked for and hands their results over, until none is left.
  const auto settle = [&] {
    for (;;) {
      const auto drain_started = SteadyClock::now();
      const bool ran = compute.run_all();
      results.drained(elapsed_ms(drain_started));
      auto events = results.take();
      for (auto& event : events) event(machine);
      if (!ran && events.empty()) return;
    }
  };
  const auto step = [&](Samples frame) {
    clock.advance(kFrameMs);
    if (actions.take_transfer()) machine.transfer_news(TransferNews::kSucceeded, "replay");
    machine.tick();
    if (machine.done()) return;
    machine.hear(frame, clock.now_ms());
    settle();
  };

  machine.start();                             // (the call's limits count from here)
  if (!options.greeting) actions.interrupt();  // the greeting is not heard
  const Samples audio(caller_8k.samples);
  for (std::size_t at = 0; at < audio.size() && !machine.done(); at += kFrameSamples) {
    std::array<Sample, kFrameSamples> frame{};
    const auto part = audio.subspan(at, std::min(kFrameSamples, audio.size() - at));
    std::copy(part.begin(), part.end(), frame.begin());
    step(frame);
  }
  // The tail: silence, long enough for the last turn to end, then until the bot is done talking
  // (bounded: an answer longer than a minute is cut).
  static const std::array<Sample, kFrameSamples> kSilence{};
  const std::int64_t tail_end = clock.now_ms() + options.tail_ms;
  constexpr std::int64_t kLongestAnswerMs = 60'000;
  while (!machine.done() && (clock.now_ms() < tail_end ||
                             (!actions.quiet() && clock.now_ms() < tail_end + kLongestAnswerMs))) {
    step(kSilence);
  }
  result.end_reason = machine.end_reason();
  result.audio_ms = clock.now_ms() - kReplayEpochMs;
  result.wall_ms = elapsed_ms(started);
  return result;
}

}  // namespace chalkbot
