#include "sip/sofia_log.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace chalkbot::sip {
namespace {

using namespace std::chrono_literals;
using Clock = LogLineLimiter::Clock;

struct Lines {
  std::vector<std::string> got;
  LogLineLimiter limiter;
  explicit Lines(int per_second)
      : limiter(per_second, [this](std::string_view line) { got.emplace_back(line); }) {}
};

TEST(SofiaLog, PiecesBecomeOneEntryPerLine) {
  Lines lines(20);
  const auto t = Clock::now();
  // As sofia prints a transport error: the line in pieces, then an indented continuation.
  lines.limiter.add("tport_udp_error: ", t);
  lines.limiter.add("Connection refused (111)", t);
  lines.limiter.add(" [icmp type=3 code=3]\n\treported by [127.0.0.1]:0\n", t);
  lines.limiter.add("nta_agent: tport: 127.0.0.1:5060: Connection refused\r\n\n", t);
  EXPECT_EQ(lines.got, (std::vector<std::string>{
                           "tport_udp_error: Connection refused (111) [icmp type=3 code=3]",
                           "reported by [127.0.0.1]:0",
                           "nta_agent: tport: 127.0.0.1:5060: Connection refused"}));
  lines.limiter.add("no end of line yet", t);
  EXPECT_EQ(lines.got.size(), 3u);
}

TEST(SofiaLog, AFloodIsCutToTheLimitAndTheLeftOutAreCounted) {
  Lines lines(3);
  const auto t = Clock::now();
  for (int i = 0; i < 10; ++i)
    lines.limiter.add("refused " + std::to_string(i) + "\n", t + 10ms * i);
  EXPECT_EQ(lines.got, (std::vector<std::string>{"refused 0", "refused 1", "refused 2"}));
  // A second later lines get through again, the first saying what was dropped.
  lines.limiter.add("refused 10\n", t + 1s);
  lines.limiter.add("refused 11\n", t + 1s + 1ms);
  ASSERT_EQ(lines.got.size(), 5u);
  EXPECT_EQ(lines.got[3], "(7 lines left out) refused 10");
  EXPECT_EQ(lines.got[4], "refused 11");
}

TEST(SofiaLog, ALineThatNeverEndsIsStillBounded) {
  Lines lines(20);
  const auto t = Clock::now();
  for (int i = 0; i < 100; ++i) lines.limiter.add(std::string(100, 'x'), t);
  ASSERT_GE(lines.got.size(), 2u);
  for (const auto& line : lines.got) EXPECT_LE(line.size(), 4200u);
}

}  // namespace
}  // namespace chalkbot::sip
