#pragma once
// One call's turn-taking as a state machine driven by events: the caller's audio frame by frame,
// DTMF keys, timer ticks, the far end hanging up, a shutdown, transfer news. It decides when the
// caller has finished a turn, what is a question, when the bot is interrupted, reprompts,
// transfers or ends the call, and asks for each through CallActions. It owns no thread and reads
// no clock but the one it is given: unit tests drive whole calls on a virtual clock in
// milliseconds. Not thread-safe: one thread feeds it every event.
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "agent/call_flow.h"
#include "agent/frame_times.h"
#include "core/audio.h"
#include "core/clock.h"
#include "core/result.h"
#include "agent/recognition.h"
#include "core/settings.h"
#include "speech/vad/endpointer.h"
#include "speech/vad/voice_detector.h"
#include "store/conversation_store.h"

namespace chalkbot {

// What the turn machine makes happen. In a call: the Speaker thread, the Conversation, the store
// and the SIP dialog; in unit tests, a script. Each call must return at once (work is queued).
class CallActions {
 public:
  virtual ~CallActions() = default;
  // The bot's voice. say() queues `text` after what is already queued; `until_played`: the job
  // lasts until its audio has been heard (a message before a transfer or a hang-up).
  virtual void say(const std::string& text, bool until_played) = 0;
  // Queues the model's answer to `question`, spoken as it streams; `times` carries the caller's
  // stage stamps; `continues`: see Conversation::answer.
  virtual void answer(std::string question, StageTimes times, std::string continues) = 0;
  virtual void interrupt() = 0;                   // stop talking now, drop everything queued
  virtual bool quiet() const = 0;                 // nothing queued, nothing left to play
  virtual std::uint64_t talk_spurts() const = 0;  // bursts of the bot's audio begun so far
  virtual std::string last_answer() const = 0;    // what the latest answer said in full
  // The model: a request for the words heard so far, kept if they turn out to be the question.
  virtual void prefetch(const std::string& likely_question) = 0;
  virtual void discard_prefetch() = 0;
  // A caller's turn that gets no answer from the model (a goodbye, a transfer request).
  virtual void store_caller_turn(const std::string& text, const StageTimes& times) = 0;
  virtual void provider_failed(const std::string& provider, const Error& cause) = 0;
  // Asks the caller's phone to call `target` (REFER); the outcome comes back as transfer news.
  virtual void transfer(const std::string& target) = 0;
  // The caller asked to be forgotten: their call summaries are erased and this call leaves none
  // (memory across calls). Nothing to do where there is no such memory.
  virtual void forget_caller() {}
};

// How a transfer asked for through CallActions::transfer went (from the signalling layer).
enum class TransferNews { kNone, kAccepted, kSucceeded, kFailed };

class TurnMachine {
 public:
  struct Services {
    const Settings& settings;
    const CallFlow& flow;
    Recognizer& recognizer;
    CallActions& actions;
    const WallClock& clock;
  };

  TurnMachine(const Services& services, std::string call_id, std::unique_ptr<VoiceDetector> vad);

  // Greets the caller: the call begins now (flow.max_call_s counts from here).
  void start();
  // One 20 ms frame of what the caller said (at the VAD's rate, the call's); `said_ms` is when its last sample was said
  // (wall ms). Frames are ignored while not listening().
  void hear(Samples audio, std::int64_t said_ms);
  // `audio` is most likely the next frame hear() gets: the VAD may compute it ahead, in a batch
  // with other calls' (see SileroBatch). Changes nothing in the machine.
  void look_ahead(Samples audio);
  void dtmf(char key);
  // Timers and the bot's voice finishing: call at least every 20 ms.
  void tick();
  // The far end hung up or the call died: the call ends now, without a farewell.
  void remote_ended(const std::string& reason);
  // The call must end for a reason seen outside (media stopped): `say_farewell` or not.
  void end(const std::string& reason, bool say_farewell);
  // Graceful shutdown: the turn in progress finishes, then the farewell, then the end.
  void drain() { draining_ = true; }
  // The model decided, through its end_call tool: the call ends once what is being said has
  // been heard, with flow.farewell after it when the model said no goodbye of its own.
  void model_ends_call(bool said_goodbye);
  // The model decided, through its transfer_to_person tool (`reason` is logged): the transfer
  // begins once what is being said has been heard (flow.transfer_message first when the model
  // said nothing), as a caller's phrase or key would begin it.
  void model_transfers(const std::string& reason, bool said_something);
  // Progress of the transfer asked for (`detail`, such as "603 Declined", is logged).
  void transfer_news(TransferNews news, const std::string& detail);
  // The recogniser's results (see RecognitionResults), on the machine's thread; results for an
  // utterance given up meanwhile are ignored.
  void words_heard(std::uint64_t utterance, const std::string& words);
  void recognized(std::uint64_t utterance, const Result<std::string>& words);

  // False while the call is being handed over or is ending: the caller's audio is not heard.
  bool listening() const { return phase_ == Phase::kListening && transfer_ == Transfer::kNone; }
  bool done() const { return phase_ == Phase::kDone; }
  // Once ending: "caller_goodbye", "model_end_call", "silence", "max_duration", "transferred",
  // the far end's ...
  const std::string& end_reason() const { return end_reason_; }
  // True when the call ended from this side (the farewell said, or not wanted): hang up.
  bool hang_up_wanted() const { return done() && !remote_ended_; }

 private:
  // What the VAD is given of `audio`: silence while the bot's own echo may be coming back.
  Samples heard_as(Samples audio, bool bot_talking, std::int64_t talking_since_ms) const;
  enum class Phase { kListening, kFarewell, kDone };
  // A transfer: the bot says flow.transfer_message, then asks the caller's phone to call
  // flow.transfer_to and waits for the outcome, not listening meanwhile.
  enum class Transfer { kNone, kAnnouncing, kAsked };

  void finish(const std::string& reason, bool say_farewell);
  void listen_afresh();
  // `cut_in`: what the bot is saying stops now (a caller's request); else it is heard out.
  void begin_transfer(const std::string& why, bool cut_in = true, bool announce = true);
  void follow_transfer();
  void look_at_pause(bool bot_talking);
  void use_pause_words(bool bot_talking);
  void speech_started(bool bot_talking);
  void in_speech(bool bot_talking);
  void no_input(bool bot_talking);
  void utterance_ended();
  struct EndedTurn;
  void take_turn(EndedTurn& turn);
  void feed_asr();
  // Wall ms at which the caller said the audio at endpointer position `position_ms`.
  std::int64_t said_at(std::int64_t position_ms) const;
  std::int64_t now() const { return clock_.now_ms(); }

  const Settings& settings_;
  const CallFlow& flow_;
  Recognizer& recognizer_;  // asr_ is this utterance's stream
  CallActions& actions_;
  const WallClock& clock_;
  std::string call_id_;
  UtteranceDetector detector_;
  FrameTimes frame_times_;  // when the caller said each frame the detector hears

  Phase phase_ = Phase::kListening;
  std::string end_reason_;
  bool remote_ended_ = false;
  bool draining_ = false;
  std::int64_t deadline_ms_ = 0;           // flow.max_call_s after start()
  std::int64_t farewell_deadline_ms_ = 0;  // the farewell is not waited for longer

  std::unique_ptr<Recognition> asr_;
  std::uint64_t utterance_ = 0;  // the number of asr_'s utterance (results carry it)
  std::string asr_open_error_;   // the recognizer could not be had for this utterance (overload)
  std::size_t asr_fed_ = 0;      // utterance samples already given to the ASR
  bool heard_over_bot_ = false;  // the current utterance began while the bot was talking
  bool words_asked_ = false;     // this pause's words were asked for
  int words_outstanding_ = 0;    // words asked for (this pause or earlier ones) still to come
  std::optional<std::string> pause_words_;  // ... and have come
  bool pause_judged_ = false;    // this pause's words were looked at (end of turn or a breath)
  bool prefetch_tried_ = false;  // this pause's words were considered for a prefetch
  bool prefetched_ = false;      // the model was asked during this pause
  std::int64_t decoded_ahead_at_ = 0;  // endpointer position of the latest decode ahead
  // Turns that ended and wait for their final words (the recogniser finishes them), in the order
  // they were said: usually none or one.
  struct EndedTurn {
    std::unique_ptr<Recognition> recognition;
    std::uint64_t utterance = 0;
    StageTimes times;
    bool continued = false;  // it continued the open question
    std::optional<Result<std::string>> words;  // once recognised
  };
  std::deque<EndedTurn> ended_turns_;
  // The latest question the bot began to answer: a caller who goes on within
  // vad.continue_turn_ms of the end of that turn (the endpoint) continues it, as one turn.
  std::string open_question_;
  StageTimes open_times_;
  bool may_continue_ = false;  // this utterance began within that window
  bool continuing_ = false;    // ... and lasted long enough: the answer begun was dropped
  int silent_prompts_ = 0;
  bool was_quiet_ = false;
  std::int64_t talking_since_ms_ = 0;  // start of the bot's latest talk spurt
  std::uint64_t spurts_heard_ = 0;

  Transfer transfer_ = Transfer::kNone;
  bool transfer_accepted_ = false;                       // the caller's phone took the REFER
  TransferNews transfer_outcome_ = TransferNews::kNone;  // final news not yet acted on
  std::string transfer_detail_;
  std::int64_t transfer_deadline_ms_ = 0;
};

}  // namespace chalkbot
