// G.722 and Opus as units: real human speech through each, packet sizes and timestamps, Opus FEC
// and DTX, and payloads that are not Opus.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "media/g711.h"
#include "media/g722.h"
#include "media/opus_codec.h"
#include "media/resampler.h"
#include "media/wav.h"
#include "support/test_support.h"

namespace chalkbot::wideband_codec_test {

// A human recording at 16 kHz (pocketsphinx-testdata's LibriVox reading, about 5 s).
Audio human_speech_16k() {
  auto audio = read_wav(testing::speech_data_dir() +
                            "/librivox/sense_and_sensibility_01_austen_64kb-0870.wav",
                        kWidebandRate);
  EXPECT_TRUE(audio.ok()) << audio.error().message;
  return audio.ok() ? *audio : Audio{kWidebandRate, {}};
}

Audio tone_16k(double hz, double seconds, double amplitude = 8000) {
  Audio a{kWidebandRate, {}};
  const auto n = static_cast<std::size_t>(kWidebandRate * seconds);
  for (std::size_t i = 0; i < n; ++i) {
    a.samples.push_back(static_cast<Sample>(
        amplitude * std::sin(2 * std::numbers::pi * hz * static_cast<double>(i) / kWidebandRate)));
  }
  return a;
}

double rms_of_samples(Samples s) {
  double sum = 0;
  for (const Sample v : s) sum += static_cast<double>(v) * v;
  return s.empty() ? 0 : std::sqrt(sum / static_cast<double>(s.size()));
}

// How alike `out` is to `ref` once the codec's delay is taken out: the best normalised
// correlation over delays of 0..max_lag samples, and that delay.
struct Match {
  double correlation = 0;
  std::size_t lag = 0;
  double snr_db = 0;  // of out against ref at that delay
};
Match best_match(Samples ref, Samples out, std::size_t max_lag) {
  Match best;
  for (std::size_t lag = 0; lag <= max_lag && lag < out.size(); ++lag) {
    const std::size_t n = std::min(ref.size(), out.size() - lag);
    double rr = 0, oo = 0, ro = 0, err = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double r = ref[i], o = out[i + lag];
      rr += r * r;
      oo += o * o;
      ro += r * o;
      err += (r - o) * (r - o);
    }
    const double c = rr > 0 && oo > 0 ? ro / std::sqrt(rr * oo) : 0;
    if (c > best.correlation) best = {c, lag, 10 * std::log10(rr / std::max(err, 1.0))};
  }
  return best;
}

TEST(G722Codec, HumanSpeechSurvivesTheRoundTrip) {
  const Audio speech = human_speech_16k();
  ASSERT_GT(speech.seconds(), 2.0);
  auto out = through_g722(speech);
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->samples.size(), speech.samples.size());
  const Match m = best_match(speech.samples, out->samples, 64);
  // G.722 is a waveform coder: the decoded speech follows the original sample by sample.
  EXPECT_GT(m.correlation, 0.99) << "lag " << m.lag;
  EXPECT_GT(m.snr_db, 24.0) << "lag " << m.lag;
  EXPECT_LT(m.lag, 40U);
}

TEST(G722Codec, KeepsWhatNarrowbandLoses) {
  // 6 kHz is above the 4 kHz that 8 kHz G.711 can carry at all; G.722 carries it.
  const Audio high = tone_16k(6000, 0.5);
  auto out = through_g722(high);
  ASSERT_TRUE(out.ok()) << out.error().message;
  const Samples settled = Samples(out->samples).subspan(800);
  EXPECT_NEAR(rms_of_samples(settled), rms_of_samples(high.samples),
              0.25 * rms_of_samples(high.samples));
  auto narrow = resample(high, kTelephoneRate);
  ASSERT_TRUE(narrow.ok());
  EXPECT_LT(rms_of_samples(narrow->samples), 0.1 * rms_of_samples(high.samples));
}

TEST(G722Codec, TwentyMillisecondsIs160BytesAnd160TimestampTicks) {
  auto encoder = G722Encoder::create();
  auto decoder = G722Decoder::create();
  ASSERT_TRUE(encoder.ok() && decoder.ok());
  const Audio speech = human_speech_16k();
  std::array<std::uint8_t, 400> packet{};
  std::array<Sample, 640> pcm{};
  for (std::size_t at = 0; at + 320 <= speech.samples.size() && at < 16000; at += 320) {
    const std::size_t bytes = encoder->encode(Samples(speech.samples).subspan(at, 320), packet);
    ASSERT_EQ(bytes, G722Rtp::kBytesPer20Ms);
    EXPECT_EQ(decoder->decode(std::span(packet).first(bytes), pcm), 320U);
  }
  // The RFC 3551 clock: 8000 in SDP, 160 timestamp ticks for 320 samples.
  EXPECT_EQ(G722Rtp::kClockRate * 20 / 1000, static_cast<int>(G722Rtp::kTimestampPer20Ms));
  // Output too short: cut, never written past.
  std::array<Sample, 10> small{};
  EXPECT_EQ(decoder->decode(std::span(packet).first(160), small), 10U);
  EXPECT_EQ(encoder->encode(Samples(speech.samples).first(320), std::span(packet).first(7)), 7U);
  // An odd count: the last sample is left out, not read past.
  EXPECT_EQ(encoder->encode(Samples(speech.samples).first(321), packet), 160U);
  auto odd = through_g722(Audio{kWidebandRate, std::vector<Sample>(321, 1000)});
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->samples.size(), 321U);
}

TEST(OpusCodec, HumanSpeechSurvivesTheRoundTrip) {
  const Audio speech = human_speech_16k();
  ASSERT_GT(speech.seconds(), 2.0);
  auto out = through_opus(speech);
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->samples.size(), speech.samples.size());
  // Opus codes what is heard, not the waveform: looser than G.722, still far from noise.
  const Match m = best_match(speech.samples, out->samples, 320);
  EXPECT_GT(m.correlation, 0.75) << "lag " << m.lag;
  EXPECT_LT(m.lag, 320U);
  EXPECT_NEAR(rms_of_samples(out->samples), rms_of_samples(speech.samples),
              0.3 * rms_of_samples(speech.samples));
}

TEST(OpusCodec, PacketsAreSmallAndEachDecodesToTwentyMilliseconds) {
  auto encoder = OpusFrameEncoder::create();
  auto decoder = OpusFrameDecoder::create();
  ASSERT_TRUE(encoder.ok() && decoder.ok());
  const Audio speech = human_speech_16k();
  std::array<std::uint8_t, 1500> packet{};
  std::array<Sample, OpusRtp::kMaxPacketSamples> pcm{};
  std::size_t total_bytes = 0, packets = 0;
  for (std::size_t at = 0; at + 320 <= speech.samples.size(); at += 320) {
    const auto bytes = encoder->encode(Samples(speech.samples).subspan(at, 320), packet);
    ASSERT_TRUE(bytes.has_value());
    ASSERT_GT(*bytes, OpusRtp::kDtxMaxBytes);  // DTX is off by default
    ASSERT_LT(*bytes, 200U);
    total_bytes += *bytes;
    ++packets;
    EXPECT_EQ(decoder->decode(std::span(packet).first(*bytes), pcm), 320U);
  }
  // 24 kbit/s is 60 bytes per 20 ms on average.
  EXPECT_NEAR(static_cast<double>(total_bytes) / static_cast<double>(packets), 60.0, 20.0);
  // RFC 7587: a 48 kHz clock whatever the coded rate.
  EXPECT_EQ(OpusRtp::kClockRate * 20 / 1000, static_cast<int>(OpusRtp::kTimestampPer20Ms));
  // Not one 20 ms frame in: refused.
  EXPECT_FALSE(encoder->encode(Samples(speech.samples).first(160), packet).has_value());
}

TEST(OpusCodec, FecRebuildsALostPacketBetterThanConcealment) {
  const Audio speech = human_speech_16k();
  auto encoder = OpusFrameEncoder::create();
  ASSERT_TRUE(encoder.ok());
  std::vector<std::vector<std::uint8_t>> packets;
  for (std::size_t at = 0; at + 320 <= speech.samples.size(); at += 320) {
    std::vector<std::uint8_t> packet(1500);
    const auto bytes = encoder->encode(Samples(speech.samples).subspan(at, 320), packet);
    ASSERT_TRUE(bytes.has_value());
    packet.resize(*bytes);
    packets.push_back(std::move(packet));
  }
  // Lose every 5th packet; rebuild it from the next one's FEC, or conceal it blind.
  const auto decode_all = [&](bool use_fec) {
    auto decoder = OpusFrameDecoder::create();
    std::vector<Sample> out;
    std::array<Sample, OpusRtp::kMaxPacketSamples> pcm{};
    for (std::size_t i = 0; i < packets.size(); ++i) {
      const bool lost = i % 5 == 4 && i + 1 < packets.size();
      std::optional<std::size_t> n;
      if (lost) {
        n = decoder->conceal(use_fec ? std::span<const std::uint8_t>(packets[i + 1])
                                     : std::span<const std::uint8_t>(),
                             pcm);
      } else {
        n = decoder->decode(packets[i], pcm);
      }
      EXPECT_EQ(n, 320U);
      out.insert(out.end(), pcm.begin(), pcm.begin() + 320);
    }
    return out;
  };
  const auto with_fec = decode_all(true);
  const auto blind = decode_all(false);
  const Match fec_match = best_match(speech.samples, with_fec, 320);
  const Match blind_match = best_match(speech.samples, blind, 320);
  EXPECT_GT(fec_match.correlation, blind_match.correlation + 0.04)
      << "fec " << fec_match.correlation << " concealment " << blind_match.correlation;
  EXPECT_GT(fec_match.correlation, 0.75);
}

TEST(OpusCodec, DtxSilenceIsTinyPacketsThatDecodeToSilence) {
  OpusEncoderSettings settings;
  settings.dtx = true;
  auto encoder = OpusFrameEncoder::create(settings);
  auto decoder = OpusFrameDecoder::create();
  ASSERT_TRUE(encoder.ok() && decoder.ok());
  // Speech, then two seconds of digital silence.
  Audio input = human_speech_16k();
  input.samples.resize(input.samples.size() - input.samples.size() % 320);
  const std::size_t speech_end = input.samples.size();
  input.samples.resize(speech_end + 2 * kWidebandRate, 0);
  std::array<std::uint8_t, 1500> packet{};
  std::array<Sample, OpusRtp::kMaxPacketSamples> pcm{};
  int tiny = 0, silent_frames = 0;
  int loudest_in_silence = 0;
  for (std::size_t at = 0; at + 320 <= input.samples.size(); at += 320) {
    const auto bytes = encoder->encode(Samples(input.samples).subspan(at, 320), packet);
    ASSERT_TRUE(bytes.has_value());
    const auto n = decoder->decode(std::span(packet).first(*bytes), pcm);
    ASSERT_EQ(n, 320U);
    if (at >= speech_end + 8000) {  // past the encoder's hangover
      ++silent_frames;
      if (*bytes <= OpusRtp::kDtxMaxBytes) ++tiny;
      for (std::size_t i = 0; i < 320; ++i) {
        loudest_in_silence = std::max(loudest_in_silence, std::abs(int{pcm[i]}));
      }
    }
  }
  EXPECT_GT(tiny, silent_frames * 3 / 4) << tiny << " of " << silent_frames;
  EXPECT_LT(loudest_in_silence, 200);  // silence or faint comfort noise, not garbage
  // A sender that simply stops: empty payloads are concealed, fading to silence.
  for (int i = 0; i < 10; ++i) ASSERT_EQ(decoder->decode({}, pcm), 320U);
  EXPECT_LT(rms_of_samples(std::span(pcm).first(320)), 50.0);
}

TEST(OpusCodec, MalformedPayloadsAreRefusedNotCrashed) {
  auto decoder = OpusFrameDecoder::create();
  ASSERT_TRUE(decoder.ok());
  std::array<Sample, OpusRtp::kMaxPacketSamples> pcm{};
  // Code 3 (arbitrary frame count) with a count of 0 frames: invalid (RFC 6716 3.2.5).
  const std::array<std::uint8_t, 2> zero_frames{0x03, 0x00};
  EXPECT_FALSE(decoder->decode(zero_frames, pcm).has_value());
  // Code 3 whose frames would last longer than 120 ms: invalid.
  const std::array<std::uint8_t, 2> too_long{0x03 | (3 << 3), 0x3F};
  EXPECT_FALSE(decoder->decode(too_long, pcm).has_value());
  // Code 2 (two frames, first one's length given) with a length beyond the packet.
  const std::array<std::uint8_t, 3> short_body{0x02, 0xFB, 0x01};
  EXPECT_FALSE(decoder->decode(short_body, pcm).has_value());
  // A valid 60 ms packet into room for 20 ms: refused, nothing written past the end.
  const std::array<std::uint8_t, 3> sixty_ms{3 << 3, 0, 0};  // SILK 60 ms, one frame
  std::array<Sample, 320> frame{};
  EXPECT_FALSE(decoder->decode(sixty_ms, frame).has_value());
  // The FEC path checks its packet too.
  EXPECT_FALSE(decoder->conceal(zero_frames, pcm).has_value());
  // Random bytes: each one refused or decoded within bounds, and the decoder still works after.
  std::mt19937 random(7);
  std::array<std::uint8_t, 300> junk{};
  for (int round = 0; round < 2000; ++round) {
    const std::size_t length = 1 + random() % junk.size();
    for (std::size_t i = 0; i < length; ++i) junk[i] = static_cast<std::uint8_t>(random());
    const auto n = decoder->decode(std::span(junk).first(length), pcm);
    if (n) {
      EXPECT_LE(*n, pcm.size());
    }
  }
  auto encoder = OpusFrameEncoder::create();
  ASSERT_TRUE(encoder.ok());
  const Audio speech = human_speech_16k();
  std::array<std::uint8_t, 1500> packet{};
  const auto bytes = encoder->encode(Samples(speech.samples).subspan(16000, 320), packet);
  ASSERT_TRUE(bytes.has_value());
  EXPECT_EQ(decoder->decode(std::span(packet).first(*bytes), pcm), 320U);
}

TEST(OpusCodec, RefusesAudioAtTheWrongRate) {
  const Audio narrow{kTelephoneRate, std::vector<Sample>(1600, 0)};
  EXPECT_FALSE(through_opus(narrow).ok());
  EXPECT_FALSE(through_g722(narrow).ok());
  OpusEncoderSettings bad;
  bad.bitrate = -5;
  EXPECT_FALSE(OpusFrameEncoder::create(bad).ok());
}

}  // namespace chalkbot::wideband_codec_test
