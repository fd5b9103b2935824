#include "agent/turn_machine.h"

#include <algorithm>
#include <array>
#include <utility>

#include "agent/conversation.h"
#include "agent/end_of_turn.h"
#include "core/log.h"
#include "metrics/chalkbot_metrics.h"

namespace chalkbot {
namespace {

// After a transfer is asked for: how long the caller's phone has to report the new call
// answered (it may ring the new party for a while) before the bot takes the call back. Within
// media.inactivity_timeout_s's default, for phones that send no RTP meanwhile. A success that
// comes later still ends the call as transferred.
constexpr std::int64_t kTransferWaitMs = 30'000;
// The farewell is waited for this long at most before hanging up.
constexpr std::int64_t kFarewellWaitMs = 15'000;
// A pause this long may be the end of the turn: the words so far are decoded now (speculatively),
// so that they are ready when the pause is long enough to be judged. Measured: a decode of a
// 1.5 s question took 85 ms on a loaded 2-core machine, all of it added to the response latency
// when done at the judging moment. (Shorter pauses happen inside sentences too often.)
constexpr std::int64_t kSpeculateAfterMs = 60;

}  // namespace

TurnMachine::TurnMachine(const Services& services, std::string call_id,
                         std::unique_ptr<VoiceDetector> vad)
    : settings_(services.settings),
      flow_(services.flow),
      recognizer_(services.recognizer),
      actions_(services.actions),
      clock_(services.clock),
      call_id_(std::move(call_id)),
      detector_(std::move(vad), EndpointerConfig::from(services.settings.vad)) {}

void TurnMachine::start() {
  deadline_ms_ = now() + std::int64_t{settings_.flow.max_call_s} * 1000;
  actions_.say(settings_.flow.greeting, false);
}

void TurnMachine::remote_ended(const std::string& reason) {
  if (done()) return;
  remote_ended_ = true;
  if (phase_ == Phase::kListening) {
    // After a REFER is accepted the caller's phone hangs up on us once it is through.
    const bool phone_left =
        transfer_ == Transfer::kAsked && transfer_accepted_ && reason == "remote-bye";
    end_reason_ = phone_left ? "transferred" : reason;
    spdlog::info("call {}: ending ({})", call_id_, end_reason_);
  }
  asr_.reset();
  ended_turns_.clear();
  phase_ = Phase::kDone;  // (a farewell being said is cut short: nobody is there to hear it)
}

void TurnMachine::end(const std::string& reason, bool say_farewell) {
  if (phase_ == Phase::kListening) finish(reason, say_farewell);
}

void TurnMachine::finish(const std::string& reason, bool say_farewell) {
  spdlog::info("call {}: ending ({})", call_id_, reason);
  end_reason_ = reason;
  asr_.reset();
  ended_turns_.clear();
  if (!say_farewell) {
    phase_ = Phase::kDone;
    return;
  }
  actions_.interrupt();
  actions_.say(settings_.flow.farewell, true);
  farewell_deadline_ms_ = now() + kFarewellWaitMs;
  phase_ = Phase::kFarewell;
}

void TurnMachine::transfer_news(TransferNews news, const std::string& detail) {
  if (news == TransferNews::kAccepted) {
    spdlog::info("call {}: transfer accepted by the caller's phone ({})", call_id_, detail);
    transfer_accepted_ = true;
    return;
  }
  transfer_outcome_ = news;
  transfer_detail_ = detail;
}

void TurnMachine::tick() {
  if (phase_ == Phase::kDone) return;
  if (phase_ == Phase::kFarewell) {
    if (actions_.quiet() || now() >= farewell_deadline_ms_) phase_ = Phase::kDone;
    return;
  }
  if (now() >= deadline_ms_) return finish("max_duration", true);
  const bool in_speech = detector_.endpointer().state() == Endpointer::State::kInSpeech;
  if (draining_ && actions_.quiet() && !in_speech) return finish("shutdown", true);
  follow_transfer();
  if (phase_ != Phase::kListening || transfer_ != Transfer::kNone) return;
  // The bot's turns frame the listening: when it stops talking, the no-input clock restarts.
  const bool quiet = actions_.quiet();
  if (quiet && !was_quiet_ && !in_speech) listen_afresh();
  was_quiet_ = quiet;
}

void TurnMachine::dtmf(char key) {
  if (phase_ != Phase::kListening) return;
  spdlog::info("call {}: DTMF {}", call_id_, key);
  const DtmfAction action = flow_.action_for(key);
  if (action == DtmfAction::kHangup) return finish("dtmf_hangup", true);
  if (transfer_ != Transfer::kNone) return;  // being handed over: only hang-up
  if (action == DtmfAction::kTransfer) begin_transfer(std::string("DTMF ") + key);
  if (action == DtmfAction::kRepeat) {
    actions_.interrupt();
    listen_afresh();
    const std::string text = actions_.last_answer();
    if (!text.empty()) actions_.say(text, false);
  }
}

void TurnMachine::listen_afresh() {
  detector_.reset();
  asr_.reset();
  asr_open_error_.clear();
  asr_fed_ = 0;
  heard_over_bot_ = false;
  // (A prefetch is the answer's to pick up.)
  prefetched_ = pause_judged_ = prefetch_tried_ = words_asked_ = false;
  pause_words_.reset();
  may_continue_ = continuing_ = false;
}

void TurnMachine::begin_transfer(const std::string& why, bool cut_in, bool announce) {
  spdlog::info("call {}: transferring to {} ({})", call_id_, settings_.flow.transfer_to, why);
  transfer_outcome_ = TransferNews::kNone;  // news of an earlier attempt is not this one's
  transfer_accepted_ = false;
  actions_.discard_prefetch();
  if (cut_in) actions_.interrupt();
  listen_afresh();
  ended_turns_.clear();
  if (announce) actions_.say(settings_.flow.transfer_message, true);
  transfer_ = Transfer::kAnnouncing;
}

void TurnMachine::model_transfers(const std::string& reason, bool said_something) {
  if (phase_ != Phase::kListening || transfer_ != Transfer::kNone) return;
  if (settings_.flow.transfer_to.empty()) return;  // (the tool is only offered with a target)
  begin_transfer("the model: " + (reason.empty() ? std::string("no reason given") : reason),
                 /*cut_in=*/false, /*announce=*/!said_something);
}

void TurnMachine::model_ends_call(bool said_goodbye) {
  if (phase_ != Phase::kListening) return;
  spdlog::info("call {}: ending (model_end_call)", call_id_);
  end_reason_ = "model_end_call";
  asr_.reset();
  ended_turns_.clear();
  actions_.discard_prefetch();
  // The model's own goodbye is heard out: no interrupt.
  if (!said_goodbye) actions_.say(settings_.flow.farewell, true);
  farewell_deadline_ms_ = now() + kFarewellWaitMs;
  phase_ = Phase::kFarewell;
}

// Asks for the transfer once the message is said, then waits for its outcome. A success ends the
// call even after the bot gave up waiting for it.
void TurnMachine::follow_transfer() {
  if (transfer_ == Transfer::kAnnouncing) {
    if (!actions_.quiet()) return;
    actions_.transfer(settings_.flow.transfer_to);
    transfer_ = Transfer::kAsked;
    transfer_deadline_ms_ = now() + kTransferWaitMs;
    return;
  }
  const TransferNews news = std::exchange(transfer_outcome_, TransferNews::kNone);
  if (news == TransferNews::kSucceeded) {
    spdlog::info("call {}: transferred to {} ({})", call_id_, settings_.flow.transfer_to,
                 transfer_detail_);
    metrics().transfers_succeeded.inc();
    transfer_ = Transfer::kNone;
    return finish("transferred", false);
  }
  if (transfer_ != Transfer::kAsked) return;  // news of an attempt given up
  const bool timed_out = news == TransferNews::kNone && now() >= transfer_deadline_ms_;
  if (news != TransferNews::kFailed && !timed_out) return;
  spdlog::warn("call {}: transfer to {} failed ({}); the call goes on", call_id_,
               settings_.flow.transfer_to, timed_out ? "no outcome in time" : transfer_detail_);
  metrics().transfers_failed.inc();
  transfer_ = Transfer::kNone;
  listen_afresh();
  actions_.say(settings_.flow.transfer_failed, false);
}

std::int64_t TurnMachine::said_at(std::int64_t position_ms) const {
  const std::int64_t now_position = detector_.endpointer().position_ms();
  return frame_times_.at(position_ms).value_or(now() - (now_position - position_ms));
}

void TurnMachine::feed_asr() {
  const auto& utterance = detector_.utterance();
  if (!asr_ || asr_fed_ >= utterance.size()) return;
  asr_->accept(Samples(utterance).subspan(asr_fed_));
  asr_fed_ = utterance.size();
}

Samples TurnMachine::heard_as(Samples audio, bool bot_talking, std::int64_t talking_since_ms) const {
  // Right after the bot starts talking its own echo may come back: hear silence instead.
  static const std::array<Sample, 4 * kWidebandRate * kFrameMs / 1000> kSilence{};
  const bool echo_guard = bot_talking && now() - talking_since_ms < settings_.flow.echo_guard_ms;
  return echo_guard ? Samples(kSilence).first(std::min(audio.size(), kSilence.size())) : audio;
}

void TurnMachine::look_ahead(Samples audio) {
  if (!listening()) return;
  const bool new_spurt = actions_.talk_spurts() != spurts_heard_;
  detector_.look_ahead(
      heard_as(audio, !actions_.quiet(), new_spurt ? now() : talking_since_ms_));
}

void TurnMachine::hear(Samples audio, std::int64_t said_ms) {
  if (!listening()) return;
  const bool bot_talking = !actions_.quiet();
  if (const auto spurts = actions_.talk_spurts(); spurts != spurts_heard_) {
    spurts_heard_ = spurts;
    talking_since_ms_ = now();  // the bot's audio just started going out
  }
  frame_times_.add(said_ms);
  auto event = detector_.push(heard_as(audio, bot_talking, talking_since_ms_));
  if (!event) {
    spdlog::warn("call {}: VAD: {}", call_id_, event.error().message);
    return;
  }
  switch (*event) {
    case EndpointEvent::kSpeechStarted:
      return speech_started(bot_talking);
    case EndpointEvent::kNone:
      if (detector_.endpointer().state() != Endpointer::State::kInSpeech) return;
      in_speech(bot_talking);
      return look_at_pause(bot_talking);
    case EndpointEvent::kNoInput:
      return no_input(bot_talking);
    case EndpointEvent::kSpeechEnded:
    case EndpointEvent::kMaxUtterance:
      return utterance_ended();
  }
}

// A pause in the caller's speech (looked at after each frame the endpointer took in). Its words
// are asked for early (kSpeculateAfterMs, or sooner if a look below comes sooner) and looked at
// when they come. At llm.prefetch_pause_ms the model is asked with them (kept if the caller has
// finished, cancelled if they go on). At vad.finished_silence_ms (or just before the pause would
// end the utterance) they decide: a question ends the turn now; words that sound unfinished
// ("... and", "um") make it wait for the longer vad.unfinished_silence_ms: the caller is drawing
// breath.
void TurnMachine::look_at_pause(bool bot_talking) {
  const Endpointer& endpointer = detector_.endpointer();
  const std::int64_t silence_ms = endpointer.silence_ms();
  if (silence_ms == 0) {
    if (prefetched_) actions_.discard_prefetch();  // the caller went on
    prefetched_ = pause_judged_ = prefetch_tried_ = words_asked_ = false;
    pause_words_.reset();
    // Long speech without a pause: decode some now rather than all of it when the turn ends.
    const int ahead_ms = settings_.asr.decode_ahead_ms;
    if (asr_ && ahead_ms > 0 && endpointer.position_ms() - decoded_ahead_at_ >= ahead_ms) {
      decoded_ahead_at_ = endpointer.position_ms();
      feed_asr();
      asr_->decode_ahead();
    }
    return;
  }
  if (!asr_) return;
  if (!words_asked_) {
    const int prefetch_ms = settings_.llm.prefetch_pause_ms;
    const int finished_ms = endpointer.config().finished_silence_ms;
    std::int64_t ask_at = kSpeculateAfterMs;
    if (prefetch_ms > 0) ask_at = std::min<std::int64_t>(ask_at, prefetch_ms);
    if (finished_ms > 0) ask_at = std::min<std::int64_t>(ask_at, finished_ms);
    if (silence_ms < ask_at && silence_ms + kFrameMs < endpointer.config().end_silence_ms) return;
    words_asked_ = true;
    ++words_outstanding_;
    decoded_ahead_at_ = endpointer.position_ms();
    feed_asr();
    asr_->ask_words();
  }
  if (pause_words_) use_pause_words(bot_talking);
}

void TurnMachine::words_heard(std::uint64_t utterance, const std::string& words) {
  if (!asr_ || utterance != utterance_) return;
  // Results come in the order asked: only the latest ask's words are this pause's (the caller
  // may have gone on and paused again since an earlier one).
  if (--words_outstanding_ > 0 || !words_asked_) return;
  pause_words_ = words;
  use_pause_words(!actions_.quiet());
}

// This pause's words, once they have come: looked at for the prefetch and for the end of the
// turn when the pause is long enough for either (now, or at a later frame).
void TurnMachine::use_pause_words(bool bot_talking) {
  const Endpointer& endpointer = detector_.endpointer();
  const std::int64_t silence_ms = endpointer.silence_ms();
  const std::string& words = *pause_words_;
  const int prefetch_ms = settings_.llm.prefetch_pause_ms;
  // (No prefetch for a continued turn: its question is the earlier one plus these words.)
  if (!prefetch_tried_ && !may_continue_ && prefetch_ms > 0 && silence_ms >= prefetch_ms) {
    prefetch_tried_ = true;
    if (!words.empty() && !bot_talking && !heard_over_bot_ && !sounds_unfinished(words) &&
        !flow_.is_goodbye(words)) {
      actions_.prefetch(words);
      prefetched_ = true;
    }
  }
  const int finished_ms = endpointer.config().finished_silence_ms;
  if (!pause_judged_ && ((finished_ms > 0 && silence_ms >= finished_ms) ||
                         silence_ms + kFrameMs >= endpointer.config().end_silence_ms)) {
    pause_judged_ = true;
    asr_->keep_words();
    if (sounds_unfinished(words)) {
      spdlog::debug("call {}: '{}' sounds unfinished: waiting longer", call_id_, words);
      detector_.hold_end();
    } else if (sounds_finished(words)) {
      spdlog::debug("call {}: '{}' sounds finished: the turn ends now", call_id_, words);
      if (detector_.hasten_end() == EndpointEvent::kSpeechEnded) utterance_ended();
    }
  }
}

void TurnMachine::speech_started(bool bot_talking) {
  const Endpointer& endpointer = detector_.endpointer();
  const std::int64_t onset = said_at(endpointer.times().onset_ms);
  // The end of the latest turn: one still being recognised, or the question being answered.
  std::optional<std::int64_t> last_turn_end;
  if (!ended_turns_.empty()) {
    last_turn_end = ended_turns_.back().times.endpoint;
  } else if (!open_question_.empty()) {
    last_turn_end = open_times_.endpoint;
  }
  may_continue_ =
      last_turn_end && onset - *last_turn_end <= settings_.vad.continue_turn_ms;
  heard_over_bot_ = bot_talking && !may_continue_;
  decoded_ahead_at_ = endpointer.position_ms();
  words_outstanding_ = 0;
  auto stream = recognizer_.open(++utterance_);
  if (stream) {
    asr_ = std::move(*stream);
    feed_asr();
  } else {
    asr_open_error_ = stream.error().message;  // reported if this turns out to be a question
  }
}

void TurnMachine::in_speech(bool bot_talking) {
  const Endpointer& endpointer = detector_.endpointer();
  feed_asr();
  // Still talking flow.barge_in_min_ms after the onset: a voice, not a click or a cough.
  const bool long_enough =
      endpointer.silence_ms() == 0 &&
      endpointer.position_ms() - endpointer.times().onset_ms >= settings_.flow.barge_in_min_ms;
  if (may_continue_ && !continuing_ && long_enough) {
    // The caller only drew breath: what the bot began to say answers half a question.
    spdlog::info("call {}: the caller went on: one turn with '{}'", call_id_, open_question_);
    actions_.interrupt();
    actions_.discard_prefetch();
    continuing_ = true;
  }
  if (heard_over_bot_ && long_enough) {
    if (bot_talking && settings_.flow.barge_in) {
      spdlog::info("call {}: barge-in", call_id_);
      actions_.interrupt();
      heard_over_bot_ = false;
    } else if (!bot_talking) {
      heard_over_bot_ = false;  // the bot finished first: an ordinary question
    }
  }
}

void TurnMachine::no_input(bool bot_talking) {
  listen_afresh();
  if (bot_talking) return;
  if (++silent_prompts_ > settings_.flow.max_silent_prompts) return finish("silence", true);
  actions_.say(settings_.flow.reprompt, false);
}

void TurnMachine::utterance_ended() {
  if (!heard_over_bot_ && !asr_open_error_.empty()) {
    // A question nobody could listen to: say so rather than leave the caller in silence.
    actions_.discard_prefetch();
    actions_.provider_failed("asr", make_error(asr_open_error_));
    listen_afresh();
    actions_.say(kApology, false);
    return;
  }
  if (heard_over_bot_ || (may_continue_ && !continuing_) || !asr_) {
    // A short noise over the bot's speech or its answer to come (or barge-in is off): not a
    // question. (A turn still being recognised may yet use the prefetch.)
    if (ended_turns_.empty()) actions_.discard_prefetch();
    listen_afresh();
    return;
  }
  const UtteranceTimes& at = detector_.endpointer().times();
  EndedTurn turn;
  turn.times.speech_start = said_at(at.onset_ms);
  turn.times.speech_end = said_at(at.voice_end_ms);
  turn.times.endpoint = now();
  turn.continued = continuing_;
  turn.utterance = utterance_;
  feed_asr();
  asr_->finish();
  turn.recognition = std::move(asr_);
  ended_turns_.push_back(std::move(turn));
  listen_afresh();
}

void TurnMachine::recognized(std::uint64_t utterance, const Result<std::string>& words) {
  const auto turn = std::find_if(ended_turns_.begin(), ended_turns_.end(),
                                 [&](const EndedTurn& t) { return t.utterance == utterance; });
  if (turn == ended_turns_.end()) return;  // given up meanwhile (the call is ending)
  turn->words = words;
  turn->times.asr_done = now();
  // Turns are taken in the order they were said: a continuation needs its start first.
  while (!ended_turns_.empty() && ended_turns_.front().words && listening()) {
    EndedTurn next = std::move(ended_turns_.front());
    ended_turns_.pop_front();
    take_turn(next);
  }
}

// A turn's final words: an answer to ask for, a goodbye, a transfer, or nothing heard.
void TurnMachine::take_turn(EndedTurn& turn) {
  StageTimes& times = turn.times;
  if (!*turn.words) {
    // The caller did say something: apologise rather than leave them in silence.
    actions_.discard_prefetch();
    actions_.provider_failed("asr", turn.words->error());
    actions_.say(kApology, false);
    return;
  }
  std::string text = **turn.words;
  if (text.empty() && !turn.continued) {
    if (ended_turns_.empty()) actions_.discard_prefetch();
    return;
  }
  spdlog::info("call {}: caller said: {}", call_id_, text);
  silent_prompts_ = 0;
  std::string continues;
  if (turn.continued) {  // (nothing recognised this time: the earlier question is still open)
    continues = std::exchange(open_question_, {});
    text = text.empty() ? continues : continues + " " + text;
    times.speech_start = open_times_.speech_start;
  }
  open_question_.clear();
  if (flow_.is_goodbye(text)) {
    actions_.discard_prefetch();
    actions_.store_caller_turn(text, times);
    return finish("caller_goodbye", true);
  }
  if (flow_.wants_transfer(text)) {
    actions_.store_caller_turn(text, times);
    return begin_transfer("the caller asked");
  }
  if (flow_.wants_forgetting(text)) {
    spdlog::info("call {}: the caller asked to be forgotten", call_id_);
    actions_.discard_prefetch();
    actions_.store_caller_turn(text, times);
    actions_.forget_caller();
    actions_.say(settings_.memory.forget_message, false);
    return;
  }
  open_question_ = text;
  open_times_ = times;
  if (continuing_ || (!ended_turns_.empty() && ended_turns_.front().continued)) {
    // The caller already went on: this is the start of a longer turn, asked once it ends.
    spdlog::info("call {}: the caller went on: one turn with '{}'", call_id_, text);
    return;
  }
  actions_.answer(std::move(text), times, std::move(continues));
}

}  // namespace chalkbot
