#include "support/speech_edges.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace chalkbot::testing {

SpeechEdges energy_edges(const Audio& audio) {
  const std::size_t frame = samples_per_ms(audio.sample_rate, 10);
  std::vector<double> db;
  for (std::size_t i = 0; i + frame <= audio.samples.size(); i += frame) {
    double sum = 0;
    for (std::size_t j = i; j < i + frame; ++j) {
      sum += static_cast<double>(audio.samples[j]) * audio.samples[j];
    }
    db.push_back(10 * std::log10(sum / static_cast<double>(frame) + 1));
  }
  double peak = 0;
  for (const double d : db) peak = std::max(peak, d);
  std::size_t first = 0;
  std::size_t last = 0;
  bool seen = false;
  for (std::size_t i = 0; i < db.size(); ++i) {
    if (db[i] > peak - 18) {
      if (!seen) first = i;
      seen = true;
      last = i;
    }
  }
  return {static_cast<double>(first) * 10, static_cast<double>(last + 1) * 10};
}

}  // namespace chalkbot::testing
