#include "agent/call_agent.h"

#include <chrono>
#include <thread>

#include "agent/call_recorder.h"
#include "agent/end_of_turn.h"
#include "agent/frame_times.h"
#include "core/clock.h"
#include "core/log.h"
#include "server/metrics.h"
#include "speech/vad/endpointer.h"
#include "speech/vad/voice_detector.h"

namespace chalkbot {
namespace {

using namespace std::chrono_literals;

// After a transfer is asked for: how long the caller's phone has to report the new call
// answered (it may ring the new party for a while) before the bot takes the call back. Within
// media.inactivity_timeout_s's default, for phones that send no RTP meanwhile. A success that
// comes later still ends the call as transferred.
constexpr auto kTransferWait = 30s;

// The last answer, for the DTMF "repeat" action: written by the speaker, read by the agent.
class LastAnswer {
 public:
  void set(std::string text) {
    std::lock_guard lock(mutex_);
    text_ = std::move(text);
  }
  std::string get() const {
    std::lock_guard lock(mutex_);
    return text_;
  }

 private:
  mutable std::mutex mutex_;
  std::string text_;
};

}  // namespace

CallAgent::CallAgent(const CallServices& services, CallInfo info,
                     std::shared_ptr<MediaSession> media, CallControl control)
    : services_(services),
      info_(std::move(info)),
      media_(std::move(media)),
      control_(std::move(control)) {}

void CallAgent::remote_ended(const std::string& reason) {
  {
    std::lock_guard lock(reason_mutex_);
    remote_reason_ = reason;
  }
  remote_ended_ = true;
}

void CallAgent::drain() { draining_ = true; }

void CallAgent::transfer_news(TransferNews news, const std::string& detail) {
  if (news == TransferNews::kAccepted) {
    spdlog::info("call {}: transfer accepted by the caller's phone ({})", info_.id, detail);
    transfer_accepted_ = true;
    return;
  }
  std::lock_guard lock(transfer_mutex_);
  transfer_outcome_ = news;
  transfer_detail_ = detail;
}

std::pair<TransferNews, std::string> CallAgent::take_transfer_outcome() {
  std::lock_guard lock(transfer_mutex_);
  return {std::exchange(transfer_outcome_, TransferNews::kNone), transfer_detail_};
}

std::string CallAgent::run() {
  const Settings& settings = services_.settings;
  const FlowSettings& flow = settings.flow;
  ConversationStore& store = services_.store;

  const CallRecord record{info_.id, info_.from, info_.to, wall_ms(), {}, "",
                          settings.cluster.node_id};
  if (auto begun = store.begin_call(record); !begun) {
    spdlog::error("call {}: cannot store the call: {}", info_.id, begun.error().message);
    control_.hang_up();
    media_->close();
    return "store_error";
  }
  auto vad = make_voice_detector(settings.vad, kTelephoneRate);
  if (!vad) {
    spdlog::error("call {}: {}", info_.id, vad.error().message);
    control_.hang_up();
    media_->close();
    (void)store.end_call(info_.id, wall_ms(), "vad_error");
    return "vad_error";
  }
  UtteranceDetector detector(std::move(*vad), EndpointerConfig::from(settings.vad));
  FrameTimes frame_times;  // when the caller said each frame the detector hears
  // Wall ms at which the caller said the audio at endpointer position `position_ms`.
  const auto said_at = [&](std::int64_t position_ms) {
    const std::int64_t now_position = detector.endpointer().position_ms();
    return frame_times.at(position_ms).value_or(wall_ms() - (now_position - position_ms));
  };
  Conversation conversation(services_.model, store, settings, info_.id,
                            Conversation::History::kNewCall);
  LastAnswer last_answer;
  std::unique_ptr<CallRecorder> recorder;
  if (settings.recording.enabled) {
    auto opened = CallRecorder::open(settings.recording.dir + "/" + info_.id + ".wav");
    if (opened) {
      recorder = std::move(*opened);
    } else {
      spdlog::warn("call {}: not recorded: {}", info_.id, opened.error().message);
    }
  }
  const auto provider_failed = [&](const std::string& provider, const Error& cause) {
    report_provider_failure(services_.on_provider_failure, info_.id, provider, cause);
  };
  // Declared last so it is destroyed first: its jobs use the objects above.
  Speaker speaker(
      *media_, services_.tts, services_.prompts, recorder.get(),
      [&](const Error& cause) { provider_failed("tts", cause); }, kApology);

  std::string reason;
  bool say_farewell = true;
  std::unique_ptr<AsrStream> asr;
  std::string asr_open_error;   // the recognizer could not be had for this utterance (overload)
  std::size_t asr_fed = 0;      // utterance samples already given to the ASR
  bool heard_over_bot = false;  // the current utterance began while the bot was talking
  bool pause_judged = false;    // this pause's words were looked at (end of turn or a breath)
  bool prefetch_tried = false;  // this pause's words were considered for a prefetch
  bool prefetched = false;      // the model was asked during this pause
  std::int64_t decoded_ahead_at = 0;  // endpointer position of the latest decode ahead
  // The latest question the bot began to answer: a caller who goes on within
  // vad.continue_turn_ms of the end of that turn (the endpoint) continues it, as one turn.
  std::string open_question;
  StageTimes open_times;
  bool may_continue = false;  // this utterance began within that window
  bool continuing = false;    // ... and lasted long enough: the answer begun was dropped
  int silent_prompts = 0;
  bool was_quiet = false;
  auto talking_since = SteadyClock::now();  // start of the bot's latest talk spurt
  std::uint64_t spurts_heard = 0;
  const auto deadline = SteadyClock::now() + std::chrono::seconds(flow.max_call_s);
  const Frame silence{};
  // A transfer: the bot says flow.transfer_message, then asks the caller's phone to call
  // flow.transfer_to (REFER) and waits for the outcome, not listening meanwhile.
  enum class TransferStep { kNone, kAnnouncing, kAsked };
  TransferStep transfer_step = TransferStep::kNone;
  auto transfer_deadline = SteadyClock::now();

  const auto listen_afresh = [&] {
    detector.reset();
    asr.reset();
    asr_open_error.clear();
    asr_fed = 0;
    heard_over_bot = false;
    prefetched = pause_judged = prefetch_tried = false;  // a prefetch is the answer's to pick up
    may_continue = continuing = false;
  };
  const auto begin_transfer = [&](const std::string& why) {
    spdlog::info("call {}: transferring to {} ({})", info_.id, flow.transfer_to, why);
    (void)take_transfer_outcome();  // news of an earlier attempt is not this one's
    transfer_accepted_ = false;
    conversation.discard_prefetch();
    speaker.interrupt();
    listen_afresh();
    speaker.post([&](Speaker& s, const CancelToken& cancel) {
      if (s.say(flow.transfer_message, cancel)) s.wait_played(cancel);
    });
    transfer_step = TransferStep::kAnnouncing;
  };
  // Each pass of the loop: ask for the transfer once the message is said, then wait for its
  // outcome. A success ends the call even after the bot gave up waiting for it.
  const auto follow_transfer = [&] {
    if (transfer_step == TransferStep::kAnnouncing) {
      if (!speaker.quiet()) return;
      control_.transfer(flow.transfer_to);
      transfer_step = TransferStep::kAsked;
      transfer_deadline = SteadyClock::now() + kTransferWait;
      return;
    }
    const auto [news, detail] = take_transfer_outcome();
    if (news == TransferNews::kSucceeded) {
      spdlog::info("call {}: transferred to {} ({})", info_.id, flow.transfer_to, detail);
      metrics().transfers_succeeded.inc();
      reason = "transferred";
      say_farewell = false;
      return;
    }
    if (transfer_step != TransferStep::kAsked) return;  // news of an attempt given up
    const bool timed_out =
        news == TransferNews::kNone && SteadyClock::now() >= transfer_deadline;
    if (news != TransferNews::kFailed && !timed_out) return;
    spdlog::warn("call {}: transfer to {} failed ({}); the call goes on", info_.id,
                 flow.transfer_to, timed_out ? "no outcome in time" : detail);
    metrics().transfers_failed.inc();
    transfer_step = TransferStep::kNone;
    listen_afresh();
    speaker.post(
        [&](Speaker& s, const CancelToken& cancel) { s.say(flow.transfer_failed, cancel); });
  };
  const auto store_caller_turn = [&](const std::string& text, const StageTimes& times) {
    if (auto stored = store.append_turn({info_.id, 0, "user", text, false, times}); !stored) {
      spdlog::error("call {}: turn not stored: {}", info_.id, stored.error().message);
    }
  };
  const auto feed_asr = [&] {
    const auto& utterance = detector.utterance();
    if (!asr || asr_fed >= utterance.size()) return;
    asr->accept(Samples(utterance).subspan(asr_fed));
    asr_fed = utterance.size();
  };
  // A pause in the caller's speech. At llm.prefetch_pause_ms the model is asked with the words so
  // far (kept if the caller has finished, cancelled if they go on). At vad.finished_silence_ms
  // (or just before the pause would end the utterance) the words so far decide: a question ends
  // the turn now; words that sound unfinished ("... and", "um") make it wait for the longer
  // vad.unfinished_silence_ms: the caller is drawing breath.
  const auto look_at_pause = [&](bool bot_talking) {
    const Endpointer& endpointer = detector.endpointer();
    if (endpointer.state() != Endpointer::State::kInSpeech) return;
    const std::int64_t silence_ms = endpointer.silence_ms();
    if (silence_ms == 0) {
      if (prefetched) conversation.discard_prefetch();  // the caller went on
      prefetched = pause_judged = prefetch_tried = false;
      // Long speech without a pause: decode some now rather than all of it when the turn ends.
      const int ahead_ms = settings.asr.decode_ahead_ms;
      if (asr && ahead_ms > 0 && endpointer.position_ms() - decoded_ahead_at >= ahead_ms) {
        decoded_ahead_at = endpointer.position_ms();
        feed_asr();
        asr->decode_ahead();
      }
      return;
    }
    if (!asr) return;
    const int prefetch_ms = settings.llm.prefetch_pause_ms;
    // (No prefetch for a continued turn: its question is the earlier one plus these words.)
    if (!prefetch_tried && !may_continue && prefetch_ms > 0 && silence_ms >= prefetch_ms) {
      prefetch_tried = true;
      decoded_ahead_at = endpointer.position_ms();
      feed_asr();
      const std::string words = asr->partial();
      if (!words.empty() && !bot_talking && !heard_over_bot && !sounds_unfinished(words) &&
          !services_.flow.is_goodbye(words)) {
        conversation.prefetch(words);
        prefetched = true;
      }
    }
    const int finished_ms = endpointer.config().finished_silence_ms;
    if (!pause_judged && ((finished_ms > 0 && silence_ms >= finished_ms) ||
                          silence_ms + kFrameMs >= endpointer.config().end_silence_ms)) {
      pause_judged = true;
      feed_asr();
      const std::string words = asr->partial();
      if (sounds_unfinished(words)) {
        spdlog::debug("call {}: '{}' sounds unfinished: waiting longer", info_.id, words);
        detector.hold_end();
      } else if (sounds_finished(words)) {
        spdlog::debug("call {}: '{}' sounds finished: the turn ends now", info_.id, words);
        detector.hasten_end();
      }
    }
  };
  const auto answer = [&](std::string question, StageTimes times, std::string continues) {
    speaker.post([&, question = std::move(question), times, continues = std::move(continues)](
                     Speaker& s, const CancelToken& cancel) mutable {
          MediaSession& media = s.media();
          AnswerCallbacks callbacks;
          callbacks.on_sentence = [&](const std::string& sentence) {
            const auto spurts_before = media.talk_spurts();
            const bool first = !times.tts_first_audio;
            const auto stamp_first_audio = [&] {
              if (!times.tts_first_audio) times.tts_first_audio = wall_ms();
            };
            const bool spoken = s.say(sentence, cancel, stamp_first_audio);
            if (first && times.tts_first_audio) {
              // The first packet of this answer leaves within a tick or two of being queued.
              for (int i = 0; i < 20 && media.talk_spurts() == spurts_before; ++i) {
                std::this_thread::sleep_for(5ms);
              }
              if (auto sent = media.first_audio_packet_sent_at();
                  sent && media.talk_spurts() == spurts_before + 1) {
                const auto ago = std::chrono::duration_cast<Millis>(SteadyClock::now() - *sent);
                times.first_rtp_out = wall_ms() - ago.count();
              }
            }
            return spoken;
          };
          auto result = conversation.answer(question, times, callbacks, cancel, continues);
          if (!result) {
            spdlog::error("call {}: no answer: {}", info_.id, result.error().message);
            return;
          }
          metrics().observe_turn(times);
          if (result->model_failed) provider_failed("llm", result->error);
          if (!result->store_error.empty()) {
            spdlog::error("call {}: turn not stored: {}", info_.id, result->store_error);
          }
          if (!result->interrupted) last_answer.set(result->text);
        });
  };

  speaker.post([&](Speaker& s, const CancelToken& cancel) { s.say(flow.greeting, cancel); });

  // One 20 ms frame of what the caller said (its last sample at wall ms `said`): VAD,
  // endpointing, ASR, barge-in, no-input.
  const auto hear = [&](Samples audio, std::int64_t said) {
    const bool bot_talking = !speaker.quiet();
    if (const auto spurts = media_->talk_spurts(); spurts != spurts_heard) {
      spurts_heard = spurts;
      talking_since = SteadyClock::now();  // the bot's audio just started going out
    }
    // Right after the bot starts talking its own echo may come back: hear silence instead.
    const bool echo_guard =
        bot_talking && SteadyClock::now() - talking_since < Millis(flow.echo_guard_ms);
    look_at_pause(bot_talking);
    if (recorder) recorder->heard(audio);
    frame_times.add(said);
    auto event = detector.push(echo_guard ? Samples(silence) : audio);
    if (!event) {
      spdlog::warn("call {}: VAD: {}", info_.id, event.error().message);
      return;
    }
    const Endpointer& endpointer = detector.endpointer();
    switch (*event) {
      case EndpointEvent::kSpeechStarted: {
        const std::int64_t onset = said_at(endpointer.times().onset_ms);
        may_continue = !open_question.empty() && open_times.endpoint &&
                       onset - *open_times.endpoint <= settings.vad.continue_turn_ms;
        heard_over_bot = bot_talking && !may_continue;
        decoded_ahead_at = endpointer.position_ms();
        auto stream = services_.asr.open(kTelephoneRate);
        if (stream) {
          asr = std::move(*stream);
          feed_asr();
        } else {
          asr_open_error = stream.error().message;  // reported if this turns out to be a question
        }
        break;
      }
      case EndpointEvent::kNone:
        if (endpointer.state() != Endpointer::State::kInSpeech) break;
        feed_asr();
        if (may_continue && !continuing &&
            endpointer.position_ms() - endpointer.times().onset_ms >= flow.barge_in_min_ms) {
          // The caller only drew breath: what the bot began to say answers half a question.
          spdlog::info("call {}: the caller went on: one turn with '{}'", info_.id, open_question);
          speaker.interrupt();
          conversation.discard_prefetch();
          continuing = true;
        }
        if (heard_over_bot &&
            endpointer.position_ms() - endpointer.times().onset_ms >= flow.barge_in_min_ms) {
          // Long enough to be the caller talking, not a click or a cough.
          if (bot_talking && flow.barge_in) {
            spdlog::info("call {}: barge-in", info_.id);
            speaker.interrupt();
            heard_over_bot = false;
          } else if (!bot_talking) {
            heard_over_bot = false;  // the bot finished first: an ordinary question
          }
        }
        break;
      case EndpointEvent::kNoInput:
        listen_afresh();
        if (bot_talking) break;
        if (++silent_prompts > flow.max_silent_prompts) {
          reason = "silence";
        } else {
          speaker.post(
              [&](Speaker& s, const CancelToken& cancel) { s.say(flow.reprompt, cancel); });
        }
        break;
      case EndpointEvent::kSpeechEnded:
      case EndpointEvent::kMaxUtterance: {
        if (!heard_over_bot && !asr_open_error.empty()) {
          // A question nobody could listen to: say so rather than leave the caller in silence.
          conversation.discard_prefetch();
          provider_failed("asr", make_error(asr_open_error));
          listen_afresh();
          speaker.post([](Speaker& s, const CancelToken& cancel) { s.say(kApology, cancel); });
          break;
        }
        if (heard_over_bot || (may_continue && !continuing) || !asr) {
          // A short noise over the bot's speech or its answer to come (or barge-in is off): not
          // a question.
          conversation.discard_prefetch();
          listen_afresh();
          break;
        }
        const UtteranceTimes& at = endpointer.times();
        StageTimes times;
        times.speech_start = said_at(at.onset_ms);
        times.speech_end = said_at(at.voice_end_ms);
        times.endpoint = wall_ms();
        const Status finished = asr->finish();
        times.asr_done = wall_ms();
        std::string text = finished ? asr->result() : std::string();
        const bool continued = continuing;
        listen_afresh();
        if (!finished) {
          // The caller did say something: apologise rather than leave them in silence.
          conversation.discard_prefetch();
          provider_failed("asr", finished.error());
          speaker.post([](Speaker& s, const CancelToken& cancel) { s.say(kApology, cancel); });
          break;
        }
        if (text.empty() && !continued) {
          conversation.discard_prefetch();
          break;
        }
        spdlog::info("call {}: caller said: {}", info_.id, text);
        silent_prompts = 0;
        std::string continues;
        if (continued) {  // (nothing recognised this time: the earlier question is still open)
          continues = std::exchange(open_question, {});
          text = text.empty() ? continues : continues + " " + text;
          times.speech_start = open_times.speech_start;
        }
        open_question.clear();
        if (services_.flow.is_goodbye(text)) {
          conversation.discard_prefetch();
          store_caller_turn(text, times);
          reason = "caller_goodbye";
          break;
        }
        if (services_.flow.wants_transfer(text)) {
          store_caller_turn(text, times);
          begin_transfer("the caller asked");
          break;
        }
        open_question = text;
        open_times = times;
        answer(std::move(text), times, std::move(continues));
        break;
      }
    }
  };

  Frame frame;
  auto last_frame_at = SteadyClock::now();
  while (reason.empty()) {
    if (remote_ended_) {
      std::lock_guard lock(reason_mutex_);
      // After a REFER is accepted the caller's phone hangs up on us once it is through.
      const bool phone_left = transfer_step == TransferStep::kAsked && transfer_accepted_ &&
                              remote_reason_ == "remote-bye";
      reason = phone_left ? "transferred" : remote_reason_;
      say_farewell = false;
      break;
    }
    if (SteadyClock::now() >= deadline) {
      reason = "max_duration";
      break;
    }
    if (media_->inactive()) {
      reason = "rtp_timeout";
      say_farewell = false;
      break;
    }
    const bool in_speech = detector.endpointer().state() == Endpointer::State::kInSpeech;
    if (draining_ && speaker.quiet() && !in_speech) {
      reason = "shutdown";
      break;
    }

    media_->wait_for_input(20ms);
    while (auto digit = media_->pop_dtmf()) {
      spdlog::info("call {}: DTMF {}", info_.id, *digit);
      const DtmfAction action = services_.flow.action_for(*digit);
      if (action == DtmfAction::kHangup) reason = "dtmf_hangup";
      if (transfer_step != TransferStep::kNone) continue;  // being handed over: only hang-up
      if (action == DtmfAction::kTransfer && transfer_step == TransferStep::kNone) {
        begin_transfer(std::string("DTMF ") + *digit);
      }
      if (action == DtmfAction::kRepeat) {
        speaker.interrupt();
        listen_afresh();
        const std::string text = last_answer.get();
        if (!text.empty()) {
          speaker.post([text](Speaker& s, const CancelToken& cancel) { s.say(text, cancel); });
        }
      }
    }
    if (!reason.empty()) break;

    follow_transfer();
    if (!reason.empty()) break;
    if (transfer_step != TransferStep::kNone) {
      while (media_->pop_frame(frame)) {
      }  // not listening while the call is handed over
      last_frame_at = SteadyClock::now();
      continue;
    }

    // The bot's turns frame the listening: when it stops talking, the no-input clock restarts.
    const bool quiet = speaker.quiet();
    if (quiet && !was_quiet && !in_speech) listen_afresh();
    was_quiet = quiet;

    bool heard_any = false;
    SteadyClock::time_point sent_at;
    while (reason.empty() && media_->pop_frame(frame, sent_at)) {
      heard_any = true;
      hear(frame, wall_ms_of(sent_at));
    }
    // With silence suppression (or comfort noise) no frames arrive while the caller is quiet,
    // but the endpointer counts audio time: give it the silence it is not being sent.
    const auto now = SteadyClock::now();
    if (heard_any || media_->on_hold()) {
      last_frame_at = now;
    } else {
      while (reason.empty() && now - last_frame_at >= 3 * Millis(kFrameMs)) {
        last_frame_at += Millis(kFrameMs);
        hear(silence, wall_ms_of(last_frame_at));
      }
    }
  }

  spdlog::info("call {}: ending ({})", info_.id, reason);
  asr.reset();
  if (say_farewell) {
    speaker.interrupt();
    speaker.post([&](Speaker& s, const CancelToken& cancel) {
      if (s.say(flow.farewell, cancel)) s.wait_played(cancel);
    });
    const auto farewell_deadline = SteadyClock::now() + 15s;
    while (!speaker.quiet() && !remote_ended_ && SteadyClock::now() < farewell_deadline) {
      std::this_thread::sleep_for(20ms);
    }
  }
  if (!remote_ended_) control_.hang_up();
  // An answer cut short by the hang-up stores its turn as it stops: let it, before the call ends.
  speaker.interrupt();
  while (speaker.busy()) std::this_thread::sleep_for(5ms);
  if (auto ended = store.end_call(info_.id, wall_ms(), reason); !ended) {
    spdlog::error("call {}: end not stored: {}", info_.id, ended.error().message);
  }
  media_->close();
  return reason;
}

}  // namespace chalkbot
