#include <gtest/gtest.h>

#include "sip/access.h"
#include "sip/rate_limit.h"

namespace chalkbot::sip {
namespace {

using namespace std::chrono_literals;
using Clock = SourceRateLimiter::Clock;

TEST(SourceRateLimiter, BurstThenRefillsAtTheRate) {
  SourceRateLimiter limiter(10, 5);
  const auto t0 = Clock::time_point{} + 1h;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.admit("10.0.0.1", t0)) << i;
  EXPECT_FALSE(limiter.admit("10.0.0.1", t0));
  EXPECT_FALSE(limiter.admit("10.0.0.1", t0 + 50ms));   // half a token
  EXPECT_TRUE(limiter.admit("10.0.0.1", t0 + 100ms));   // one token back
  EXPECT_FALSE(limiter.admit("10.0.0.1", t0 + 100ms));
  // Long idle refills to the burst, not beyond.
  int admitted = 0;
  while (limiter.admit("10.0.0.1", t0 + 1h)) ++admitted;
  EXPECT_EQ(admitted, 5);
}

TEST(SourceRateLimiter, SourcesHaveTheirOwnBuckets) {
  SourceRateLimiter limiter(1, 2);
  const auto t0 = Clock::time_point{} + 1h;
  EXPECT_TRUE(limiter.admit("127.0.0.1", t0));
  EXPECT_TRUE(limiter.admit("127.0.0.1", t0));
  EXPECT_FALSE(limiter.admit("127.0.0.1", t0));
  EXPECT_TRUE(limiter.admit("127.0.0.2", t0));  // a flood from one address spares the others
  EXPECT_TRUE(limiter.admit("::1", t0));
}

TEST(SourceRateLimiter, ZeroRateIsNoLimit) {
  SourceRateLimiter limiter(0, 1);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiter.admit("10.0.0.1"));
  EXPECT_EQ(limiter.tracked(), 0u);
}

TEST(SourceRateLimiter, TrackedSourcesAreBoundedAndIdleOnesForgotten) {
  SourceRateLimiter limiter(10, 2, /*max_sources=*/3);
  const auto t0 = Clock::time_point{} + 1h;
  EXPECT_TRUE(limiter.admit("10.0.0.1", t0));
  EXPECT_TRUE(limiter.admit("10.0.0.2", t0));
  EXPECT_TRUE(limiter.admit("10.0.0.3", t0));
  // Full of busy sources: a new one is refused rather than growing the table.
  EXPECT_FALSE(limiter.admit("10.0.0.4", t0));
  EXPECT_EQ(limiter.tracked(), 3u);
  // Once the others have refilled they are forgotten and the newcomer gets in.
  EXPECT_TRUE(limiter.admit("10.0.0.4", t0 + 1s));
  EXPECT_LE(limiter.tracked(), 3u);
}

TEST(ScannerFilter, MatchesFragmentsInAnyCase) {
  ScannerFilter scanners("friendly-scanner, sipvicious,VaxSIPUserAgent");
  EXPECT_TRUE(scanners.matches("friendly-scanner"));
  EXPECT_TRUE(scanners.matches("SIPVicious 0.3.4"));
  EXPECT_TRUE(scanners.matches("vaxsipuseragent/3.1"));
  EXPECT_FALSE(scanners.matches("baresip v1.0.0 (x86_64/linux)"));
  EXPECT_FALSE(scanners.matches(""));
  EXPECT_FALSE(ScannerFilter("").matches("friendly-scanner"));
}

}  // namespace
}  // namespace chalkbot::sip
