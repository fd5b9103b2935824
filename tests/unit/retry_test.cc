// The retry policy on a virtual clock: the waits it asks for are recorded, never slept.
#include "core/retry.h"

#include <gtest/gtest.h>

#include <vector>

namespace chalkbot {
namespace {

class VirtualClock final : public RetryClock {
 public:
  SteadyClock::time_point now() override { return now_; }
  bool wait(Millis wait, const CancelToken& cancel) override {
    waits.push_back(wait);
    if (during_wait) during_wait();
    if (cancel.cancelled()) return false;
    now_ += wait;
    return true;
  }
  double random() override { return random_value; }
  void advance(Millis by) { now_ += by; }

  std::vector<Millis> waits;
  double random_value = 0.0;  // 0: no jitter taken off
  std::function<void()> during_wait;

 private:
  SteadyClock::time_point now_{};
};

// An operation that fails with `error` the first `failures` times, then returns its attempt count.
struct Flaky {
  Error error;
  int failures = 1000;
  Millis takes{0};  // how long each attempt runs on the virtual clock
  VirtualClock* clock = nullptr;
  int calls = 0;

  Result<int> operator()(RetryAttempt& attempt) {
    ++calls;
    EXPECT_EQ(attempt.number, calls);
    if (clock != nullptr) clock->advance(takes);
    if (calls <= failures) return error;
    return calls;
  }
};

RetryPolicy policy(int attempts, Millis first, Millis cap) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.first_backoff = first;
  p.max_backoff = cap;
  p.jitter = 0.5;
  return p;
}

TEST(Retry, BackoffDoublesUpToItsCapThenGivesUpNamingTheAttempts) {
  VirtualClock clock;
  Flaky op{make_error(ErrorKind::kServerError, "HTTP 503")};
  const auto result = retry(policy(7, Millis(100), Millis(1000)), CancelToken{}, op, {}, clock);
  ASSERT_FALSE(result);
  EXPECT_EQ(op.calls, 7);
  EXPECT_EQ(clock.waits, (std::vector<Millis>{Millis(100), Millis(200), Millis(400), Millis(800),
                                              Millis(1000), Millis(1000)}));
  EXPECT_EQ(result.error().message, "HTTP 503 (after 7 attempts)");
  EXPECT_EQ(result.error().kind, ErrorKind::kServerError);
}

TEST(Retry, JitterTakesUpToItsShareOffEachWait) {
  VirtualClock clock;
  clock.random_value = 0.5;  // half of the jitter: a quarter of the wait with jitter 0.5
  Flaky op{make_error(ErrorKind::kReset, "reset")};
  (void)retry(policy(3, Millis(400), Millis(4000)), CancelToken{}, op, {}, clock);
  EXPECT_EQ(clock.waits, (std::vector<Millis>{Millis(300), Millis(600)}));
}

TEST(Retry, SucceedsAfterTransientFailuresAndReportsEachRetry) {
  VirtualClock clock;
  Flaky op{make_error(ErrorKind::kConnect, "refused"), 2};
  std::vector<int> retried;
  const auto result = retry(
      policy(5, Millis(10), Millis(100)), CancelToken{}, op,
      [&](const Error& error, int attempt, Millis) {
        EXPECT_EQ(error.message, "refused");
        retried.push_back(attempt);
      },
      clock);
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, 3);
  EXPECT_EQ(retried, (std::vector<int>{1, 2}));
}

TEST(Retry, RetryAfterReplacesTheBackoff) {
  VirtualClock clock;
  Error throttled = make_error(ErrorKind::kRateLimited, "HTTP 429");
  throttled.retry_after = Millis(3000);
  Flaky op{throttled, 1};
  const auto result = retry(policy(3, Millis(100), Millis(200)), CancelToken{}, op, {}, clock);
  ASSERT_TRUE(result);
  EXPECT_EQ(clock.waits, std::vector<Millis>{Millis(3000)});  // beyond max_backoff: the server's
}

TEST(Retry, RetryAfterBeyondTheBudgetGivesUpAtOnce) {
  VirtualClock clock;
  Error throttled = make_error(ErrorKind::kRateLimited, "HTTP 429");
  throttled.retry_after = Millis(5000);
  Flaky op{throttled, 1, Millis(500), &clock};
  RetryPolicy p = policy(3, Millis(100), Millis(200));
  p.budget = Millis(2000);
  p.budget_key = "llm.retry_budget_ms";
  const auto result = retry(p, CancelToken{}, op, {}, clock);
  ASSERT_FALSE(result);
  EXPECT_EQ(op.calls, 1);
  EXPECT_TRUE(clock.waits.empty());
  EXPECT_EQ(result.error().message,
            "HTTP 429; the server asked to retry after 5000 ms, beyond the remaining retry budget "
            "of 1500 ms (llm.retry_budget_ms)");
}

TEST(Retry, TheBudgetBoundsAttemptsAndWaits) {
  VirtualClock clock;
  Flaky op{make_error(ErrorKind::kTimeout, "timed out"), 1000, Millis(300), &clock};
  RetryPolicy p = policy(0, Millis(100), Millis(1000));  // no attempt limit: the budget decides
  p.budget = Millis(1500);
  p.budget_key = "store.postgres_retry_ms";
  const auto result = retry(p, CancelToken{}, op, {}, clock);
  ASSERT_FALSE(result);
  // 300 + 100 + 300 + 200 + 300 = 1200; the next wait (400) would end past 1500.
  EXPECT_EQ(op.calls, 3);
  EXPECT_EQ(clock.waits, (std::vector<Millis>{Millis(100), Millis(200)}));
  EXPECT_EQ(result.error().message,
            "timed out (after 3 attempts); retry budget of 1500 ms used up "
            "(store.postgres_retry_ms)");
}

TEST(Retry, NoAttemptStartsWithLessThanTheShortestAttemptLeft) {
  VirtualClock clock;
  Flaky op{make_error(ErrorKind::kReset, "reset"), 1000, Millis(600), &clock};
  RetryPolicy p = policy(3, Millis(100), Millis(100));
  p.budget = Millis(1000);
  p.shortest_attempt = Millis(301);  // 600 + 100 + 301 > 1000
  (void)retry(p, CancelToken{}, op, {}, clock);
  EXPECT_EQ(op.calls, 1);
  p.shortest_attempt = Millis(300);  // 600 + 100 + 300 fits exactly
  VirtualClock fresh;
  Flaky again{make_error(ErrorKind::kReset, "reset"), 1000, Millis(600), &fresh};
  (void)retry(p, CancelToken{}, again, {}, fresh);
  EXPECT_EQ(again.calls, 2);
}

TEST(Retry, NonRetryableFailuresStopAtOnce) {
  for (ErrorKind kind : {ErrorKind::kAuth, ErrorKind::kQuota, ErrorKind::kMalformed,
                         ErrorKind::kOther, ErrorKind::kCancelled}) {
    VirtualClock clock;
    Flaky op{make_error(kind, "no")};
    const auto result = retry(policy(5, Millis(10), Millis(10)), CancelToken{}, op, {}, clock);
    EXPECT_EQ(op.calls, 1) << to_string(kind);
    EXPECT_EQ(result.error().message, "no") << to_string(kind);
    EXPECT_EQ(result.error().kind, kind);
  }
  // A rejection is the request's own fault, whatever its kind.
  VirtualClock clock;
  Error refused = make_error(ErrorKind::kServerError, "constraint");
  refused.rejected = true;
  Flaky op{refused};
  (void)retry(policy(5, Millis(10), Millis(10)), CancelToken{}, op, {}, clock);
  EXPECT_EQ(op.calls, 1);
}

TEST(Retry, AFinalAttemptIsNotRetried) {
  VirtualClock clock;
  int calls = 0;
  const auto result = retry(
      policy(5, Millis(10), Millis(10)), CancelToken{},
      [&](RetryAttempt& attempt) -> Status {
        ++calls;
        attempt.final = true;  // e.g. tokens already reached the caller
        return make_error(ErrorKind::kReset, "broke mid-stream");
      },
      {}, clock);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(result.error().kind, ErrorKind::kReset);
}

TEST(Retry, ACustomRuleDecidesWhatIsRetried) {
  VirtualClock clock;
  Flaky op{make_error(ErrorKind::kAuth, "HTTP 401"), 1};
  RetryPolicy p = policy(3, Millis(10), Millis(10));
  p.retryable = [](const Error&) { return true; };
  EXPECT_TRUE(retry(p, CancelToken{}, op, {}, clock));
  EXPECT_EQ(op.calls, 2);
}

TEST(Retry, CancellingStopsTheWait) {
  VirtualClock clock;
  CancelToken cancel;
  clock.during_wait = [&] { cancel.cancel(); };  // the caller hangs up while we wait
  Flaky op{make_error(ErrorKind::kServerError, "HTTP 500")};
  const auto result = retry(policy(5, Millis(10), Millis(10)), cancel, op, {}, clock);
  ASSERT_FALSE(result);
  EXPECT_EQ(op.calls, 1);
  EXPECT_EQ(result.error().kind, ErrorKind::kCancelled);
  EXPECT_NE(result.error().message.find("HTTP 500"), std::string::npos);
}

TEST(Retry, TheRealClockReturnsAtOnceWhenAlreadyCancelled) {
  CancelToken cancel;
  cancel.cancel();
  const auto start = SteadyClock::now();
  EXPECT_FALSE(RetryClock::real().wait(Millis(60000), cancel));
  EXPECT_LT(SteadyClock::now() - start, Millis(1000));
  EXPECT_TRUE(RetryClock::real().wait(Millis(0), CancelToken{}));
}

TEST(Retry, RetryableKinds) {
  EXPECT_TRUE(retryable_kind(ErrorKind::kRateLimited));
  EXPECT_TRUE(retryable_kind(ErrorKind::kServerError));
  EXPECT_TRUE(retryable_kind(ErrorKind::kTimeout));
  EXPECT_TRUE(retryable_kind(ErrorKind::kReset));
  EXPECT_TRUE(retryable_kind(ErrorKind::kConnect));
  EXPECT_FALSE(retryable_kind(ErrorKind::kAuth));
  EXPECT_FALSE(retryable_kind(ErrorKind::kQuota));
  EXPECT_FALSE(retryable_kind(ErrorKind::kMalformed));
  EXPECT_FALSE(retryable_kind(ErrorKind::kOther));
  EXPECT_FALSE(retryable_kind(ErrorKind::kCancelled));
}

}  // namespace
}  // namespace chalkbot
