#include "media/jitter_buffer.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace chalkbot {
namespace {

using Kind = JitterBuffer::Kind;
constexpr std::uint32_t kSsrc = 42;

std::vector<std::uint8_t> payload(int id) {
  return std::vector<std::uint8_t>(160, static_cast<std::uint8_t>(id));
}

// What a pop produced, as text: the frame id, 'r' (repeat of id), 's' silence or '-' nothing.
std::string describe(const JitterBuffer::Out& o) {
  switch (o.kind) {
    case Kind::kNone:
      return "-";
    case Kind::kFrame:
      return std::to_string(o.payload[0]);
    case Kind::kConcealRepeat:
      return "r" + std::to_string(o.payload[0]);
    case Kind::kConcealSilence:
      return "s";
    case Kind::kTakenEarly:
      return "e";
  }
  return "?";
}

struct Sim {
  JitterBuffer jb{40, 200};
  std::uint32_t ts0 = 1000;
  std::int64_t tick = 0;
  // Inserts frame `id` (timestamp ts0 + 160 id) arriving now.
  JitterBuffer::Insert put(int id, std::uint32_t ssrc = kSsrc) {
    return jb.insert(ssrc, ts0 + static_cast<std::uint32_t>(id) * 160, payload(id), tick * 20000);
  }
  std::string pop() {
    ++tick;
    return describe(jb.pop());
  }
  // Every frame take_arrived() hands over now.
  std::string take() {
    std::string taken;
    for (auto out = jb.take_arrived(); out.kind != Kind::kNone; out = jb.take_arrived()) {
      taken += describe(out);
    }
    return taken;
  }
};

TEST(JitterBuffer, WaitsForTheMinimumDelayThenPlaysInOrder) {
  Sim s;
  s.put(0);
  EXPECT_EQ(s.pop(), "-");  // 40 ms minimum delay = two ticks of buffering
  s.put(1);
  EXPECT_EQ(s.pop(), "0");
  s.put(2);
  EXPECT_EQ(s.pop(), "1");
  EXPECT_EQ(s.pop(), "2");
}

TEST(JitterBuffer, AFrameCarriesItsPacketsArrivalTime) {
  Sim s;
  s.put(0);     // arrives at tick 0
  s.tick = 1;
  s.put(1);     // at tick 1
  EXPECT_EQ(s.jb.pop().kind, Kind::kNone);
  const auto first = s.jb.pop();
  ASSERT_EQ(first.kind, Kind::kFrame);
  EXPECT_EQ(first.arrival_us, 0);
  const auto second = s.jb.pop();
  ASSERT_EQ(second.kind, Kind::kFrame);
  EXPECT_EQ(second.arrival_us, 20000);
  const auto concealed = s.jb.pop();  // frame 2 never came
  EXPECT_NE(concealed.kind, Kind::kFrame);
  EXPECT_EQ(concealed.arrival_us, -1);
}

TEST(JitterBuffer, ReordersAndDropsDuplicatesAndLatePackets) {
  Sim s;
  s.put(0);
  s.put(2);
  s.put(1);
  EXPECT_EQ(s.put(2), JitterBuffer::Insert::kDuplicate);
  s.pop();
  EXPECT_EQ(s.pop(), "0");
  EXPECT_EQ(s.pop(), "1");
  EXPECT_EQ(s.put(0), JitterBuffer::Insert::kLate);
  s.put(3);
  EXPECT_EQ(s.pop(), "2");
  EXPECT_EQ(s.pop(), "3");
  EXPECT_EQ(s.jb.stats().duplicates, 1u);
  EXPECT_EQ(s.jb.stats().late, 1u);
}

TEST(JitterBuffer, EarlierPacketWhileBufferingMovesTheStart) {
  Sim s;
  s.put(1);
  s.put(0);  // arrived second but is older: playout must start with it
  s.pop();
  EXPECT_EQ(s.pop(), "0");
  EXPECT_EQ(s.pop(), "1");
}

TEST(JitterBuffer, ConcealsLossWithRepeatThenSilence) {
  Sim s;
  for (int id : {0, 1, 4}) s.put(id);
  s.pop();
  EXPECT_EQ(s.pop(), "0");
  EXPECT_EQ(s.pop(), "1");
  EXPECT_EQ(s.pop(), "r1");  // 2 lost: repeat the last frame
  EXPECT_EQ(s.pop(), "s");   // 3 lost too: silence
  EXPECT_EQ(s.pop(), "4");
  EXPECT_EQ(s.jb.stats().concealed, 2u);
}

TEST(JitterBuffer, GoesIdleWhenTheSenderStopsAndRebuffers) {
  Sim s;
  s.put(0);
  s.put(1);
  s.pop();
  s.pop();
  s.pop();
  std::string out;
  for (int i = 0; i < 8; ++i) out += s.pop();
  EXPECT_EQ(out, "r1ssss---");  // 5 frames concealed, then nothing
  s.put(200);                   // the sender resumes 4 s later
  EXPECT_EQ(s.pop(), "-");
  EXPECT_EQ(s.pop(), "200");
}

// A recogniser takes each frame as it arrives, in order; the playout ticks still pass over it
// (so delay, loss and late packets are judged as before).
TEST(JitterBuffer, FramesAreTakenAsTheyArriveInOrder) {
  Sim s;
  s.put(0);
  EXPECT_EQ(s.take(), "0");  // no waiting for the 40 ms delay
  s.put(2);
  EXPECT_EQ(s.take(), "");  // 1 is missing: 2 waits for it
  s.put(1);
  EXPECT_EQ(s.take(), "12");
  EXPECT_EQ(s.pop(), "-");  // (buffering)
  EXPECT_EQ(s.pop(), "e");  // the ticks of frames taken early hand over nothing
  EXPECT_EQ(s.pop(), "e");
  EXPECT_EQ(s.pop(), "e");
  EXPECT_EQ(s.put(1), JitterBuffer::Insert::kLate);
  s.put(3);
  EXPECT_EQ(s.take(), "3");
  EXPECT_EQ(s.put(3), JitterBuffer::Insert::kDuplicate);
  EXPECT_EQ(s.take(), "");
}

TEST(JitterBuffer, AFrameLostIsConcealedAtItsTickThenTakingGoesOn) {
  Sim s;
  s.put(0);
  s.put(1);
  EXPECT_EQ(s.take(), "01");
  s.put(3);  // 2 is lost
  EXPECT_EQ(s.take(), "");
  s.pop();
  EXPECT_EQ(s.pop(), "e");
  EXPECT_EQ(s.pop(), "e");
  EXPECT_EQ(s.pop(), "r1");  // 2's tick: concealed as without taking
  EXPECT_EQ(s.take(), "3");  // then 3 goes at once
  EXPECT_EQ(s.pop(), "e");
  EXPECT_EQ(s.jb.stats().concealed, 1u);
}

TEST(JitterBuffer, AnOlderPacketAfterTakingHasStartedIsLate) {
  Sim s;
  s.put(1);
  EXPECT_EQ(s.take(), "1");
  EXPECT_EQ(s.put(0), JitterBuffer::Insert::kLate);  // the stream began at 1 for the consumer
  EXPECT_EQ(s.take(), "");
}

TEST(JitterBuffer, TimestampWrapIsSeamless) {
  Sim s;
  s.ts0 = 0xFFFFFFFFu - 160 * 2;  // frames 0..2 before the wrap, 3.. after
  for (int id = 0; id < 6; ++id) s.put(id);
  std::string out;
  for (int i = 0; i < 7; ++i) out += s.pop() + ",";
  EXPECT_EQ(out, "-,0,1,2,3,4,5,");
}

TEST(JitterBuffer, NewSsrcResets) {
  Sim s;
  s.put(0);
  s.put(1);
  s.pop();
  EXPECT_EQ(s.pop(), "0");
  s.ts0 = 77777;  // another stream, unrelated timestamps
  EXPECT_EQ(s.put(9, 43), JitterBuffer::Insert::kReset);
  EXPECT_EQ(s.pop(), "-");
  EXPECT_EQ(s.pop(), "9");
  EXPECT_EQ(s.jb.stats().resets, 1u);
}

TEST(JitterBuffer, ForwardJumpFollowsTheSender) {
  Sim s;
  s.put(0);
  s.pop();
  EXPECT_EQ(s.pop(), "0");
  EXPECT_EQ(s.put(1000), JitterBuffer::Insert::kReset);  // 20 s ahead: far outside the window
  s.pop();
  EXPECT_EQ(s.pop(), std::to_string(1000 & 0xFF));  // ids are one payload byte
}

TEST(JitterBuffer, DelayAdaptsToJitterWithinBounds) {
  // Steady arrival: the minimum.
  Sim calm;
  for (int id = 0; id < 200; ++id) {
    calm.put(id);
    calm.pop();
  }
  EXPECT_EQ(calm.jb.target_delay_ms(), 40);
  EXPECT_LT(calm.jb.jitter_ms(), 1.0);

  // Arrival delays spread uniformly over 0..120 ms: the target grows, and no further than max.
  JitterBuffer jb(40, 200);
  std::mt19937 rng(1);
  std::vector<std::pair<std::int64_t, int>> arrivals;  // (arrival us, id)
  for (int id = 0; id < 500; ++id)
    arrivals.emplace_back(id * 20000 + static_cast<std::int64_t>(rng() % 120000), id);
  std::sort(arrivals.begin(), arrivals.end());
  std::size_t next = 0;
  int frames = 0;
  for (std::int64_t t = 0; t < 520; ++t) {
    while (next < arrivals.size() && arrivals[next].first <= t * 20000) {
      const int id = arrivals[next].second;
      (void)jb.insert(kSsrc, 5000 + static_cast<std::uint32_t>(id) * 160, payload(id),
                      arrivals[next].first);
      ++next;
    }
    if (jb.pop().kind == Kind::kFrame) ++frames;
  }
  EXPECT_GT(jb.jitter_ms(), 15.0);
  EXPECT_GE(jb.target_delay_ms(), 100);
  EXPECT_LE(jb.target_delay_ms(), 200);
  EXPECT_GT(frames, 400);  // most frames still played despite 120 ms of jitter

  JitterBuffer capped(40, 60);
  for (int id = 0; id < 200; ++id) {
    (void)capped.insert(kSsrc, static_cast<std::uint32_t>(id) * 160, payload(id),
                        id * 20000 + (id % 2) * 100000);
    capped.pop();
  }
  EXPECT_EQ(capped.target_delay_ms(), 60);
}

TEST(JitterBuffer, ShrinksExcessDelay) {
  // A burst of 20 frames at once (e.g. after a network stall) leaves far more buffered than the
  // target; the buffer drops frames to come back down rather than keeping the delay forever.
  Sim s;
  for (int id = 0; id < 20; ++id) s.put(id);
  for (int i = 0; i < 2; ++i) s.pop();
  const int before = s.jb.depth_frames();
  for (int id = 20; id < 120; ++id) {
    s.put(id);
    s.pop();
  }
  EXPECT_LT(s.jb.depth_frames(), before);
  EXPECT_GT(s.jb.stats().dropped, 0u);
}

}  // namespace
}  // namespace chalkbot
