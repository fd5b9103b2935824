#pragma once
// The sound of one call as the call engine (agent/CallAgent) sees it, whatever carries it: RTP
// (MediaSession), or a socket transport (transport/StreamedAudio: Asterisk AudioSocket, Twilio
// Media Streams). A carrier is an adapter behind this interface, never a second call loop.
//
// Threads: input (pop_frame, peek_frame, pop_dtmf) has ONE consumer and output (enqueue_audio,
// flush_audio, clear_playback) ONE producer: the call's thread. Every call returns at once; the
// carrier's own thread paces what is queued out in real time, 20 ms frames.
//
// Sample rate: one per call, fixed when the carrier is made: 8 kHz (G.711, the socket
// transports) or 16 kHz (wideband RTP: G.722, Opus). Frames in and audio out are at that rate.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "core/audio.h"
#include "core/clock.h"

namespace chalkbot {

inline constexpr std::size_t kFrameSamples = samples_per_ms(kTelephoneRate, kFrameMs);  // 160
inline constexpr std::size_t kWideFrameSamples = samples_per_ms(kWidebandRate, kFrameMs);  // 320
using Frame = std::array<Sample, kFrameSamples>;  // 20 ms of 8 kHz mono PCM
using WideFrame = std::array<Sample, kWideFrameSamples>;  // 20 ms of 16 kHz: holds any call's

class CallAudio {
 public:
  virtual ~CallAudio() = default;

  // --- any thread ---
  virtual int sample_rate() const { return kTelephoneRate; }
  std::size_t frame_samples() const { return samples_per_ms(sample_rate(), kFrameMs); }

  // --- input: the call's thread ---
  // The caller's next 20 ms into out's first frame_samples() (out must hold them), with when
  // the caller sent it as far as this side can tell.
  virtual bool pop_frame(std::span<Sample> out, SteadyClock::time_point& sent_at) = 0;
  // The frame pop_frame() would return after `i` more (0: the next), left in place; empty
  // when there is none. Valid until the next pop_frame().
  virtual Samples peek_frame(std::size_t i = 0) = 0;
  virtual std::optional<char> pop_dtmf() = 0;

  // --- output: the call's thread ---
  // Queues PCM at sample_rate() as 20 ms frames; a tail shorter than a frame waits for more or for
  // flush_audio(). Returns the samples accepted: fewer than given when the queue is full.
  virtual std::size_t enqueue_audio(Samples pcm) = 0;
  // Pads the pending partial frame with silence and queues it; false when the queue is full.
  virtual bool flush_audio() = 0;
  // Barge-in: everything queued so far is dropped before the next frame goes out.
  virtual void clear_playback() = 0;

  // --- observers: any thread ---
  virtual int queued_ms() const = 0;
  // Talk spurts started (audio sent after silence or a clear), and when the latest one's first
  // frame left: how the call stamps when its answer reached the caller.
  virtual std::uint64_t talk_spurts() const = 0;
  virtual std::optional<SteadyClock::time_point> first_audio_packet_sent_at() const = 0;
  // Nothing came from the far end for too long (the carrier's own timeout).
  virtual bool inactive() const = 0;
  // The far end holds the call: no audio is expected, silence is not counted.
  virtual bool on_hold() const = 0;

  // --- control: any thread ---
  // Idempotent: the carrier stops and lets the far end go (RTP ports freed, a socket closed).
  virtual void close() = 0;
};

}  // namespace chalkbot
