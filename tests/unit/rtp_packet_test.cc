#include "media/rtp_packet.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace chalkbot {
namespace {

std::vector<std::uint8_t> packet(const RtpHeader& h, std::vector<std::uint8_t> payload) {
  std::vector<std::uint8_t> out(512);
  out.resize(serialize_rtp(h, payload, out));
  return out;
}

TEST(RtpPacket, RoundTripsEveryField) {
  RtpHeader h;
  h.marker = true;
  h.payload_type = 8;
  h.sequence = 0xBEEF;
  h.timestamp = 0xDEADBEEF;
  h.ssrc = 0x01020304;
  h.csrc_count = 2;
  h.csrcs[0] = 11;
  h.csrcs[1] = 0xFFFFFFFF;
  const auto bytes = packet(h, {1, 2, 3});
  ASSERT_EQ(bytes.size(), 12u + 8u + 3u);
  EXPECT_EQ(bytes[0], 0x82);
  EXPECT_EQ(bytes[1], 0x88);
  RtpPacketView v;
  ASSERT_EQ(parse_rtp(bytes, v), RtpError::kOk);
  EXPECT_TRUE(v.header.marker);
  EXPECT_EQ(v.header.payload_type, 8);
  EXPECT_EQ(v.header.sequence, 0xBEEF);
  EXPECT_EQ(v.header.timestamp, 0xDEADBEEFu);
  EXPECT_EQ(v.header.ssrc, 0x01020304u);
  ASSERT_EQ(v.header.csrc_count, 2);
  EXPECT_EQ(v.header.csrcs[1], 0xFFFFFFFFu);
  ASSERT_EQ(v.payload.size(), 3u);
  EXPECT_EQ(v.payload[2], 3);
}

TEST(RtpPacket, ParsesExtensionAndPadding) {
  // V=2 P=1 X=1 CC=0, PT 0; extension profile 0xBEDE with 1 word; payload AA BB; 2 padding bytes.
  const std::vector<std::uint8_t> b{0xB0, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3,
                                    0xBE, 0xDE, 0, 1, 9, 9, 9, 9, 0xAA, 0xBB, 0, 2};
  RtpPacketView v;
  ASSERT_EQ(parse_rtp(b, v), RtpError::kOk);
  EXPECT_TRUE(v.has_extension);
  EXPECT_EQ(v.extension_profile, 0xBEDE);
  EXPECT_EQ(v.extension.size(), 4u);
  ASSERT_EQ(v.payload.size(), 2u);
  EXPECT_EQ(v.payload[0], 0xAA);
}

TEST(RtpPacket, RejectsMalformed) {
  RtpPacketView v;
  const std::vector<std::uint8_t> ok{0x80, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xFF};
  EXPECT_EQ(parse_rtp(std::span(ok).first(11), v), RtpError::kTooShort);
  EXPECT_EQ(parse_rtp(std::span<const std::uint8_t>(), v), RtpError::kTooShort);
  auto bad = ok;
  bad[0] = 0x40;  // version 1
  EXPECT_EQ(parse_rtp(bad, v), RtpError::kBadVersion);
  bad = ok;
  bad[0] = 0x81;  // one CSRC announced, only one byte follows
  EXPECT_EQ(parse_rtp(bad, v), RtpError::kCsrcOverrun);
  bad = ok;
  bad[0] = 0x90;  // extension bit, but no room for its header
  EXPECT_EQ(parse_rtp(bad, v), RtpError::kExtensionOverrun);
  auto ext = std::vector<std::uint8_t>{0x90, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xBE, 0xDE, 0, 5, 1};
  EXPECT_EQ(parse_rtp(ext, v), RtpError::kExtensionOverrun);  // 5 words announced
  bad = ok;
  bad[0] = 0xA0;  // padding; last byte 0xFF is longer than the payload
  EXPECT_EQ(parse_rtp(bad, v), RtpError::kBadPadding);
  bad.back() = 0;  // padding count of zero is invalid
  EXPECT_EQ(parse_rtp(bad, v), RtpError::kBadPadding);
  bad = ok;
  bad[1] = 0xC8;  // RTCP SR (200) on the RTP port
  EXPECT_EQ(parse_rtp(bad, v), RtpError::kRtcpPayloadType);
  EXPECT_FALSE(parse_rtp(std::span(ok).first(5)).ok());
  EXPECT_TRUE(parse_rtp(ok).ok());
}

TEST(RtpPacket, GarbageNeverReadsOutOfBounds) {
  // Every outcome is fine as long as views stay inside the input (ASan builds check the reads).
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> b(rng() % 64);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    if (!b.empty() && (i % 2) == 0) b[0] = static_cast<std::uint8_t>(0x80 | (b[0] & 0x3F));
    RtpPacketView v;
    if (parse_rtp(b, v) == RtpError::kOk) {
      ASSERT_GE(v.payload.data(), b.data());
      ASSERT_LE(v.payload.data() + v.payload.size(), b.data() + b.size());
      ASSERT_LE(v.extension.data() + v.extension.size(), b.data() + b.size());
    }
    (void)is_valid_rtcp(b);
  }
}

TEST(RtpPacket, SerializeRefusesSmallBufferAndBadFields) {
  RtpHeader h;
  std::array<std::uint8_t, 13> out{};
  const std::array<std::uint8_t, 2> payload{1, 2};
  EXPECT_EQ(serialize_rtp(h, payload, out), 0u);
  h.payload_type = 128;
  std::array<std::uint8_t, 64> big{};
  EXPECT_EQ(serialize_rtp(h, payload, big), 0u);
}

TEST(Rtcp, SenderReportIsValidCompound) {
  SenderReport sr{0x11223344, 0x0102030405060708ULL, 1234, 50, 8000};
  std::array<std::uint8_t, 128> out{};
  const char cname[] = "chalkbot";
  const std::size_t n = write_rtcp_sr(sr, std::span<const char>(cname, 8), out);
  ASSERT_GT(n, 28u);
  EXPECT_EQ(n % 4, 0u);
  EXPECT_EQ(out[1], 200);
  EXPECT_EQ(out[28 + 1], 202);
  EXPECT_TRUE(is_valid_rtcp(std::span(out).first(n)));
  EXPECT_FALSE(is_valid_rtcp(std::span(out).first(n - 1)));  // lengths no longer add up
  auto broken = out;
  broken[0] = 0x40;
  EXPECT_FALSE(is_valid_rtcp(std::span(broken).first(n)));
  EXPECT_FALSE(is_valid_rtcp(std::span<const std::uint8_t>()));
}

}  // namespace
}  // namespace chalkbot
