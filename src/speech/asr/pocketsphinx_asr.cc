#include "speech/asr/pocketsphinx_asr.h"

#include <pocketsphinx.h>
#include <sphinxbase/err.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "media/resampler.h"
#include "speech/asr/backends.h"

namespace chalkbot {

struct PocketsphinxAsr::Decoder {
  ps_decoder_t* ps = nullptr;
  std::vector<mfcc_t> cmn_start;  // CMN mean right after init: every utterance starts from it

  ~Decoder() {
    if (ps != nullptr) ps_free(ps);
  }
};

namespace {

// Without a bound a burst of calls would queue forever behind a small pool.
constexpr int kFallbackPoolWaitMs = 10000;

void silence_sphinx_logging() {
  // Process-wide in sphinxbase; err_set_logfp(NULL) turns all of its logging off. Done once,
  // before any decoder exists, because concurrent changes of the log file race inside sphinxbase.
  static std::once_flag once;
  std::call_once(once, [] { err_set_logfp(nullptr); });
}

cmn_t* cmn_of(ps_decoder_t* ps) {
  feat_t* feat = ps_get_feat(ps);
  return feat != nullptr ? feat->cmn_struct : nullptr;
}

class PocketsphinxStream final : public AsrStream {
 public:
  PocketsphinxStream(PocketsphinxAsr& asr, std::optional<Resampler> resampler)
      : asr_(asr), resampler_(std::move(resampler)) {}

  ~PocketsphinxStream() override { give_back(); }

  void accept(Samples samples) override {
    if (!error_.empty() || finished_ || samples.empty()) return;
    if (!start()) return;
    if (resampler_) {
      const auto converted = resampler_->process(samples);
      decode(converted);
    } else {
      decode(samples);
    }
  }

  Status finish() override {
    if (finished_) return make_error("asr: finish() called twice");
    finished_ = true;
    if (error_.empty() && decoder_ != nullptr) {
      if (resampler_) decode(resampler_->flush());
      if (error_.empty() && ps_end_utt(decoder_->ps) < 0) error_ = "pocketsphinx: ps_end_utt failed";
      in_utterance_ = false;
      if (error_.empty()) {
        std::int32_t score = 0;
        const char* hyp = ps_get_hyp(decoder_->ps, &score);
        result_ = hyp != nullptr ? hyp : "";
      }
    }
    give_back();
    if (!error_.empty()) return make_error(error_);
    return {};  // no audio at all: an empty result, no decoder was needed
  }

  std::string result() const override { return result_; }

  std::string partial() override {
    if (decoder_ == nullptr || !in_utterance_) return {};
    std::int32_t score = 0;
    const char* hyp = ps_get_hyp(decoder_->ps, &score);
    return hyp != nullptr ? hyp : "";
  }

 private:
  bool start() {
    if (decoder_ != nullptr) return true;
    auto decoder = asr_.acquire();
    if (!decoder) {
      error_ = decoder.error().message;
      return false;
    }
    decoder_ = *decoder;
    if (cmn_t* cmn = cmn_of(decoder_->ps); cmn != nullptr && !decoder_->cmn_start.empty()) {
      cmn_live_set(cmn, decoder_->cmn_start.data());
    }
    if (ps_start_utt(decoder_->ps) < 0) {
      error_ = "pocketsphinx: ps_start_utt failed";
      give_back();
      return false;
    }
    in_utterance_ = true;
    return true;
  }

  void decode(Samples samples) {
    if (samples.empty()) return;
    if (ps_process_raw(decoder_->ps, samples.data(), samples.size(), FALSE, FALSE) < 0) {
      error_ = "pocketsphinx: ps_process_raw failed";
    }
  }

  void give_back() {
    if (decoder_ == nullptr) return;
    if (in_utterance_) ps_end_utt(decoder_->ps);  // abandoned stream: leave the decoder clean
    in_utterance_ = false;
    asr_.release(decoder_);
    decoder_ = nullptr;
  }

  PocketsphinxAsr& asr_;
  std::optional<Resampler> resampler_;
  PocketsphinxAsr::Decoder* decoder_ = nullptr;
  bool in_utterance_ = false;
  bool finished_ = false;
  std::string error_;
  std::string result_;
};

}  // namespace

PocketsphinxAsr::PocketsphinxAsr(const AsrSettings& settings) : settings_(settings) {}

PocketsphinxAsr::~PocketsphinxAsr() = default;

Result<std::unique_ptr<PocketsphinxAsr>> PocketsphinxAsr::create(const AsrSettings& settings) {
  namespace fs = std::filesystem;
  if (settings.pool_size < 1) {
    return make_error("asr.pool_size: must be at least 1 (got " +
                      std::to_string(settings.pool_size) + ")");
  }
  const fs::path dir(settings.model_dir);
  for (const char* part : {"en-us", "en-us.lm.bin", "cmudict-en-us.dict"}) {
    std::error_code ec;
    if (!fs::exists(dir / part, ec)) {
      return make_error("asr.model_dir: '" + (dir / part).string() +
                        "' not found (install pocketsphinx-en-us or point model_dir at a model)");
    }
  }
  if (!settings.feat_params.empty()) {
    std::error_code ec;
    if (!fs::is_regular_file(settings.feat_params, ec)) {
      return make_error("asr.feat_params: '" + settings.feat_params + "' not found");
    }
  }
  silence_sphinx_logging();
  return std::unique_ptr<PocketsphinxAsr>(new PocketsphinxAsr(settings));
}

Result<std::unique_ptr<AsrStream>> PocketsphinxAsr::open(int sample_rate) {
  auto resampler = resampler_for_stream(sample_rate, kPocketsphinxRate);
  if (!resampler) return make_error("asr: " + resampler.error().message);
  return std::unique_ptr<AsrStream>(
      std::make_unique<PocketsphinxStream>(*this, std::move(*resampler)));
}

Result<PocketsphinxAsr::Decoder*> PocketsphinxAsr::create_decoder() {
  const std::lock_guard creating(create_mutex_);
  const std::filesystem::path dir(settings_.model_dir);
  std::vector<std::string> args = {
      "-hmm", (dir / "en-us").string(), "-lm", (dir / "en-us.lm.bin").string(),
      "-dict", (dir / "cmudict-en-us.dict").string(), "-samprate", "16000"};
  if (!settings_.second_pass) {
    // The forward pass alone: its result is ready when the audio ends, and is what partial()
    // shows while the caller speaks.
    args.insert(args.end(), {"-fwdflat", "no", "-bestpath", "no"});
  }
  if (!settings_.feat_params.empty()) {
    args.insert(args.end(), {"-featparams", settings_.feat_params});
  }
  std::vector<char*> argv;
  argv.reserve(args.size());
  for (auto& arg : args) argv.push_back(arg.data());
  cmd_ln_t* config =
      cmd_ln_parse_r(nullptr, ps_args(), static_cast<int32>(argv.size()), argv.data(), TRUE);
  if (config == nullptr) return make_error("pocketsphinx: invalid decoder arguments");
  ps_decoder_t* ps = ps_init(config);
  cmd_ln_free_r(config);  // ps_init holds its own reference
  if (ps == nullptr) {
    return make_error("pocketsphinx: decoder init failed for model '" + settings_.model_dir +
                      "'" + (settings_.feat_params.empty() ? "" : " with feat params '" +
                                                                      settings_.feat_params + "'"));
  }
  auto decoder = std::make_unique<Decoder>();
  decoder->ps = ps;
  if (cmn_t* cmn = cmn_of(ps); cmn != nullptr && cmn->veclen > 0) {
    decoder->cmn_start.resize(static_cast<std::size_t>(cmn->veclen));
    cmn_live_get(cmn, decoder->cmn_start.data());
  }
  Decoder* raw = decoder.get();
  const std::lock_guard lock(mutex_);
  decoders_.push_back(std::move(decoder));
  return raw;
}

Result<PocketsphinxAsr::Decoder*> PocketsphinxAsr::acquire() {
  const int wait_ms = settings_.timeout_ms > 0 ? settings_.timeout_ms : kFallbackPoolWaitMs;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  std::unique_lock lock(mutex_);
  for (;;) {
    if (!idle_.empty()) {
      Decoder* decoder = idle_.back();
      idle_.pop_back();
      ++in_use_;
      return decoder;
    }
    if (reserved_ < settings_.pool_size) {
      ++reserved_;  // our slot: the slow init runs outside the pool lock
      lock.unlock();
      auto created = create_decoder();
      lock.lock();
      if (!created) {
        --reserved_;
        returned_.notify_one();  // someone waiting may try to create it instead
        return created.error();
      }
      ++in_use_;
      return *created;
    }
    if (returned_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        reserved_ >= settings_.pool_size) {
      return make_error("asr: all " + std::to_string(settings_.pool_size) +
                        " pocketsphinx decoders stayed busy for " + std::to_string(wait_ms) +
                        " ms (raise asr.pool_size)");
    }
  }
}

void PocketsphinxAsr::release(Decoder* decoder) {
  {
    const std::lock_guard lock(mutex_);
    idle_.push_back(decoder);
    --in_use_;
  }
  returned_.notify_one();
}

int PocketsphinxAsr::decoders_created() const {
  const std::lock_guard lock(mutex_);
  return static_cast<int>(decoders_.size());
}

int PocketsphinxAsr::decoders_in_use() const {
  const std::lock_guard lock(mutex_);
  return in_use_;
}

Result<std::unique_ptr<Asr>> make_pocketsphinx_asr(const AsrSettings& settings) {
  auto asr = PocketsphinxAsr::create(settings);
  if (!asr) return asr.error();
  return std::unique_ptr<Asr>(std::move(*asr));
}

}  // namespace chalkbot
