#include "agent/frame_times.h"

#include <gtest/gtest.h>

namespace chalkbot {
namespace {

TEST(FrameTimes, MapsAPositionToWhenTheCallerSaidIt) {
  FrameTimes times;
  // Frames arrive late and unevenly: what counts is each frame's own time, not when it was heard.
  times.add(10'020);  // frame 0 covers positions 0..20 ms and ended at wall ms 10'020
  times.add(10'045);
  times.add(10'060);
  EXPECT_EQ(times.at(20), 10'020);
  EXPECT_EQ(times.at(0), 10'000);
  EXPECT_EQ(times.at(30), 10'035);  // inside frame 1, 10 ms before its end
  EXPECT_EQ(times.at(60), 10'060);
  EXPECT_FALSE(times.at(61).has_value());  // not said yet
  EXPECT_FALSE(times.at(-1).has_value());
}

TEST(FrameTimes, ForgetsFramesOlderThanItsWindow) {
  FrameTimes times;
  for (std::size_t i = 0; i < FrameTimes::kFrames + 10; ++i) {
    times.add(static_cast<std::int64_t>(i) * 100);
  }
  EXPECT_FALSE(times.at(9 * kFrameMs).has_value());  // frame 9: overwritten
  EXPECT_EQ(times.at(11 * kFrameMs), 1000);          // frame 10 ended at 10 * 100
  const auto last = static_cast<std::int64_t>(FrameTimes::kFrames + 10);
  EXPECT_EQ(times.at(last * kFrameMs), (last - 1) * 100);
}

}  // namespace
}  // namespace chalkbot
