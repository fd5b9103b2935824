#include "speech/vad/endpointer.h"

#include <algorithm>
#include <array>

#include "core/settings.h"
#include "media/resampler.h"

namespace chalkbot {

EndpointerConfig EndpointerConfig::from(const VadSettings& vad, int ignore_initial_ms,
                                        int pre_roll_ms) {
  EndpointerConfig config;
  config.speech_start_ms = vad.speech_start_ms;
  config.end_silence_ms = vad.end_silence_ms;
  config.unfinished_silence_ms = vad.unfinished_silence_ms;
  config.finished_silence_ms = vad.finished_silence_ms;
  config.no_input_timeout_ms = vad.no_input_timeout_ms;
  config.max_utterance_ms = vad.max_utterance_ms;
  config.ignore_initial_ms = ignore_initial_ms != kProviderIgnoreInitial ? ignore_initial_ms
                             : vad.provider == "webrtc"                  ? 200
                                                                          : 0;
  config.pre_roll_ms = pre_roll_ms;
  return config;
}

const char* to_string(EndpointEvent event) {
  switch (event) {
    case EndpointEvent::kNone: return "none";
    case EndpointEvent::kSpeechStarted: return "speech-started";
    case EndpointEvent::kSpeechEnded: return "speech-ended";
    case EndpointEvent::kNoInput: return "no-input";
    case EndpointEvent::kMaxUtterance: return "max-utterance";
  }
  return "unknown";
}

Endpointer::Endpointer(const EndpointerConfig& config) : config_(config) {}

EndpointEvent Endpointer::push(int frame_ms, bool voiced) {
  const std::int64_t frame_start = position_ms_;
  position_ms_ += frame_ms;
  if (state_ == State::kDone) return EndpointEvent::kNone;
  if (frame_start < config_.ignore_initial_ms) voiced = false;

  if (state_ == State::kWaiting) {
    if (voiced) {
      if (voiced_run_ms_ == 0) voiced_run_start_ms_ = frame_start;
      voiced_run_ms_ += frame_ms;
      if (voiced_run_ms_ >= std::max(config_.speech_start_ms, 1)) {
        state_ = State::kInSpeech;
        times_ = UtteranceTimes{};
        times_.onset_ms = voiced_run_start_ms_;
        times_.start_ms = std::max<std::int64_t>(0, voiced_run_start_ms_ - config_.pre_roll_ms);
        times_.started_at_ms = position_ms_;
        times_.speech_end_ms = position_ms_;
        silence_run_ms_ = 0;
        held_ = hastened_ = false;
        return EndpointEvent::kSpeechStarted;
      }
      return EndpointEvent::kNone;
    }
    voiced_run_ms_ = 0;
    if (config_.no_input_timeout_ms > 0 &&
        position_ms_ - listen_since_ms_ >= config_.no_input_timeout_ms) {
      state_ = State::kDone;
      times_ = UtteranceTimes{};
      times_.start_ms = times_.end_ms = position_ms_;
      return EndpointEvent::kNoInput;
    }
    return EndpointEvent::kNone;
  }

  // kInSpeech
  if (voiced) {
    silence_run_ms_ = 0;
    held_ = hastened_ = false;
    times_.speech_end_ms = position_ms_;
  } else {
    silence_run_ms_ += frame_ms;
  }
  int end_silence_ms = config_.end_silence_ms;
  if (held_) end_silence_ms = std::max(end_silence_ms, config_.unfinished_silence_ms);
  if (hastened_ && config_.finished_silence_ms > 0) {
    end_silence_ms = std::min(end_silence_ms, config_.finished_silence_ms);
  }
  if (silence_run_ms_ >= end_silence_ms && !voiced) {
    state_ = State::kDone;
    times_.end_ms = position_ms_;
    times_.voice_end_ms = times_.speech_end_ms;
    return EndpointEvent::kSpeechEnded;
  }
  if (config_.max_utterance_ms > 0 && position_ms_ - times_.onset_ms >= config_.max_utterance_ms) {
    state_ = State::kDone;
    times_.end_ms = position_ms_;
    times_.voice_end_ms = times_.speech_end_ms;
    return EndpointEvent::kMaxUtterance;
  }
  return EndpointEvent::kNone;
}

EndpointEvent Endpointer::finish() {
  if (state_ != State::kInSpeech) return EndpointEvent::kNone;
  state_ = State::kDone;
  times_.end_ms = position_ms_;
  times_.voice_end_ms = times_.speech_end_ms;
  return EndpointEvent::kSpeechEnded;
}

EndpointEvent Endpointer::hasten_end() {
  hastened_ = true;
  held_ = false;
  if (state_ != State::kInSpeech || config_.finished_silence_ms <= 0 ||
      silence_run_ms_ < config_.finished_silence_ms) {
    return EndpointEvent::kNone;
  }
  return finish();
}

void Endpointer::reset() {
  state_ = State::kWaiting;
  listen_since_ms_ = position_ms_;
  voiced_run_ms_ = 0;
  silence_run_ms_ = 0;
  held_ = hastened_ = false;
  times_ = UtteranceTimes{};
}

UtteranceDetector::UtteranceDetector(std::unique_ptr<VoiceDetector> vad,
                                     const EndpointerConfig& config)
    : vad_(std::move(vad)),
      endpointer_(config),
      frame_ms_(static_cast<int>(vad_->frame_samples() * 1000U /
                                 static_cast<std::size_t>(vad_->sample_rate()))) {}

Result<EndpointEvent> UtteranceDetector::push(Samples samples) {
  const std::size_t frame = vad_->frame_samples();
  const auto rate = static_cast<std::size_t>(vad_->sample_rate());
  const std::size_t keep = history_keep();
  EndpointEvent reported = EndpointEvent::kNone;
  pending_.insert(pending_.end(), samples.begin(), samples.end());
  std::size_t used = 0;
  while (pending_.size() - used >= frame) {
    const Samples chunk(pending_.data() + used, frame);
    used += frame;
    auto voiced = vad_->is_voiced(chunk);
    if (!voiced) {
      pending_.clear();
      return voiced.error();
    }
    samples_seen_ += frame;
    if (endpointer_.state() == Endpointer::State::kInSpeech) {
      utterance_.insert(utterance_.end(), chunk.begin(), chunk.end());
    } else {  // waiting, or done and not yet reset: keep the recent past for the pre-roll
      history_.insert(history_.end(), chunk.begin(), chunk.end());
      if (history_.size() > 2 * keep) {  // trimmed in batches, not every frame
        const std::size_t drop = history_.size() - keep;
        history_.erase(history_.begin(), history_.begin() + static_cast<std::ptrdiff_t>(drop));
        history_first_sample_ += drop;
      }
    }
    const EndpointEvent event = endpointer_.push(frame_ms_, *voiced);
    if (event == EndpointEvent::kSpeechStarted) {
      const auto start_ms = static_cast<std::size_t>(endpointer_.times().start_ms);
      const std::size_t first = std::max(start_ms * rate / 1000U, history_first_sample_);
      utterance_.assign(history_.begin() + static_cast<std::ptrdiff_t>(first - history_first_sample_),
                        history_.end());
      utterance_first_sample_ = first;
      history_.clear();
      history_first_sample_ = samples_seen_;
      reported = event;
    } else if (event != EndpointEvent::kNone) {
      if (event != EndpointEvent::kNoInput) utterance_over();
      // Audio after the event stays pending, so the timeline stays exact for the next one.
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(used));
      return event;
    }
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(used));
  return reported;
}

void UtteranceDetector::look_ahead(Samples samples) {
  std::array<Sample, 1024> window;  // the longest VAD frame: 64 ms at 16 kHz
  const std::size_t frame = vad_->frame_samples();
  if (frame > window.size() || pending_.size() >= frame ||
      pending_.size() + samples.size() < frame) {
    return;
  }
  const auto rest = std::copy(pending_.begin(), pending_.end(), window.begin());
  std::copy_n(samples.begin(), frame - pending_.size(), rest);
  vad_->look_ahead(Samples(window).first(frame));
}

EndpointEvent UtteranceDetector::finish() {
  const EndpointEvent event = endpointer_.finish();
  if (event == EndpointEvent::kSpeechEnded) utterance_over();
  return event;
}

EndpointEvent UtteranceDetector::hasten_end() {
  const EndpointEvent event = endpointer_.hasten_end();
  if (event == EndpointEvent::kSpeechEnded) utterance_over();
  return event;
}

std::size_t UtteranceDetector::history_keep() const {
  const auto& config = endpointer_.config();
  return samples_per_ms(vad_->sample_rate(), config.pre_roll_ms +
                                                 std::max(config.speech_start_ms, frame_ms_) +
                                                 frame_ms_);
}

void UtteranceDetector::utterance_over() {
  endpointer_.set_voice_end(voice_end_ms(utterance_, utterance_first_sample_, vad_->sample_rate(),
                                         endpointer_.times().speech_end_ms));
  const std::size_t tail = std::min(history_keep(), utterance_.size());
  history_.assign(utterance_.end() - static_cast<std::ptrdiff_t>(tail), utterance_.end());
  history_first_sample_ = samples_seen_ - tail;
}

std::int64_t voice_end_ms(Samples audio, std::size_t first_sample, int sample_rate,
                          std::int64_t speech_end_ms) {
  constexpr int kStretchMs = 10;
  constexpr double kBelowLoudest = 1e-3;  // 30 dB, in power
  constexpr double kFloor = 64.0 * 64.0;  // RMS 64, about -54 dBFS: quieter is never a voice
  constexpr std::int64_t kLookBackMs = 500;
  const std::size_t stretch = samples_per_ms(sample_rate, kStretchMs);
  const auto rate = static_cast<std::size_t>(sample_rate);
  const std::size_t end_sample = static_cast<std::size_t>(speech_end_ms) * rate / 1000U;
  if (stretch == 0 || end_sample <= first_sample) return speech_end_ms;
  const std::size_t end = std::min(end_sample - first_sample, audio.size());
  const auto power = [&](std::size_t from) {
    double sum = 0;
    for (std::size_t i = from; i < from + stretch; ++i) sum += static_cast<double>(audio[i]) * audio[i];
    return sum / static_cast<double>(stretch);
  };
  double loudest = 0;
  for (std::size_t at = 0; at + stretch <= end; at += stretch) loudest = std::max(loudest, power(at));
  const double threshold = std::max(loudest * kBelowLoudest, kFloor);
  const std::size_t look_back = samples_per_ms(sample_rate, static_cast<int>(kLookBackMs));
  for (std::size_t stop = end; stop >= stretch && end - stop <= look_back; stop -= stretch) {
    if (power(stop - stretch) >= threshold) {
      return static_cast<std::int64_t>((first_sample + stop) * 1000U / rate);
    }
  }
  return speech_end_ms;
}

void UtteranceDetector::reset() {
  endpointer_.reset();
  utterance_.clear();
  utterance_first_sample_ = samples_seen_;
}

Result<DetectedUtterance> detect_first_utterance(const Audio& audio, const VadSettings& vad) {
  if (audio.sample_rate <= 0) return make_error("detect utterance: audio has no sample rate");
  const int rate = audio.sample_rate == 8000 || audio.sample_rate == 16000 ? audio.sample_rate
                                                                           : 16000;
  auto analysed = resample(audio, rate);
  if (!analysed) return analysed.error();
  auto detector = make_voice_detector(vad, rate);
  if (!detector) return detector.error();
  UtteranceDetector utterances(std::move(*detector), EndpointerConfig::from(vad));

  DetectedUtterance found;
  const std::size_t chunk = samples_per_ms(rate, kFrameMs);
  const Samples all(analysed->samples);
  for (std::size_t i = 0; i < all.size(); i += chunk) {
    auto event = utterances.push(all.subspan(i, std::min(chunk, all.size() - i)));
    if (!event) return event.error();
    if (*event != EndpointEvent::kNone && *event != EndpointEvent::kSpeechStarted) {
      found.outcome = *event;
      break;
    }
  }
  if (found.outcome == EndpointEvent::kNone) {
    found.outcome = utterances.finish() == EndpointEvent::kSpeechEnded ? EndpointEvent::kSpeechEnded
                                                                        : EndpointEvent::kNoInput;
  }
  found.times = utterances.endpointer().times();
  if (found.outcome == EndpointEvent::kNoInput) {
    found.times.end_ms = utterances.endpointer().position_ms();
    return found;
  }
  const auto in_rate = static_cast<std::size_t>(audio.sample_rate);
  found.first_sample =
      std::min(static_cast<std::size_t>(found.times.start_ms) * in_rate / 1000U,
               audio.samples.size());
  found.end_sample = std::min(static_cast<std::size_t>(found.times.end_ms) * in_rate / 1000U,
                              audio.samples.size());
  found.audio.sample_rate = audio.sample_rate;
  found.audio.samples.assign(audio.samples.begin() + static_cast<std::ptrdiff_t>(found.first_sample),
                             audio.samples.begin() + static_cast<std::ptrdiff_t>(found.end_sample));
  return found;
}

}  // namespace chalkbot
