#include "agent/provider_failure.h"

#include "core/log.h"

namespace chalkbot {

void report_provider_failure(const ProviderFailureSink& sink, const std::string& call_id,
                             const std::string& provider, const Error& cause) {
  ProviderFailure failure{call_id, provider, std::string(to_string(cause.kind)), cause.message};
  spdlog::error("call {}: {} failed ({}), the caller hears an apology: {}", call_id, provider,
                failure.kind, cause.message);
  if (sink) sink(failure);
}

}  // namespace chalkbot
