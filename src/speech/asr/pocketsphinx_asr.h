#pragma once
// Embedded pocketsphinx (Debian's 5prealpha). The model is 16 kHz only: streams opened at other
// rates are resampled chunk by chunk. Decoders (~100 MB, 0.3-0.4 s to create) live in a pool of at
// most settings.pool_size, created on demand and reused. A stream borrows one at its first
// accept() and gives it back at finish() or destruction, so idle calls hold none; when all are
// busy it waits up to settings.timeout_ms, then fails the stream with a clear error.
// Thread-safe: any number of threads may open streams. The Asr must outlive its streams.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "core/result.h"
#include "core/settings.h"
#include "speech/asr/asr.h"

namespace chalkbot {

inline constexpr int kPocketsphinxRate = 16000;

class PocketsphinxAsr final : public Asr {
 public:
  struct Decoder;  // one ps_decoder_t and its CMN start state

  // Checks the model files; creates no decoder yet.
  static Result<std::unique_ptr<PocketsphinxAsr>> create(const AsrSettings& settings);
  ~PocketsphinxAsr() override;

  Result<std::unique_ptr<AsrStream>> open(int sample_rate) override;
  std::string name() const override { return "pocketsphinx"; }

  // For tests and /metrics: decoders created so far, and how many are lent out now.
  int decoders_created() const;
  int decoders_in_use() const;

  // Borrow / return a decoder (used by the streams). acquire() blocks up to the pool timeout.
  Result<Decoder*> acquire();
  void release(Decoder* decoder);

 private:
  explicit PocketsphinxAsr(const AsrSettings& settings);
  Result<Decoder*> create_decoder();

  AsrSettings settings_;
  mutable std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Decoder>> decoders_;  // every decoder created, owned here
  std::vector<Decoder*> idle_;
  int reserved_ = 0;  // decoders created or being created; never above pool_size
  int in_use_ = 0;
  std::mutex create_mutex_;  // decoders are created one at a time: ps_init shares sphinx globals
};

}  // namespace chalkbot
