#pragma once
// Sample-rate conversion on speexdsp. A Resampler keeps filter state between calls, so a stream
// converted chunk by chunk sounds the same as converted at once. Not thread-safe: one per stream.
#include <memory>
#include <optional>
#include <vector>

#include "core/audio.h"
#include "core/result.h"

namespace chalkbot {

class Resampler {
 public:
  // quality 0..10 (speexdsp); 4 is a good phone-audio trade-off.
  static Result<Resampler> create(int from_rate, int to_rate, int quality = 4);

  // Converts a chunk; output length is about input * to/from (filter delay aside).
  std::vector<Sample> process(Samples in);
  // Flushes the filter's delayed tail at the end of a stream.
  std::vector<Sample> flush();

  int from_rate() const { return from_rate_; }
  int to_rate() const { return to_rate_; }

 private:
  struct State;
  struct StateDeleter {
    void operator()(State* state) const;
  };
  Resampler(int from_rate, int to_rate, State* state);

  int from_rate_;
  int to_rate_;
  std::unique_ptr<State, StateDeleter> state_;  // null when the rates are equal: a pass-through
};

// For a stream of audio at `from_rate` that an engine needs at `to_rate`: a Resampler, or none when
// the rates already match. Rejects rates that are not positive.
Result<std::optional<Resampler>> resampler_for_stream(int from_rate, int to_rate);

// Whole-buffer conversion: returns `audio` unchanged when the rate already matches.
Result<Audio> resample(const Audio& audio, int to_rate);

}  // namespace chalkbot
