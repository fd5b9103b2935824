#pragma once
// Constructors of the ASR backends; make_asr() in asr_factory.cc picks one by name.
#include <memory>

#include "core/result.h"
#include "core/settings.h"
#include "speech/asr/asr.h"

namespace chalkbot {

Result<std::unique_ptr<Asr>> make_moonshine_asr(const AsrSettings& settings);
Result<std::unique_ptr<Asr>> make_pocketsphinx_asr(const AsrSettings& settings);
// settings.base_url / api_key already resolved (no fallback to llm.* here).
Result<std::unique_ptr<Asr>> make_openai_asr(const AsrSettings& settings);

}  // namespace chalkbot
