#include "agent/call_agent.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>
#include <utility>

#include "agent/call_recorder.h"
#include "core/clock.h"
#include "core/log.h"
#include "metrics/chalkbot_metrics.h"
#include "net/http_engine.h"
#include "speech/vad/voice_detector.h"

namespace chalkbot {
namespace {

using namespace std::chrono_literals;

// The call's playback queue, which the carrier's thread plays out, as the voice sees it.
class MediaAudioOut final : public AudioOut {
 public:
  explicit MediaAudioOut(CallAudio& media) : media_(media) {}
  int sample_rate() const override { return media_.sample_rate(); }
  std::size_t enqueue(Samples audio) override { return media_.enqueue_audio(audio); }
  bool flush() override { return media_.flush_audio(); }
  void clear() override { media_.clear_playback(); }
  int queued_ms() const override { return media_.queued_ms(); }

 private:
  CallAudio& media_;
};

// The turn machine's actions in a live call, all on the call's thread: the bot's voice, and
// answers streamed from the Conversation into it. What the model sends comes back as jobs posted
// to the call.
class LiveCallActions final : public CallActions {
 public:
  // Runs a job at the call's next step (any thread).
  using Post = std::function<void(std::function<void()> job)>;

  // What the model decided through a built-in tool, for the turn machine: `reason` is a
  // transfer's; `said_something`: the model's answer said something before the tool.
  using Decision =
      std::function<void(BuiltinTool tool, const std::string& reason, bool said_something)>;

  LiveCallActions(const CallServices& services, const CallInfo& info, CallAudio& media,
                  Conversation& conversation, CallRecorder* recorder, CallControl& control,
                  Post post, std::function<void()> wake, Decision decide)
      : services_(services),
        info_(info),
        media_(media),
        conversation_(conversation),
        control_(control),
        post_(std::move(post)),
        decide_(std::move(decide)),
        out_(media),
        voice_(
            out_, services.tts, services.compute, services.prompts, std::move(wake), recorder,
            [this](const Error& cause) { provider_failed("tts", cause); }, kApology) {}
  ~LiveCallActions() override {
    if (answering_) cancel_tools(*answering_);  // no tool's callback runs after this
  }

  void say(const std::string& text, bool until_played) override {
    tell(CallNews::Kind::kBotSays, text);
    voice_.say(text, until_played);
  }
  void answer(std::string question, StageTimes times, std::string continues) override;
  void interrupt() override {
    const bool cut_short = answering_ && voice_.has(answering_->utterance);
    voice_.interrupt();
    end_answer(cut_short);
  }
  bool quiet() const override { return voice_.quiet(); }
  std::uint64_t talk_spurts() const override { return media_.talk_spurts(); }
  std::string last_answer() const override { return last_answer_; }
  void prefetch(const std::string& likely_question) override {
    conversation_.prefetch(likely_question);
  }
  void discard_prefetch() override { conversation_.discard_prefetch(); }
  void store_caller_turn(const std::string& text, const StageTimes& times) override {
    tell(CallNews::Kind::kCallerSaid, text, false, times);
    const TurnRecord turn{info_.id, 0, "user", text, false, times};
    if (auto stored = services_.store.append_turn(turn); !stored) {
      spdlog::error("call {}: turn not stored: {}", info_.id, stored.error().message);
    }
  }
  void provider_failed(const std::string& provider, const Error& cause) override {
    report_provider_failure(services_.on_provider_failure, info_.id, provider, cause);
  }
  void transfer(const std::string& target) override { control_.transfer(target); }
  void forget_caller() override;
  // The caller asked to be forgotten during the call: it is not summarised.
  bool forgotten() const { return forgotten_; }
  // What the caller's earlier calls left, for the conversation (memory across calls).
  void set_caller(std::string caller, std::shared_ptr<CallerContext> context) {
    caller_ = std::move(caller);
    caller_context_ = std::move(context);
  }

  // The call's step: the voice moves on, and an answer that has ended is stored.
  void step();

 private:
  // One tool the model asked for, in the round in flight.
  struct ToolRun {
    ToolCall call;
    std::int64_t started_ms = 0;  // wall clock
    SteadyClock::time_point started;
    std::shared_ptr<HttpTask> task;  // an HTTP tool's request
    std::optional<ToolResult> result;
    std::int64_t duration_ms = 0;
    std::string filler;        // an HTTP tool's, said once it has run filler_after_ms
    int filler_after_ms = -1;  // -1: no filler
  };
  // The answer being spoken; its stream reports through posted jobs tagged with its id.
  struct Answering {
    std::uint64_t id = 0;
    Voice::UtteranceId utterance = 0;
    std::unique_ptr<AnswerStream> stream;
    bool ended = false;  // the model is done (or failed): only the stamps are still to come
    std::optional<std::int64_t> tts_first_audio;
    std::optional<std::int64_t> first_rtp_out;
    SteadyClock::time_point first_audio_at;
    std::uint64_t spurts_before = 0;
    std::vector<ToolRun> tools;  // the tool round in flight (empty: none)
    SteadyClock::time_point round_started;
    bool filler_said = false;  // in this round
    bool apologized = false;   // in this round
  };
  void tell(CallNews::Kind kind, const std::string& text, bool interrupted = false,
            const StageTimes& times = {}) {
    if (control_.news && !text.empty()) control_.news({kind, text, interrupted, times});
  }
  static void cancel_tools(Answering& a) {
    for (auto& run : a.tools) {
      if (run.task) run.task->cancel();
    }
  }
  // The model asked for tools: built-ins act on the call; HTTP tools run on the HttpEngine.
  void run_tools(std::uint64_t id, std::vector<ToolCall> calls);
  void tool_done(std::uint64_t id, std::size_t index, ToolResult result);
  void finish_tool(ToolRun& run, ToolResult result);
  // A filler while a slow tool runs.
  void fill_silence(Answering& a);
  Answering* answering(std::uint64_t id) {
    return answering_ && answering_->id == id ? &*answering_ : nullptr;
  }
  void stamp_first_packet(Answering& a);
  // Stops the answer if it still streams, and stores it with the stamps it has. `cut_short`: not
  // all of it reached the playback queue (barge-in, a synthesis failure).
  void end_answer(bool cut_short);

  const CallServices& services_;
  const CallInfo& info_;
  CallAudio& media_;
  Conversation& conversation_;
  CallControl& control_;
  Post post_;
  Decision decide_;
  std::string last_answer_;
  std::uint64_t answers_ = 0;
  MediaAudioOut out_;
  Voice voice_;
  std::optional<Answering> answering_;  // after the voice: its stream stops before the voice goes
  std::string caller_;  // '' without memory across calls
  std::shared_ptr<CallerContext> caller_context_;
  bool forgotten_ = false;
};

void LiveCallActions::forget_caller() {
  forgotten_ = true;
  if (caller_context_) caller_context_->set("");  // the model no longer sees the summaries
  if (caller_.empty() || services_.memory == nullptr) return;
  // Cleared again once erased: a recall still queued before the forget may have filled it in.
  services_.memory->forget(caller_, [context = caller_context_](const Result<std::int64_t>&) {
    if (context) context->set("");
  });
}

void LiveCallActions::answer(std::string question, StageTimes times, std::string continues) {
  tell(CallNews::Kind::kCallerSaid, question, false, times);  // the Conversation stores it
  // One at a time: an earlier one is stored as it stands.
  if (answering_) end_answer(voice_.has(answering_->utterance));
  Answering& a = answering_.emplace();
  a.id = ++answers_;
  const std::uint64_t id = a.id;
  Voice::Hooks hooks;
  hooks.first_audio = [this, id] {
    if (Answering* now = answering(id); now && !now->tts_first_audio) {
      now->tts_first_audio = wall_ms();
      now->first_audio_at = SteadyClock::now();
      now->spurts_before = media_.talk_spurts();
    }
  };
  hooks.gave_up = [this, id] {
    if (answering(id)) end_answer(true);  // the synthesizer failed: the rest is not said
  };
  a.utterance = voice_.open(std::move(hooks));

  AnswerHandlers handlers;
  handlers.on_sentence = [this, id](std::string sentence) {
    post_([this, id, sentence = std::move(sentence)]() mutable {
      if (Answering* now = answering(id)) {
        tell(CallNews::Kind::kBotSays, sentence);
        voice_.add(now->utterance, std::move(sentence));
      }
    });
  };
  handlers.on_end = [this, id] {
    post_([this, id] {
      if (Answering* now = answering(id)) {
        now->ended = true;
        voice_.close(now->utterance);
      }
    });
  };
  if (!services_.flow.tools().empty()) {
    handlers.max_tool_rounds = services_.flow.tools().max_rounds();
    handlers.on_tool_calls = [this, id](std::vector<ToolCall> calls) {
      post_([this, id, calls = std::move(calls)]() mutable { run_tools(id, std::move(calls)); });
    };
  }
  auto stream = conversation_.start_answer(question, times, std::move(handlers), continues);
  if (!stream) {
    spdlog::error("call {}: no answer: {}", info_.id, stream.error().message);
    voice_.close(a.utterance);
    answering_.reset();
    return;
  }
  a.stream = std::move(*stream);
}

// The first packet of the answer leaves within a tick or two of its audio being queued.
void LiveCallActions::stamp_first_packet(Answering& a) {
  if (!a.tts_first_audio || a.first_rtp_out || media_.talk_spurts() == a.spurts_before) return;
  if (auto sent = media_.first_audio_packet_sent_at();
      sent && media_.talk_spurts() == a.spurts_before + 1) {
    const auto ago = std::chrono::duration_cast<Millis>(SteadyClock::now() - *sent);
    a.first_rtp_out = wall_ms() - ago.count();
  }
}

void LiveCallActions::run_tools(std::uint64_t id, std::vector<ToolCall> calls) {
  Answering* a = answering(id);
  if (a == nullptr) return;
  const CallTools& tools = services_.flow.tools();
  a->tools.clear();
  a->round_started = SteadyClock::now();
  a->filler_said = a->apologized = false;
  // A built-in hands the call over or ends it: that is the answer's end, and the round's other
  // tools are not run.
  BuiltinTool decision = BuiltinTool::kNone;
  std::string reason;
  for (const auto& call : calls) {
    ToolRun& run = a->tools.emplace_back();
    run.call = call;
    run.started_ms = wall_ms();
    run.started = a->round_started;
    if (const BuiltinTool builtin = tools.builtin(call.name);
        builtin != BuiltinTool::kNone && decision == BuiltinTool::kNone) {
      decision = builtin;
      if (builtin == BuiltinTool::kTransferToPerson) reason = transfer_reason(call.arguments);
    }
  }
  if (decision != BuiltinTool::kNone) {
    for (auto& run : a->tools) {
      const BuiltinTool builtin = tools.builtin(run.call.name);
      if (builtin == decision) {
        finish_tool(run, {ToolStatus::kOk, decision == BuiltinTool::kEndCall
                                               ? R"({"result":"the call ends"})"
                                               : R"({"result":"the caller is transferred"})"});
      } else {
        finish_tool(run, tool_error(ToolStatus::kFailed, "not run: the call is ending"));
      }
    }
    a->tools.clear();
    const bool said_something = a->stream->said_anything();
    a->stream->conclude();
    decide_(decision, reason, said_something);
    return;
  }
  for (std::size_t i = 0; i < a->tools.size(); ++i) {
    ToolRun& run = a->tools[i];
    if (const HttpToolSpec* spec = tools.http().find(run.call.name)) {
      run.filler = spec->filler;
      run.filler_after_ms = spec->filler_after_ms;
    }
    // (A call that cannot be sent is answered at once: posted all the same, so every result
    // comes back the same way.)
    run.task = tools.http().start(HttpEngine::shared(), run.call,
                                  [this, id, i](ToolResult result) {
                                    post_([this, id, i, result = std::move(result)]() mutable {
                                      tool_done(id, i, std::move(result));
                                    });
                                  });
  }
}

void LiveCallActions::finish_tool(ToolRun& run, ToolResult result) {
  run.duration_ms = std::chrono::duration_cast<Millis>(SteadyClock::now() - run.started).count();
  const char* status = result.status == ToolStatus::kOk        ? "ok"
                       : result.status == ToolStatus::kInvalid ? "invalid arguments"
                                                               : "failed";
  // (Arguments and results are the model's and the tool server's: not logged, stored.)
  spdlog::info("call {}: tool {} {} in {} ms", info_.id, run.call.name, status, run.duration_ms);
  const ToolCallRecord record{info_.id,      0,           run.call.name, run.call.arguments,
                              result.content, result.ok(), run.started_ms, run.duration_ms};
  if (auto stored = services_.store.append_tool_call(record); !stored) {
    spdlog::error("call {}: tool call not stored: {}", info_.id, stored.error().message);
  }
  run.result = std::move(result);
}

void LiveCallActions::tool_done(std::uint64_t id, std::size_t index, ToolResult result) {
  Answering* a = answering(id);
  if (a == nullptr || index >= a->tools.size() || a->tools[index].result) return;
  const bool failed = result.status == ToolStatus::kFailed;
  finish_tool(a->tools[index], std::move(result));
  // The caller hears at once that something went wrong; the model hears why, and goes on.
  if (failed && !a->apologized) {
    a->apologized = true;
    a->stream->interject(services_.flow.tools().apology());
  }
  const bool all_done = std::all_of(a->tools.begin(), a->tools.end(),
                                    [](const ToolRun& run) { return run.result.has_value(); });
  if (!all_done) return;
  std::vector<ChatMessage> results;
  for (auto& run : a->tools) {
    ChatMessage message{"tool", std::move(run.result->content)};
    message.tool_call_id = run.call.id;
    results.push_back(std::move(message));
  }
  a->tools.clear();
  a->stream->continue_with(std::move(results));
}

void LiveCallActions::fill_silence(Answering& a) {
  if (a.tools.empty() || a.filler_said) return;
  const auto waited = std::chrono::duration_cast<Millis>(SteadyClock::now() - a.round_started);
  for (const auto& run : a.tools) {
    if (run.result || run.filler_after_ms < 0 || run.filler.empty()) continue;
    if (waited.count() < run.filler_after_ms) continue;
    a.filler_said = true;
    a.stream->interject(run.filler);
    return;
  }
}

void LiveCallActions::step() {
  voice_.step();
  if (!answering_) return;
  Answering& a = *answering_;
  fill_silence(a);
  stamp_first_packet(a);
  // Stored once all of it is in the playback queue (a barge-in before that marks it interrupted)
  // and its first packet was sent (or is overdue, or there was nothing to say).
  if (!a.ended || voice_.has(a.utterance)) return;
  const bool packet_known =
      a.first_rtp_out || !a.tts_first_audio ||
      SteadyClock::now() - a.first_audio_at > std::chrono::milliseconds(200);
  if (packet_known) end_answer(false);
}

void LiveCallActions::end_answer(bool cut_short) {
  if (!answering_) return;
  Answering a = std::move(*answering_);
  answering_.reset();
  cancel_tools(a);  // a barge-in or hang-up: the tool round in flight is given up
  AnswerEnd end = a.stream->finish();
  end.answer.interrupted = end.answer.interrupted || cut_short;
  end.times.tts_first_audio = a.tts_first_audio;
  end.times.first_rtp_out = a.first_rtp_out;
  conversation_.store_answer(end);
  metrics().observe_turn(end.times);
  const Answer& answer = end.answer;
  tell(CallNews::Kind::kAnswered, answer.text, answer.interrupted, end.times);
  if (answer.model_failed) provider_failed("llm", answer.error);
  if (!answer.store_error.empty()) {
    spdlog::error("call {}: turn not stored: {}", info_.id, answer.store_error);
  }
  if (!answer.interrupted) last_answer_ = answer.text;
}

}  // namespace

struct CallAgent::Live {
  Live(const CallServices& services, const CallInfo& info, CallAudio& media,
       CallControl& control, CallAgent& agent, std::unique_ptr<VoiceDetector> vad,
       std::unique_ptr<CallRecorder> call_recorder)
      : conversation(services.model, services.store, services.settings, info.id,
                     Conversation::History::kNewCall),
        recorder(std::move(call_recorder)),
        actions(
            services, info, media, conversation, recorder.get(), control,
            [&agent](std::function<void()> job) { agent.post(std::move(job)); }, agent.wake_,
            [this](BuiltinTool tool, const std::string& reason, bool said_something) {
              if (tool == BuiltinTool::kEndCall) machine.model_ends_call(said_something);
              if (tool == BuiltinTool::kTransferToPerson) {
                machine.model_transfers(reason, said_something);
              }
            }),
        recognizer(services.asr, services.compute, agent, media.sample_rate()),
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
                     std::shared_ptr<CallAudio> media, CallControl control,
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
  post([this, reason] { live_->machine.remote_ended(reason); });
}

void CallAgent::drain() {
  post([this] { live_->machine.drain(); });
}

void CallAgent::transfer_news(TransferNews news, const std::string& detail) {
  post([this, news, detail] { live_->machine.transfer_news(news, detail); });
}

void CallAgent::words_heard(std::uint64_t utterance, std::string words) {
  post([this, utterance, words = std::move(words)] {
    live_->machine.words_heard(utterance, words);
  });
}

void CallAgent::recognized(std::uint64_t utterance, Result<std::string> words) {
  post([this, utterance, words = std::move(words)] {
    live_->machine.recognized(utterance, words);
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
      for (auto& event : take_events()) event();
      if (media_->inactive()) machine.end("rtp_timeout", false);
      live_->actions.step();
      machine.tick();
      if (!machine.done()) hear_what_came(machine);
      live_->actions.step();  // what the machine asked for just now begins now
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

void CallAgent::look_ahead() {
  if (state_ != State::kRunning) return;
  // Frames come on arrival, so a step may find two or three: the VAD window they complete may
  // be in any of them.
  constexpr std::size_t kMostFrames = 3;
  std::array<Sample, kMostFrames * kWideFrameSamples> waiting;
  std::size_t frames = 0;
  std::size_t samples = 0;
  while (frames < kMostFrames) {
    const Samples next = media_->peek_frame(frames);
    if (next.empty()) break;
    std::copy(next.begin(), next.end(), waiting.data() + samples);
    samples += next.size();
    ++frames;
  }
  if (frames > 0) live_->machine.look_ahead(Samples(waiting).first(samples));
  // The step hears these. Frames arriving meanwhile (the round is running: at hundreds of calls
  // that takes milliseconds) wait for the next round, which looks ahead at them, rather than
  // being judged one by one. A backlog is heard whole.
  frames_to_hear_ = frames < kMostFrames ? frames : kAllFrames;
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
  auto vad = make_voice_detector(settings.vad, media_->sample_rate());
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
    auto opened = CallRecorder::open(settings.recording.dir + "/" + info_.id + ".wav",
                                     media_->sample_rate());
    if (opened) {
      recorder = std::move(*opened);
    } else {
      spdlog::warn("call {}: not recorded: {}", info_.id, opened.error().message);
    }
  }
  live_ = std::make_unique<Live>(services_, info_, *media_, control_, *this, std::move(*vad),
                                 std::move(recorder));
  if (services_.memory != nullptr && services_.memory->enabled()) {
    caller_ = caller_identity(info_.from);
    if (!caller_.empty()) {
      auto context = std::make_shared<CallerContext>();
      live_->conversation.set_caller_context(context);
      live_->actions.set_caller(caller_, context);
      services_.memory->recall(caller_, std::move(context));
    }
  }
  live_->machine.start();
  last_frame_at_ = SteadyClock::now();
  return true;
}

// The caller's digits and frames since the last step.
void CallAgent::hear_what_came(TurnMachine& machine) {
  const auto hear = [&](Samples frame, std::int64_t said) {
    if (live_->recorder && machine.listening()) live_->recorder->heard(frame);
    machine.hear(frame, said);
  };
  while (auto digit = media_->pop_dtmf()) machine.dtmf(*digit);
  WideFrame buffer;
  const std::span<Sample> frame = std::span(buffer).first(media_->frame_samples());
  SteadyClock::time_point sent_at;
  bool heard_any = false;
  const std::size_t most = std::exchange(frames_to_hear_, kAllFrames);
  for (std::size_t n = 0; n < most && !machine.done() && media_->pop_frame(frame, sent_at); ++n) {
    heard_any = true;
    hear(frame, wall_ms_of(sent_at));
  }
  heard_any = heard_any || !media_->peek_frame().empty();  // it waits for the next round
  // With silence suppression (or comfort noise) no frames arrive while the caller is quiet,
  // but the endpointer counts audio time: give it the silence it is not being sent.
  const auto now = SteadyClock::now();
  if (heard_any || media_->on_hold() || !machine.listening()) {
    last_frame_at_ = now;
    return;
  }
  static const WideFrame kSilence{};
  while (!machine.done() && now - last_frame_at_ >= 3 * Millis(kFrameMs)) {
    last_frame_at_ += Millis(kFrameMs);
    hear(Samples(kSilence).first(frame.size()), wall_ms_of(last_frame_at_));
  }
}

void CallAgent::stop() {
  const TurnMachine& machine = live_->machine;
  end_reason_ = machine.end_reason();
  if (machine.hang_up_wanted()) control_.hang_up();
  live_->actions.interrupt();  // an answer cut short is stored as it stands
}

bool CallAgent::wind_down() {
  const std::int64_t ended_ms = wall_ms();
  if (auto ended = services_.store.end_call(info_.id, ended_ms, end_reason_); !ended) {
    spdlog::error("call {}: end not stored: {}", info_.id, ended.error().message);
  }
  // Summarised off the call's thread, from the turns the call kept in memory.
  if (live_ && !caller_.empty() && services_.memory != nullptr && !live_->actions.forgotten()) {
    services_.memory->summarise(caller_, info_.id, ended_ms, live_->conversation.turns_so_far());
  }
  media_->close();
  live_.reset();
  state_ = State::kOver;
  return false;
}

}  // namespace chalkbot
