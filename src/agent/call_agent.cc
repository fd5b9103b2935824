#include "agent/call_agent.h"

#include <chrono>
#include <thread>
#include <utility>

#include "agent/call_recorder.h"
#include "core/clock.h"
#include "core/log.h"
#include "metrics/chalkbot_metrics.h"
#include "speech/vad/voice_detector.h"

namespace chalkbot {
namespace {

using namespace std::chrono_literals;

// The turn machine's actions in a live call: the bot's voice is a Speaker thread (which owns
// the media session's playback side), answers stream from the Conversation into it.
class LiveCallActions final : public CallActions {
 public:
  LiveCallActions(const CallServices& services, const CallInfo& info, MediaSession& media,
                  Conversation& conversation, CallRecorder* recorder, CallControl& control)
      : services_(services),
        info_(info),
        media_(media),
        conversation_(conversation),
        control_(control),
        speaker_(
            media, services.tts, services.prompts, recorder,
            [this](const Error& cause) { provider_failed("tts", cause); }, kApology) {}

  void say(const std::string& text, bool until_played) override {
    speaker_.post([text, until_played](Speaker& s, const CancelToken& cancel) {
      if (s.say(text, cancel) && until_played) s.wait_played(cancel);
    });
  }
  void answer(std::string question, StageTimes times, std::string continues) override;
  void interrupt() override { speaker_.interrupt(); }
  bool quiet() const override { return speaker_.quiet(); }
  std::uint64_t talk_spurts() const override { return media_.talk_spurts(); }
  std::string last_answer() const override {
    std::lock_guard lock(last_answer_mutex_);
    return last_answer_;
  }
  void prefetch(const std::string& likely_question) override {
    conversation_.prefetch(likely_question);
  }
  void discard_prefetch() override { conversation_.discard_prefetch(); }
  void store_caller_turn(const std::string& text, const StageTimes& times) override {
    const TurnRecord turn{info_.id, 0, "user", text, false, times};
    if (auto stored = services_.store.append_turn(turn); !stored) {
      spdlog::error("call {}: turn not stored: {}", info_.id, stored.error().message);
    }
  }
  void provider_failed(const std::string& provider, const Error& cause) override {
    report_provider_failure(services_.on_provider_failure, info_.id, provider, cause);
  }
  void transfer(const std::string& target) override { control_.transfer(target); }

  // A job is still running or queued (an answer being cut short stores its turn as it stops).
  bool talking() const { return speaker_.busy(); }

 private:
  const CallServices& services_;
  const CallInfo& info_;
  MediaSession& media_;
  Conversation& conversation_;
  CallControl& control_;
  mutable std::mutex last_answer_mutex_;  // written by the speaker, read by the call's thread
  std::string last_answer_;
  Speaker speaker_;  // last: destroyed first, its jobs use the members above
};

// Runs on the speaker thread: the model's answer, each sentence spoken as it is released.
void LiveCallActions::answer(std::string question, StageTimes times, std::string continues) {
  speaker_.post([this, question = std::move(question), times, continues = std::move(continues)](
                    Speaker& s, const CancelToken& cancel) mutable {
    AnswerCallbacks callbacks;
    callbacks.on_sentence = [&](const std::string& sentence) {
      const auto spurts_before = media_.talk_spurts();
      const bool first = !times.tts_first_audio;
      const auto stamp_first_audio = [&] {
        if (!times.tts_first_audio) times.tts_first_audio = wall_ms();
      };
      const bool spoken = s.say(sentence, cancel, stamp_first_audio);
      if (first && times.tts_first_audio) {
        // The first packet of this answer leaves within a tick or two of being queued.
        for (int i = 0; i < 20 && media_.talk_spurts() == spurts_before; ++i) {
          std::this_thread::sleep_for(5ms);
        }
        if (auto sent = media_.first_audio_packet_sent_at();
            sent && media_.talk_spurts() == spurts_before + 1) {
          const auto ago = std::chrono::duration_cast<Millis>(SteadyClock::now() - *sent);
          times.first_rtp_out = wall_ms() - ago.count();
        }
      }
      return spoken;
    };
    auto result = conversation_.answer(question, times, callbacks, cancel, continues);
    if (!result) {
      spdlog::error("call {}: no answer: {}", info_.id, result.error().message);
      return;
    }
    metrics().observe_turn(times);
    if (result->model_failed) provider_failed("llm", result->error);
    if (!result->store_error.empty()) {
      spdlog::error("call {}: turn not stored: {}", info_.id, result->store_error);
    }
    if (!result->interrupted) {
      std::lock_guard lock(last_answer_mutex_);
      last_answer_ = result->text;
    }
  });
}

}  // namespace

struct CallAgent::Live {
  Live(const CallServices& services, const CallInfo& info, MediaSession& media,
       CallControl& control, CallAgent& agent, std::unique_ptr<VoiceDetector> vad,
       std::unique_ptr<CallRecorder> call_recorder)
      : conversation(services.model, services.store, services.settings, info.id,
                     Conversation::History::kNewCall),
        recorder(std::move(call_recorder)),
        actions(services, info, media, conversation, recorder.get(), control),
        recognizer(services.asr, services.compute, agent),
        machine({services.settings, services.flow, recognizer, actions, clock}, info.id,
                std::move(vad)) {}

  Conversation conversation;
  std::unique_ptr<CallRecorder> recorder;
  LiveCallActions actions;
  PooledRecognizer recognizer;
  SystemWallClock clock;
  TurnMachine machine;  // last: destroyed first (its recognitions deliver no more results)
};

CallAgent::CallAgent(const CallServices& services, CallInfo info,
                     std::shared_ptr<MediaSession> media, CallControl control,
                     std::function<void()> wake)
    : services_(services),
      info_(std::move(info)),
      media_(std::move(media)),
      control_(std::move(control)),
      wake_(std::move(wake)) {}

CallAgent::~CallAgent() = default;

void CallAgent::post(Event event) {
  {
    std::lock_guard lock(events_mutex_);
    events_.push_back(std::move(event));
  }
  if (wake_) wake_();
}

std::vector<CallAgent::Event> CallAgent::take_events() {
  std::lock_guard lock(events_mutex_);
  return std::exchange(events_, {});
}

void CallAgent::remote_ended(const std::string& reason) {
  post([reason](TurnMachine& machine) { machine.remote_ended(reason); });
}

void CallAgent::drain() {
  post([](TurnMachine& machine) { machine.drain(); });
}

void CallAgent::transfer_news(TransferNews news, const std::string& detail) {
  post([news, detail](TurnMachine& machine) { machine.transfer_news(news, detail); });
}

void CallAgent::words_heard(std::uint64_t utterance, std::string words) {
  post([utterance, words = std::move(words)](TurnMachine& machine) {
    machine.words_heard(utterance, words);
  });
}

void CallAgent::recognized(std::uint64_t utterance, Result<std::string> words) {
  post([utterance, words = std::move(words)](TurnMachine& machine) {
    machine.recognized(utterance, words);
  });
}

bool CallAgent::step() {
  switch (state_) {
    case State::kNew:
      if (!begin()) {
        state_ = State::kOver;
        return false;
      }
      state_ = State::kRunning;
      [[fallthrough]];
    case State::kRunning: {
      TurnMachine& machine = live_->machine;
      for (auto& event : take_events()) event(machine);
      if (media_->inactive()) machine.end("rtp_timeout", false);
      machine.tick();
      if (!machine.done()) hear_what_came(machine);
      if (!machine.done()) return true;
      stop();
      state_ = State::kStopping;
      [[fallthrough]];
    }
    case State::kStopping:
      return wind_down();
    case State::kOver:
      return false;
  }
  return false;
}

bool CallAgent::begin() {
  const Settings& settings = services_.settings;
  ConversationStore& store = services_.store;
  const CallRecord record{
      info_.id, info_.from, info_.to, wall_ms(), {}, "", settings.cluster.node_id};
  if (auto begun = store.begin_call(record); !begun) {
    spdlog::error("call {}: cannot store the call: {}", info_.id, begun.error().message);
    control_.hang_up();
    media_->close();
    end_reason_ = "store_error";
    return false;
  }
  auto vad = make_voice_detector(settings.vad, kTelephoneRate);
  if (!vad) {
    spdlog::error("call {}: {}", info_.id, vad.error().message);
    control_.hang_up();
    media_->close();
    (void)store.end_call(info_.id, wall_ms(), "vad_error");
    end_reason_ = "vad_error";
    return false;
  }
  std::unique_ptr<CallRecorder> recorder;
  if (settings.recording.enabled) {
    auto opened = CallRecorder::open(settings.recording.dir + "/" + info_.id + ".wav");
    if (opened) {
      recorder = std::move(*opened);
    } else {
      spdlog::warn("call {}: not recorded: {}", info_.id, opened.error().message);
    }
  }
  live_ = std::make_unique<Live>(services_, info_, *media_, control_, *this, std::move(*vad),
                                 std::move(recorder));
  live_->machine.start();
  last_frame_at_ = SteadyClock::now();
  return true;
}

// The caller's digits and frames since the last step.
void CallAgent::hear_what_came(TurnMachine& machine) {
  const auto hear = [&](const Frame& frame, std::int64_t said) {
    if (live_->recorder && machine.listening()) live_->recorder->heard(frame);
    machine.hear(frame, said);
  };
  while (auto digit = media_->pop_dtmf()) machine.dtmf(*digit);
  Frame frame;
  SteadyClock::time_point sent_at;
  bool heard_any = false;
  while (!machine.done() && media_->pop_frame(frame, sent_at)) {
    heard_any = true;
    hear(frame, wall_ms_of(sent_at));
  }
  // With silence suppression (or comfort noise) no frames arrive while the caller is quiet,
  // but the endpointer counts audio time: give it the silence it is not being sent.
  const auto now = SteadyClock::now();
  if (heard_any || media_->on_hold() || !machine.listening()) {
    last_frame_at_ = now;
    return;
  }
  static const Frame kSilence{};
  while (!machine.done() && now - last_frame_at_ >= 3 * Millis(kFrameMs)) {
    last_frame_at_ += Millis(kFrameMs);
    hear(kSilence, wall_ms_of(last_frame_at_));
  }
}

void CallAgent::stop() {
  const TurnMachine& machine = live_->machine;
  end_reason_ = machine.end_reason();
  if (machine.hang_up_wanted()) control_.hang_up();
  // An answer cut short by the hang-up stores its turn as it stops: let it, before the call ends.
  live_->actions.interrupt();
}

bool CallAgent::wind_down() {
  if (live_->actions.talking()) return true;
  if (auto ended = services_.store.end_call(info_.id, wall_ms(), end_reason_); !ended) {
    spdlog::error("call {}: end not stored: {}", info_.id, ended.error().message);
  }
  media_->close();
  live_.reset();
  state_ = State::kOver;
  return false;
}

}  // namespace chalkbot
