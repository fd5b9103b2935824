#include "agent/provider_failure.h"

#include <array>
#include <utility>

#include "core/log.h"

namespace chalkbot {

std::string provider_failure_kind(std::string_view message) {
  // Ordered: the first match wins ("HTTP 429 (insufficient_quota)" is quota, not rate_limited).
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 14> kPatterns{{
      {"insufficient_quota", "quota"},
      {"HTTP 429", "rate_limited"},
      {"HTTP 401", "auth"},
      {"HTTP 403", "auth"},
      {"HTTP 5", "server_error"},
      {"malformed", "malformed"},
      {"no token within", "timeout"},
      {"no data from the server", "timeout"},
      {"timed out", "timeout"},
      {"timeout", "timeout"},
      {"cannot connect", "connect"},
      {"connection failed", "connect"},
      {"broke before", "reset"},
      {"transfer failed", "reset"},
  }};
  for (const auto& [pattern, kind] : kPatterns) {
    if (message.find(pattern) != std::string_view::npos) return std::string(kind);
  }
  if (message.find("closed without") != std::string_view::npos) return "reset";
  return "other";
}

void report_provider_failure(const ProviderFailureSink& sink, const std::string& call_id,
                             const std::string& provider, const std::string& cause) {
  ProviderFailure failure{call_id, provider, provider_failure_kind(cause), cause};
  spdlog::error("call {}: {} failed ({}), the caller hears an apology: {}", call_id, provider,
                failure.kind, cause);
  if (sink) sink(failure);
}

}  // namespace chalkbot
