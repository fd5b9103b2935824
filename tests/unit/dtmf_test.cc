#include "media/dtmf.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace chalkbot {
namespace {

struct Pkt {
  std::uint32_t ts;
  std::uint8_t event;
  bool end;
  std::uint16_t duration;
};

std::string feed(DtmfReceiver& rx, const std::vector<Pkt>& pkts, std::uint32_t ssrc = 1) {
  std::string digits;
  for (const auto& p : pkts) {
    const std::uint8_t b[4] = {p.event, static_cast<std::uint8_t>((p.end ? 0x80 : 0) | 10),
                               static_cast<std::uint8_t>(p.duration >> 8),
                               static_cast<std::uint8_t>(p.duration)};
    if (auto c = rx.on_packet(ssrc, p.ts, b)) digits += *c;
  }
  return digits;
}

// One press as a sender emits it: updates every 50 ms, then the end packet three times.
std::vector<Pkt> press(std::uint32_t ts, std::uint8_t event) {
  return {{ts, event, false, 400}, {ts, event, false, 800}, {ts, event, false, 1200},
          {ts, event, true, 1600}, {ts, event, true, 1600}, {ts, event, true, 1600}};
}

TEST(Dtmf, EventCodes) {
  EXPECT_EQ(dtmf_event_to_char(0), '0');
  EXPECT_EQ(dtmf_event_to_char(9), '9');
  EXPECT_EQ(dtmf_event_to_char(10), '*');
  EXPECT_EQ(dtmf_event_to_char(11), '#');
  EXPECT_EQ(dtmf_event_to_char(12), 'A');
  EXPECT_EQ(dtmf_event_to_char(15), 'D');
  EXPECT_FALSE(dtmf_event_to_char(16).has_value());
}

TEST(Dtmf, OneDigitPerPressDespiteTripleEnd) {
  DtmfReceiver rx;
  std::vector<Pkt> all;
  for (auto p : press(1000, 1)) all.push_back(p);
  for (auto p : press(9000, 1)) all.push_back(p);  // same key again: a second digit
  for (auto p : press(17000, 11)) all.push_back(p);
  EXPECT_EQ(feed(rx, all), "11#");
}

TEST(Dtmf, MissingStartPacketsStillGiveTheDigit) {
  DtmfReceiver rx;
  // Only end packets of the press arrive (first packets and marker lost).
  EXPECT_EQ(feed(rx, {{500, 5, true, 1600}, {500, 5, true, 1600}}), "5");
}

TEST(Dtmf, OutOfOrderAndStaleEndPackets) {
  DtmfReceiver rx;
  // 2 then 3, with one of 2's end packets arriving after 3 started and 3's packets reordered.
  EXPECT_EQ(feed(rx, {{100, 2, false, 400},
                      {100, 2, true, 800},
                      {900, 3, false, 800},
                      {100, 2, true, 800},
                      {900, 3, false, 400},
                      {900, 3, true, 1200},
                      {900, 3, true, 1200}}),
            "23");
}

TEST(Dtmf, LongPressSegmentsAreOneDigit) {
  DtmfReceiver rx;
  // RFC 4733 §2.5.1.3: the duration field would overflow, so a new segment starts at ts + 65535.
  EXPECT_EQ(feed(rx, {{0, 7, false, 32000}, {0, 7, false, 65535}, {65535, 7, false, 8000},
                      {65535, 7, true, 16000}}),
            "7");
}

TEST(Dtmf, IgnoresNonDigitsShortPayloadsAndResetsOnNewSsrc) {
  DtmfReceiver rx;
  EXPECT_EQ(feed(rx, {{100, 16, false, 400}}), "");  // flash
  const std::uint8_t short_payload[2] = {1, 0};
  EXPECT_FALSE(rx.on_packet(1, 200, short_payload).has_value());
  EXPECT_EQ(feed(rx, press(300, 4), 1), "4");
  // A new stream may reuse timestamps: its press is a new digit.
  EXPECT_EQ(feed(rx, press(300, 4), 2), "4");
}

}  // namespace
}  // namespace chalkbot
