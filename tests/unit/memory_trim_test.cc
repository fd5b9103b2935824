#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "server/memory_trim.h"

namespace chalkbot {
namespace {

using namespace std::chrono_literals;

struct Recorder {
  std::vector<SteadyClock::duration> at;
  SteadyClock::time_point t0 = SteadyClock::time_point{} + 1h;
  SteadyClock::time_point now = t0;
  MemoryTrimmer trimmer{[this] { at.push_back(now - t0); }};

  void second(std::size_t ended = 0) {
    trimmer.tick(ended, now);
    now += 1s;
  }
};

TEST(MemoryTrimmer, NothingEndedNothingTrimmed) {
  Recorder r;
  for (int i = 0; i < 120; ++i) r.second();
  EXPECT_TRUE(r.at.empty());
}

TEST(MemoryTrimmer, TrimsAtOnceThenEveryTenSecondsWhileCallsEnd) {
  Recorder r;
  for (int i = 0; i < 25; ++i) r.second(3);
  ASSERT_EQ(r.at.size(), 3u);
  EXPECT_EQ(r.at[0], 0s);
  EXPECT_EQ(r.at[1], 10s);
  EXPECT_EQ(r.at[2], 20s);
}

TEST(MemoryTrimmer, KeepsTrimmingUntilTheStacksTimersHaveRunOut) {
  Recorder r;
  r.second(1);  // one call ended at 0 s; its transactions are freed up to 32 s later
  for (int i = 1; i < 120; ++i) r.second();
  ASSERT_FALSE(r.at.empty());
  EXPECT_GE(r.at.back(), 32s);
  EXPECT_LE(r.at.back(), MemoryTrimmer::kSettle);
  EXPECT_EQ(r.at.size(), 5u);  // 0, 10, 20, 30, 40 s
}

TEST(MemoryTrimmer, AnEndedCallStartsItAgain) {
  Recorder r;
  r.second(1);
  for (int i = 1; i < 100; ++i) r.second();
  const std::size_t before = r.at.size();
  r.second(1);  // at 100 s
  ASSERT_EQ(r.at.size(), before + 1);
  EXPECT_EQ(r.at.back(), 100s);
}

TEST(MemoryTrimmer, HeapInUseFollowsWhatIsAllocatedAndFreed) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizer's allocator replaces malloc's statistics";
#endif
  constexpr std::size_t kBlock = 8 << 20;
  const std::size_t before = MemoryTrimmer::heap_in_use_bytes();
  auto block = std::make_unique<char[]>(kBlock);
  block[kBlock - 1] = 1;  // touched, so it is not optimised away
  const std::size_t with_block = MemoryTrimmer::heap_in_use_bytes();
  EXPECT_GE(with_block, before + kBlock);
  block.reset();
  EXPECT_LE(MemoryTrimmer::heap_in_use_bytes(), with_block - kBlock);
}

}  // namespace
}  // namespace chalkbot
