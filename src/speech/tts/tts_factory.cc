#include "core/settings.h"
#include "speech/tts/backends.h"

namespace chalkbot {

Result<std::unique_ptr<Tts>> make_tts(const TtsSettings& settings) {
  if (settings.provider == "flite") return make_flite_tts(settings);
  if (settings.provider == "espeak") {
#if CHALKBOT_WITH_ESPEAK
    return make_espeak_tts(settings);
#else
    return make_error(
        "tts.provider: espeak is not in this build (configure with -DCHALKBOT_WITH_ESPEAK=ON; "
        "espeak-ng is GPL-3.0)");
#endif
  }
  if (settings.provider == "openai") return make_openai_tts(settings);
  return make_error("tts.provider: unknown provider '" + settings.provider +
                    "' (expected flite, espeak or openai)");
}

}  // namespace chalkbot
