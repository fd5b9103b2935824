#pragma once
// Audio is mono 16-bit signed PCM everywhere inside Chalkbot; the sample rate travels with it.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace chalkbot {

using Sample = std::int16_t;
using Samples = std::span<const Sample>;

inline constexpr int kTelephoneRate = 8000;
inline constexpr int kWidebandRate = 16000;  // G.722 and Opus calls, and what ASR models take
inline constexpr int kFrameMs = 20;  // one RTP packet of G.711

constexpr std::size_t samples_per_ms(int sample_rate, int ms) {
  return static_cast<std::size_t>(sample_rate) * static_cast<std::size_t>(ms) / 1000U;
}

struct Audio {
  int sample_rate = kTelephoneRate;
  std::vector<Sample> samples;

  double seconds() const {
    return sample_rate > 0 ? static_cast<double>(samples.size()) / sample_rate : 0.0;
  }
  bool empty() const { return samples.empty(); }
};

}  // namespace chalkbot
