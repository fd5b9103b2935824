#include "core/retry.h"

#include <algorithm>
#include <random>
#include <thread>

namespace chalkbot {
namespace {

class RealRetryClock final : public RetryClock {
 public:
  SteadyClock::time_point now() override { return SteadyClock::now(); }

  bool wait(Millis wait, const CancelToken& cancel) override {
    // CancelToken is a plain flag (nothing to block on): look at it every 10 ms.
    const auto until = SteadyClock::now() + wait;
    while (!cancel.cancelled()) {
      const auto now = SteadyClock::now();
      if (now >= until) return true;
      std::this_thread::sleep_for(std::min<SteadyClock::duration>(Millis(10), until - now));
    }
    return false;
  }

  double random() override {
    thread_local std::mt19937 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  }
};

long long ms_between(SteadyClock::time_point from, SteadyClock::time_point to) {
  return std::max<long long>(0, std::chrono::duration_cast<Millis>(to - from).count());
}

}  // namespace

bool retryable_kind(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kRateLimited:
    case ErrorKind::kServerError:
    case ErrorKind::kTimeout:
    case ErrorKind::kReset:
    case ErrorKind::kConnect:
      return true;
    default:
      return false;
  }
}

Millis RetryPolicy::backoff(int failures) const {
  // Doubling stops at 2^20 steps: far beyond any cap, and no overflow.
  const int doublings = std::clamp(failures - 1, 0, 20);
  return std::min(max_backoff, Millis(first_backoff.count() << doublings));
}

RetryClock& RetryClock::real() {
  static RealRetryClock clock;
  return clock;
}

namespace retry_detail {

std::optional<Millis> next_wait(const RetryPolicy& policy, const RetryAttempt& attempt,
                                Error& error, RetryClock& clock) {
  const auto give_up = [&](const std::string& why) -> std::optional<Millis> {
    if (attempt.number > 1) error.message += " (after " + std::to_string(attempt.number) + " attempts)";
    error.message += why;
    return std::nullopt;
  };
  const bool retryable = policy.retryable ? policy.retryable(error)
                                          : !error.rejected && retryable_kind(error.kind);
  if (!retryable || attempt.final) return give_up("");
  if (policy.max_attempts > 0 && attempt.number >= policy.max_attempts) return give_up("");

  Millis wait = error.retry_after.value_or(Millis(0));
  if (!error.retry_after) {
    const Millis full = policy.backoff(attempt.number);
    const double jitter = std::clamp(policy.jitter, 0.0, 1.0) * clock.random();
    wait = Millis(static_cast<long long>(static_cast<double>(full.count()) * (1.0 - jitter)));
  }
  if (attempt.deadline && clock.now() + wait + policy.shortest_attempt > *attempt.deadline) {
    const std::string key = policy.budget_key.empty() ? "" : " (" + policy.budget_key + ")";
    if (error.retry_after) {
      const long long left = ms_between(clock.now(), *attempt.deadline);
      return give_up("; the server asked to retry after " + std::to_string(wait.count()) +
                     " ms, beyond the remaining retry budget of " + std::to_string(left) +
                     " ms" + key);
    }
    return give_up("; retry budget of " + std::to_string(policy.budget->count()) +
                   " ms used up" + key);
  }
  return wait;
}

Error cancelled(Error error) {
  error.kind = ErrorKind::kCancelled;
  error.message += "; cancelled while waiting to retry";
  return error;
}

}  // namespace retry_detail
}  // namespace chalkbot
