// SRTP on real media sessions over loopback: audio gets through only under the right key, what
// goes on the wire is not the plain G.711, and junk on an SRTP port is dropped and counted.
#include <gtest/gtest.h>

#include <random>

#include "media/g711.h"
#include "media/srtp_stream.h"
#include "media_test_util.h"

namespace chalkbot {
namespace {

using namespace std::chrono_literals;
using testing::media_engine;
using testing::RawUdp;

constexpr char kSuite[] = "AES_CM_128_HMAC_SHA1_80";

std::array<std::uint8_t, 30> key_of(std::uint8_t seed) {
  std::array<std::uint8_t, 30> key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(seed + i * 7);
  return key;
}

std::shared_ptr<MediaSession> open_srtp_test_session(MediaEngine& e) {
  auto s = e.open_session("127.0.0.1");
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? s.value() : nullptr;
}

// Frames louder than silence that `s` decodes within `how_long`.
int loud_frames(MediaSession& s, std::chrono::milliseconds how_long) {
  int loud = 0;
  const auto end = std::chrono::steady_clock::now() + how_long;
  while (std::chrono::steady_clock::now() < end) {
    if (!s.wait_for_input(50ms)) continue;
    Frame f;
    while (s.pop_frame(f)) loud += testing::rms(f) > 1000 ? 1 : 0;
  }
  return loud;
}

TEST(SrtpSession, AudioGetsThroughUnderTheRightKeysOnly) {
  auto e = media_engine(17400, 17499);
  auto a = open_srtp_test_session(*e);
  auto b = open_srtp_test_session(*e);
  auto c = open_srtp_test_session(*e);
  ASSERT_TRUE(a && b && c);
  // a sends with key 1 and takes key 2; b the other way round; c expects a's stream under key 3.
  ASSERT_TRUE(a->use_srtp(kSuite, key_of(1), key_of(2)).ok());
  ASSERT_TRUE(b->use_srtp(kSuite, key_of(2), key_of(1)).ok());
  ASSERT_TRUE(c->use_srtp(kSuite, key_of(4), key_of(3)).ok());
  ASSERT_TRUE(a->start("127.0.0.1", b->local_port(), 0, -1).ok());
  ASSERT_TRUE(b->start("127.0.0.1", a->local_port(), 0, -1).ok());
  ASSERT_TRUE(c->start("127.0.0.1", a->local_port(), 0, -1).ok());
  EXPECT_FALSE(a->use_srtp(kSuite, key_of(1), key_of(2)).ok()) << "keys are fixed once started";

  // The same tone to b (right key) and, from a second sender with a's keys, to c (wrong key).
  auto d = open_srtp_test_session(*e);
  ASSERT_TRUE(d);
  ASSERT_TRUE(d->use_srtp(kSuite, key_of(1), key_of(2)).ok());
  ASSERT_TRUE(d->start("127.0.0.1", c->local_port(), 0, -1).ok());
  const auto pcm = testing::tone(440, 1.0);
  a->enqueue_audio(pcm);
  d->enqueue_audio(pcm);
  a->flush_audio();
  d->flush_audio();
  EXPECT_GE(loud_frames(*b, 1500ms), 45);
  EXPECT_EQ(loud_frames(*c, 200ms), 0) << "audio under a key c does not hold";
  EXPECT_GT(b->stats().packets_in, 45u);
  EXPECT_EQ(b->stats().srtp_rejected_in, 0u);
  EXPECT_EQ(c->stats().packets_in, 0u) << "not one packet got past authentication";
  EXPECT_GT(c->stats().srtp_rejected_in, 45u);
}

TEST(SrtpSession, TheWireCarriesNoPlainG711AndJunkIsDropped) {
  auto e = media_engine(17500, 17599);
  auto s = open_srtp_test_session(*e);
  ASSERT_TRUE(s);
  RawUdp far;
  ASSERT_TRUE(s->use_srtp(kSuite, key_of(9), key_of(10)).ok());
  ASSERT_TRUE(s->start("127.0.0.1", far.port(), 0, -1).ok());
  const auto pcm = testing::tone(440, 0.6);
  s->enqueue_audio(pcm);
  s->flush_audio();
  // The plain G.711 of the tone, to look for in what was sent.
  const auto plain = g711_encode(G711Law::kMuLaw, pcm);
  int packets = 0, plain_payloads = 0;
  auto receiver = SrtpStream::create(kSuite, key_of(9), SrtpStream::Direction::kReceive);
  ASSERT_TRUE(receiver.ok());
  int decrypted_tone = 0;
  const auto end = std::chrono::steady_clock::now() + 800ms;
  while (std::chrono::steady_clock::now() < end) {
    auto d = far.recv(100ms);
    if (!d) continue;
    ++packets;
    EXPECT_EQ(d->bytes.size(), 12u + 160u + 10u) << "RTP header, 20 ms of G.711, 80-bit tag";
    std::vector<std::uint8_t> payload(d->bytes.begin() + 12, d->bytes.begin() + 172);
    for (std::size_t at = 0; at + 160 <= plain.size(); at += 160) {
      if (std::equal(payload.begin(), payload.end(), plain.begin() + static_cast<long>(at))) {
        ++plain_payloads;
      }
    }
    // Under the sender's key it is the tone (or silence) again.
    std::vector<std::uint8_t> packet = d->bytes;
    packet.resize(packet.size() + SrtpStream::kMaxTrailer);
    std::size_t size = d->bytes.size();
    ASSERT_TRUE((*receiver)->unprotect_rtp(packet.data(), size));
    EXPECT_EQ(size, 172u);
    std::vector<std::uint8_t> clear(packet.begin() + 12, packet.begin() + 172);
    for (std::size_t at = 0; at + 160 <= plain.size(); at += 160) {
      if (std::equal(clear.begin(), clear.end(), plain.begin() + static_cast<long>(at))) {
        ++decrypted_tone;
        break;
      }
    }
  }
  EXPECT_GT(packets, 30);
  EXPECT_EQ(plain_payloads, 0) << "a plain G.711 frame of the tone went out";
  EXPECT_GE(decrypted_tone, 25) << "the key in the answer does not decrypt the stream";

  // Junk on the SRTP port: random datagrams, truncated ones, an unprotected RTP packet.
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::vector<std::uint8_t> junk(rng() % 300);
    for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
    if (!junk.empty()) junk[0] = 0x80;  // looks like RTP version 2
    far.send_to(s->local_port(), junk);
    far.send_to(s->local_rtcp_port(), junk);
    if (i % 10 == 9) std::this_thread::sleep_for(2ms);  // within the sockets' buffers
  }
  far.send_to(s->local_port(), testing::rtp(0, 1, 160, 1234, std::vector<std::uint8_t>(160, 0x10)));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(s->stats().packets_in, 0u);
  EXPECT_GE(s->stats().srtp_rejected_in, 540u) << "of 601 (loopback may lose a few)";
  Frame f;
  int frames = 0;
  while (s->pop_frame(f)) ++frames;
  EXPECT_EQ(frames, 0);
}

TEST(SrtpStream, BadKeysAndSuitesAreErrors) {
  EXPECT_FALSE(SrtpStream::create("AES_CM_256_HMAC_SHA1_80", key_of(1),
                                  SrtpStream::Direction::kSend).ok());
  const std::array<std::uint8_t, 16> short_key{};
  EXPECT_FALSE(SrtpStream::create(kSuite, short_key, SrtpStream::Direction::kSend).ok());
  EXPECT_TRUE(SrtpStream::create("AES_CM_128_HMAC_SHA1_32", key_of(1),
                                 SrtpStream::Direction::kSend).ok());
}

}  // namespace
}  // namespace chalkbot
