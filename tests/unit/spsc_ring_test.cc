#include "media/spsc_ring.h"

#include <gtest/gtest.h>

#include <thread>

namespace chalkbot {
namespace {

TEST(SpscRing, CapacityIsPowerOfTwoAndFullIsDetected) {
  SpscRing<int> r(5);
  EXPECT_EQ(r.capacity(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(r.try_push(i));
  EXPECT_FALSE(r.try_push(99));
  EXPECT_EQ(r.size(), 8u);
  int v = -1;
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(r.try_pop(v));
    EXPECT_EQ(v, i);
  }
  EXPECT_FALSE(r.try_pop(v));
  EXPECT_TRUE(r.empty());
}

// The consumer may look at what waits (a call looks ahead at its frames) without taking it.
TEST(SpscRing, PeekLooksWithoutTaking) {
  SpscRing<int> ring(4);
  EXPECT_EQ(ring.peek(0), nullptr);
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(ring.try_push(i));
  ASSERT_NE(ring.peek(0), nullptr);
  EXPECT_EQ(*ring.peek(0), 1);
  EXPECT_EQ(*ring.peek(2), 3);
  EXPECT_EQ(ring.peek(3), nullptr);
  EXPECT_EQ(ring.size(), 3u);
  int out = 0;
  ASSERT_TRUE(ring.try_pop(out));
  EXPECT_EQ(out, 1);
  EXPECT_EQ(*ring.peek(0), 2);
  ASSERT_TRUE(ring.try_push(4));
  ASSERT_TRUE(ring.try_push(5));  // wraps around
  EXPECT_EQ(*ring.peek(3), 5);
  EXPECT_EQ(ring.peek(4), nullptr);
}

TEST(SpscRing, DiscardUntilDropsOnlyOlderElements) {
  SpscRing<int> r(8);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(r.try_push(i));
  const auto mark = r.write_index();
  ASSERT_TRUE(r.try_push(100));
  EXPECT_EQ(r.discard_until(mark), 5u);
  int v = 0;
  ASSERT_TRUE(r.try_pop(v));
  EXPECT_EQ(v, 100);
  EXPECT_EQ(r.discard_until(mark), 0u);  // already past it
}

TEST(SpscRing, TwoThreadStressKeepsOrderAndLosesNothing) {
  SpscRing<std::uint64_t> r(64);
  constexpr std::uint64_t kCount = 2'000'000;
  std::thread producer([&] {
    for (std::uint64_t i = 1; i <= kCount;) {
      if (auto* slot = r.try_begin_push()) {
        *slot = i++;
        r.commit_push();
      } else {
        std::this_thread::yield();
      }
    }
  });
  std::uint64_t expected = 1, sum = 0;
  while (expected <= kCount) {
    std::uint64_t v = 0;
    if (r.try_pop(v)) {
      ASSERT_EQ(v, expected);
      sum += v;
      ++expected;
    } else {
      std::this_thread::yield();
    }
  }
  producer.join();
  EXPECT_EQ(sum, kCount * (kCount + 1) / 2);
  EXPECT_TRUE(r.empty());
}

}  // namespace
}  // namespace chalkbot
