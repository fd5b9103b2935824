#include "agent/speaker.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "core/log.h"

namespace chalkbot {
namespace {

using namespace std::chrono_literals;

// The speaker stays this far ahead of playback: enough to ride out a slow sentence, little enough
// that a barge-in throws away little synthesis work.
constexpr int kQueueAheadMs = 4000;
constexpr auto kPoll = 10ms;
// flite's lead-in is dither below ~60; a soft onset ("s", "th") starts near 100 and rises slowly.
constexpr Sample kQuiet = 90;         // below this a TTS engine's lead-in counts as silence
constexpr std::size_t kLeadIn = 320;  // 40 ms at 8 kHz kept before the first sound

// How many samples at the start of `chunk` may be skipped as silence (at most `limit`), keeping
// kLeadIn samples before the first sound so its onset is not clipped.
std::size_t leading_quiet_samples(Samples chunk, std::size_t limit) {
  std::size_t i = 0;
  const std::size_t end = std::min(chunk.size(), limit);
  while (i < end && std::abs(chunk[i]) < kQuiet) ++i;
  if (i == chunk.size() || i == limit) return i;  // all quiet (so far)
  return i > kLeadIn ? i - kLeadIn : 0;
}

}  // namespace

PromptCache::PromptCache(Tts& tts, const std::vector<std::string>& texts) {
  for (const auto& text : texts) {
    if (text.empty() || audio_.contains(text)) continue;
    auto audio = synthesize_all(tts, text, kTelephoneRate);
    if (audio) {
      audio_.emplace(text, std::move(*audio));
    } else {
      spdlog::warn("prompt not cached ({}): {}", audio.error().message, text);
    }
  }
}

const Audio* PromptCache::find(const std::string& text) const {
  const auto it = audio_.find(text);
  return it == audio_.end() ? nullptr : &it->second;
}

Speaker::Speaker(MediaSession& media, Tts& tts, const PromptCache& prompts, PlaybackTap* tap,
                 std::function<void(const Error& cause)> on_tts_failure, std::string apology)
    : media_(media),
      tts_(tts),
      prompts_(prompts),
      tap_(tap),
      on_tts_failure_(std::move(on_tts_failure)),
      apology_(std::move(apology)),
      thread_([this] { loop(); }) {}

Speaker::~Speaker() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    current_.cancel();
    jobs_.clear();
  }
  wake_.notify_all();
  thread_.join();
}

void Speaker::post(Job job) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  wake_.notify_all();
}

void Speaker::interrupt() {
  {
    std::lock_guard lock(mutex_);
    current_.cancel();
    jobs_.clear();
    clear_requested_ = true;
  }
  wake_.notify_all();
}

bool Speaker::busy() const {
  std::lock_guard lock(mutex_);
  return running_job_ || !jobs_.empty();
}

void Speaker::loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || clear_requested_ || !jobs_.empty(); });
    if (clear_requested_) {
      clear_requested_ = false;
      media_.clear_playback();
      if (tap_) tap_->cleared();
    }
    if (stopping_) return;
    if (jobs_.empty()) continue;
    Job job = std::move(jobs_.front());
    jobs_.erase(jobs_.begin());
    current_ = CancelToken{};
    const CancelToken cancel = current_;
    running_job_ = true;
    lock.unlock();
    job(*this, cancel);
    // The job's last partial frame goes out too, once there is room for it.
    while (!media_.flush_audio() && !cancel.cancelled()) std::this_thread::sleep_for(kPoll);
    lock.lock();
    running_job_ = false;
  }
}

std::size_t Speaker::enqueue(Samples audio_8k) {
  const std::size_t accepted = media_.enqueue_audio(audio_8k);
  if (tap_ && accepted > 0) tap_->queued(audio_8k.first(accepted));
  return accepted;
}

bool Speaker::play(Samples audio_8k, const CancelToken& cancel) {
  while (!audio_8k.empty()) {
    if (cancel.cancelled()) return false;
    const std::size_t accepted = enqueue(audio_8k);
    audio_8k = audio_8k.subspan(accepted);
    if (!audio_8k.empty()) std::this_thread::sleep_for(kPoll);  // queue full: let it play
  }
  return !cancel.cancelled();
}

bool Speaker::say(const std::string& text, const CancelToken& cancel,
                  const std::function<void()>& on_first_audio) {
  // Stay only a few seconds ahead of the caller's ear before synthesizing more.
  while (media_.queued_ms() > kQueueAheadMs) {
    if (cancel.cancelled()) return false;
    std::this_thread::sleep_for(kPoll);
  }
  if (const Audio* cached = prompts_.find(text)) {
    if (on_first_audio) on_first_audio();
    return play(cached->samples, cancel);
  }
  // TTS engines begin an utterance with silence (flite: about 200 ms). When nothing is playing
  // that silence is only delay before the caller hears the answer: skip it, up to a bound.
  std::size_t leading_to_skip =
      media_.is_playing() || media_.queued_ms() > 0 ? 0 : samples_per_ms(kTelephoneRate, 400);
  // The TTS sink runs under the engine's process-wide lock, so it must never wait: what does not
  // fit in the playback queue (a very long sentence) is kept and played after synthesis.
  bool first = true;
  std::vector<Sample> overflow;
  const auto queue = [&](Samples chunk) {
    if (leading_to_skip > 0) {
      const std::size_t quiet = leading_quiet_samples(chunk, leading_to_skip);
      leading_to_skip = quiet == chunk.size() ? leading_to_skip - quiet : 0;
      chunk = chunk.subspan(quiet);
      if (chunk.empty()) return !cancel.cancelled();
    }
    if (first && on_first_audio) on_first_audio();
    first = false;
    if (overflow.empty()) chunk = chunk.subspan(enqueue(chunk));
    overflow.insert(overflow.end(), chunk.begin(), chunk.end());
    return !cancel.cancelled();
  };
  auto status = tts_.synthesize(text, kTelephoneRate, queue, cancel);
  const bool played = play(overflow, cancel);
  if (status) return played;
  if (cancel.cancelled()) return false;  // stopped on purpose (barge-in), not a failure
  if (on_tts_failure_) {
    on_tts_failure_(status.error());
  } else {
    spdlog::warn("tts failed, sentence skipped: {}", status.error().message);
  }
  const Audio* sorry = text != apology_ ? prompts_.find(apology_) : nullptr;
  if (sorry != nullptr) play(sorry->samples, cancel);
  return false;
}

bool Speaker::wait_played(const CancelToken& cancel) {
  while (!media_.flush_audio() || media_.is_playing()) {
    if (cancel.cancelled()) return false;
    std::this_thread::sleep_for(kPoll);
  }
  return true;
}

}  // namespace chalkbot
