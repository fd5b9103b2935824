#pragma once
// A call's sound carried over a socket (Asterisk AudioSocket, Twilio Media Streams): the call
// engine sees a CallAudio like any RTP call; the transport's one network thread fills the caller
// side as bytes arrive and, on its 20 ms tick, takes the next frame to send.
//
// Rate: 8 kHz (AudioSocket, Twilio) or 16 kHz (the browser phone), fixed when made; frames in
// and out are 20 ms at that rate. A slot holds a 16 kHz frame either way (an 8 kHz call uses
// half of each).
//
// Threads: the call side is CallAudio's (one consumer, one producer: the call's thread); the
// network side (push_*, next_frame, frame_sent, take_clear, end_of_input) is the transport's
// network thread only. Nothing here blocks, locks or allocates after construction.
#include <atomic>
#include <cstdint>
#include <optional>

#include "media/call_audio.h"
#include "media/spsc_ring.h"

namespace chalkbot {

class StreamedAudio final : public CallAudio {
 public:
  // As a MediaSession's: 2.56 s of bot speech queued, 1.28 s of caller audio not yet read.
  static constexpr std::size_t kPlaybackFrames = 128;
  static constexpr std::size_t kCaptureFrames = 64;
  static constexpr std::size_t kDtmfDigits = 32;

  // sample_rate: kTelephoneRate or kWidebandRate.
  explicit StreamedAudio(int sample_rate = kTelephoneRate);

  // --- CallAudio (the call's thread) ---
  int sample_rate() const override { return sample_rate_; }
  bool pop_frame(std::span<Sample> out, SteadyClock::time_point& sent_at) override;
  Samples peek_frame(std::size_t i = 0) override;
  std::optional<char> pop_dtmf() override;
  std::size_t enqueue_audio(Samples pcm) override;
  bool flush_audio() override;
  void clear_playback() override;
  int queued_ms() const override;
  std::uint64_t talk_spurts() const override { return talk_spurts_.load(std::memory_order_acquire); }
  std::optional<SteadyClock::time_point> first_audio_packet_sent_at() const override;
  // A socket says when the far end is gone: it ends the call itself (never "inactive").
  bool inactive() const override { return false; }
  bool on_hold() const override { return false; }
  // The call is over on this side: the transport says goodbye and closes the socket.
  void close() override { closed_.store(true, std::memory_order_release); }
  bool closed() const { return closed_.load(std::memory_order_acquire); }

  // --- network side (the transport's thread) ---
  // Caller audio as it arrives, in any lengths: cut into 20 ms frames. Frames the call has not
  // read leave no room: beyond kCaptureFrames waiting, new ones are dropped (counted).
  void push_caller_audio(Samples pcm, SteadyClock::time_point arrived);
  void push_dtmf(char digit);
  // The frame to send on this tick (empty: nothing to say); a barge-in's clear is applied
  // first. Pass it to the socket, then call frame_sent(now). Valid until frame_sent().
  Samples next_frame();
  void frame_sent(SteadyClock::time_point now);
  // True once per clear_playback() that dropped audio still queued or playing: a transport whose
  // far end buffers (Twilio) tells it to drop what it holds.
  bool take_clear();
  std::uint64_t caller_frames_dropped() const {
    return capture_dropped_.load(std::memory_order_relaxed);
  }

 private:
  const int sample_rate_;
  const std::size_t frame_samples_;  // 160 or 320
  struct CapturedFrame {
    WideFrame pcm;
    std::int64_t arrival_ns;
  };
  SpscRing<CapturedFrame> capture_{kCaptureFrames};
  SpscRing<char> dtmf_{kDtmfDigits};
  SpscRing<WideFrame> playback_{kPlaybackFrames};
  std::atomic<std::uint64_t> clear_until_{0};  // playback_ write index at the last clear
  std::atomic<std::uint64_t> clears_{0};       // clear_playback() calls
  std::atomic<bool> closed_{false};

  // Call side only (its length readable by queued_ms()).
  WideFrame partial_out_{};
  std::atomic<std::size_t> partial_out_len_{0};

  // Network side only.
  WideFrame partial_in_{};
  std::size_t partial_in_len_ = 0;
  std::uint64_t cleared_ = 0;       // clear_until_ applied
  std::uint64_t clears_seen_ = 0;   // clears_ answered by take_clear()
  bool in_spurt_ = false;
  bool sent_since_clear_ = false;   // a clear after this must reach the far end's buffer
  std::atomic<std::uint64_t> talk_spurts_{0};
  std::atomic<std::int64_t> spurt_start_ns_{0};
  std::atomic<std::uint64_t> capture_dropped_{0};
};

}  // namespace chalkbot
