#include "sip/rate_limit.h"

#include <algorithm>

namespace chalkbot::sip {

SourceRateLimiter::SourceRateLimiter(double per_second, int burst, std::size_t max_sources)
    : per_second_(per_second),
      burst_(std::max(1.0, static_cast<double>(burst))),
      max_sources_(std::max<std::size_t>(1, max_sources)) {}

void SourceRateLimiter::refill(Bucket& b, Clock::time_point now) const {
  const double secs = std::chrono::duration<double>(now - b.updated).count();
  if (secs > 0) b.tokens = std::min(burst_, b.tokens + secs * per_second_);
  b.updated = std::max(b.updated, now);
}

void SourceRateLimiter::forget_idle(Clock::time_point now) {
  // A full bucket holds no state worth keeping: the address starts afresh if it comes back.
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    refill(it->second, now);
    it = it->second.tokens >= burst_ ? buckets_.erase(it) : std::next(it);
  }
}

bool SourceRateLimiter::admit(std::string_view source, Clock::time_point now) {
  if (!enabled()) return true;
  auto it = buckets_.find(std::string(source));
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_sources_) forget_idle(now);
    if (buckets_.size() >= max_sources_) return false;
    it = buckets_.emplace(std::string(source), Bucket{burst_, now}).first;
  }
  Bucket& b = it->second;
  refill(b, now);
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

}  // namespace chalkbot::sip
