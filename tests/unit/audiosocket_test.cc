// Asterisk AudioSocket's message format (checked against the protocol description cited in
// transport/audiosocket_protocol.h) and StreamedAudio, the rings a socket transport feeds a call
// through.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

#include "transport/audiosocket_protocol.h"
#include "transport/streamed_audio.h"

namespace chalkbot {
namespace {

using audiosocket::Kind;

audiosocket::HeaderCheck header(std::uint8_t kind, std::size_t length) {
  const std::array<std::uint8_t, 3> bytes{kind, static_cast<std::uint8_t>(length >> 8),
                                          static_cast<std::uint8_t>(length & 0xff)};
  return audiosocket::read_header(bytes);
}

TEST(AudioSocketProtocol, DocumentedHangupIsThreeZeroBytes) {
  EXPECT_EQ(audiosocket::encode(Kind::kHangup), (std::vector<std::uint8_t>{0x00, 0x00, 0x00}));
  const auto check = header(0x00, 0);
  ASSERT_TRUE(check.header);
  EXPECT_EQ(check.header->kind, Kind::kHangup);
}

TEST(AudioSocketProtocol, LengthIsBigEndian) {
  const auto check = header(0x10, 320);  // 0x01 0x40: 20 ms of audio
  ASSERT_TRUE(check.header) << check.error;
  EXPECT_EQ(check.header->kind, Kind::kAudio);
  EXPECT_EQ(check.header->length, 320u);
  const std::vector<Sample> frame(160, 0);
  const auto message = audiosocket::encode_audio(frame);
  ASSERT_EQ(message.size(), 323u);
  EXPECT_EQ(message[0], 0x10);
  EXPECT_EQ(message[1], 0x01);
  EXPECT_EQ(message[2], 0x40);
}

TEST(AudioSocketProtocol, AudioIsLittleEndianSignedLinear) {
  const std::vector<Sample> pcm{0x1234, -2};
  const auto message = audiosocket::encode_audio(pcm);
  EXPECT_EQ(message, (std::vector<std::uint8_t>{0x10, 0x00, 0x04, 0x34, 0x12, 0xfe, 0xff}));
  std::vector<Sample> decoded;
  audiosocket::decode_audio(std::span(message).subspan(3), decoded);
  EXPECT_EQ(decoded, pcm);
}

TEST(AudioSocketProtocol, RefusesWhatTheKindDoesNotAllow) {
  EXPECT_TRUE(header(0x01, 16).header);
  EXPECT_TRUE(header(0x03, 1).header);
  EXPECT_TRUE(header(0xff, 0).header);  // the error code is optional
  EXPECT_TRUE(header(0xff, 1).header);
  EXPECT_NE(header(0x01, 15).error.find("UUID is 16 bytes"), std::string::npos);
  EXPECT_NE(header(0x03, 2).error.find("1 byte"), std::string::npos);
  EXPECT_NE(header(0x10, 321).error.find("whole 16-bit samples"), std::string::npos);
  EXPECT_FALSE(header(0x10, 0).header);
  EXPECT_NE(header(0x10, 20000).error.find("more than a second"), std::string::npos);
  const auto unknown = header(0x02, 6);
  EXPECT_FALSE(unknown.header);
  EXPECT_NE(unknown.error.find("kind 0x02"), std::string::npos) << unknown.error;
}

TEST(AudioSocketProtocol, UuidIsFormattedAsText) {
  const std::array<std::uint8_t, 16> bytes{0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3,
                                           0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00};
  EXPECT_EQ(audiosocket::format_uuid(bytes), "123e4567-e89b-12d3-a456-426614174000");
}

TEST(AudioSocketProtocol, DtmfKeysAreAPhonesKeys) {
  for (char c : std::string("0123456789*#ABCD")) EXPECT_TRUE(audiosocket::is_dtmf_key(c)) << c;
  for (char c : std::string("xa E\n")) EXPECT_FALSE(audiosocket::is_dtmf_key(c)) << c;
}

std::vector<Sample> ramp(std::size_t n, Sample from = 0) {
  std::vector<Sample> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<Sample>(from + static_cast<Sample>(i));
  return v;
}

TEST(StreamedAudio, CallerAudioInAnyLengthsComesOutAsFrames) {
  StreamedAudio audio;
  const auto pcm = ramp(3 * kFrameSamples + 10);
  const auto at = SteadyClock::now();
  for (std::size_t i = 0; i < pcm.size(); i += 100) {
    audio.push_caller_audio(Samples(pcm).subspan(i, std::min<std::size_t>(100, pcm.size() - i)),
                            at);
  }
  audio.push_dtmf('5');
  ASSERT_FALSE(audio.peek_frame(2).empty());
  EXPECT_TRUE(audio.peek_frame(3).empty());  // the last 10 samples wait for more
  Frame frame;
  SteadyClock::time_point sent_at;
  for (std::size_t k = 0; k < 3; ++k) {
    ASSERT_TRUE(audio.pop_frame(frame, sent_at));
    EXPECT_EQ(frame[0], pcm[k * kFrameSamples]);
    EXPECT_EQ(frame[kFrameSamples - 1], pcm[(k + 1) * kFrameSamples - 1]);
    EXPECT_EQ(sent_at, at);
  }
  EXPECT_FALSE(audio.pop_frame(frame, sent_at));
  EXPECT_EQ(audio.pop_dtmf(), '5');
  EXPECT_EQ(audio.pop_dtmf(), std::nullopt);
}

TEST(StreamedAudio, CallerAudioNotReadIsDroppedAndCounted) {
  StreamedAudio audio;
  const auto frame = ramp(kFrameSamples);
  for (std::size_t i = 0; i < StreamedAudio::kCaptureFrames + 3; ++i) {
    audio.push_caller_audio(frame, SteadyClock::now());
  }
  EXPECT_EQ(audio.caller_frames_dropped(), 3u);
}

TEST(StreamedAudio, BotAudioLeavesOneFrameAtATimeAndCountsTalkSpurts) {
  StreamedAudio audio;
  EXPECT_TRUE(audio.next_frame().empty());
  const auto pcm = ramp(2 * kFrameSamples + 40);
  EXPECT_EQ(audio.enqueue_audio(pcm), pcm.size());
  EXPECT_EQ(audio.queued_ms(), 2 * kFrameMs + 5);
  ASSERT_TRUE(audio.flush_audio());  // the 5 ms tail, padded to a frame
  EXPECT_EQ(audio.queued_ms(), 3 * kFrameMs);
  EXPECT_FALSE(audio.first_audio_packet_sent_at());

  const auto t0 = SteadyClock::now();
  for (std::size_t k = 0; k < 3; ++k) {
    const Samples frame = audio.next_frame();
    ASSERT_EQ(frame.size(), kFrameSamples);
    EXPECT_EQ(frame[0], pcm[k * kFrameSamples]);
    audio.frame_sent(t0 + std::chrono::milliseconds(20 * k));
  }
  EXPECT_EQ((*audio.first_audio_packet_sent_at()), t0);
  EXPECT_EQ(audio.talk_spurts(), 1u);
  EXPECT_EQ(audio.queued_ms(), 0);
  EXPECT_TRUE(audio.next_frame().empty());  // silence ends the spurt
  audio.enqueue_audio(ramp(kFrameSamples));
  ASSERT_FALSE(audio.next_frame().empty());
  audio.frame_sent(t0 + std::chrono::seconds(1));
  EXPECT_EQ(audio.talk_spurts(), 2u);
  EXPECT_EQ(*audio.first_audio_packet_sent_at(), t0 + std::chrono::seconds(1));
}

// The browser phone's calls run at 16 kHz: 320-sample frames both ways, 20 ms each.
TEST(StreamedAudio, AWidebandCallMovesTwentyMillisecondFramesOf16kHz) {
  StreamedAudio audio(kWidebandRate);
  EXPECT_EQ(audio.sample_rate(), kWidebandRate);
  EXPECT_EQ(audio.frame_samples(), kWideFrameSamples);
  const auto in = ramp(kWideFrameSamples + 100);
  audio.push_caller_audio(in, SteadyClock::now());  // one frame and a tail that waits
  WideFrame got{};
  SteadyClock::time_point sent_at;
  EXPECT_EQ(audio.peek_frame().size(), kWideFrameSamples);
  ASSERT_TRUE(audio.pop_frame(got, sent_at));
  EXPECT_TRUE(std::equal(got.begin(), got.end(), in.begin()));
  EXPECT_FALSE(audio.pop_frame(got, sent_at));
  std::array<Sample, kFrameSamples> too_small{};
  audio.push_caller_audio(ramp(kWideFrameSamples), SteadyClock::now());
  EXPECT_FALSE(audio.pop_frame(too_small, sent_at));  // a narrowband buffer cannot take it

  const auto out = ramp(kWideFrameSamples + 160, 7);
  EXPECT_EQ(audio.enqueue_audio(out), out.size());
  EXPECT_EQ(audio.queued_ms(), kFrameMs + 10);  // 160 samples are 10 ms at 16 kHz
  ASSERT_TRUE(audio.flush_audio());
  const Samples first = audio.next_frame();
  ASSERT_EQ(first.size(), kWideFrameSamples);
  EXPECT_TRUE(std::equal(first.begin(), first.end(), out.begin()));
  audio.frame_sent(SteadyClock::now());
  const Samples second = audio.next_frame();
  ASSERT_EQ(second.size(), kWideFrameSamples);
  EXPECT_EQ(second[159], out[kWideFrameSamples + 159]);
  EXPECT_EQ(second[160], 0);  // the flushed tail, padded with silence
}

TEST(StreamedAudio, ClearDropsEverythingQueuedBeforeTheNextFrame) {
  StreamedAudio audio;
  audio.enqueue_audio(ramp(5 * kFrameSamples + 7, 100));
  ASSERT_FALSE(audio.next_frame().empty());
  audio.frame_sent(SteadyClock::now());
  EXPECT_FALSE(audio.take_clear());
  audio.clear_playback();
  EXPECT_EQ(audio.queued_ms(), 0);
  // The transport's tick: the clear first (audio had gone out: the far end drops its copy)...
  EXPECT_TRUE(audio.take_clear());
  EXPECT_FALSE(audio.take_clear());
  audio.enqueue_audio(ramp(kFrameSamples, -500));  // the next answer, queued after the clear
  // ... then the next frame: the new answer's, nothing of the old one.
  const Samples next = audio.next_frame();
  ASSERT_FALSE(next.empty());
  EXPECT_EQ(next[0], -500);
  audio.frame_sent(SteadyClock::now());
  EXPECT_EQ(audio.talk_spurts(), 2u);  // after a barge-in the bot starts a new spurt
  EXPECT_TRUE(audio.next_frame().empty());
  audio.clear_playback();
  EXPECT_TRUE(audio.take_clear());
  audio.clear_playback();  // nothing sent since the last one: nothing to tell
  EXPECT_FALSE(audio.take_clear());
}

TEST(StreamedAudio, CloseIsSeenByTheTransport) {
  StreamedAudio audio;
  EXPECT_FALSE(audio.closed());
  audio.close();
  audio.close();
  EXPECT_TRUE(audio.closed());
  EXPECT_FALSE(audio.inactive());
}

}  // namespace
}  // namespace chalkbot
