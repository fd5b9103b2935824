#include "media/jitter_buffer.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/audio.h"

namespace chalkbot {
namespace {

constexpr int kAdjustEveryTicks = 10;  // at most one drop/repeat per 200 ms: keeps it inaudible-ish
constexpr int kLateRunResync = 4;      // this many late packets in a row: the sender jumped back

int frames_for_ms(int ms) { return (ms + kFrameMs - 1) / kFrameMs; }

std::size_t slot_index(std::int64_t frame) {
  return static_cast<std::size_t>(frame) % JitterBuffer::kSlots;
}

}  // namespace

JitterBuffer::JitterBuffer(int min_delay_ms, int max_delay_ms, Clock clock)
    : clock_(clock),
      bytes_(std::make_unique<std::uint8_t[]>(kSlots * clock.max_payload)),
      last_(std::make_unique<std::uint8_t[]>(clock.max_payload)) {
  constexpr int kCap = static_cast<int>(kSlots / 2);
  min_frames_ = std::clamp(frames_for_ms(min_delay_ms), 1, kCap);
  max_frames_ = std::clamp(frames_for_ms(max_delay_ms), min_frames_, kCap);
}

void JitterBuffer::reset() {
  state_ = State::kEmpty;
  ahead_ = 0;
  have_transit_ = false;
  jitter_ticks_ = 0;
  for (auto& s : slots_) s.frame = -1;
  last_size_ = 0;
}

void JitterBuffer::anchor(std::uint32_t timestamp) {
  ref_ts_ = timestamp;
  ref_ext_ = 0;
  base_ext_ = 0;
  have_transit_ = false;
  rebuffer(timestamp);
}

void JitterBuffer::rebuffer(std::uint32_t timestamp) {
  for (auto& s : slots_) s.frame = -1;
  const std::int64_t f = frame_of(unwrap(timestamp));
  next_frame_ = f;
  highest_frame_ = f - 1;
  state_ = State::kBuffering;
  wait_ticks_ = 0;
  ahead_ = 0;
  missing_run_ = 0;
  late_run_ = 0;
  ticks_since_adjust_ = 0;
  // A gap or jump is not jitter: restart the transit baseline, keep the estimate.
  have_transit_ = false;
}

std::int64_t JitterBuffer::unwrap(std::uint32_t timestamp) {
  const auto delta = static_cast<std::int32_t>(timestamp - ref_ts_);
  const std::int64_t ext = ref_ext_ + delta;
  if (delta > 0) {
    ref_ts_ = timestamp;
    ref_ext_ = ext;
  }
  return ext;
}

std::int64_t JitterBuffer::frame_of(std::int64_t ext_ts) const {
  // Rounded to the nearest frame; floor division for negative offsets.
  const std::int64_t t = clock_.frame_ticks;
  const std::int64_t rel = ext_ts - base_ext_ + t / 2;
  return rel >= 0 ? rel / t : -((-rel + t - 1) / t);
}

void JitterBuffer::update_jitter(std::uint32_t timestamp, std::int64_t arrival_us) {
  // Transit in RTP ticks; only differences matter, so the epochs cancel.
  const std::int64_t transit =
      arrival_us * clock_.ticks_per_ms / 1000 - static_cast<std::int64_t>(timestamp);
  if (have_transit_) {
    std::int64_t d = transit - last_transit_;
    // The timestamp may have wrapped between the two packets.
    d = static_cast<std::int32_t>(static_cast<std::uint32_t>(d & 0xFFFFFFFF));
    jitter_ticks_ += (std::fabs(static_cast<double>(d)) - jitter_ticks_) / 16.0;
  }
  last_transit_ = transit;
  have_transit_ = true;
}

JitterBuffer::Insert JitterBuffer::insert(std::uint32_t ssrc, std::uint32_t timestamp,
                                          std::span<const std::uint8_t> payload,
                                          std::int64_t arrival_us) {
  Insert result = Insert::kStored;
  if (state_ == State::kEmpty || ssrc != ssrc_) {
    if (state_ != State::kEmpty) {
      ++stats_.resets;
      result = Insert::kReset;
    }
    reset();
    ssrc_ = ssrc;
    anchor(timestamp);
  } else if (state_ == State::kIdle) {
    rebuffer(timestamp);
  }
  std::int64_t f = frame_of(unwrap(timestamp));
  if (f < next_frame_) {
    // (Not once frames were handed over on arrival: they were the stream's start.)
    const bool early_in_buffering = state_ == State::kBuffering && ahead_ == 0 &&
                                    next_frame_ - f < static_cast<std::int64_t>(kSlots / 2) &&
                                    highest_frame_ - f < static_cast<std::int64_t>(kSlots);
    if (early_in_buffering) {
      next_frame_ = f;  // playout has not begun: start at the earliest frame
    } else if (++late_run_ >= kLateRunResync) {
      ++stats_.resets;
      rebuffer(timestamp);
      f = next_frame_;
      result = Insert::kReset;
    } else {
      ++stats_.late;
      update_jitter(timestamp, arrival_us);  // lateness is exactly what the estimate must see
      return Insert::kLate;
    }
  } else if (f - next_frame_ >= static_cast<std::int64_t>(kSlots)) {
    // Far ahead of the playout point: the sender jumped forward (or was silent); follow it.
    ++stats_.resets;
    rebuffer(timestamp);
    f = next_frame_;
    result = Insert::kReset;
  }
  late_run_ = 0;
  update_jitter(timestamp, arrival_us);

  Slot& slot = slots_[slot_index(f)];
  if (slot.frame == f) {
    ++stats_.duplicates;
    return Insert::kDuplicate;
  }
  slot.frame = f;
  slot.size = static_cast<std::uint16_t>(std::min(payload.size(), clock_.max_payload));
  slot.arrival_us = arrival_us;
  std::copy_n(payload.begin(), slot.size, bytes_of(slot_index(f)));
  highest_frame_ = std::max(highest_frame_, f);
  ++stats_.stored;
  return result;
}

int JitterBuffer::target_frames() const {
  const double target_ms = kFrameMs + 3.0 * jitter_ms();
  return std::clamp(frames_for_ms(static_cast<int>(std::ceil(target_ms))), min_frames_,
                    max_frames_);
}

int JitterBuffer::target_delay_ms() const { return target_frames() * kFrameMs; }

int JitterBuffer::depth_frames() const {
  if (state_ != State::kBuffering && state_ != State::kPlaying) return 0;
  return static_cast<int>(std::max<std::int64_t>(0, highest_frame_ - next_frame_ + 1));
}

JitterBuffer::Out JitterBuffer::repeat_last(std::span<const std::uint8_t> next) {
  ++stats_.concealed;
  Out out = last_frame(-1);
  out.kind = Kind::kConcealRepeat;
  out.next_payload = next;
  return out;
}

JitterBuffer::Out JitterBuffer::last_frame(std::int64_t arrival_us) const {
  Out out;
  out.kind = Kind::kFrame;
  out.payload = std::span<const std::uint8_t>(last_.get(), last_size_);
  out.arrival_us = arrival_us;
  return out;
}

std::span<const std::uint8_t> JitterBuffer::stored(std::int64_t frame) {
  const std::size_t index = slot_index(frame);
  const Slot& slot = slots_[index];
  if (slot.frame != frame) return {};
  return {bytes_of(index), slot.size};
}

JitterBuffer::Out JitterBuffer::pop() {
  if (state_ == State::kEmpty || state_ == State::kIdle) return {};
  if (state_ == State::kBuffering) {
    if (++wait_ticks_ < target_frames()) return {};
    state_ = State::kPlaying;
    ticks_since_adjust_ = 0;
  }

  const int depth = depth_frames();
  const int target = target_frames();
  if (++ticks_since_adjust_ >= kAdjustEveryTicks) {
    Slot& head = slots_[slot_index(next_frame_)];
    if (depth > target + 1 && head.frame == next_frame_) {
      head.frame = -1;  // too much delay: skip one frame
      ++next_frame_;
      if (ahead_ > 0) --ahead_;  // (it was heard already)
      ++stats_.dropped;
      ticks_since_adjust_ = 0;
    } else if (depth > 0 && depth < target - 1 && last_size_ > 0) {
      ++stats_.stretched;  // too little delay: play the last frame again, hold the playout point
      ticks_since_adjust_ = 0;
      return repeat_last();
    }
  }

  Slot& slot = slots_[slot_index(next_frame_)];
  if (slot.frame == next_frame_) {
    slot.frame = -1;
    ++next_frame_;
    missing_run_ = 0;
    if (ahead_ > 0) {
      --ahead_;
      Out early;
      early.kind = Kind::kTakenEarly;
      return early;
    }
    std::copy_n(bytes_of(slot_index(next_frame_ - 1)), slot.size, last_.get());
    last_size_ = slot.size;
    return last_frame(slot.arrival_us);
  }

  // The frame is missing.
  const bool more_queued = highest_frame_ >= next_frame_;
  ++missing_run_;
  if (!more_queued && missing_run_ > kMaxConcealFrames) {
    state_ = State::kIdle;  // the sender stopped (hold, silence suppression): wait for it
    return {};
  }
  const std::span<const std::uint8_t> next = stored(next_frame_ + 1);
  ++next_frame_;
  if (missing_run_ == 1 && last_size_ > 0) return repeat_last(next);
  ++stats_.concealed;
  Out out;
  out.kind = Kind::kConcealSilence;
  out.next_payload = next;
  return out;
}

JitterBuffer::Out JitterBuffer::take_arrived() {
  if (state_ != State::kBuffering && state_ != State::kPlaying) return {};
  const std::int64_t frame = next_frame_ + ahead_;
  const Slot& slot = slots_[slot_index(frame)];
  if (slot.frame != frame) return {};
  ++ahead_;
  std::copy_n(bytes_of(slot_index(frame)), slot.size, last_.get());
  last_size_ = slot.size;
  return last_frame(slot.arrival_us);
}

}  // namespace chalkbot
