#pragma once
// Turn-taking from voiced/unvoiced decisions. Endpointer is a pure state machine on a millisecond
// timeline (no audio, no clock: the frames are the clock), so it is tested with scripted
// decisions. UtteranceDetector adds audio: a VoiceDetector, VAD-sized framing and the pre-roll, and
// hands out the utterance's samples. Neither is thread-safe: one per call, fed by one thread.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/audio.h"
#include "core/result.h"
#include "speech/vad/voice_detector.h"

namespace chalkbot {

struct VadSettings;

struct EndpointerConfig {
  int speech_start_ms = 0;      // consecutive voiced audio that starts an utterance
  int end_silence_ms = 0;       // consecutive unvoiced audio after speech that ends it
  int unfinished_silence_ms = 0;  // the same while held (the words so far sound unfinished)
  int finished_silence_ms = 0;    // the same once hastened (they sound finished)
  int no_input_timeout_ms = 0;  // no utterance started by then; 0 = never
  int max_utterance_ms = 0;     // an utterance is cut this long after its onset; 0 = never
  int ignore_initial_ms = 0;    // WebRTC VAD misfires while it adapts: decisions here are ignored
  int pre_roll_ms = 0;          // audio kept before the onset so the ASR hears the first phone

  // ignore_initial_ms for the detector vad.provider names: 200 ms for WebRTC, which adapts to
  // the line first; none for Silero, whose model has nothing to adapt.
  static constexpr int kProviderIgnoreInitial = -1;
  // speech timings from vad.*, plus the two that are not user settings.
  static EndpointerConfig from(const VadSettings& vad,
                               int ignore_initial_ms = kProviderIgnoreInitial,
                               int pre_roll_ms = 300);
};

enum class EndpointEvent {
  kNone,
  kSpeechStarted,  // speech_start_ms of voiced audio seen
  kSpeechEnded,    // end_silence_ms of silence after speech: the endpoint
  kNoInput,        // no_input_timeout_ms passed without speech
  kMaxUtterance,   // the utterance reached max_utterance_ms
};

const char* to_string(EndpointEvent event);

// Positions are milliseconds since the stream began (or since reset() for the no-input timer).
struct UtteranceTimes {
  std::int64_t start_ms = 0;         // utterance start: onset minus pre-roll, clamped
  std::int64_t onset_ms = 0;         // first voiced frame of the run that started speech
  std::int64_t started_at_ms = 0;    // when kSpeechStarted fired (onset + speech_start_ms)
  std::int64_t speech_end_ms = 0;    // end of the last voiced frame (valid once ended)
  // Where the voice itself stopped, without the VAD's hangover: see voice_end_ms(). Set by
  // UtteranceDetector once the utterance ended (the Endpointer alone has no audio: speech_end_ms).
  std::int64_t voice_end_ms = 0;
  std::int64_t end_ms = 0;           // when the utterance ended: endpoint / cut / end of input
};

class Endpointer {
 public:
  enum class State { kWaiting, kInSpeech, kDone };

  explicit Endpointer(const EndpointerConfig& config);

  // One frame of frame_ms (10 or 20 ms typically). Returns what happened at the end of it.
  // After a final event (ended, no input, max) the endpointer stays kDone until reset().
  EndpointEvent push(int frame_ms, bool voiced);
  // Input ended (hang-up, end of file): an utterance in progress ends here. Returns kSpeechEnded
  // if one was in progress, kNone otherwise.
  EndpointEvent finish();
  // Listens for the next utterance on the same timeline; the no-input timer restarts now and the
  // initial ignore window is not applied again.
  void reset();
  // The utterance sounds unfinished ("... and", "um"): this pause must last unfinished_silence_ms
  // to end it. Speech resuming releases the hold.
  void hold_end() { held_ = true; }
  // The utterance sounds finished ("... on Sunday?"): this pause ends it once it lasts
  // finished_silence_ms. Speech resuming takes that back. Returns kSpeechEnded when the pause
  // already lasts that long: the utterance ends here, without waiting for another frame.
  EndpointEvent hasten_end();
  // UtteranceDetector's finer estimate of where the voice stopped (else it is speech_end_ms).
  void set_voice_end(std::int64_t ms) { times_.voice_end_ms = ms; }

  State state() const { return state_; }
  // Unvoiced audio since the last voiced frame of the utterance in progress.
  std::int64_t silence_ms() const { return silence_run_ms_; }
  bool held() const { return held_; }
  std::int64_t position_ms() const { return position_ms_; }
  const UtteranceTimes& times() const { return times_; }
  const EndpointerConfig& config() const { return config_; }

 private:
  EndpointerConfig config_;
  State state_ = State::kWaiting;
  std::int64_t position_ms_ = 0;
  std::int64_t listen_since_ms_ = 0;
  std::int64_t voiced_run_ms_ = 0;
  std::int64_t voiced_run_start_ms_ = 0;
  std::int64_t silence_run_ms_ = 0;
  bool held_ = false;
  bool hastened_ = false;
  UtteranceTimes times_;
};

// VAD + endpointer + audio. Feed audio at the detector's rate in any chunk size.
class UtteranceDetector {
 public:
  UtteranceDetector(std::unique_ptr<VoiceDetector> vad, const EndpointerConfig& config);

  // Processes whole VAD frames (a remainder waits for the next chunk). Returns the final event if
  // one happened in this chunk (the audio after it waits, unprocessed, for the next push), else
  // kSpeechStarted if speech started in it, else kNone. Errors come from the VAD.
  Result<EndpointEvent> push(Samples samples);
  // `samples` are what push() will most likely be given next: the VAD may compute the first
  // window they complete ahead (VoiceDetector::look_ahead). Changes nothing here.
  void look_ahead(Samples samples);
  // End of input: see Endpointer::finish().
  EndpointEvent finish();
  // Next utterance: clears the utterance audio; keeps the VAD's adaptation and the recent audio
  // (the pre-roll may reach back before the reset).
  void reset();
  // See Endpointer::hold_end() and hasten_end().
  void hold_end() { endpointer_.hold_end(); }
  EndpointEvent hasten_end();

  // The utterance so far: pre-roll + speech (+ trailing silence up to the endpoint).
  const std::vector<Sample>& utterance() const { return utterance_; }
  // Sample index (since the stream began) of utterance()[0].
  std::size_t utterance_first_sample() const { return utterance_first_sample_; }
  const Endpointer& endpointer() const { return endpointer_; }
  int sample_rate() const { return vad_->sample_rate(); }

 private:
  // Samples of recent audio kept while waiting: the pre-roll before a run still becoming speech.
  std::size_t history_keep() const;
  // The utterance ended (not for lack of input): where the voice stopped, and its tail kept as
  // the pre-roll of whatever comes after reset().
  void utterance_over();

  std::unique_ptr<VoiceDetector> vad_;
  Endpointer endpointer_;
  int frame_ms_;
  std::vector<Sample> pending_;      // part of a VAD frame
  std::vector<Sample> history_;      // recent audio while waiting (pre-roll + the onset run)
  std::size_t history_first_sample_ = 0;
  std::size_t samples_seen_ = 0;     // whole frames given to the VAD
  std::vector<Sample> utterance_;
  std::size_t utterance_first_sample_ = 0;
};

// Where the voice stopped in `audio` (samples from `first_sample` of the stream, at `sample_rate`):
// the end of the last 10 ms stretch, at or before `speech_end_ms`, no more than 30 dB below the
// loudest one. VADs keep saying "voiced" for a while after the voice (WebRTC's hangover is about
// 90 ms) so as not to cut a soft word ending; latency is measured from the voice, as the caller
// hears their own silence begin. Falls back to speech_end_ms when nothing in the last 500 ms
// before it is loud enough.
std::int64_t voice_end_ms(Samples audio, std::size_t first_sample, int sample_rate,
                          std::int64_t speech_end_ms);

// What the offline "turn" command needs: the first utterance of a recording.
struct DetectedUtterance {
  EndpointEvent outcome = EndpointEvent::kNone;  // kSpeechEnded (also at end of file),
                                                 // kMaxUtterance or kNoInput
  UtteranceTimes times;     // milliseconds from the start of the recording
  std::size_t first_sample = 0;  // range of `audio` in the input recording's samples
  std::size_t end_sample = 0;
  Audio audio;              // the utterance at the input's sample rate (empty for kNoInput)
};

// Runs vad.provider's detector + the endpointer over a whole recording. Rates other than 8/16 kHz
// are analysed at 16 kHz; the returned audio is cut from the input at its own rate.
Result<DetectedUtterance> detect_first_utterance(const Audio& audio, const VadSettings& vad);

}  // namespace chalkbot
