#pragma once
// Speech synthesis behind one interface: text in, PCM chunks out through a callback. The callback
// returns false to stop early (barge-in); the cancel token stops it from another thread.
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/audio.h"
#include "core/cancel.h"
#include "core/result.h"

namespace chalkbot {

struct TtsSettings;

// Receives audio at the rate synthesize() was asked for. Return false to stop synthesis.
using AudioSink = std::function<bool(Samples chunk)>;

// A loaded voice, shared by every call; thread-safe (backends serialise internally if they must).
class Tts {
 public:
  virtual ~Tts() = default;
  // Speaks `text` and delivers it in chunks resampled to `sample_rate`. Stopping early (sink
  // returned false or cancel set) is not an error.
  virtual Status synthesize(std::string_view text, int sample_rate, const AudioSink& sink,
                            const CancelToken& cancel) = 0;
  virtual std::string name() const = 0;
};

// Picks the backend named by settings.provider ("flite", "espeak" or "openai").
Result<std::unique_ptr<Tts>> make_tts(const TtsSettings& settings);

// Convenience: the whole utterance as one buffer.
Result<Audio> synthesize_all(Tts& tts, std::string_view text, int sample_rate);

}  // namespace chalkbot
