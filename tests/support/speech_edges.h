#pragma once
// A VAD-independent reference for where speech starts and ends in a clean recording, by energy.
#include "core/audio.h"

namespace chalkbot::testing {

struct SpeechEdges {
  double start_ms = 0;  // start of the first 10 ms frame within 18 dB of the loudest frame
  double end_ms = 0;    // end of the last such frame
};
SpeechEdges energy_edges(const Audio& audio);

}  // namespace chalkbot::testing
