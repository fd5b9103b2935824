#pragma once
// Adaptive jitter buffer for 20 ms frames of any codec. Keyed by RTP timestamp (one frame = 160
// ticks of an 8 kHz clock, G.711 and G.722; 960 of Opus's 48 kHz clock), so DTMF packets sharing
// the sequence space and silence-suppression gaps keep their timing.
// Payload-agnostic: it stores and returns encoded payloads; the session decodes.
//
// Playout delay: starts at the target and moves between min and max. The target follows the
// RFC 3550 §6.4.1 interarrival jitter J as kFrameMs + 3 J (rounded up to whole frames); when the
// buffered depth stays above it a frame is dropped, below it a frame is repeated.
//
// Not thread-safe: one owner (the media thread). Fixed storage, no allocation after construction.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace chalkbot {

// A stream's RTP clock and the longest payload kept (longer ones are cut: for G.711 one frame;
// for Opus a cut packet fails to decode and is concealed).
struct JitterClock {
  std::uint32_t frame_ticks = 160;  // RTP timestamp units per 20 ms
  int ticks_per_ms = 8;
  std::size_t max_payload = 160;
};

class JitterBuffer {
 public:
  static constexpr std::size_t kSlots = 64;  // 1.28 s of frames: far above any sane max delay
  using Clock = JitterClock;
  static constexpr int kMaxConcealFrames = 5;  // then the stream is idle and re-buffers

  enum class Insert { kStored, kDuplicate, kLate, kReset };
  enum class Kind {
    kNone,            // nothing to play (idle or still buffering)
    kFrame,           // a received frame
    kConcealRepeat,   // frame lost or stretched: payload is the previous frame again
    kConcealSilence,  // several frames lost in a row: play silence
    kTakenEarly,      // this tick's frame was already handed over by take_arrived()
  };
  struct Out {
    Kind kind = Kind::kNone;
    std::span<const std::uint8_t> payload;  // valid until the next insert/pop/reset
    std::int64_t arrival_us = -1;  // kFrame: when its packet arrived (insert's clock); else -1
    // A lost frame (kConcealRepeat or kConcealSilence after a gap): the frame after it when that
    // has arrived (Opus rebuilds the lost one from its in-band FEC), else empty.
    std::span<const std::uint8_t> next_payload;
  };
  struct Stats {
    std::uint64_t stored = 0, duplicates = 0, late = 0, concealed = 0, dropped = 0,
                  stretched = 0, resets = 0;
  };

  // Delays are clamped to [kFrameMs, kSlots/2 frames] and max to >= min.
  JitterBuffer(int min_delay_ms, int max_delay_ms, JitterClock clock = JitterClock{});

  // arrival_us: monotonic arrival time of the packet, any epoch. A new SSRC resets the buffer.
  Insert insert(std::uint32_t ssrc, std::uint32_t timestamp, std::span<const std::uint8_t> payload,
                std::int64_t arrival_us);
  // Call exactly once per 20 ms tick.
  Out pop();
  // The next frame not handed over yet, if it has arrived: for a consumer that counts audio, not
  // wall time (a recogniser), frames need not wait for their playout tick. Call after insert(),
  // until it returns kNone. Frames still go through pop() at their ticks (kTakenEarly), so the
  // playout clock, its delay and concealment are what they would be without it.
  Out take_arrived();
  void reset();  // forget everything, including the SSRC and the jitter estimate

  int target_delay_ms() const;
  double jitter_ms() const { return jitter_ticks_ / clock_.ticks_per_ms; }
  // Frames between the playout point and the newest frame received (0 when empty).
  int depth_frames() const;
  const Stats& stats() const { return stats_; }

 private:
  struct Slot {
    std::int64_t frame = -1;
    std::uint16_t size = 0;
    std::int64_t arrival_us = 0;
  };
  enum class State { kEmpty, kIdle, kBuffering, kPlaying };

  std::int64_t unwrap(std::uint32_t timestamp);
  std::int64_t frame_of(std::int64_t ext_ts) const;
  void anchor(std::uint32_t timestamp);   // start a new stream at this timestamp
  void rebuffer(std::uint32_t timestamp); // same stream, playout restarts here
  void update_jitter(std::uint32_t timestamp, std::int64_t arrival_us);
  int target_frames() const;
  Out repeat_last(std::span<const std::uint8_t> next = {});
  // The frame just copied into last_, as it goes out.
  Out last_frame(std::int64_t arrival_us) const;
  std::uint8_t* bytes_of(std::size_t slot) { return bytes_.get() + slot * clock_.max_payload; }
  // The payload of `frame` if it has arrived, else empty.
  std::span<const std::uint8_t> stored(std::int64_t frame);

  Clock clock_;
  int min_frames_;
  int max_frames_;
  State state_ = State::kEmpty;
  std::uint32_t ssrc_ = 0;
  std::uint32_t ref_ts_ = 0;   // unwrapping reference: the newest timestamp seen
  std::int64_t ref_ext_ = 0;
  std::int64_t base_ext_ = 0;  // extended timestamp of frame 0
  std::int64_t next_frame_ = 0;
  std::int64_t highest_frame_ = -1;
  int wait_ticks_ = 0;
  int ahead_ = 0;  // frames from next_frame_ on already handed over by take_arrived()
  int missing_run_ = 0;
  int ticks_since_adjust_ = 0;
  int late_run_ = 0;
  bool have_transit_ = false;
  std::int64_t last_transit_ = 0;
  double jitter_ticks_ = 0;
  std::array<Slot, kSlots> slots_{};
  std::unique_ptr<std::uint8_t[]> bytes_;  // kSlots payloads of clock_.max_payload bytes
  std::unique_ptr<std::uint8_t[]> last_;   // one payload
  std::size_t last_size_ = 0;
  Stats stats_;
};

}  // namespace chalkbot
