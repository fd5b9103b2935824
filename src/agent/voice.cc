#include "agent/voice.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "core/log.h"

namespace chalkbot {
namespace {

// Audio goes into the playback queue this far ahead of what is heard, no further, and the next
// sentence is synthesized once all of the current one is in: enough to ride out a slow
// synthesis on a busy compute pool, little enough that a barge-in throws away little work and a
// long prompt is not copied in whole (a call often ends or is interrupted before it is heard
// out). The voice is stepped every 20 ms.
constexpr int kPlayAheadMs = 1500;
// TTS engines begin an utterance with silence (flite: about 200 ms). When nothing is playing that
// silence is only delay before the caller hears the answer: up to this much of it is dropped.
constexpr int kMaxLeadInSkipMs = 400;
// flite's lead-in is dither below ~60; a soft onset ("s", "th") starts near 100 and rises slowly.
constexpr Sample kQuiet = 90;         // below this a TTS engine's lead-in counts as silence
constexpr int kLeadInMs = 40;  // kept before the first sound

// How many samples at the start of `chunk` may be skipped as silence (at most `limit`), keeping
// kLeadInMs before the first sound so its onset is not clipped.
std::size_t leading_quiet_samples(Samples chunk, std::size_t limit, int sample_rate) {
  const std::size_t lead_in = samples_per_ms(sample_rate, kLeadInMs);
  std::size_t i = 0;
  const std::size_t end = std::min(chunk.size(), limit);
  while (i < end && std::abs(chunk[i]) < kQuiet) ++i;
  if (i == chunk.size() || i == limit) return i;  // all quiet (so far)
  return i > lead_in ? i - lead_in : 0;
}

}  // namespace

PromptCache::PromptCache(Tts& tts, const std::vector<std::string>& texts,
                         const std::vector<int>& sample_rates) {
  for (const int rate : sample_rates) {
    for (const auto& text : texts) {
      if (text.empty() || audio_.contains({rate, text})) continue;
      auto audio = synthesize_all(tts, text, rate);
      if (audio) {
        audio_.emplace(std::pair(rate, text), std::move(*audio));
      } else {
        spdlog::warn("prompt not cached ({}): {}", audio.error().message, text);
      }
    }
  }
}

const Audio* PromptCache::find(const std::string& text, int sample_rate) const {
  const auto it = audio_.find({sample_rate, text});
  return it == audio_.end() ? nullptr : &it->second;
}

// The job appends what the engine delivers; the call's step takes it. Once dropped, the job
// stops at its next chunk and touches nothing of the call's (wake included).
struct Voice::Synthesis {
  std::mutex mutex;
  std::vector<Sample> audio;  // delivered, not yet taken
  bool done = false;
  Status status;
  bool dropped = false;
  CancelToken cancel;
};

Voice::Voice(AudioOut& out, Tts& tts, Executor& compute, const PromptCache& prompts,
             std::function<void()> wake, PlaybackTap* tap,
             std::function<void(const Error& cause)> on_tts_failure, std::string apology)
    : out_(out),
      tts_(tts),
      synthesis_queue_(compute),
      prompts_(prompts),
      wake_(std::move(wake)),
      tap_(tap),
      on_tts_failure_(std::move(on_tts_failure)),
      apology_(std::move(apology)) {}

Voice::~Voice() { drop_synthesis(); }

void Voice::say(std::string text, bool until_played) {
  Utterance utterance;
  utterance.id = ++last_id_;
  utterance.sentences.push_back(std::move(text));
  utterance.closed = true;
  utterance.until_played = until_played;
  utterances_.push_back(std::move(utterance));
}

Voice::UtteranceId Voice::open(Hooks hooks) {
  Utterance utterance;
  utterance.id = ++last_id_;
  utterance.hooks = std::move(hooks);
  utterances_.push_back(std::move(utterance));
  return last_id_;
}

Voice::Utterance* Voice::find(UtteranceId id) {
  for (auto& utterance : utterances_) {
    if (utterance.id == id) return &utterance;
  }
  return nullptr;
}

bool Voice::has(UtteranceId id) const {
  return std::any_of(utterances_.begin(), utterances_.end(),
                     [id](const Utterance& utterance) { return utterance.id == id; });
}

void Voice::add(UtteranceId id, std::string sentence) {
  if (Utterance* utterance = find(id); utterance && !utterance->closed) {
    utterance->sentences.push_back(std::move(sentence));
  }
}

void Voice::close(UtteranceId id) {
  if (Utterance* utterance = find(id)) utterance->closed = true;
}

void Voice::drop_synthesis() {
  if (!synthesis_) return;
  std::lock_guard lock(synthesis_->mutex);
  synthesis_->dropped = true;
  synthesis_->cancel.cancel();
  synthesis_.reset();
}

void Voice::interrupt() {
  drop_synthesis();
  utterances_.clear();
  prompt_ = {};
  synthesized_ = {};  // an idle call holds no audio
  synthesized_at_ = 0;
  out_.clear();
  if (tap_) tap_->cleared();
}

Samples Voice::pending() const {
  if (!prompt_.empty()) return prompt_;
  return Samples(synthesized_).subspan(synthesized_at_);
}

bool Voice::feed_pending() {
  const Samples audio = pending();
  if (audio.empty()) return true;
  if (!utterances_.empty()) {
    Utterance& utterance = utterances_.front();
    if (!utterance.audio_begun) {
      utterance.audio_begun = true;
      if (utterance.hooks.first_audio) utterance.hooks.first_audio();
    }
  }
  const int room_ms = kPlayAheadMs - out_.queued_ms();
  if (room_ms <= 0) return false;
  const std::size_t room = samples_per_ms(out_.sample_rate(), room_ms);
  const std::size_t taken = out_.enqueue(audio.first(std::min(audio.size(), room)));
  if (tap_ && taken > 0) tap_->queued(audio.first(taken));
  if (!prompt_.empty()) {
    prompt_ = prompt_.subspan(taken);
  } else {
    synthesized_at_ += taken;
  }
  if (taken < audio.size()) return false;
  synthesized_.clear();
  synthesized_at_ = 0;
  return true;
}

void Voice::begin_sentence(Utterance& utterance) {
  std::string text = std::move(utterance.sentences.front());
  utterance.sentences.pop_front();
  if (const Audio* cached = prompts_.find(text, out_.sample_rate())) {
    prompt_ = cached->samples;
    return;
  }
  const bool silent_line = out_.queued_ms() == 0;  // and nothing is pending: see step()
  leading_to_skip_ = silent_line ? samples_per_ms(out_.sample_rate(), kMaxLeadInSkipMs) : 0;
  synthesis_ = std::make_shared<Synthesis>();
  synthesis_queue_.post([synthesis = synthesis_, text = std::move(text), &tts = tts_,
                         wake = wake_, rate = out_.sample_rate()] {
    {
      std::lock_guard lock(synthesis->mutex);
      if (synthesis->dropped) return;  // the call may be gone: touch nothing of it
    }
    const auto sink = [&](Samples chunk) {
      std::lock_guard lock(synthesis->mutex);
      if (synthesis->dropped) return false;
      const bool first = synthesis->audio.empty();
      synthesis->audio.insert(synthesis->audio.end(), chunk.begin(), chunk.end());
      if (first && wake) wake();  // the first audio of a sentence goes out at once
      return true;
    };
    Status status = tts.synthesize(text, rate, sink, synthesis->cancel);
    std::lock_guard lock(synthesis->mutex);
    if (synthesis->dropped) return;
    synthesis->status = std::move(status);
    synthesis->done = true;
    if (wake) wake();
  });
}

bool Voice::take_synthesized(Utterance& utterance) {
  bool done = false;
  Status status;
  {
    std::lock_guard lock(synthesis_->mutex);
    synthesized_.insert(synthesized_.end(), synthesis_->audio.begin(), synthesis_->audio.end());
    synthesis_->audio.clear();
    done = synthesis_->done;
    if (done) status = synthesis_->status;
  }
  if (leading_to_skip_ > 0 && synthesized_at_ < synthesized_.size()) {
    const Samples fresh = Samples(synthesized_).subspan(synthesized_at_);
    const std::size_t quiet = leading_quiet_samples(fresh, leading_to_skip_, out_.sample_rate());
    leading_to_skip_ = quiet == fresh.size() ? leading_to_skip_ - quiet : 0;
    synthesized_at_ += quiet;
  }
  if (!done) return false;
  synthesis_.reset();
  if (!status) give_up(utterance, status.error());
  return true;
}

void Voice::give_up(Utterance& utterance, const Error& cause) {
  if (on_tts_failure_) {
    on_tts_failure_(cause);
  } else {
    spdlog::warn("tts failed, sentence skipped: {}", cause.message);
  }
  utterance.sentences.clear();
  utterance.closed = true;  // sentences still streaming in are not said either
  if (const Audio* sorry = prompts_.find(apology_, out_.sample_rate())) {  // after what the engine said before failing
    synthesized_.insert(synthesized_.end(), sorry->samples.begin(), sorry->samples.end());
  }
  if (utterance.hooks.gave_up) utterance.hooks.gave_up();
}

void Voice::step() {
  while (!utterances_.empty()) {
    if (!feed_pending()) return;  // far enough ahead: it plays on
    Utterance& utterance = utterances_.front();
    if (synthesis_) {
      if (!take_synthesized(utterance) && pending().empty()) return;  // more is on its way
      continue;
    }
    if (!utterance.sentences.empty()) {
      begin_sentence(utterance);
      continue;
    }
    if (!utterance.closed) return;  // the rest of it is still being written
    // Its last partial frame goes out too, and what follows waits for its audio if it must.
    if (!utterance.flushed && !(utterance.flushed = out_.flush())) return;
    if (utterance.until_played && out_.queued_ms() > 0) return;
    utterances_.pop_front();
  }
  if (synthesized_.capacity() > 0) synthesized_ = {};  // nothing to say: an idle call holds no audio
}

}  // namespace chalkbot
