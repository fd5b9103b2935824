#pragma once
// G.722 (RTP payload type 9) at 64 kbit/s: 16 kHz audio, one byte per two samples, so a 20 ms
// packet is 160 bytes for 320 samples. Its SDP clock rate is 8000 (an RFC 3551 error kept for
// compatibility): RTP timestamps advance 160 per 20 ms although it samples at 16 kHz.
//
// One encoder and one decoder per call direction: each keeps the ADPCM state of its stream. Not
// thread-safe. create() allocates; encode/decode do not (fit for the media thread).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "core/audio.h"
#include "core/result.h"

namespace chalkbot {


struct G722Rtp {
  static constexpr int kPayloadType = 9;
  static constexpr int kClockRate = 8000;                 // what SDP and RTP timestamps say
  static constexpr std::uint32_t kTimestampPer20Ms = 160;  // not 320
  static constexpr std::size_t kBytesPer20Ms = 160;
};

class G722Encoder {
 public:
  static Result<G722Encoder> create();
  // 16 kHz PCM in; returns the bytes written, at most out.size(): pcm.size() / 2 when out is
  // long enough (an odd last sample is left out: give frames of an even length).
  std::size_t encode(Samples pcm_16k, std::span<std::uint8_t> out);

 private:
  struct State;
  struct Free {
    void operator()(State* state) const;
  };
  explicit G722Encoder(State* state) : state_(state) {}
  std::unique_ptr<State, Free> state_;
};

class G722Decoder {
 public:
  static Result<G722Decoder> create();
  // Every byte string is valid G.722; returns the 16 kHz samples written: 2 per byte, at most
  // out.size() (a longer payload is cut there).
  std::size_t decode(std::span<const std::uint8_t> bytes, std::span<Sample> out);

 private:
  struct State;
  struct Free {
    void operator()(State* state) const;
  };
  explicit G722Decoder(State* state) : state_(state) {}
  std::unique_ptr<State, Free> state_;
};

// Encodes then decodes 16 kHz audio: what it sounds like after crossing a G.722 call.
Result<Audio> through_g722(const Audio& audio_16k);

}  // namespace chalkbot
