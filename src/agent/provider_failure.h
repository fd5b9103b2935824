#pragma once
// A remote provider (LLM, ASR, TTS) failed during a call. Every such failure goes through
// report_provider_failure(): it is logged there, once, with its cause, and handed to the sink
// the server installs (metrics count it there).
#include <functional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace chalkbot {

struct ProviderFailure {
  std::string call_id;
  std::string provider;  // "llm" | "asr" | "tts"
  // The name of the error's ErrorKind: one of kProviderFailureKinds (core/result.h).
  std::string kind;
  std::string cause;  // the provider's error message (API keys already redacted)
};

using ProviderFailureSink = std::function<void(const ProviderFailure&)>;

// Logs one error line naming the call, provider, kind and cause; then calls `sink` if set.
void report_provider_failure(const ProviderFailureSink& sink, const std::string& call_id,
                             const std::string& provider, const Error& cause);

}  // namespace chalkbot
