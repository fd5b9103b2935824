#include "core/settings.h"
#include "speech/asr/backends.h"

namespace chalkbot {

Result<std::unique_ptr<Asr>> make_asr(const AsrSettings& settings) {
  if (settings.provider == "pocketsphinx") return make_pocketsphinx_asr(settings);
  if (settings.provider == "openai") return make_openai_asr(settings);
  return make_error("asr.provider: unknown provider '" + settings.provider +
                    "' (expected pocketsphinx or openai)");
}

}  // namespace chalkbot
