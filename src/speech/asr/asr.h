#pragma once
// Speech recognition behind one stream-shaped interface (push audio, finish, read the result), so
// batch engines (pocketsphinx, a remote transcription API) and streaming ones fit the same agent.
#include <memory>
#include <string>

#include "core/audio.h"
#include "core/result.h"

namespace chalkbot {

struct AsrSettings;

// One utterance being recognised. Not thread-safe; used by one call at a time.
class AsrStream {
 public:
  virtual ~AsrStream() = default;
  // Audio at the rate the stream was opened with; any chunk size.
  virtual void accept(Samples samples) = 0;
  // Ends the utterance and computes the final result (may block for the decode / HTTP request).
  virtual Status finish() = 0;
  // The final transcript after finish() succeeded, possibly empty (nothing recognised).
  virtual std::string result() const = 0;
  // The best guess so far while the utterance goes on; '' when the engine cannot tell before
  // finish() (batch engines). Cheap enough to ask once per pause.
  virtual std::string partial() { return {}; }
  // The caller is still speaking: decode now whatever can be, up to a gap between words, so that
  // less is left for the pause or the end of the turn. Engines that stream, or cannot decode in
  // pieces, do nothing.
  virtual void decode_ahead() {}
  // The caller has just paused and may have finished: decode what is pending now without keeping
  // it, and return the words so far. If nothing but silence follows, the next partial() or
  // finish() reuses those words instead of decoding at the moment the turn ends; if the caller
  // goes on, the pending audio is decoded again with what follows. Engines that cannot keep a
  // decode aside return partial().
  virtual std::string speculate() { return partial(); }
};

// A loaded engine, shared by every call; thread-safe. Streams borrow per-call state from it.
class Asr {
 public:
  virtual ~Asr() = default;
  virtual Result<std::unique_ptr<AsrStream>> open(int sample_rate) = 0;
  virtual std::string name() const = 0;
};

// Picks the backend named by settings.provider ("moonshine", "pocketsphinx", "openai", "none").
Result<std::unique_ptr<Asr>> make_asr(const AsrSettings& settings);

// Convenience for whole files: one stream, all audio, finish, result.
Result<std::string> transcribe(Asr& asr, const Audio& audio);

}  // namespace chalkbot
