#include "server/memory_trim.h"

#include <malloc.h>

#include "core/log.h"

namespace chalkbot {

MemoryTrimmer::MemoryTrimmer(Trim trim) : trim_(std::move(trim)) {}

void MemoryTrimmer::tick(std::size_t calls_ended, SteadyClock::time_point now) {
  if (calls_ended > 0) {
    ever_ended_ = true;
    last_ended_ = now;
  }
  if (!ever_ended_ || now - last_ended_ > kSettle) return;
  if (last_trim_ != SteadyClock::time_point{} && now - last_trim_ < kEvery) return;
  last_trim_ = now;
  trim_();
}

void MemoryTrimmer::trim_malloc_arenas() {
  const auto started = SteadyClock::now();
  const int released = ::malloc_trim(0);
  spdlog::debug("malloc_trim: {} in {:.1f} ms", released != 0 ? "memory returned" : "nothing to return",
                elapsed_ms(started));
}

std::size_t MemoryTrimmer::heap_in_use_bytes() {
  const struct mallinfo2 info = ::mallinfo2();
  return info.uordblks + info.hblkhd;
}

}  // namespace chalkbot
