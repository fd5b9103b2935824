#pragma once
// A call's voice without a thread of its own. What the bot says is queued as utterances (a fixed
// prompt, or an answer whose sentences stream in while the model writes it), synthesized on the
// compute pool a few seconds ahead of playback, and moved into the call's playback queue by
// step(), which the call runs after every media tick and whenever a synthesis has audio. Nothing
// sleeps or polls; a barge-in (interrupt) drops everything at once.
//
// Not thread-safe: the call's thread (the one that steps it) does everything but the synthesis.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/audio.h"
#include "core/result.h"
#include "core/work_pool.h"
#include "speech/tts/tts.h"

namespace chalkbot {

// Fixed prompts (greeting, reprompt, farewell, apology) synthesized once per process at each
// call rate asked for (8 kHz; 16 kHz for wideband calls): saying them costs no TTS time on a
// call. Thread-safe after construction.
class PromptCache {
 public:
  // Synthesizes every text now at every rate; a text TTS cannot speak is left out (spoken live
  // later).
  PromptCache(Tts& tts, const std::vector<std::string>& texts,
              const std::vector<int>& sample_rates = {kTelephoneRate});
  const Audio* find(const std::string& text, int sample_rate = kTelephoneRate) const;

 private:
  std::map<std::pair<int, std::string>, Audio> audio_;
};

// Told what the voice queues for playback and when it drops the queue (the call recorder).
class PlaybackTap {
 public:
  virtual ~PlaybackTap() = default;
  virtual void queued(Samples audio) = 0;  // at the call's rate
  virtual void cleared() = 0;
};

// Where the bot's audio goes: the call's playback queue, which the media tick plays out.
class AudioOut {
 public:
  virtual ~AudioOut() = default;
  // The call's rate: what enqueue() takes.
  virtual int sample_rate() const { return kTelephoneRate; }
  // Queues audio at sample_rate(); returns the samples taken (fewer when the queue is full).
  virtual std::size_t enqueue(Samples audio) = 0;
  // Pads the pending partial frame with silence and queues it: false when there is no room yet.
  virtual bool flush() = 0;
  virtual void clear() = 0;  // drops everything queued
  virtual int queued_ms() const = 0;  // queued and not yet played
};

class Voice {
 public:
  using UtteranceId = std::uint64_t;
  // What an utterance tells its owner, on the call's thread during step().
  struct Hooks {
    std::function<void()> first_audio;  // its first audio is about to be queued
    std::function<void()> gave_up;      // a synthesis failed: the rest of it is not said
  };

  // `wake` asks for a step soon (a synthesis has audio); it may be called from a compute thread
  // until the Voice is destroyed. A synthesis failure goes to `on_tts_failure` and `apology` is
  // played from the prompt cache in place of the rest of that utterance.
  Voice(AudioOut& out, Tts& tts, Executor& compute, const PromptCache& prompts,
        std::function<void()> wake, PlaybackTap* tap = nullptr,
        std::function<void(const Error& cause)> on_tts_failure = {}, std::string apology = {});
  ~Voice();  // a synthesis in flight is cancelled, and delivers nothing
  Voice(const Voice&) = delete;
  Voice& operator=(const Voice&) = delete;

  // Queues `text` after what is queued. `until_played`: what follows waits until it was heard.
  void say(std::string text, bool until_played = false);
  // An utterance whose sentences come later: add() each as it comes, then close() it. What is
  // queued after it waits for its close. An id no longer queued (spoken, interrupted) is ignored.
  UtteranceId open(Hooks hooks);
  void add(UtteranceId id, std::string sentence);
  void close(UtteranceId id);

  // Barge-in: drops every utterance, the synthesis in flight and the audio already queued.
  void interrupt();
  // Moves synthesized audio to the playback queue and starts the next synthesis when the queue
  // is short. Call after every media tick and when woken.
  void step();

  bool has(UtteranceId id) const;  // still queued or being said
  bool busy() const { return !utterances_.empty(); }  // something to say, or an open utterance
  bool quiet() const { return !busy() && out_.queued_ms() == 0; }  // nothing left to hear

 private:
  struct Synthesis;  // one sentence on the compute pool, shared with its job
  struct Utterance {
    UtteranceId id = 0;
    std::deque<std::string> sentences;  // not yet begun
    bool closed = false;
    bool until_played = false;
    bool flushed = false;
    bool audio_begun = false;
    Hooks hooks;
  };

  Utterance* find(UtteranceId id);
  void begin_sentence(Utterance& utterance);
  // Takes what the synthesis in flight has produced; false while it is still running.
  bool take_synthesized(Utterance& utterance);
  void give_up(Utterance& utterance, const Error& cause);
  // Audio of the first utterance the output has not taken yet: a cached prompt's, or what was
  // synthesized.
  Samples pending() const;
  // Hands pending() to the output as far as it takes it; true when all of it went.
  bool feed_pending();
  void drop_synthesis();

  AudioOut& out_;
  Tts& tts_;
  SerialQueue synthesis_queue_;  // one sentence at a time, in order
  const PromptCache& prompts_;
  std::function<void()> wake_;
  PlaybackTap* tap_;
  std::function<void(const Error& cause)> on_tts_failure_;
  std::string apology_;

  UtteranceId last_id_ = 0;
  std::deque<Utterance> utterances_;
  std::shared_ptr<Synthesis> synthesis_;  // of the first utterance's current sentence
  std::size_t leading_to_skip_ = 0;       // TTS lead-in silence still to drop (samples)
  Samples prompt_;                        // the rest of a cached prompt (the cache outlives us)
  std::vector<Sample> synthesized_;       // synthesized audio, taken up to synthesized_at_
  std::size_t synthesized_at_ = 0;
};

}  // namespace chalkbot
