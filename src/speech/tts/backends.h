#pragma once
// Constructors of the TTS backends; make_tts() in tts_factory.cc picks one by name.
#include <memory>

#include "core/build_config.h"
#include "core/result.h"
#include "core/settings.h"
#include "speech/tts/tts.h"

namespace chalkbot {

Result<std::unique_ptr<Tts>> make_flite_tts(const TtsSettings& settings);
#if CHALKBOT_WITH_ESPEAK
Result<std::unique_ptr<Tts>> make_espeak_tts(const TtsSettings& settings);
#endif
// settings.base_url / api_key already resolved (no fallback to llm.* here).
Result<std::unique_ptr<Tts>> make_openai_tts(const TtsSettings& settings);

}  // namespace chalkbot
