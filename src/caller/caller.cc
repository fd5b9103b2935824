#include "caller/caller.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "media/media_engine.h"
#include "media/wav.h"
#include "sip/sip_endpoint.h"

namespace chalkbot {
namespace {

using TimePoint = SteadyClock::time_point;
constexpr Millis kFrame{kFrameMs};
constexpr int kFeedAheadMs = 4000;              // question audio kept queued (the ring holds 10 s)
constexpr Millis kPoll{10};                     // media loop wake-up when nothing arrives
constexpr Millis kSpurtWait{3000};              // queued audio must start going out within this
constexpr std::chrono::seconds kHangupWait{5};  // BYE -> 200
constexpr std::chrono::seconds kCancelWait{1};  // CANCEL -> 487

int ms_between(TimePoint from, TimePoint to) {
  return static_cast<int>(std::chrono::duration_cast<Millis>(to - from).count());
}

// A caller takes no calls.
class RefuseIncoming : public sip::CallHandler {
 public:
  sip::Admission on_invite(const sip::IncomingCall&) override {
    return sip::Admission::reject(603, "Decline");
  }
  void on_established(sip::CallId) override {}
  void on_media_changed(sip::CallId, const sip::RemoteMedia&) override {}
  void on_ended(sip::CallId, const sip::CallEnd&) override {}
};

// What the sip thread reports about our one call. The callbacks (sip thread) only store and
// notify; Caller::run() reads snapshots.
class CallEvents : public sip::OutgoingCallHandler {
 public:
  struct State {
    bool answered = false;
    bool failed = false;
    bool ended = false;
    int status = 0;
    std::string phrase;
    sip::RemoteMedia remote;
    sip::Codec codec;
    sip::SrtpKeys srtp;  // empty suite: plain RTP
    TimePoint answered_at;
    sip::CallEnd end;
    std::optional<sip::RemoteMedia> media_change;  // not yet applied
  };

  void on_answered(sip::CallId, const sip::RemoteMedia& remote, const sip::Codec& codec,
                   const sip::SrtpKeys& srtp) override {
    update([&](State& s) {
      s.answered = true;
      s.status = 200;
      s.phrase = "OK";
      s.remote = remote;
      s.codec = codec;
      s.srtp = srtp;
      s.answered_at = SteadyClock::now();
    });
  }
  void on_failed(sip::CallId, int status, const std::string& phrase) override {
    update([&](State& s) {
      s.failed = true;
      s.status = status;
      s.phrase = phrase;
    });
  }
  void on_media_changed(sip::CallId, const sip::RemoteMedia& remote) override {
    update([&](State& s) { s.media_change = remote; });
  }
  void on_ended(sip::CallId, const sip::CallEnd& end) override {
    update([&](State& s) {
      s.ended = true;
      s.end = end;
    });
  }

  State snapshot() {
    std::lock_guard lock(mu_);
    return state_;
  }
  std::optional<sip::RemoteMedia> take_media_change() {
    std::lock_guard lock(mu_);
    return std::exchange(state_.media_change, std::nullopt);
  }
  bool ended() {
    std::lock_guard lock(mu_);
    return state_.ended;
  }
  // Waits until `done(state)`, `until`, or `stop`; returns the state then.
  template <class Done>
  State wait(Done done, TimePoint until, const std::atomic<bool>& stop) {
    std::unique_lock lock(mu_);
    while (!done(state_) && SteadyClock::now() < until && !stop.load(std::memory_order_acquire)) {
      // Sliced so that request_stop() is seen without a notification of its own.
      cv_.wait_until(lock, std::min(until, SteadyClock::now() + Millis(50)));
    }
    return state_;
  }

 private:
  template <class F>
  void update(F f) {
    std::lock_guard lock(mu_);
    f(state_);
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  State state_;
};

struct Question {
  std::string path;
  std::vector<Sample> pcm;  // 8 kHz
  VoicedSpan span;
};

}  // namespace

double block_rms(Samples samples) {
  if (samples.empty()) return 0;
  double sum = 0;
  for (const Sample s : samples) sum += static_cast<double>(s) * s;
  return std::sqrt(sum / static_cast<double>(samples.size()));
}

std::optional<VoicedSpan> voiced_span(Samples pcm, double voiced_rms) {
  std::optional<VoicedSpan> span;
  for (std::size_t frame = 0; frame * kFrameSamples < pcm.size(); ++frame) {
    const std::size_t at = frame * kFrameSamples;
    if (block_rms(pcm.subspan(at, std::min(kFrameSamples, pcm.size() - at))) <= voiced_rms) {
      continue;
    }
    if (!span) span = VoicedSpan{frame, frame};
    span->last_frame = frame;
  }
  return span;
}

void SpeechTimeline::add_voiced(TimePoint at) {
  // Arrival order is time order; a clock that stepped back must not unsort the list.
  if (!voiced_.empty() && at < voiced_.back()) at = voiced_.back();
  voiced_.push_back(at);
}

std::optional<SpeechTimeline::TimePoint> SpeechTimeline::first_voiced_after(TimePoint t) const {
  const auto it = std::upper_bound(voiced_.begin(), voiced_.end(), t);
  if (it == voiced_.end()) return std::nullopt;
  return *it;
}

std::optional<SpeechTimeline::TimePoint> SpeechTimeline::last_voiced_at_or_before(
    TimePoint t) const {
  const auto it = std::upper_bound(voiced_.begin(), voiced_.end(), t);
  if (it == voiced_.begin()) return std::nullopt;
  return *std::prev(it);
}

std::optional<SpeechTimeline::TimePoint> SpeechTimeline::speech_end(TimePoint from, Millis gap,
                                                                    TimePoint now) const {
  auto it = std::lower_bound(voiced_.begin(), voiced_.end(), from);
  for (; it != voiced_.end(); ++it) {
    const auto next = std::next(it);
    if (next == voiced_.end()) break;
    // A frame's time is its end: the unvoiced stretch between two voiced frames is one frame
    // shorter than the distance of their times.
    if (*next - *it - kFrame >= gap) return *it;
  }
  if (it == voiced_.end()) return std::nullopt;  // nothing voiced since `from`
  if (now - *it >= gap) return *it;
  return std::nullopt;
}

bool CallerReport::success() const {
  if (!answered || !error.empty()) return false;
  return std::all_of(turns.begin(), turns.end(), [](const CallerTurn& t) { return t.answered; });
}

nlohmann::ordered_json to_json(const CallerReport& report) {
  using json = nlohmann::ordered_json;
  auto opt = [](const std::optional<int>& v) { return v ? json(*v) : json(nullptr); };
  json turns = json::array();
  for (const CallerTurn& t : report.turns) {
    json j{{"question", t.question},
           {"answered", t.answered},
           {"question_sent_ms", t.question_sent_ms},
           {"answer_start_ms", opt(t.answer_start_ms)},
           {"response_latency_ms", opt(t.response_latency_ms)},
           {"answer_ms", opt(t.answer_ms)}};
    if (t.interrupting) {
      j["bot_was_talking"] = t.bot_was_talking;
      j["barge_in_stop_ms"] = opt(t.barge_in_stop_ms);
    }
    if (t.playback_underrun) j["playback_underrun"] = true;
    turns.push_back(std::move(j));
  }
  json j{{"target", report.target},
         {"answered", report.answered},
         {"status", report.status},
         {"phrase", report.phrase},
         {"codec", report.codec},
         {"srtp", report.srtp},
         {"greeting_ms", opt(report.greeting_ms)},
         {"greeting_audio_ms", opt(report.greeting_audio_ms)},
         {"turns", std::move(turns)},
         {"hung_up_by", report.hung_up_by},
         {"duration_ms", report.duration_ms},
         {"jitter_buffer_ms", report.jitter_buffer_ms},
         {"media",
          {{"packets_in", report.media.packets_in},
           {"packets_out", report.media.packets_out},
           {"rejected_in", report.media.rejected_in},
           {"late_in", report.media.late_in},
           {"concealed_frames", report.media.concealed_frames},
           {"capture_overflow", report.media.capture_overflow}}},
         {"success", report.success()}};
  if (!report.dtmf_sent.empty()) j["dtmf_sent"] = report.dtmf_sent;
  if (!report.dtmf_heard.empty()) j["dtmf_heard"] = report.dtmf_heard;
  if (!report.recording.empty()) j["recording"] = report.recording;
  if (!report.error.empty()) j["error"] = report.error;
  return j;
}

// ---------------------------------------------------------------------------------------------
// One run: the media loop (record, detect, feed the question) and the script on top of it. Runs on
// the thread that called Caller::run(), which is the session's producer and consumer.

struct Caller::Run {
  enum class Wait { kDone, kLimit, kOver };

  Run(const CallerOptions& options, const std::atomic<bool>& stop_flag, CallEvents& call_events,
      MediaSession& media, CallerReport& out, TimePoint answered_at, TimePoint call_deadline)
      : opt(options),
        stop(stop_flag),
        events(call_events),
        session(media),
        report(out),
        start(answered_at),
        deadline(call_deadline) {}

  const CallerOptions& opt;
  const std::atomic<bool>& stop;
  CallEvents& events;
  MediaSession& session;
  CallerReport& report;
  TimePoint start;     // the call was answered: sample 0 of the recording
  TimePoint deadline;  // --timeout-s
  std::string over;    // why the call is over: bot | timeout | stopped | ended

  SpeechTimeline heard;
  std::vector<Sample> recording;
  std::size_t frames_written = 0;
  TimePoint last_frame_at{};
  std::vector<Frame> batch;

  const Question* playing = nullptr;
  std::size_t play_pos = 0;
  bool flushed = true;

  // One round of the media loop. False once the call is over (see `over`).
  bool pump() {
    const TimePoint now = SteadyClock::now();
    if (over.empty()) {
      if (stop.load(std::memory_order_acquire))
        over = "stopped";
      else if (now >= deadline)
        over = "timeout";
      else if (events.ended())
        over = "ended";
    }
    if (!over.empty()) return false;
    if (auto change = events.take_media_change()) {
      // A re-INVITE from the far end (new address, hold): same codec by contract.
      const sip::Codec codec = events.snapshot().codec;
      const sip::TelephoneEvent event = change->telephone_event_for(codec);
      (void)session.set_remote(change->ip, static_cast<std::uint16_t>(change->port),
                               codec.payload_type, event.payload_type, event.clock_rate);
    }
    feed();
    session.wait_for_input(kPoll);
    batch.clear();
    Frame f;
    while (session.pop_frame(f)) batch.push_back(f);
    while (auto key = session.pop_dtmf()) report.dtmf_heard += *key;
    const TimePoint got = SteadyClock::now();
    // The media thread hands over one frame per 20 ms tick; frames found together were handed
    // over on successive ticks, so the earlier ones are dated back.
    for (std::size_t i = 0; i < batch.size(); ++i) {
      TimePoint at = got - kFrame * static_cast<int>(batch.size() - 1 - i);
      if (at < last_frame_at) at = last_frame_at;
      last_frame_at = at;
      record(at, batch[i]);
      if (block_rms(batch[i]) > opt.voiced_rms) heard.add_voiced(at);
    }
    return true;
  }

  template <class Done>
  Wait wait_until(Done done, TimePoint limit) {
    for (;;) {
      if (done()) return Wait::kDone;
      if (SteadyClock::now() >= limit) return Wait::kLimit;
      if (!pump()) return Wait::kOver;
    }
  }
  Wait sleep_until(TimePoint t) {
    return wait_until([] { return false; }, t) == Wait::kLimit ? Wait::kDone : Wait::kOver;
  }

  // Keeps wall-clock alignment: a frame heard at `at` (its end) belongs at index
  // (at - start) / 20 ms - 1. Silence fills what is missing: before the far end's first packet
  // (the first frame goes exactly to its slot) and where it stopped sending (a slot more than two
  // frames ahead). Smaller differences are arrival jitter: the frame is appended as is, so the
  // stream is not torn by spurious 20 ms gaps.
  void record(TimePoint at, const Frame& frame) {
    const auto slot =
        static_cast<std::size_t>(std::max<std::int64_t>(0, (at - start) / kFrame - 1));
    if (frames_written == 0 || slot > frames_written + 2) pad_to(slot);
    recording.insert(recording.end(), frame.begin(), frame.end());
    ++frames_written;
  }
  void pad_to(std::size_t frames) {
    if (frames <= frames_written) return;
    recording.resize(frames * kFrameSamples, Sample{0});
    frames_written = frames;
  }

  void play(const Question& q) {
    playing = &q;
    play_pos = 0;
    flushed = false;
    feed();
  }
  // Long questions go in progressively: the playback ring holds ~10 s.
  void feed() {
    if (playing == nullptr) return;
    const std::vector<Sample>& pcm = playing->pcm;
    while (play_pos < pcm.size() && session.queued_ms() < kFeedAheadMs) {
      const std::size_t chunk = std::min<std::size_t>(pcm.size() - play_pos, kTelephoneRate);
      const std::size_t took = session.enqueue_audio(Samples(pcm).subspan(play_pos, chunk));
      play_pos += took;
      if (took < chunk) break;
    }
    if (play_pos == pcm.size() && !flushed) {
      session.flush_audio();
      flushed = true;
      playing = nullptr;
    }
  }

  void script(const std::vector<Question>& questions);
};

void Caller::Run::script(const std::vector<Question>& questions) {
  const Millis quiet{opt.quiet_ms};
  auto now = [] { return SteadyClock::now(); };

  // Greeting: the first voiced audio after the answer, then quiet.
  if (opt.greeting_timeout_ms > 0) {
    std::optional<TimePoint> first;
    const Wait w =
        wait_until([&] { return (first = heard.first_voiced_after(TimePoint{})).has_value(); },
                   start + Millis(opt.greeting_timeout_ms));
    if (w == Wait::kOver) return;
    if (first) {
      report.greeting_ms = ms_between(start, *first);
      std::optional<TimePoint> end;
      if (wait_until([&] { return (end = heard.speech_end(*first, quiet, now())).has_value(); },
                     deadline) != Wait::kDone) {
        return;
      }
      report.greeting_audio_ms = ms_between(*first, *end) + kFrameMs;
    }
  }

  // Keys, then let the bot finish whatever they triggered before asking.
  if (!opt.dtmf_after_greeting.empty()) {
    for (const char key : opt.dtmf_after_greeting) {
      if (auto sent = session.send_dtmf(key, opt.dtmf_duration_ms); !sent) {
        report.error = "dtmf: " + sent.error().message;
        return;
      }
      report.dtmf_sent += key;
    }
    if (wait_until([&] { return !session.dtmf_sending(); }, deadline) != Wait::kDone) return;
    const TimePoint keys_done = now();
    if (wait_until(
            [&] {
              const auto last = heard.last_voiced_at_or_before(now());
              return now() - std::max(keys_done, last.value_or(keys_done)) >= quiet;
            },
            deadline) != Wait::kDone) {
      return;
    }
  }

  std::optional<TimePoint> prev_answer_start;
  for (std::size_t i = 0; i < questions.size(); ++i) {
    const Question& q = questions[i];
    report.turns.push_back(CallerTurn{});
    CallerTurn* turn = &report.turns.back();
    turn->question = q.path;
    CallerTurn* prev = i > 0 ? &report.turns[i - 1] : nullptr;
    turn->interrupting = prev != nullptr && opt.interrupt_after_ms >= 0 && prev_answer_start;
    if (turn->interrupting &&
        sleep_until(*prev_answer_start + Millis(opt.interrupt_after_ms)) == Wait::kOver) {
      return;
    }

    // Play. Send times come from the media thread: it stamps the first packet of a talk spurt
    // just before sending it and then sends exactly one queued frame per absolute 20 ms tick, so
    // frame k of the question leaves at a known time (spurt_frame_sent_at). That is when the far end can start
    // hearing it, which enqueue time plus queue position would only estimate (the queue may hold
    // other audio, a DTMF press delays it, the tick phase is unknown to us).
    const std::uint64_t spurts = session.talk_spurts();
    play(q);
    if (wait_until([&] { return session.talk_spurts() > spurts; }, now() + kSpurtWait) !=
        Wait::kDone) {
      if (over.empty()) report.error = "question audio was not sent";
      return;
    }
    const std::uint64_t spurt = session.talk_spurts();
    const TimePoint first_sent = *session.first_audio_packet_sent_at();
    const TimePoint voice_start = *session.spurt_frame_sent_at(q.span.first_frame);
    const TimePoint voice_end = *session.spurt_frame_sent_at(q.span.last_frame);
    turn->question_sent_ms = ms_between(start, first_sent);

    TimePoint listen_from = voice_end;  // the answer is the first voiced frame after this
    if (turn->interrupting) {
      if (sleep_until(voice_start) == Wait::kOver) return;
      // Talking = heard within one barge-in gap before our voice started.
      const Millis gap{opt.barge_in_gap_ms};
      const auto last = heard.last_voiced_at_or_before(voice_start);
      turn->bot_was_talking = last && voice_start - *last < gap + kFrame;
      std::optional<TimePoint> stopped = last;
      if (turn->bot_was_talking) {
        // The bot stopped at its last voiced frame before a gap; it may have stopped only after
        // our question ended (no barge-in): then the answer comes after that gap.
        stopped.reset();
        if (wait_until([&] { return (stopped = heard.speech_end(*last, gap, now())).has_value(); },
                       voice_start + Millis(opt.answer_timeout_ms)) == Wait::kOver) {
          return;
        }
        if (stopped) {
          turn->barge_in_stop_ms = std::max(0, ms_between(voice_start, *stopped));
          listen_from = std::max(listen_from, *stopped);
        }
      }
      // The interrupted answer ended where the bot stopped.
      if (prev->answered && !prev->answer_ms && stopped && *stopped >= *prev_answer_start) {
        prev->answer_ms = ms_between(*prev_answer_start, *stopped) + kFrameMs;
      }
    }

    if (sleep_until(voice_end) == Wait::kOver) return;
    std::optional<TimePoint> answer;
    const Wait got =
        wait_until([&] { return (answer = heard.first_voiced_after(listen_from)).has_value(); },
                   listen_from + Millis(opt.answer_timeout_ms));
    // New audio after the question went out started a new spurt: it was not sent in one piece.
    turn->playback_underrun = session.talk_spurts() != spurt;
    if (got == Wait::kOver) return;
    if (!answer) {
      report.error = "no answer to question " + std::to_string(i + 1) + " within " +
                     std::to_string(opt.answer_timeout_ms) + " ms";
      return;
    }
    turn->answered = true;
    turn->answer_start_ms = ms_between(start, *answer);
    turn->response_latency_ms = ms_between(voice_end, *answer);
    prev_answer_start = answer;

    // Interrupting the next answer: do not wait for this one to end (the barge-in sets its end).
    if (i + 1 < questions.size() && opt.interrupt_after_ms >= 0) continue;
    std::optional<TimePoint> end;
    if (wait_until([&] { return (end = heard.speech_end(*answer, quiet, now())).has_value(); },
                   deadline) != Wait::kDone) {
      return;
    }
    turn->answer_ms = ms_between(*answer, *end) + kFrameMs;
  }
}

// ---------------------------------------------------------------------------------------------
// Caller

Caller::Caller(CallerOptions options, SipSettings sip, MediaSettings media)
    : options_(std::move(options)), sip_(std::move(sip)), media_(std::move(media)) {
  sip_.bind_address = options_.bind_address;
  sip_.port = options_.sip_port;
  sip_.public_address.clear();  // a server's public address is not the caller's
  sip_.register_uri.clear();
}

Caller::~Caller() = default;

Result<CallerReport> Caller::run() {
  CallerReport report;
  report.target = options_.target;

  // Everything that can be checked before anyone's phone rings.
  std::vector<Question> questions;
  for (const std::string& path : options_.questions) {
    auto audio = read_wav(path, kTelephoneRate);
    if (!audio) return audio.error();
    auto span = voiced_span(audio->samples, options_.voiced_rms);
    if (!span) {
      return make_error(path + ": no audio above the voiced threshold (RMS " +
                        std::to_string(static_cast<int>(options_.voiced_rms)) + ")");
    }
    questions.push_back({path, std::move(audio->samples), *span});
  }
  for (const char key : options_.dtmf_after_greeting) {
    if (std::string_view("0123456789*#ABCDabcd").find(key) == std::string_view::npos) {
      return make_error(std::string("not a DTMF key: '") + key + "'");
    }
  }

  auto engine = MediaEngine::create(media_);
  if (!engine) return engine.error();
  auto opened = (*engine)->open_session(options_.bind_address);
  if (!opened) return opened.error();
  std::shared_ptr<MediaSession> session = std::move(opened).value();
  RefuseIncoming refuse;
  sip::SipEndpoint endpoint(sip_, media_, refuse);
  if (auto started = endpoint.start(); !started) return started.error();

  auto events = std::make_shared<CallEvents>();
  const TimePoint invited = SteadyClock::now();
  const TimePoint deadline = invited + std::chrono::seconds(options_.timeout_s);
  sip::OfferMedia offer;
  offer.rtp_port = session->local_port();
  offer.telephone_event_pt = 101;
  // This caller's media session runs G.711: it offers that part of media.codecs only.
  if (auto preferred = sip::parse_codec_list(media_.codecs)) {
    for (const auto& codec : *preferred) {
      if (codec.name == "PCMU" || codec.name == "PCMA") offer.codecs.push_back(codec);
    }
  }
  if (offer.codecs.empty()) offer.codecs = {sip::Codec{"PCMU", 0, 8000}};
  // SRTP only when media.srtp is required: under the default (optional) a test or benchmark call
  // stays plain RTP, as what they measure assumes, unless asked for SRTP.
  const auto srtp_mode = sip::parse_srtp_mode(media_.srtp);
  if (srtp_mode && *srtp_mode == sip::SrtpMode::kRequired) offer.srtp = sip::SrtpMode::kRequired;
  auto id = endpoint.place_call(options_.target, offer, events);
  if (!id) return id.error();

  CallEvents::State state = events->wait(
      [](const CallEvents::State& s) { return s.answered || s.failed; }, deadline, stop_);
  if (!state.answered) {
    if (!state.failed) {
      // Nobody answered in time (or we were told to stop): CANCEL and take the final status.
      report.error = stop_.load()
                         ? "stopped"
                         : "timeout: no answer within " + std::to_string(options_.timeout_s) + " s";
      // A live far end answers the CANCEL with 487 at once; a dead one is left to shutdown()
      // (a CANCEL cannot even be sent before a provisional response).
      endpoint.hangup(*id);
      std::atomic<bool> never{false};
      state = events->wait([](const CallEvents::State& s) { return s.failed || s.ended; },
                           SteadyClock::now() + kCancelWait, never);
    }
    report.status = state.failed ? state.status : 0;
    report.phrase = state.failed ? state.phrase : "";
    endpoint.shutdown();
    return report;
  }

  report.answered = true;
  report.status = state.status;
  report.phrase = state.phrase;
  report.codec = state.codec.name;
  report.srtp = state.srtp.suite;
  Run run(options_, stop_, *events, *session, report, state.answered_at, deadline);
  const sip::TelephoneEvent event = state.remote.telephone_event_for(state.codec);
  // SRTP keys go in before the media starts (MediaSession::use_srtp).
  if (auto keyed = state.srtp.suite.empty()
                       ? Status{}
                       : session->use_srtp(state.srtp.suite, state.srtp.send_key,
                                           state.srtp.receive_key);
      !keyed) {
    report.error = "media: " + keyed.error().message;
  } else if (auto started =
                 session->start(state.remote.ip, static_cast<std::uint16_t>(state.remote.port),
                                state.codec.payload_type, event.payload_type, event.clock_rate);
             !started) {
    report.error = "media: " + started.error().message;
  } else {
    run.script(questions);
  }

  // Hang up unless the far end did.
  std::atomic<bool> never{false};
  state = events->snapshot();
  if (!state.ended) {
    endpoint.hangup(*id);
    state = events->wait([](const CallEvents::State& s) { return s.ended; },
                         SteadyClock::now() + kHangupWait, never);
  }
  const TimePoint ended_at = SteadyClock::now();
  const bool by_bot = state.ended && state.end.reason == sip::EndReason::kRemoteBye &&
                      (run.over == "ended" || run.over.empty());
  report.hung_up_by = by_bot ? "bot" : "caller";
  if (report.error.empty() && !run.over.empty() && run.over != "ended") {
    report.error = run.over == "timeout" ? "timeout: the call took longer than " +
                                               std::to_string(options_.timeout_s) + " s"
                                         : run.over;
  }
  if (report.error.empty() && run.over == "ended" && !by_bot) {
    report.error = std::string("call ended: ") + sip::to_string(state.end.reason);
  }
  report.duration_ms = ms_between(state.answered_at, ended_at);
  report.jitter_buffer_ms = session->jitter_target_ms();
  report.media = session->stats();
  // Drain what already arrived, then silence up to the end of the call.
  Frame f;
  while (session->pop_frame(f)) run.record(SteadyClock::now(), f);
  run.pad_to(static_cast<std::size_t>((ended_at - run.start) / kFrame));
  session->close();
  endpoint.shutdown();

  if (!options_.record_path.empty()) {
    if (auto written = write_wav(options_.record_path, Audio{kTelephoneRate, run.recording});
        !written) {
      if (report.error.empty()) report.error = "recording: " + written.error().message;
    } else {
      report.recording = options_.record_path;
    }
  }
  return report;
}

}  // namespace chalkbot
