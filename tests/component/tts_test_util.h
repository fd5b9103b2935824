#pragma once
// Shared helpers for the TTS component tests.
#include <chrono>
#include <cmath>
#include <cstddef>
#include <vector>

#include "core/audio.h"
#include "core/cancel.h"
#include "speech/tts/tts.h"

namespace chalkbot::testing {

inline double rms(const std::vector<Sample>& s) {
  double sum = 0;
  for (auto v : s) sum += static_cast<double>(v) * v;
  return s.empty() ? 0 : std::sqrt(sum / static_cast<double>(s.size()));
}

struct Timed {
  std::vector<Sample> samples;
  std::size_t chunks = 0;
  double first_ms = -1;  // time to the first chunk
  double total_ms = 0;   // time until synthesize() returned
  bool ok = false;
};

inline Timed timed_synthesis(Tts& tts, std::string_view text, int rate) {
  Timed t;
  const auto start = std::chrono::steady_clock::now();
  const auto since = [&start] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  };
  const auto status = tts.synthesize(
      text, rate,
      [&](Samples chunk) {
        if (t.first_ms < 0) t.first_ms = since();
        ++t.chunks;
        t.samples.insert(t.samples.end(), chunk.begin(), chunk.end());
        return true;
      },
      CancelToken{});
  t.total_ms = since();
  t.ok = status.ok();
  return t;
}

}  // namespace chalkbot::testing
