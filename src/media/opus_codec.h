#pragma once
// Opus (RFC 6716) in RTP (RFC 7587) for calls: coded at 16 kHz mono internally, 20 ms frames,
// in-band FEC on. Whatever rate is coded, the RTP clock is 48 kHz (SDP always says opus/48000/2):
// timestamps advance 960 per 20 ms. A decoder at 16 kHz mono reads any Opus stream (a 48 kHz
// stereo sender is resampled and mixed down by libopus).
//
// DTX: in silence a sender may stop sending or send packets of 1-2 bytes; those decode to comfort
// noise or silence. A lost packet is rebuilt from the next packet's FEC data when it has arrived
// (conceal() given that packet), else by libopus's packet loss concealment.
//
// One encoder and one decoder per call direction. Not thread-safe. create() allocates;
// encode/decode/conceal do not (fit for the media thread).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "core/audio.h"
#include "core/result.h"

namespace chalkbot {

struct OpusRtp {
  static constexpr int kClockRate = 48000;  // RFC 7587, whatever the coded bandwidth
  static constexpr std::uint32_t kTimestampPer20Ms = 960;
  static constexpr int kPcmRate = 16000;    // what our encoder and decoder run at
  static constexpr std::size_t kSamplesPer20Ms = 320;
  // Longest Opus packet (120 ms) at kPcmRate: what decode() may be asked to hold.
  static constexpr std::size_t kMaxPacketSamples = 1920;
  // A 20 ms packet of at most this many bytes carries no audio (DTX): it need not be sent.
  static constexpr std::size_t kDtxMaxBytes = 2;
};

struct OpusEncoderSettings {
  int bitrate = 24000;         // bit/s; SILK wideband speech is good from ~16 kbit/s
  int expected_loss_pct = 10;  // how much FEC the encoder spends (0 turns FEC off in libopus)
  bool dtx = false;            // send (almost) nothing in silence
  int complexity = 5;          // 0..10: CPU per frame (bench/component_bench measures 5 vs 10)
};

class OpusFrameEncoder {
 public:
  static Result<OpusFrameEncoder> create(const OpusEncoderSettings& settings = {});
  // Exactly 20 ms of 16 kHz PCM (OpusRtp::kSamplesPer20Ms samples) in; the packet's length out,
  // nullopt when the input is not one frame or libopus fails. With DTX a silent frame gives a
  // packet of <= kDtxMaxBytes.
  std::optional<std::size_t> encode(Samples pcm_16k, std::span<std::uint8_t> out);

 private:
  struct State;
  struct Free {
    void operator()(State* state) const;
  };
  explicit OpusFrameEncoder(State* state) : state_(state) {}
  std::unique_ptr<State, Free> state_;
};

class OpusFrameDecoder {
 public:
  static Result<OpusFrameDecoder> create();
  // One received packet; returns the 16 kHz samples written (320 for a 20 ms packet), nullopt
  // when the payload is not valid Opus or holds more than out.size() samples. An empty payload
  // is treated as a lost packet (concealed, 20 ms).
  std::optional<std::size_t> decode(std::span<const std::uint8_t> payload, std::span<Sample> out);
  // A lost 20 ms packet: rebuilt from `next`'s in-band FEC when given (the packet after the lost
  // one), else by concealment. Writes OpusRtp::kSamplesPer20Ms samples (out must hold them);
  // nullopt when `next` is not valid Opus or out is too short.
  std::optional<std::size_t> conceal(std::span<const std::uint8_t> next, std::span<Sample> out);

 private:
  struct State;
  struct Free {
    void operator()(State* state) const;
  };
  explicit OpusFrameDecoder(State* state) : state_(state) {}
  std::unique_ptr<State, Free> state_;
};

// Encodes then decodes 16 kHz audio in 20 ms packets (a last partial frame padded with silence):
// what it sounds like after crossing an Opus call. Every `lose_every`-th packet (0: none) is lost
// and rebuilt from the next one's FEC.
Result<Audio> through_opus(const Audio& audio_16k, const OpusEncoderSettings& settings = {},
                           int lose_every = 0);

}  // namespace chalkbot
