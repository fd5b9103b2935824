#pragma once
// A remote provider (LLM, ASR, TTS) failed during a call. Every such failure goes through
// report_provider_failure(): it is logged there, once, with its cause, and handed to the sink
// the server installs (metrics count it there).
#include <array>
#include <functional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace chalkbot {

struct ProviderFailure {
  std::string call_id;
  std::string provider;  // "llm" | "asr" | "tts"
  std::string kind;  // one of kProviderFailureKinds: the name of the error's ErrorKind
  std::string cause;  // the provider's error message (API keys already redacted)
};

using ProviderFailureSink = std::function<void(const ProviderFailure&)>;

// What kind of failure it was: in the log line and as the metrics' `kind` label.
inline constexpr std::array<std::string_view, 9> kProviderFailureKinds{
    to_string(ErrorKind::kRateLimited), to_string(ErrorKind::kQuota),
    to_string(ErrorKind::kAuth),        to_string(ErrorKind::kServerError),
    to_string(ErrorKind::kTimeout),     to_string(ErrorKind::kReset),
    to_string(ErrorKind::kConnect),     to_string(ErrorKind::kMalformed),
    to_string(ErrorKind::kOther)};

// Logs one error line naming the call, provider, kind and cause; then calls `sink` if set.
void report_provider_failure(const ProviderFailureSink& sink, const std::string& call_id,
                             const std::string& provider, const Error& cause);

}  // namespace chalkbot
