#pragma once
// Per-source-address token buckets for requests outside a dialog (new INVITEs, OPTIONS ...), so
// one noisy or hostile address cannot take the SIP thread from everyone else. Calls already
// established are never charged. Not thread-safe: the sip thread alone uses it.
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

namespace chalkbot::sip {

class SourceRateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // `per_second` tokens refill each second up to `burst`; per_second <= 0 turns the limit off.
  // At most `max_sources` addresses are tracked; when they are all busy, new addresses are refused
  // (a spoofed-source flood cannot grow memory without bound).
  SourceRateLimiter(double per_second, int burst, std::size_t max_sources = 10000);

  // Takes one token from `source`'s bucket; false when it has none left.
  bool admit(std::string_view source, Clock::time_point now = Clock::now());

  bool enabled() const { return per_second_ > 0; }
  std::size_t tracked() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point updated;
  };
  void refill(Bucket& b, Clock::time_point now) const;
  void forget_idle(Clock::time_point now);

  double per_second_;
  double burst_;
  std::size_t max_sources_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace chalkbot::sip
