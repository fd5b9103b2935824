#include "transport/streamed_audio.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace chalkbot {
namespace {

std::int64_t ns_of(SteadyClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

StreamedAudio::StreamedAudio(int sample_rate)
    : sample_rate_(sample_rate), frame_samples_(samples_per_ms(sample_rate, kFrameMs)) {}

bool StreamedAudio::pop_frame(std::span<Sample> out, SteadyClock::time_point& sent_at) {
  if (out.size() < frame_samples_) return false;
  CapturedFrame captured;
  if (!capture_.try_pop(captured)) return false;
  std::copy_n(captured.pcm.begin(), frame_samples_, out.begin());
  sent_at = SteadyClock::time_point(std::chrono::nanoseconds(captured.arrival_ns));
  return true;
}

Samples StreamedAudio::peek_frame(std::size_t i) {
  const CapturedFrame* next = capture_.peek(i);
  return next == nullptr ? Samples{} : Samples(next->pcm).first(frame_samples_);
}

std::optional<char> StreamedAudio::pop_dtmf() {
  char digit = 0;
  if (dtmf_.try_pop(digit)) return digit;
  return std::nullopt;
}

std::size_t StreamedAudio::enqueue_audio(Samples pcm) {
  std::size_t used = 0;
  std::size_t have = partial_out_len_.load(std::memory_order_relaxed);
  while (used < pcm.size()) {
    const std::size_t take = std::min(frame_samples_ - have, pcm.size() - used);
    if (have + take == frame_samples_) {
      WideFrame* slot = playback_.try_begin_push();
      if (slot == nullptr) break;  // full: the voice offers the rest again later
      std::copy_n(partial_out_.begin(), have, slot->begin());
      std::copy_n(pcm.begin() + static_cast<std::ptrdiff_t>(used), take,
                  slot->begin() + static_cast<std::ptrdiff_t>(have));
      playback_.commit_push();
      have = 0;
    } else {
      std::copy_n(pcm.begin() + static_cast<std::ptrdiff_t>(used), take,
                  partial_out_.begin() + static_cast<std::ptrdiff_t>(have));
      have += take;
    }
    used += take;
  }
  partial_out_len_.store(have, std::memory_order_relaxed);
  return used;
}

bool StreamedAudio::flush_audio() {
  const std::size_t have = partial_out_len_.load(std::memory_order_relaxed);
  if (have == 0) return true;
  WideFrame* slot = playback_.try_begin_push();
  if (slot == nullptr) return false;
  std::copy_n(partial_out_.begin(), have, slot->begin());
  std::fill(slot->begin() + static_cast<std::ptrdiff_t>(have),
            slot->begin() + static_cast<std::ptrdiff_t>(frame_samples_), Sample{0});
  playback_.commit_push();
  partial_out_len_.store(0, std::memory_order_relaxed);
  return true;
}

void StreamedAudio::clear_playback() {
  partial_out_len_.store(0, std::memory_order_relaxed);
  clear_until_.store(playback_.write_index(), std::memory_order_release);
  clears_.fetch_add(1, std::memory_order_acq_rel);
}

int StreamedAudio::queued_ms() const {
  const std::uint64_t head = playback_.write_index();
  const std::uint64_t tail =
      std::max(playback_.read_index(), clear_until_.load(std::memory_order_acquire));
  const std::uint64_t frames = head > tail ? head - tail : 0;
  const std::size_t partial = partial_out_len_.load(std::memory_order_relaxed);
  return static_cast<int>(frames) * kFrameMs + static_cast<int>(partial * 1000 / static_cast<std::size_t>(sample_rate_));
}

std::optional<SteadyClock::time_point> StreamedAudio::first_audio_packet_sent_at() const {
  const std::int64_t ns = spurt_start_ns_.load(std::memory_order_acquire);
  if (ns == 0) return std::nullopt;
  return SteadyClock::time_point(std::chrono::nanoseconds(ns));
}

void StreamedAudio::push_caller_audio(Samples pcm, SteadyClock::time_point arrived) {
  std::size_t used = 0;
  while (used < pcm.size()) {
    const std::size_t take = std::min(frame_samples_ - partial_in_len_, pcm.size() - used);
    std::copy_n(pcm.begin() + static_cast<std::ptrdiff_t>(used), take,
                partial_in_.begin() + static_cast<std::ptrdiff_t>(partial_in_len_));
    partial_in_len_ += take;
    used += take;
    if (partial_in_len_ < frame_samples_) break;
    partial_in_len_ = 0;
    CapturedFrame* slot = capture_.try_begin_push();
    if (slot == nullptr) {  // the call is not reading: this frame is lost (counted)
      capture_dropped_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    slot->pcm = partial_in_;
    slot->arrival_ns = ns_of(arrived);
    capture_.commit_push();
  }
}

void StreamedAudio::push_dtmf(char digit) { (void)dtmf_.try_push(digit); }

Samples StreamedAudio::next_frame() {
  const std::uint64_t clear = clear_until_.load(std::memory_order_acquire);
  if (clear > cleared_) {
    playback_.discard_until(clear);
    cleared_ = clear;
    in_spurt_ = false;  // what follows a barge-in is a new spurt
  }
  const WideFrame* next = playback_.front();
  if (next == nullptr) {
    in_spurt_ = false;
    return {};
  }
  return Samples(*next).first(frame_samples_);
}

void StreamedAudio::frame_sent(SteadyClock::time_point now) {
  playback_.pop_front();
  sent_since_clear_ = true;
  if (in_spurt_) return;
  in_spurt_ = true;
  spurt_start_ns_.store(ns_of(now), std::memory_order_release);
  talk_spurts_.fetch_add(1, std::memory_order_acq_rel);
}

bool StreamedAudio::take_clear() {
  const std::uint64_t clears = clears_.load(std::memory_order_acquire);
  if (clears == clears_seen_) return false;
  clears_seen_ = clears;
  return std::exchange(sent_since_clear_, false);
}

}  // namespace chalkbot
