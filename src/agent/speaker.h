#pragma once
// The one thread that feeds a call's playback queue. MediaSession's output side is single-
// producer, so everything that queues or clears the bot's audio runs here: fixed prompts, streamed
// answers (LLM -> sentences -> TTS), and the clear on barge-in. The agent thread only posts jobs
// and interrupts.
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/audio.h"
#include "core/cancel.h"
#include "core/result.h"
#include "media/media_engine.h"
#include "speech/tts/tts.h"

namespace chalkbot {

// Fixed prompts (greeting, reprompt, farewell, apology) synthesized once per process at 8 kHz:
// saying them costs no TTS time on a call. Thread-safe after construction.
class PromptCache {
 public:
  // Synthesizes every text now; a text TTS cannot speak is left out (spoken live later).
  PromptCache(Tts& tts, const std::vector<std::string>& texts);
  const Audio* find(const std::string& text) const;

 private:
  std::map<std::string, Audio> audio_;
};

// Told what the speaker queues for playback and when it drops the queue (the call recorder).
// Called on the speaker thread.
class PlaybackTap {
 public:
  virtual ~PlaybackTap() = default;
  virtual void queued(Samples audio_8k) = 0;
  virtual void cleared() = 0;
};

class Speaker {
 public:
  // A job runs on the speaker thread; it speaks through the Speaker's say()/play() helpers and
  // should return soon after `cancel` is set.
  using Job = std::function<void(Speaker& speaker, const CancelToken& cancel)>;

  // `tap`, if any, must outlive the speaker. A synthesis failure is passed to `on_tts_failure` (on
  // the speaker thread), and `apology` is played from the prompt cache in place of what could not
  // be said.
  Speaker(MediaSession& media, Tts& tts, const PromptCache& prompts, PlaybackTap* tap = nullptr,
          std::function<void(const Error& cause)> on_tts_failure = {},
          std::string apology = {});
  ~Speaker();  // cancels the running job and joins the thread
  Speaker(const Speaker&) = delete;
  Speaker& operator=(const Speaker&) = delete;

  // Agent thread. Runs `job` after the current one (jobs run one at a time, in order).
  void post(Job job);
  // Agent thread. Cancels the running and queued jobs and drops all queued audio (barge-in).
  void interrupt();
  // True while a job runs or is queued (its audio may still be playing after it ends: see
  // MediaSession::is_playing()).
  bool busy() const;
  // Nothing is queued to run and nothing left to play.
  bool quiet() const { return !busy() && !media_.is_playing(); }

  // --- for jobs, on the speaker thread ---
  // Speaks `text` (from the prompt cache when it is there); `on_first_audio` runs when its first
  // audio is queued. Returns false when cancelled, or when synthesis failed (the apology was
  // played instead: the job should not go on with more of its text).
  bool say(const std::string& text, const CancelToken& cancel,
           const std::function<void()>& on_first_audio = {});
  // Queues 8 kHz audio, waiting for room in the playback queue. Returns false when cancelled.
  bool play(Samples audio_8k, const CancelToken& cancel);
  // Waits until the queued audio has played. Returns false when cancelled.
  bool wait_played(const CancelToken& cancel);
  MediaSession& media() { return media_; }

 private:
  void loop();
  std::size_t enqueue(Samples audio_8k);  // to the media session, and the tap


  MediaSession& media_;
  Tts& tts_;
  const PromptCache& prompts_;
  PlaybackTap* tap_;
  std::function<void(const Error& cause)> on_tts_failure_;
  std::string apology_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Job> jobs_;
  bool running_job_ = false;
  bool clear_requested_ = false;
  bool stopping_ = false;
  CancelToken current_;
  std::thread thread_;
};

}  // namespace chalkbot
