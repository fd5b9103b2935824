#pragma once
// Embedded Moonshine (tiny or base, quantized ONNX) on ONNX Runtime. One engine per process: the
// encoder and decoder sessions are loaded once and shared by every call (ORT runs are
// thread-safe); at most settings.pool_size decodes run at once, so many calls cannot
// oversubscribe the CPU. A stream keeps its call's audio (16 kHz) and decodes it as a whole:
// Moonshine is not a streaming model. partial() decodes what was said since the last pause and
// keeps it, so that finish() at the end of the turn has only the tail left (or nothing).
#include <condition_variable>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "core/result.h"
#include "core/settings.h"
#include "speech/asr/asr.h"
#include "speech/asr/moonshine_tokens.h"

namespace chalkbot {

inline constexpr int kMoonshineRate = 16000;
// The encoder's convolutions need this many samples (about 56 ms); less is an empty transcript.
inline constexpr std::size_t kMoonshineMinSamples = 895;

class MoonshineAsr final : public Asr {
 public:
  // Loads the runtime library, both models and the token table; fails naming the missing or
  // broken file and the command that installs it.
  static Result<std::unique_ptr<MoonshineAsr>> create(const AsrSettings& settings);
  ~MoonshineAsr() override;

  Result<std::unique_ptr<AsrStream>> open(int sample_rate) override;
  std::string name() const override { return "moonshine"; }

  // 16 kHz mono audio to text: encoder, then greedy decoding (at most 6 tokens per second of
  // audio). Thread-safe; waits for a free slot when pool_size decodes are running.
  Result<std::string> transcribe_16k(Samples audio);

  const MoonshineTokens& tokens() const { return tokens_; }
  // The ONNX Runtime version loaded, e.g. "1.28.2".
  std::string runtime_version() const;

  struct Models;  // the two sessions and what the decoder loop needs to know about them

 private:
  MoonshineAsr(std::unique_ptr<Models> models, MoonshineTokens tokens, int max_decodes);
  Result<std::string> decode(std::span<float> audio);

  std::unique_ptr<Models> models_;
  MoonshineTokens tokens_;
  const int max_decodes_;
  std::mutex mutex_;
  std::condition_variable slot_free_;
  int decoding_ = 0;
};

// The file a Moonshine model part lives in: <model_dir>/<model>/<part>.onnx.
std::string moonshine_model_file(const AsrSettings& settings, const std::string& part);

}  // namespace chalkbot
