#pragma once
// `chalkbot call`: a scripted SIP caller that tests a deployment and drives the end-to-end tests.
// It places one call, records what it hears, waits for the greeting, optionally presses keys, asks
// its questions (WAV files) one by one and measures how the far end (the bot) answers: how long
// after the end of each question the first answer audio arrives, how long the answer lasts, and,
// when told to interrupt, how fast the bot falls silent.
//
// "The bot talks" is decided on the caller's side from the audio alone: a 20 ms frame is voiced
// when its RMS exceeds CallerOptions::voiced_rms (the bot's silence is G.711 zero, so any
// threshold well above the codec's noise floor works); the bot is quiet after quiet_ms without a
// voiced frame.
//
// Threads: Caller::run() blocks the calling thread and uses it as the media session's only
// producer and only consumer (see media/media_engine.h); the SIP callbacks run on the sip thread
// and only record what happened under a mutex. request_stop() may be called from any thread.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/audio.h"
#include "core/clock.h"
#include "core/result.h"
#include "core/settings.h"
#include "media/media_engine.h"

namespace chalkbot {

// Root mean square of a block of samples (0 for an empty block).
double block_rms(Samples samples);

// Which 20 ms frames of an 8 kHz signal are voiced: the first and last voiced frame indices.
struct VoicedSpan {
  std::size_t first_frame = 0;
  std::size_t last_frame = 0;
};
std::optional<VoicedSpan> voiced_span(Samples pcm_8k, double voiced_rms);

// The times at which voiced frames were heard, in arrival order, and the questions asked of them.
// A frame's time is when it was handed to us, i.e. the end of the 20 ms it carries. Not
// thread-safe: one owner.
class SpeechTimeline {
 public:
  using TimePoint = SteadyClock::time_point;

  void add_voiced(TimePoint at);
  bool empty() const { return voiced_.empty(); }
  std::optional<TimePoint> first_voiced_after(TimePoint t) const;  // strictly after t
  std::optional<TimePoint> last_voiced_at_or_before(TimePoint t) const;
  // The end of the speech that is going on at or after `from`: the last voiced frame at or after
  // `from` that is followed by at least `gap` without a voiced frame, either before the next
  // voiced frame or until `now`. nullopt when nothing was voiced since `from`, or while the gap
  // after the latest voiced frame is still shorter than `gap` (it may still be talking).
  std::optional<TimePoint> speech_end(TimePoint from, Millis gap, TimePoint now) const;

 private:
  std::vector<TimePoint> voiced_;  // ascending
};

struct CallerOptions {
  std::string target;                      // sip:user@host[:port]
  std::vector<std::string> questions;      // WAV files, any rate (resampled to 8 kHz)
  std::string record_path;                 // 8 kHz WAV of everything heard; '' = do not write
  std::string bind_address = "127.0.0.1";  // SIP and RTP; must be an address the far end reaches
  int sip_port = 0;                        // 0 = any free port
  std::string dtmf_after_greeting;         // keys pressed (RFC 4733) once the greeting is over
  int dtmf_duration_ms = 100;
  int interrupt_after_ms = -1;      // >= 0: questions 2.. start this long after the previous answer
                                    // began instead of after it ended (barge-in test)
  int timeout_s = 60;               // the whole call, from the INVITE
  int quiet_ms = 1200;              // unvoiced time that ends the bot's speech
  int greeting_timeout_ms = 15000;  // 0 = do not wait for a greeting
  int answer_timeout_ms = 30000;    // after a question's end, how long an answer may take to start
  int barge_in_gap_ms = 200;        // a gap this long after being interrupted = the bot stopped
  double voiced_rms = 300;
};

struct CallerTurn {
  std::string question;  // the WAV path
  bool answered = false;
  // Recording timeline (ms since the call was answered, the recording's sample 0):
  int question_sent_ms = -1;  // first packet of the question's audio sent
  std::optional<int> answer_start_ms;
  std::optional<int> response_latency_ms;  // first voiced answer frame - last voiced question frame
  std::optional<int> answer_ms;            // first to last voiced frame of the answer
  bool interrupting = false;               // played while the previous answer was expected
  bool bot_was_talking = false;            // interrupting, and the bot really was talking
  std::optional<int> barge_in_stop_ms;     // question's voice start -> bot's last voiced frame
  bool playback_underrun = false;          // the question did not go out as one talk spurt
};

struct CallerReport {
  std::string target;
  bool answered = false;
  int status = 0;  // final SIP status of the INVITE (200 when answered), 0 if there was none
  std::string phrase;
  std::string codec;                     // PCMU | PCMA
  std::string srtp;                      // SDES-SRTP suite (media.srtp); '' = plain RTP
  std::optional<int> greeting_ms;        // answer -> first voiced greeting frame
  std::optional<int> greeting_audio_ms;  // first to last voiced frame of the greeting
  std::string dtmf_sent;
  std::string dtmf_heard;  // RFC 4733 key presses received from the far end
  std::vector<CallerTurn> turns;
  std::string hung_up_by;    // caller | bot | '' (never answered)
  int duration_ms = 0;       // answered -> call ended ('' if never answered: 0)
  int jitter_buffer_ms = 0;  // our receive jitter buffer delay at the end: part of every latency
  MediaStats media;          // our RTP session's counters at the end (losses, late packets)
  std::string error;         // why the script stopped early ('' = it did not)
  std::string recording;     // the WAV written, '' if none

  // Answered, no error, and every question got an answer.
  bool success() const;
};

// Keys in the order a reader wants them (target, answered, status, ... turns, ...).
nlohmann::ordered_json to_json(const CallerReport& report);

class Caller {
 public:
  // `sip` and `media` are the loaded settings; the caller overrides what makes no sense for a
  // caller (bind address and port from options, no REGISTER, no public address).
  Caller(CallerOptions options, SipSettings sip, MediaSettings media);
  ~Caller();
  Caller(const Caller&) = delete;
  Caller& operator=(const Caller&) = delete;

  // Blocking: places the call, runs the script, hangs up, writes the recording. An error only
  // when the call could not be attempted (unreadable or silent question WAV, engine or SIP start
  // failed); every outcome of the call itself, failures included, is in the report.
  Result<CallerReport> run();

  // Any thread: ends run() early, like the timeout (the call is hung up, the report written).
  void request_stop() { stop_.store(true, std::memory_order_release); }

 private:
  struct Run;  // one run's state (caller.cc)

  CallerOptions options_;
  SipSettings sip_;
  MediaSettings media_;
  std::atomic<bool> stop_{false};
};

}  // namespace chalkbot
