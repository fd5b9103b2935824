#pragma once
#include <chrono>
#include <cstdint>

namespace chalkbot {

using SteadyClock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// Wall-clock milliseconds since the Unix epoch: what the store records for stage timestamps.
inline std::int64_t wall_ms() {
  return std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The wall-clock milliseconds of a steady-clock moment (one that has already passed, usually).
inline std::int64_t wall_ms_of(SteadyClock::time_point at) {
  return wall_ms() - std::chrono::duration_cast<Millis>(SteadyClock::now() - at).count();
}

inline double elapsed_ms(SteadyClock::time_point since) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - since).count();
}

// The time a state machine reads, so that unit tests can drive it on a virtual clock.
class WallClock {
 public:
  virtual ~WallClock() = default;
  virtual std::int64_t now_ms() const = 0;  // wall-clock milliseconds since the Unix epoch
};

class SystemWallClock final : public WallClock {
 public:
  std::int64_t now_ms() const override { return wall_ms(); }
};

}  // namespace chalkbot
