#pragma once
#include <chrono>
#include <cstddef>
#include <functional>

#include "core/clock.h"

namespace chalkbot {

// Hands memory that ended calls freed back to the operating system. glibc keeps freed memory in
// its per-thread arenas (each call thread gets one), and sofia-sip frees a dialog's transactions
// only when their timers run out, up to 32 s after the BYE. Without a trim a long-running
// server's RSS follows its busiest minute, not its load (measured: 3,000 short calls left RSS at
// 106 MB with 1.8 MB of it in use; malloc_trim brought it back to the 30 MB baseline).
//
// Runs on the housekeeping (main) thread, never on the media path: while calls have ended in the
// last `kSettle`, it trims at most every `kEvery`.
class MemoryTrimmer {
 public:
  static constexpr auto kEvery = std::chrono::seconds(10);
  static constexpr auto kSettle = std::chrono::seconds(40);  // sofia-sip timer J (64*T1) + margin

  using Trim = std::function<void()>;
  explicit MemoryTrimmer(Trim trim = trim_malloc_arenas);

  // Call about once a second with how many calls ended since the last call.
  void tick(std::size_t calls_ended, SteadyClock::time_point now);

  // malloc_trim(0): every arena, including the free pages in the middle of the heap.
  static void trim_malloc_arenas();

  // Bytes malloc has handed out and not had back, over every arena and its mmapped blocks. A leak
  // grows this; fragmentation (RSS kept by half-used pages, which depends on how many calls
  // overlapped at the busiest moment) does not.
  static std::size_t heap_in_use_bytes();

 private:
  Trim trim_;
  bool ever_ended_ = false;
  SteadyClock::time_point last_ended_{};
  SteadyClock::time_point last_trim_{};
};

}  // namespace chalkbot
