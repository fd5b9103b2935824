#include "core/settings.h"
#include "speech/asr/backends.h"

namespace chalkbot {
namespace {

// provider "none": hears nothing. For media-only load tests: calls get the greeting and keep
// their media flowing without any recognition cost.
class NoAsr final : public Asr {
 public:
  Result<std::unique_ptr<AsrStream>> open(int /*sample_rate*/) override {
    return std::unique_ptr<AsrStream>(std::make_unique<Stream>());
  }
  std::string name() const override { return "none"; }

 private:
  struct Stream final : AsrStream {
    void accept(Samples /*samples*/) override {}
    Status finish() override { return {}; }
    std::string result() const override { return {}; }
  };
};

}  // namespace

Result<std::unique_ptr<Asr>> make_asr(const AsrSettings& settings) {
  if (settings.provider == "moonshine") return make_moonshine_asr(settings);
  if (settings.provider == "pocketsphinx") return make_pocketsphinx_asr(settings);
  if (settings.provider == "openai") return make_openai_asr(settings);
  if (settings.provider == "none") return std::unique_ptr<Asr>(std::make_unique<NoAsr>());
  return make_error("asr.provider: unknown provider '" + settings.provider +
                    "' (expected moonshine, pocketsphinx, openai or none)");
}

}  // namespace chalkbot
