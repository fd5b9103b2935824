#include "speech/asr/moonshine_asr.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <utility>
#include <vector>

#include "core/log.h"
#include "media/resampler.h"
#include "speech/asr/backends.h"
#include "speech/onnx/ort_runtime.h"

namespace chalkbot {
namespace {

constexpr const char* kInstallHint = "run scripts/install-deps (or make deps) to install it";
constexpr int kTokensPerSecond = 6;  // Moonshine's own bound on the decoder loop
// A stretch quieter than this throughout (RMS of every 20 ms frame, about -46 dBFS) is silence:
// decoding it would only invite the model to imagine words.
constexpr double kSilenceRms = 160;
// After words were kept at a pause, a piece shorter than this is the pause itself (the end of
// turn comes 150 ms after the agent's look at the pause): too short to hold a word worth
// decoding, long enough for line noise to be heard as one. It waits for more audio instead.
constexpr std::size_t kMinPieceAfterPause = samples_per_ms(kMoonshineRate, 300);

// Decode-ahead pieces. Moonshine hears a word worse without its neighbours: cut only at a real
// pause (kAheadPause at least kAheadGap below the loudest 20 ms), never in a stop consonant's
// silence inside a word (cutting at every 20 ms dip cost librivox 2.8 % -> 28 % WER, and even
// 120 ms pauses 20 dB down 7 %), and keep pieces long (at least kAheadMinPiece). The cut is in
// the last kAheadSearch of the audio so far, but not its newest 100 ms (the word being said).
constexpr std::size_t kAheadMinPiece = samples_per_ms(kMoonshineRate, 2000);
constexpr std::size_t kAheadSearch = samples_per_ms(kMoonshineRate, 800);
constexpr std::size_t kAheadNewest = samples_per_ms(kMoonshineRate, 100);
constexpr std::size_t kAheadPause = samples_per_ms(kMoonshineRate, 120);
constexpr double kAheadGap = 1e-3;  // 30 dB, in power

double frame_power(Samples frame) {
  double energy = 0;
  for (const Sample s : frame) energy += static_cast<double>(s) * s;
  return frame.empty() ? 0 : energy / static_cast<double>(frame.size());
}

// Where a decode-ahead piece of `audio` should end (0 = not yet): the middle of the quietest
// pause near the end, if there is one.
std::size_t gap_to_cut_at(Samples audio) {
  const std::size_t frame = samples_per_ms(kMoonshineRate, kFrameMs);
  if (audio.size() < kAheadMinPiece + kAheadNewest) return 0;
  double loudest = 0;
  for (std::size_t at = 0; at + frame <= audio.size(); at += frame) {
    loudest = std::max(loudest, frame_power(audio.subspan(at, frame)));
  }
  const std::size_t search_end = audio.size() - kAheadNewest;
  const std::size_t search_begin =
      std::max(kAheadMinPiece, search_end > kAheadSearch ? search_end - kAheadSearch : 0);
  std::size_t best = 0;
  double quietest = loudest * kAheadGap;
  for (std::size_t at = search_begin; at + kAheadPause <= search_end; at += frame / 2) {
    const double power = frame_power(audio.subspan(at, kAheadPause));
    if (power <= quietest) {
      quietest = power;
      best = at + kAheadPause / 2;
    }
  }
  return best;
}

bool is_silence(Samples audio) {
  const std::size_t frame = samples_per_ms(kMoonshineRate, kFrameMs);
  for (std::size_t i = 0; i < audio.size(); i += frame) {
    const auto part = audio.subspan(i, std::min(frame, audio.size() - i));
    if (frame_power(part) > kSilenceRms * kSilenceRms) return false;
  }
  return true;
}

// Moonshine tiny says nothing at all when speech starts after 1.5 s or more of digital silence
// (1.0 s is fine). What it is given starts kLeadIn before the first frame louder than silence.
constexpr std::size_t kLeadIn = samples_per_ms(kMoonshineRate, 300);

Samples without_long_lead_in(Samples audio) {
  const std::size_t frame = samples_per_ms(kMoonshineRate, kFrameMs);
  std::size_t first_sound = 0;
  while (first_sound < audio.size() &&
         frame_power(audio.subspan(first_sound, std::min(frame, audio.size() - first_sound))) <=
             kSilenceRms * kSilenceRms) {
    first_sound += frame;
  }
  return first_sound > kLeadIn ? audio.subspan(std::min(first_sound, audio.size()) - kLeadIn)
                               : audio;
}

}  // namespace

struct MoonshineAsr::Models {
  OrtRuntime* runtime = nullptr;
  std::unique_ptr<OrtModel> encoder;
  std::unique_ptr<OrtModel> decoder;
  int ids_input = -1;
  int hidden_input = -1;
  int cache_input = -1;
  int logits_output = -1;
  // Each past_key_values.* input with the present.* output that feeds it on the next step.
  struct Past {
    int input = -1;
    int output = -1;
    bool self_attention = false;  // .decoder. entries grow each step; .encoder. ones are fixed
  };
  std::vector<Past> pasts;
  std::int64_t heads = 0;
  std::int64_t head_dim = 0;
};

namespace {

// A Moonshine stream: the call's audio at 16 kHz, decoded in pieces at pauses (partial) and at
// the end (finish).
class MoonshineStream final : public AsrStream {
 public:
  MoonshineStream(MoonshineAsr& asr, std::optional<Resampler> resampler)
      : asr_(asr), resampler_(std::move(resampler)) {}

  void accept(Samples samples) override {
    if (finished_ || samples.empty()) return;
    if (resampler_) {
      const auto converted = resampler_->process(samples);
      audio_.insert(audio_.end(), converted.begin(), converted.end());
    } else {
      audio_.insert(audio_.end(), samples.begin(), samples.end());
    }
  }

  Status finish() override {
    if (finished_) return make_error("asr: finish() called twice");
    finished_ = true;
    if (resampler_) {
      const auto tail = resampler_->flush();
      audio_.insert(audio_.end(), tail.begin(), tail.end());
    }
    if (auto decoded = decode_pending(true); !decoded) return decoded.error();
    return {};
  }

  std::string result() const override { return text_; }

  // During speech: decodes up to the latest clear gap between words and keeps the words.
  void decode_ahead() override {
    if (finished_) return;
    const Samples pending = Samples(audio_).subspan(committed_);
    const std::size_t cut = gap_to_cut_at(pending);
    if (cut == 0) return;
    if (auto decoded = decode_piece(pending.first(cut)); !decoded) {
      spdlog::warn("asr: moonshine decode ahead failed: {}", decoded.error().message);
    }
    words_before_pause_ = false;  // what follows the cut is speech, however short
  }

  std::string speculate() override {
    speculation_.reset();
    if (finished_) return text_;
    const Samples pending = Samples(audio_).subspan(committed_);
    if (words_before_pause_ && pending.size() < kMinPieceAfterPause) return text_;  // (partial())
    if (pending.size() < kMoonshineMinSamples || is_silence(pending)) return text_;
    auto text = asr_.transcribe_16k(without_long_lead_in(pending));
    if (!text) {
      spdlog::warn("asr: moonshine speculative decode failed: {}", text.error().message);
      return text_;
    }
    speculation_ = Speculation{committed_, audio_.size(), std::move(*text)};
    if (speculation_->text.empty()) return text_;
    return text_.empty() ? speculation_->text : text_ + " " + speculation_->text;
  }

  // Decodes the audio since the last pause and keeps its words: at the end of the turn only what
  // came after this call is left to decode.
  std::string partial() override {
    if (finished_) return text_;
    if (auto decoded = decode_pending(false); !decoded) {
      spdlog::warn("asr: moonshine partial decode failed: {}", decoded.error().message);
    }
    return text_;
  }

 private:
  // Decodes audio_ since committed_ and keeps its words. A short piece after words kept at a pause
  // waits to grow, and at the end (last) it is dropped.
  Status decode_pending(bool last) {
    const Samples pending = Samples(audio_).subspan(committed_);
    if (words_before_pause_ && pending.size() < kMinPieceAfterPause) {
      if (last) committed_ = audio_.size();
      return {};
    }
    if (const auto speculation = std::exchange(speculation_, std::nullopt);
        speculation && speculation->from == committed_ &&
        is_silence(Samples(audio_).subspan(speculation->to))) {
      // Only silence since the speculative decode: its words stand.
      committed_ = audio_.size();
      if (!speculation->text.empty()) {
        text_ += (text_.empty() ? "" : " ") + speculation->text;
      }
      words_before_pause_ = !text_.empty();
      return {};
    }
    auto decoded = decode_piece(pending);
    words_before_pause_ = !text_.empty();
    return decoded;
  }

  // Decodes `piece` (the audio from committed_ on), keeps its words, moves committed_ past it.
  Status decode_piece(Samples piece) {
    committed_ += piece.size();
    if (piece.size() < kMoonshineMinSamples || is_silence(piece)) return {};
    auto text = asr_.transcribe_16k(without_long_lead_in(piece));
    if (!text) return text.error();
    if (!text->empty()) text_ += (text_.empty() ? "" : " ") + *text;
    return {};
  }

  MoonshineAsr& asr_;
  std::optional<Resampler> resampler_;
  std::vector<Sample> audio_;  // the utterance so far at 16 kHz
  std::size_t committed_ = 0;  // audio_[0, committed_) is decoded into text_
  std::string text_;
  // text_ was last extended at a pause: a short piece after it is that pause going on.
  bool words_before_pause_ = false;
  // What speculate() heard in audio_[from, to), not kept yet.
  struct Speculation {
    std::size_t from = 0;
    std::size_t to = 0;
    std::string text;
  };
  std::optional<Speculation> speculation_;
  bool finished_ = false;
};

Status require_file(const std::string& key, const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) return {};
  return make_error(key + ": '" + path + "' not found (" + kInstallHint + ")");
}

}  // namespace

std::string moonshine_model_file(const AsrSettings& settings, const std::string& part) {
  return (std::filesystem::path(settings.model_dir) / settings.model / (part + ".onnx")).string();
}

MoonshineAsr::MoonshineAsr(std::unique_ptr<Models> models, MoonshineTokens tokens,
                           int max_decodes)
    : models_(std::move(models)), tokens_(std::move(tokens)), max_decodes_(max_decodes) {}

MoonshineAsr::~MoonshineAsr() = default;

std::string MoonshineAsr::runtime_version() const { return models_->runtime->version(); }

Result<std::unique_ptr<MoonshineAsr>> MoonshineAsr::create(const AsrSettings& settings) {
  if (settings.pool_size < 1) {
    return make_error("asr.pool_size: must be at least 1 (got " +
                      std::to_string(settings.pool_size) + ")");
  }
  if (settings.model != "tiny" && settings.model != "base") {
    return make_error("asr.model: moonshine has 'tiny' and 'base', got '" + settings.model + "'");
  }
  const std::string encoder_path = moonshine_model_file(settings, "encoder_model");
  const std::string decoder_path = moonshine_model_file(settings, "decoder_model_merged");
  const std::string tokens_path =
      (std::filesystem::path(settings.model_dir) / "tokens.txt").string();
  for (const auto& [key, path] :
       {std::pair{"asr.onnxruntime_library", settings.onnxruntime_library},
        std::pair{"asr.model_dir", encoder_path}, std::pair{"asr.model_dir", decoder_path},
        std::pair{"asr.model_dir", tokens_path}}) {
    if (auto found = require_file(key, path); !found) return found.error();
  }
  auto tokens = MoonshineTokens::load(tokens_path);
  if (!tokens) {
    return make_error("asr.model_dir: " + tokens.error().message + " (" + kInstallHint + ")");
  }
  auto runtime = OrtRuntime::load(settings.onnxruntime_library);
  if (!runtime) return runtime.error();

  auto models = std::make_unique<Models>();
  models->runtime = *runtime;
  const auto load = [&](const std::string& path) -> Result<std::unique_ptr<OrtModel>> {
    auto model = OrtModel::load(**runtime, path, settings.threads);
    if (!model) {
      return make_error("asr: " + model.error().message + " (a damaged file? delete it and " +
                        kInstallHint + " again)");
    }
    return model;
  };
  auto encoder = load(encoder_path);
  if (!encoder) return encoder.error();
  auto decoder = load(decoder_path);
  if (!decoder) return decoder.error();
  models->encoder = std::move(*encoder);
  models->decoder = std::move(*decoder);

  // Find the decoder's inputs and outputs by name (see docs in the header of this file).
  const OrtModel& dec = *models->decoder;
  models->ids_input = dec.input_index("input_ids");
  models->hidden_input = dec.input_index("encoder_hidden_states");
  models->cache_input = dec.input_index("use_cache_branch");
  const auto& outputs = dec.output_names();
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const std::string& name = outputs[i];
    if (name == "logits") {
      models->logits_output = static_cast<int>(i);
    } else if (name.rfind("present.", 0) == 0) {
      Models::Past past;
      past.output = static_cast<int>(i);
      past.input = dec.input_index("past_key_values." + name.substr(8));
      past.self_attention = name.find(".decoder.") != std::string::npos;
      models->pasts.push_back(past);
    }
  }
  const bool shaped = models->ids_input >= 0 && models->hidden_input >= 0 &&
                      models->cache_input >= 0 && models->logits_output >= 0 &&
                      !models->pasts.empty() &&
                      models->pasts.size() + 3 == dec.input_names().size() &&
                      std::all_of(models->pasts.begin(), models->pasts.end(),
                                  [](const Models::Past& p) { return p.input >= 0; }) &&
                      models->encoder->input_names().size() == 1 &&
                      models->encoder->output_names().size() == 1;
  if (!shaped) {
    return make_error("asr: '" + decoder_path + "' is not a Moonshine merged decoder (inputs and "
                      "outputs do not match)");
  }
  auto past_shape = dec.input_shape(static_cast<std::size_t>(models->pasts.front().input));
  if (!past_shape) return past_shape.error();
  if (past_shape->size() != 4 || (*past_shape)[1] <= 0 || (*past_shape)[3] <= 0) {
    return make_error("asr: '" + decoder_path + "' has an unexpected key/value cache shape");
  }
  models->heads = (*past_shape)[1];
  models->head_dim = (*past_shape)[3];
  spdlog::info("asr: moonshine {} loaded ({} decoder layers, onnxruntime {})", settings.model,
               models->pasts.size() / 4, (*runtime)->version());
  std::unique_ptr<MoonshineAsr> asr(
      new MoonshineAsr(std::move(models), std::move(*tokens), settings.pool_size));
  // The first decode in a process is much slower than the next ones (measured in a call: 243 ms,
  // then 85 ms for the same question), ONNX Runtime sizing its buffers: do it now rather than on
  // the first caller's turn. A second of a tone; its words do not matter, a failure does.
  std::vector<Sample> tone(kMoonshineRate);
  for (std::size_t i = 0; i < tone.size(); ++i) {
    tone[i] = static_cast<Sample>(3000 * std::sin(2 * M_PI * 220.0 * static_cast<double>(i) /
                                                  kMoonshineRate));
  }
  if (auto warmed = asr->transcribe_16k(tone); !warmed) {
    return make_error("asr: moonshine cannot decode: " + warmed.error().message);
  }
  return asr;
}

Result<std::unique_ptr<AsrStream>> MoonshineAsr::open(int sample_rate) {
  auto resampler = resampler_for_stream(sample_rate, kMoonshineRate);
  if (!resampler) return make_error("asr: " + resampler.error().message);
  return std::unique_ptr<AsrStream>(std::make_unique<MoonshineStream>(*this, std::move(*resampler)));
}

Result<std::string> MoonshineAsr::transcribe_16k(Samples audio) {
  if (audio.size() < kMoonshineMinSamples) return std::string();
  std::vector<float> input(audio.size());
  std::transform(audio.begin(), audio.end(), input.begin(),
                 [](Sample s) { return static_cast<float>(s) / 32768.0F; });
  std::unique_lock lock(mutex_);
  slot_free_.wait(lock, [&] { return decoding_ < max_decodes_; });
  ++decoding_;
  lock.unlock();
  auto text = decode(input);
  lock.lock();
  --decoding_;
  lock.unlock();
  slot_free_.notify_one();
  return text;
}

Result<std::string> MoonshineAsr::decode(std::span<float> audio) {
  const OrtRuntime& rt = *models_->runtime;
  const auto samples = static_cast<std::int64_t>(audio.size());
  auto input = rt.tensor(audio.data(), audio.size(), {1, samples}, ort::ElementType::kFloat);
  if (!input) return input.error();
  auto encoded = models_->encoder->run({input->get()});
  if (!encoded) return encoded.error();
  OrtRuntime::ValuePtr hidden = std::move(encoded->front());

  // Step 0 runs the no-cache branch, which ignores the past inputs: empty tensors stand in.
  const OrtModel& decoder = *models_->decoder;
  std::vector<OrtRuntime::ValuePtr> past(decoder.input_names().size());
  for (const auto& p : models_->pasts) {
    auto empty = rt.tensor<float>(nullptr, 0, {0, models_->heads, 1, models_->head_dim},
                                  ort::ElementType::kFloat);
    if (!empty) return empty.error();
    past[static_cast<std::size_t>(p.input)] = std::move(*empty);
  }
  std::int64_t token = MoonshineTokens::kStart;
  bool use_cache = false;
  std::vector<std::int64_t> tokens;
  const std::int64_t max_tokens = samples * kTokensPerSecond / kMoonshineRate;
  std::vector<const ort::Value*> inputs(decoder.input_names().size());
  for (std::int64_t step = 0; step < max_tokens; ++step) {
    auto ids = rt.tensor(&token, 1, {1, 1}, ort::ElementType::kInt64);
    auto cache = rt.tensor(&use_cache, 1, {1}, ort::ElementType::kBool);
    if (!ids) return ids.error();
    if (!cache) return cache.error();
    for (std::size_t i = 0; i < inputs.size(); ++i) inputs[i] = past[i].get();
    inputs[static_cast<std::size_t>(models_->ids_input)] = ids->get();
    inputs[static_cast<std::size_t>(models_->hidden_input)] = hidden.get();
    inputs[static_cast<std::size_t>(models_->cache_input)] = cache->get();
    auto outputs = decoder.run(inputs);
    if (!outputs) return outputs.error();

    ort::Value* logits = (*outputs)[static_cast<std::size_t>(models_->logits_output)].get();
    auto shape = rt.shape_of(logits);
    if (!shape) return shape.error();
    if (shape->size() != 3 || (*shape)[2] <= 0 || (*shape)[1] <= 0) {
      return make_error("asr: moonshine decoder gave logits of an unexpected shape");
    }
    void* data = nullptr;
    if (auto got = rt.check(rt.api().GetTensorMutableData(logits, &data), "onnxruntime: logits");
        !got) {
      return got.error();
    }
    const std::int64_t vocabulary = (*shape)[2];
    const float* last = static_cast<const float*>(data) + ((*shape)[1] - 1) * vocabulary;
    token = std::max_element(last, last + vocabulary) - last;
    if (token == MoonshineTokens::kEnd) break;
    tokens.push_back(token);

    // The cache branch returns empty cross-attention entries: those from step 0 are kept.
    for (const auto& p : models_->pasts) {
      if (step == 0 || p.self_attention) {
        past[static_cast<std::size_t>(p.input)] =
            std::move((*outputs)[static_cast<std::size_t>(p.output)]);
      }
    }
    use_cache = true;
  }
  return tokens_.decode(tokens);
}

Result<std::unique_ptr<Asr>> make_moonshine_asr(const AsrSettings& settings) {
  auto asr = MoonshineAsr::create(settings);
  if (!asr) return asr.error();
  return std::unique_ptr<Asr>(std::move(*asr));
}

}  // namespace chalkbot
