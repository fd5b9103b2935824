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

}  // namespace chalkbot
