// Wideband MediaSessions over real loopback UDP: G.722 and Opus both ways at 16 kHz, what goes on
// the wire, and a lost Opus packet rebuilt from the next one's in-band FEC.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <numbers>
#include <string>
#include <thread>
#include <vector>

#include "component/media_test_util.h"
#include "media/media_engine.h"
#include "media/opus_codec.h"
#include "media/rtp_packet.h"

namespace chalkbot {
namespace {

using namespace std::chrono_literals;
using testing::media_engine;
using testing::RawUdp;

constexpr int kOpusPt = 111;

std::vector<Sample> tone_16k(double hz, double seconds, double amplitude = 8000) {
  std::vector<Sample> s(static_cast<std::size_t>(kWidebandRate * seconds));
  for (std::size_t i = 0; i < s.size(); ++i) {
    s[i] = static_cast<Sample>(amplitude * std::sin(2 * std::numbers::pi * hz *
                                                    static_cast<double>(i) / kWidebandRate));
  }
  return s;
}

// Power of `hz` in a 16 kHz block (Goertzel).
double power_at(Samples block, double hz) {
  const double k = 2 * std::cos(2 * std::numbers::pi * hz / kWidebandRate);
  double s1 = 0, s2 = 0;
  for (const Sample x : block) {
    const double s0 = x + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - k * s1 * s2;
}


std::shared_ptr<MediaSession> open_wide(MediaEngine& e, MediaCodec codec) {
  auto s = e.open_session("127.0.0.1", codec);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? s.value() : nullptr;
}

// A 5 kHz tone cannot cross a narrowband call (8 kHz sampling stops at 4 kHz): arriving, it
// shows the call is wideband end to end.
void expect_wideband_both_ways(MediaCodec codec, int payload_type, int lo, int hi) {
  auto e = media_engine(lo, hi);
  ASSERT_TRUE(e);
  auto a = open_wide(*e, codec);
  auto b = open_wide(*e, codec);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->sample_rate(), kWidebandRate);
  EXPECT_EQ(a->frame_samples(), kWideFrameSamples);
  ASSERT_TRUE(a->start("127.0.0.1", b->local_port(), payload_type, 101).ok());
  ASSERT_TRUE(b->start("127.0.0.1", a->local_port(), payload_type, 101).ok());

  const auto high = tone_16k(5000, 1.0);
  const auto low = tone_16k(700, 1.0);
  ASSERT_EQ(a->enqueue_audio(high), high.size());
  ASSERT_EQ(b->enqueue_audio(low), low.size());
  EXPECT_EQ(a->queued_ms(), 1000);
  a->flush_audio();
  b->flush_audio();
  std::vector<WideFrame> at_b, at_a;
  std::thread reader([&] { at_a = testing::collect_frames<WideFrame>(*a, 1600ms); });
  at_b = testing::collect_frames<WideFrame>(*b, 1600ms);
  reader.join();

  const auto tone_frames = [](const std::vector<WideFrame>& frames, double hz, double other) {
    int n = 0;
    for (const auto& f : frames) {
      const double p = power_at(f, hz);
      n += testing::rms(f) > 2000 && p > 20 * power_at(f, other) ? 1 : 0;
    }
    return n;
  };
  EXPECT_GE(tone_frames(at_b, 5000, 700), 40)
      << "the 5 kHz tone did not reach b: " << at_b.size() << " frames, " << b->stats().packets_in
      << " packets in";
  EXPECT_GE(tone_frames(at_a, 700, 5000), 40) << "the 700 Hz tone did not reach a";
  EXPECT_EQ(a->stats().rejected_in, 0u);
  EXPECT_EQ(b->stats().rejected_in, 0u);
}

TEST(WidebandSession, G722CarriesSixteenKilohertzAudioBothWays) {
  expect_wideband_both_ways(MediaCodec::kG722, 9, 17600, 17619);
}

TEST(WidebandSession, OpusCarriesSixteenKilohertzAudioBothWays) {
  expect_wideband_both_ways(MediaCodec::kOpus, kOpusPt, 17620, 17639);
}

// Timestamps per 20 ms and payload sizes on the wire, from a plain socket's point of view.
void expect_wire(MediaCodec codec, int payload_type, std::uint32_t ticks, int lo, int hi) {
  auto e = media_engine(lo, hi);
  ASSERT_TRUE(e);
  auto s = open_wide(*e, codec);
  ASSERT_TRUE(s);
  RawUdp far;
  ASSERT_TRUE(s->start("127.0.0.1", far.port(), payload_type, -1).ok());
  std::vector<RtpHeader> headers;
  std::vector<std::size_t> sizes;
  while (headers.size() < 5) {
    auto d = far.recv_rtp(500ms);
    ASSERT_TRUE(d.has_value());
    RtpPacketView v;
    ASSERT_EQ(parse_rtp(d->bytes, v), RtpError::kOk);
    headers.push_back(v.header);
    sizes.push_back(v.payload.size());
  }
  for (std::size_t i = 1; i < headers.size(); ++i) {
    EXPECT_EQ(headers[i].payload_type, payload_type);
    EXPECT_EQ(headers[i].timestamp - headers[i - 1].timestamp, ticks);
    EXPECT_EQ(static_cast<std::uint16_t>(headers[i].sequence - headers[i - 1].sequence), 1);
    EXPECT_GT(sizes[i], 0u);
    if (codec == MediaCodec::kG722) {
      EXPECT_EQ(sizes[i], G722Rtp::kBytesPer20Ms);
    }
  }
}

TEST(WidebandSession, G722TimestampsAdvance160Per20Ms) {
  expect_wire(MediaCodec::kG722, 9, 160, 17640, 17649);
}

TEST(WidebandSession, OpusTimestampsFollowTheFortyEightKilohertzClock) {
  expect_wire(MediaCodec::kOpus, kOpusPt, 960, 17650, 17659);
}

// Payload types that are not the codec's, and telephone-event clocks that are not a whole number
// of units per 20 ms packet (or beyond opus's 48 kHz), are refused.
TEST(WidebandSession, PayloadTypesAndEventClocksItCannotRunAreRefused) {
  auto e = media_engine(17660, 17669);
  ASSERT_TRUE(e);
  auto g722 = open_wide(*e, MediaCodec::kG722);
  auto opus = open_wide(*e, MediaCodec::kOpus);
  ASSERT_TRUE(g722 && opus);
  EXPECT_FALSE(g722->start("127.0.0.1", 5000, 0, -1).ok());
  EXPECT_FALSE(opus->start("127.0.0.1", 5000, 9, -1).ok());
  EXPECT_FALSE(opus->start("127.0.0.1", 5000, 200, -1).ok());
  EXPECT_FALSE(opus->start("127.0.0.1", 5000, 96, 101, 11025).ok());
  EXPECT_FALSE(opus->start("127.0.0.1", 5000, 96, 101, 96000).ok());
  EXPECT_FALSE(opus->start("127.0.0.1", 5000, 96, 101, 0).ok());
  EXPECT_TRUE(opus->start("127.0.0.1", 5000, 96, 101, 16000).ok());
}

// RFC 4733 digits on a wideband call, with events on `event_rate`'s clock (8000, or 48000 beside
// opus): a press from the phone is one digit, and a press we send leaves as events of the call's
// stream (same SSRC, marker on its first packet, one timestamp for the whole press) whose
// duration field counts 20 ms a packet in the event's clock.
void expect_dtmf_both_ways(MediaCodec codec, int payload_type, int event_rate, int lo, int hi) {
  auto e = media_engine(lo, hi);
  ASSERT_TRUE(e);
  auto s = open_wide(*e, codec);
  ASSERT_TRUE(s);
  RawUdp far;
  ASSERT_TRUE(s->start("127.0.0.1", far.port(), payload_type, 101, event_rate).ok());
  const auto event = [&](std::uint16_t seq, std::uint8_t ev, bool end, std::uint16_t dur,
                         bool marker) {
    const std::vector<std::uint8_t> p{ev, static_cast<std::uint8_t>((end ? 0x80 : 0) | 10),
                                      static_cast<std::uint8_t>(dur >> 8),
                                      static_cast<std::uint8_t>(dur)};
    far.send_to(s->local_port(), testing::rtp(101, seq, 96000, 777, p, marker));
  };
  event(1, 7, false, 160, true);
  event(2, 7, false, 320, false);
  event(3, 7, true, 480, false);
  event(4, 7, true, 480, false);
  EXPECT_EQ(testing::collect_digits(*s, 600ms), "7");

  // The 16-bit duration field holds 8.19 s at 8 kHz but only 1.36 s at 48 kHz.
  if (event_rate == 48000) {
    EXPECT_FALSE(s->send_dtmf('3', 1400).ok());
  }
  ASSERT_TRUE(s->send_dtmf('3', 100).ok());
  std::vector<RtpHeader> events;
  std::vector<int> durations;
  std::uint32_t audio_ssrc = 0;
  bool ended = false;
  const auto until = std::chrono::steady_clock::now() + 2s;
  while (!ended && std::chrono::steady_clock::now() < until) {
    auto d = far.recv_rtp(200ms);
    if (!d) continue;
    RtpPacketView v;
    ASSERT_EQ(parse_rtp(d->bytes, v), RtpError::kOk);
    if (v.header.payload_type == payload_type) {
      audio_ssrc = v.header.ssrc;
      continue;
    }
    ASSERT_EQ(v.header.payload_type, 101);
    ASSERT_EQ(v.payload.size(), 4u);
    EXPECT_EQ(v.payload[0], 3);
    events.push_back(v.header);
    durations.push_back((v.payload[2] << 8) | v.payload[3]);
    ended = (v.payload[1] & 0x80) != 0;
  }
  ASSERT_TRUE(ended) << events.size() << " event packets, no end";
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(events.front().marker);
  EXPECT_EQ(durations.front(), event_rate / 50);  // 20 ms
  EXPECT_EQ(durations.back(), event_rate / 10);   // the whole 100 ms
  for (const auto& h : events) {
    EXPECT_EQ(h.timestamp, events.front().timestamp);
    EXPECT_EQ(h.ssrc, audio_ssrc);
  }
}

TEST(WidebandSession, G722CallsTakeAndSendDtmf) {
  expect_dtmf_both_ways(MediaCodec::kG722, 9, 8000, 17680, 17689);
}

// Phones that offer opus with telephone-event/8000 only.
TEST(WidebandSession, OpusCallsTakeAndSendDtmf) {
  expect_dtmf_both_ways(MediaCodec::kOpus, kOpusPt, 8000, 17690, 17699);
}

// WebRTC gateways offer telephone-event/48000 beside opus: the events count in opus's clock.
TEST(WidebandSession, OpusCallsTakeAndSendDtmfOnTheFortyEightKilohertzClock) {
  expect_dtmf_both_ways(MediaCodec::kOpus, kOpusPt, 48000, 17700, 17709);
}

// 25 packets of 500 Hz, then 25 of 2 kHz of which the first is lost.
struct ToneChange {
  int low = 0, high = 0;  // loud frames of 500 Hz and of 2 kHz that reached the call
  std::uint64_t concealed = 0;
};

ToneChange send_tone_change_losing_one(int expected_loss_pct, int lo, int hi) {
  ToneChange result;
  auto e = media_engine(lo, hi);
  if (!e) return result;
  auto s = open_wide(*e, MediaCodec::kOpus);
  RawUdp far;
  EXPECT_TRUE(s && s->start("127.0.0.1", far.port(), kOpusPt, -1).ok());
  if (!s) return result;
  auto encoder = OpusFrameEncoder::create({.expected_loss_pct = expected_loss_pct});
  EXPECT_TRUE(encoder.ok());
  if (!encoder) return result;
  std::vector<Sample> pcm = tone_16k(500, 0.5);
  const auto after = tone_16k(2000, 0.5);
  pcm.insert(pcm.end(), after.begin(), after.end());
  constexpr std::size_t kLost = 25;
  std::vector<WideFrame> frames;
  std::thread reader([&] { frames = testing::collect_frames<WideFrame>(*s, 1600ms); });
  auto next_send = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i * kWideFrameSamples < pcm.size(); ++i) {
    std::array<std::uint8_t, 400> packet{};
    const auto size =
        encoder->encode(Samples(pcm).subspan(i * kWideFrameSamples, kWideFrameSamples), packet);
    EXPECT_TRUE(size.has_value());
    if (size && i != kLost) {
      far.send_to(s->local_port(),
                  testing::rtp(kOpusPt, static_cast<std::uint16_t>(i),
                               static_cast<std::uint32_t>(i * 960), 0x1234,
                               std::vector<std::uint8_t>(packet.begin(), packet.begin() + *size)));
    }
    next_send += 20ms;
    std::this_thread::sleep_until(next_send);
  }
  reader.join();
  for (const auto& f : frames) {
    if (testing::rms(f) < 1000) continue;
    (power_at(f, 500) > power_at(f, 2000) ? result.low : result.high) += 1;
  }
  result.concealed = s->stats().concealed_frames;
  return result;
}

// Whether the lost frame itself came back as 2 kHz (FEC) rather than 500 Hz (plain
// concealment) is decided by one frame, which a loaded machine's late packets blur (1 run in 2
// here): that is the codec's unit test (wideband_codec_test). This checks the session's part:
// the loss is concealed through the decoder and the stream goes on at the new pitch.
TEST(WidebandSession, ALostOpusPacketIsConcealedAndTheStreamGoesOn) {
  const ToneChange got = send_tone_change_losing_one(20, 17670, 17679);
  EXPECT_GE(got.concealed, 1u);
  EXPECT_GE(got.low, 20);
  EXPECT_GE(got.high, 20);
}

}  // namespace
}  // namespace chalkbot
