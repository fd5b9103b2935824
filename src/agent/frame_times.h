#pragma once
// When the caller said each of the call's recent 20 ms frames, on the wall clock. The agent hears
// a frame only after the network and the jitter buffer delayed it; turn times (and so the stored
// response latency) start where the caller's voice did, as the caller lived it.
#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>

#include "core/audio.h"

namespace chalkbot {

class FrameTimes {
 public:
  static constexpr std::size_t kFrames = 256;  // 5.12 s: longer than any end-of-turn silence

  // The next frame given to the endpointer was said by wall ms `ended_at` (its last sample).
  void add(std::int64_t ended_at) {
    ends_[slot(frames_)] = ended_at;
    ++frames_;
  }
  // Wall ms at which the audio at endpointer position `position_ms` was said; nullopt when that
  // frame is older than the record (or not added yet).
  std::optional<std::int64_t> at(std::int64_t position_ms) const {
    // The frame that holds the position: the first one ending at or after it.
    const std::int64_t frame =
        std::max<std::int64_t>(0, (position_ms + kFrameMs - 1) / kFrameMs - 1);
    const std::int64_t first_kept = std::max<std::int64_t>(0, frames_ - std::int64_t{kFrames});
    if (position_ms < 0 || frame < first_kept || frame >= frames_) return std::nullopt;
    const std::int64_t frame_end = (frame + 1) * kFrameMs;
    return ends_[slot(frame)] - (frame_end - position_ms);
  }

 private:
  static std::size_t slot(std::int64_t frame) {
    return static_cast<std::size_t>(frame % std::int64_t{kFrames});
  }

  std::array<std::int64_t, kFrames> ends_{};
  std::int64_t frames_ = 0;
};

}  // namespace chalkbot
