#pragma once
// One way to try a failed operation again, shared by the model providers and the stores: a
// bounded number of attempts, exponential backoff with jitter, the server's Retry-After when it
// sent one, one deadline for all attempts and waits, and a cancel token that ends a wait at once
// (a caller who hangs up stops waiting).
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "core/cancel.h"
#include "core/clock.h"
#include "core/result.h"

namespace chalkbot {

// Failures worth another attempt: the service may answer next time (rate_limited, server_error,
// timeout, reset, connect). Not auth, quota or malformed: the same request fails the same way.
bool retryable_kind(ErrorKind kind);

struct RetryPolicy {
  int max_attempts = 1;         // 0: no limit (the budget bounds them)
  Millis first_backoff{250};    // the wait after the first failure; doubles after each one
  Millis max_backoff{4000};
  // Each wait is drawn from [backoff * (1 - jitter), backoff], so that many clients failing in
  // one outage do not retry in lock step.
  double jitter = 0.5;
  // All attempts and waits; nullopt: attempts are bounded by max_attempts only.
  std::optional<Millis> budget;
  std::string budget_key;       // the config key that sets the budget, for messages
  // No attempt is started with less than this left of the budget: it could not finish.
  Millis shortest_attempt{0};
  // Whether a failure is worth another attempt; by default its kind says (never a rejection).
  std::function<bool(const Error&)> retryable;

  // The backoff before attempt `failures + 1`, jitter not applied.
  Millis backoff(int failures) const;
};

// What the operation knows about the attempt it is making.
struct RetryAttempt {
  int number = 1;                                 // 1 for the first
  std::optional<SteadyClock::time_point> deadline;  // when the budget ends, if there is one
  // Set when this attempt's failure must not be retried whatever its kind: e.g. part of a
  // streamed answer already reached the caller, who must not hear it twice.
  bool final = false;
};

// Time and waiting, so that tests drive retries on a virtual clock.
class RetryClock {
 public:
  virtual ~RetryClock() = default;
  virtual SteadyClock::time_point now() = 0;
  // Waits `wait` unless `cancel` is set first; false when cancelled.
  virtual bool wait(Millis wait, const CancelToken& cancel) = 0;
  // A number in [0, 1) for the jitter.
  virtual double random() = 0;

  // The steady clock and a real wait that checks the token every 10 ms.
  static RetryClock& real();
};

// Called before each wait: the failure, the attempt that failed and how long we wait.
using RetryObserver = std::function<void(const Error&, int attempt, Millis wait)>;

namespace retry_detail {
// The wait before the next attempt, or nullopt to give up; then `error`'s message says why
// (how many attempts, the budget) and, when a wait was cancelled, its kind is kCancelled.
std::optional<Millis> next_wait(const RetryPolicy& policy, const RetryAttempt& attempt,
                                Error& error, RetryClock& clock);
Error cancelled(Error error);
}  // namespace retry_detail

// Calls `operation(RetryAttempt&)`, which returns a Result<T>, until it succeeds or the policy
// gives up; returns the last result. A wait interrupted by `cancel` returns the last error with
// kind kCancelled.
template <class Operation>
auto retry(const RetryPolicy& policy, const CancelToken& cancel, Operation&& operation,
           const RetryObserver& on_retry = {}, RetryClock& clock = RetryClock::real())
    -> std::invoke_result_t<Operation&, RetryAttempt&> {
  RetryAttempt attempt;
  if (policy.budget) attempt.deadline = clock.now() + *policy.budget;
  for (;; ++attempt.number) {
    attempt.final = false;
    auto result = operation(attempt);
    if (result) return result;
    Error error = result.error();
    const std::optional<Millis> wait = retry_detail::next_wait(policy, attempt, error, clock);
    if (!wait) return error;
    if (on_retry) on_retry(error, attempt.number, *wait);
    if (!clock.wait(*wait, cancel)) return retry_detail::cancelled(std::move(error));
  }
}

}  // namespace chalkbot
