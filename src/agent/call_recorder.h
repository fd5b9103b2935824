#pragma once
// Records a call to a 2-channel WAV at the call's rate (8 or 16 kHz): left the caller, right the bot. Runs off the media
// thread: the call's voice reports the bot audio it queues for playback (and drops on barge-in),
// and the call writes one stereo frame for every 20 ms caller frame it hears, taking the
// bot's next 20 ms from what was queued - the pace at which the media thread plays it out. The
// two channels line up to within the jitter-buffer delay (tens of ms).
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/voice.h"
#include "core/audio.h"
#include "core/result.h"

namespace chalkbot {

class CallRecorder final : public PlaybackTap {
 public:
  // Creates `path` (and its directory).
  static Result<std::unique_ptr<CallRecorder>> open(const std::string& path,
                                                    int sample_rate = kTelephoneRate);
  ~CallRecorder() override;  // writes what is buffered and closes the file

  // The call's thread (its Voice).
  void queued(Samples bot_audio) override;
  void cleared() override;
  // Agent thread: one frame of what the caller said (any length; normally 160 samples).
  void heard(Samples caller_audio);

 private:
  struct File;
  CallRecorder(std::unique_ptr<File> file, int sample_rate);
  void flush();

  std::unique_ptr<File> file_;
  const std::size_t write_block_frames_;  // about a second per write
  const std::size_t max_queued_bot_;      // bounded, like the playback queue
  std::mutex mutex_;
  std::deque<Sample> bot_;       // queued for playback, not yet lined up with the caller
  std::vector<Sample> pending_;  // interleaved stereo, written in blocks
};

}  // namespace chalkbot
